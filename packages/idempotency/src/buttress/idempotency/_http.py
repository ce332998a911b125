"""The HTTP rules both middlewares share: settings, the key, the fingerprint, problems and replays.

`IdempotencyMiddleware` (ASGI) and `IdempotencyWSGIMiddleware` derive from `HttpRules`, which checks
their settings once and decides everything that does not depend on how a request is read or an
answer is sent: which requests are guarded, what a key header means, what is fingerprinted, and the
RFC 9457 problem for every refusal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from buttress.core import BackendUnavailableError

from ._core import heartbeat_interval
from ._keys import parse_idempotency_key, request_fingerprint, request_identity, scope_key
from ._types import StoredResponse
from ._validation import check_bool, check_positive, check_positive_int, check_text, check_token
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyTypeError,
    InvalidKeyError,
    KeyInFlightError,
)

__all__ = ["HttpRules", "Problem", "default_store_status"]

_TRANSIENT_4XX = frozenset({408, 425, 429})


def default_store_status(status: int) -> bool:
    """Whether a response with ``status`` is stored and replayed: yes below 500, except 408, 425 and 429.

    5xx means the server failed and a retry should run again. 408, 425 and 429 say "not now" without
    the operation having run, so storing them would turn a retry into the same refusal for 24 hours.

    Raises:
        IdempotencyTypeError: ``status`` is not an int.
    """
    if isinstance(status, bool) or not isinstance(status, int):
        raise IdempotencyTypeError("status", "an int", status)
    return status < 500 and status not in _TRANSIENT_4XX


def _names(parameter: str, names: object) -> Iterable[object]:
    """``names`` if it is an iterable of names other than one str (``methods="POST"`` is a mistake)."""
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise IdempotencyTypeError(parameter, "an iterable of names (not one str)", names)
    return names


def _retry_seconds(retry_after: object) -> int:
    """Whole seconds for ``Retry-After`` from a store's estimate: at least 1, whatever the store said."""
    if (
        isinstance(retry_after, int | float)
        and not isinstance(retry_after, bool)
        and 1 <= retry_after < 2**31
    ):
        return math.ceil(retry_after)
    return 1


class Problem(Exception):  # noqa: N818 - a response to send, not an error to report
    """An RFC 9457 problem response the middleware answers with instead of running the application."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or []


def _invalid_key(detail: str) -> Problem:
    return Problem(400, "invalid-key", "Invalid Idempotency-Key", detail)


class HttpRules:
    """The settings of an idempotency middleware, checked once, and the decisions that follow from them.

    ``required``, ``principal`` and ``route`` are functions of the request as the server gives it
    (an ASGI scope, a WSGI environ); ``default_route`` is the path reader for that kind.
    """

    def __init__(
        self,
        *,
        methods: Iterable[str],
        required: object,
        header: str,
        replayed_header: str | None,
        principal: Callable[..., Any] | None,
        route: Callable[..., str] | None,
        fingerprint_headers: Iterable[str],
        lease: float,
        heartbeat: float | None,
        retention: float,
        store_status: Callable[[int], bool],
        max_request_bytes: int,
        max_response_bytes: int,
        fail_open: bool,
        retry_after: int,
        problem_type: str,
        default_route: Callable[..., str],
    ) -> None:
        self._methods = frozenset(check_token("methods", m).upper() for m in _names("methods", methods))
        if not isinstance(required, bool) and not callable(required):
            raise IdempotencyTypeError("required", "a bool or a function of the request", required)
        self._required = required
        self._header = check_token("header", header).lower().encode("ascii")
        self._header_name = header
        self._replayed = (
            None
            if replayed_header is None
            else check_token("replayed_header", replayed_header).lower().encode("ascii")
        )
        for name, extractor in (("principal", principal), ("route", route), ("store_status", store_status)):
            if extractor is not None and not callable(extractor):
                raise IdempotencyTypeError(name, "a callable", extractor)
        self._principal = principal
        self._route = route if route is not None else default_route
        self._fp_headers = tuple(
            sorted(
                {
                    check_token("fingerprint_headers", h).lower().encode("ascii")
                    for h in _names("fingerprint_headers", fingerprint_headers)
                }
            )
        )
        self._lease = check_positive("lease", lease)
        self._retention = check_positive("retention", retention)
        self._heartbeat = heartbeat
        # Checked here, not per request: the interval itself, for the slots of every request.
        self._beat = heartbeat_interval(self._lease, heartbeat)
        self._store_status = store_status
        self._default_statuses = store_status is default_store_status
        self._max_request = check_positive_int("max_request_bytes", max_request_bytes)
        self._max_response = check_positive_int("max_response_bytes", max_response_bytes)
        self._fail_open = check_bool("fail_open", fail_open)
        self._retry_after = str(check_positive_int("retry_after", retry_after, maximum=2**31 - 1)).encode()
        self._problem_type = check_text("problem_type", problem_type)

    def _guards(self, method: object) -> bool:
        """Whether requests with ``method`` fall under the header."""
        return isinstance(method, str) and method in self._methods

    def _is_required(self, request: object) -> bool:
        return self._required is True or (callable(self._required) and bool(self._required(request)))

    def _missing(self) -> Problem:
        return Problem(
            400,
            "key-missing",
            "Idempotency-Key is missing",
            f"this request must carry an {self._header_name} header",
        )

    @staticmethod
    def _duplicated() -> Problem:
        return _invalid_key("the header was sent more than once")

    @staticmethod
    def _client_key(raw: object) -> str:
        """The key in the header's value, or the 400 problem that refuses it."""
        try:
            return parse_idempotency_key(raw)  # type: ignore[arg-type]
        except InvalidKeyError as exc:
            raise _invalid_key(exc.reason) from None
        except IdempotencyTypeError:  # a header value that is not bytes: unreadable, not a key
            raise _invalid_key("the header value is not bytes") from None

    def _too_large(self) -> Problem:
        return Problem(
            413,
            "request-too-large",
            "Request body too large",
            f"bodies over {self._max_request} bytes are not accepted",
        )

    def _identity(
        self,
        client_key: str,
        body: bytes,
        *,
        method: str,
        route: str,
        headers: Iterable[tuple[bytes, bytes]],
        query: bytes,
        principal: object,
    ) -> tuple[str, str]:
        """The store key (the client's key scoped to principal and route) and the request's fingerprint."""
        if principal is not None and not isinstance(principal, str):
            raise IdempotencyTypeError("principal()", "to return a str or None", principal)
        wanted = self._fp_headers
        if not wanted:
            return request_identity(
                client_key, principal=principal or "", method=method, route=route, query=query, body=body
            )
        picked = (
            sorted((name.lower(), value) for name, value in headers if name.lower() in wanted)
            if wanted
            else []
        )
        fingerprint = request_fingerprint(method, route, body, picked, query=query)
        return scope_key(client_key, principal=principal or "", route=route), fingerprint

    def _refused(self, exc: Exception) -> Problem:
        """The problem for a claim the store refused (`KeyInFlightError`, a mismatch, an outage)."""
        if isinstance(exc, KeyInFlightError):
            wait = str(_retry_seconds(exc.retry_after)).encode()
            return Problem(
                409,
                "in-flight",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                [(b"retry-after", wait)],
            )
        if isinstance(exc, FingerprintMismatchError):
            return Problem(
                422,
                "fingerprint-mismatch",
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different request; use a new key",
            )
        assert isinstance(exc, BackendUnavailableError)  # noqa: S101 - the three a claim raises
        return Problem(
            503,
            "store-unavailable",
            "Service unavailable",
            "idempotency cannot be guaranteed right now; the request was not processed",
            [(b"retry-after", self._retry_after)],
        )

    def _problem_response(self, problem: Problem) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The headers and ``application/problem+json`` body of ``problem``."""
        document = {
            "type": self._problem_type + problem.slug,
            "title": problem.title,
            "status": problem.status,
            "detail": problem.detail,
        }
        headers = [(b"content-type", b"application/problem+json"), *problem.headers]
        return headers, json.dumps(document).encode()

    def _replay_headers(self, response: StoredResponse) -> list[tuple[bytes, bytes]]:
        """A stored response's headers as stored, and the replay marker."""
        headers = list(response.headers)
        if self._replayed is not None:
            headers.append((self._replayed, b"true"))
        return headers

    def _storable(self, status: int) -> bool:
        return bool(self._store_status(status))
