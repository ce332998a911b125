"""`IdempotencyMiddleware`: the Idempotency-Key header for any ASGI application."""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable

from buttress.core import (
    ArgumentTypeError,
    ASGIApp,
    BackendUnavailableError,
    ClientDisconnectedError,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
)

from ._core import DEFAULT_LEASE, DEFAULT_RETENTION, IdempotencySlot, heartbeat_interval
from ._keys import parse_idempotency_key, request_fingerprint, scope_key
from ._types import IdempotencyStore, StoredResponse
from ._validation import check_bool, check_positive, check_positive_int, check_text, check_token
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyError,
    IdempotencyTypeError,
    InvalidKeyError,
    KeyInFlightError,
    LeaseLostError,
)

__all__ = ["IdempotencyMiddleware", "default_store_status"]

logger = logging.getLogger(__name__)

type PrincipalExtractor = Callable[[Scope], Awaitable[str | None] | str | None]
type RouteExtractor = Callable[[Scope], str]

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


def _path(scope: Scope) -> str:
    return str(scope["path"])


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


class _Problem(Exception):  # noqa: N818 - a response to send, not an error to report
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


class IdempotencyMiddleware:
    """Pure ASGI middleware implementing the ``Idempotency-Key`` header (IETF httpapi draft-06).

    For a request whose method is in ``methods`` and that carries the header, the middleware buffers
    the body, fingerprints the request (method, route, query string, body digest,
    ``fingerprint_headers``) and claims
    the key, scoped to the principal and the route, through the same engine as `idempotent`:

    - first use: the application runs (it receives the buffered body as usual); the response is
      streamed to the client as it comes and captured up to ``max_response_bytes``; when the last
      chunk arrives the outcome is stored, then the chunk is sent. Statuses ``store_status`` rejects
      (5xx by default) and exceptions release the key, so a retry runs again; so does a response over
      the size limit (it is still sent in full);
    - a completed key: the stored status, headers and body are replayed with ``Idempotent-Replayed:
      true``, and the application does not run;
    - a key in flight: 409 with ``Retry-After``; a key reused for a different request: 422; a malformed
      key (or a missing one where ``required``): 400; a request body over ``max_request_bytes``: 413;
      the store unreachable: 503 with ``Retry-After`` and the application not run (unless
      ``fail_open``). These are RFC 9457 ``application/problem+json`` bodies.

    Args:
        app: The ASGI application to wrap.
        store: Where records live (`MemoryStore`, `RedisStore`, `PostgresStore` or yours).
        methods: The methods the header applies to; others pass straight through.
        required: Whether requests with those methods must carry a key (400 without), or a function of
            the scope deciding it per route.
        header: The request header holding the key.
        replayed_header: The response header marking a replay; ``None`` leaves replays unmarked.
        principal: Who is calling, from the scope (sync or async): the authenticated user, or a hash
            of the API key. Keys are scoped to it, so clients cannot collide or read each other's
            responses. ``None`` (the default) puts every caller in one scope: set it in multi-tenant
            services.
        route: The route a key is scoped to; default the request path.
        fingerprint_headers: Request headers (besides method, route and body) that make two requests
            different, such as ``content-type``.
        lease: Seconds a claim holds without renewal; a crashed worker's key is free after it.
        heartbeat: Seconds between lease renewals while the handler runs (default ``lease / 3``, ``0``
            for none).
        retention: Seconds a completed response is kept and replayed (default 24 hours).
        store_status: Which response statuses are stored (default `default_store_status`).
        max_request_bytes: The largest request body buffered for fingerprinting (413 beyond).
        max_response_bytes: The largest response body stored; larger ones are sent but not stored.
        fail_open: When the store cannot be reached, run the application without protection instead
            of answering 503.
        retry_after: Seconds advertised in ``Retry-After`` on a 503.
        problem_type: The prefix of the ``type`` URI of problem responses.

    Whatever a request carries, the middleware answers it with the application's response, a replay
    or a 4xx problem, never a 5xx of its own making: an ``Idempotency-Key`` that is malformed (NUL,
    CR/LF, non-ASCII, a lone surrogate, an unterminated or overlong sf-string) is a 400, and client
    input never reaches the store (keys and fingerprints are digests), so it can neither fail there
    nor look like a store outage. Only an unreachable store gives a 503, and only when failing closed.

    Raises:
        IdempotencyConfigurationError: A setting is out of range: a method or header name that is
            not an HTTP token, a duration that is not finite or past 100 years, a size below 1.
        IdempotencyTypeError: A setting has the wrong type (``methods=5``, a callback that is not
            callable, a flag that is not a bool).
    """

    def __init__(
        self,
        app: ASGIApp,
        store: IdempotencyStore,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        required: bool | Callable[[Scope], bool] = False,
        header: str = "Idempotency-Key",
        replayed_header: str | None = "Idempotent-Replayed",
        principal: PrincipalExtractor | None = None,
        route: RouteExtractor | None = None,
        fingerprint_headers: Iterable[str] = (),
        lease: float = DEFAULT_LEASE,
        heartbeat: float | None = None,
        retention: float = DEFAULT_RETENTION,
        store_status: Callable[[int], bool] = default_store_status,
        max_request_bytes: int = 10 * 1024 * 1024,
        max_response_bytes: int = 1024 * 1024,
        fail_open: bool = False,
        retry_after: int = 1,
        problem_type: str = "urn:buttress:idempotency:",
    ) -> None:
        if not callable(app):
            raise IdempotencyTypeError("app", "an ASGI application", app)
        if not isinstance(store, IdempotencyStore):
            raise IdempotencyTypeError(
                "store", "an IdempotencyStore (claim, complete, release, renew)", store
            )
        self.app = app
        self.store = store
        self._methods = frozenset(check_token("methods", m).upper() for m in _names("methods", methods))
        if not isinstance(required, bool) and not callable(required):
            raise IdempotencyTypeError("required", "a bool or a function of the scope", required)
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
        self._route: RouteExtractor = route if route is not None else _path
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
        heartbeat_interval(self._lease, heartbeat)  # reject a bad heartbeat here, not per request
        self._store_status = store_status
        self._max_request = check_positive_int("max_request_bytes", max_request_bytes)
        self._max_response = check_positive_int("max_response_bytes", max_response_bytes)
        self._fail_open = check_bool("fail_open", fail_open)
        self._retry_after = str(check_positive_int("retry_after", retry_after, maximum=2**31 - 1)).encode()
        self._problem_type = check_text("problem_type", problem_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection; other scopes and methods pass straight through."""
        method = scope.get("method")
        if scope.get("type") != "http" or not isinstance(method, str) or method not in self._methods:
            await self.app(scope, receive, send)
            return
        try:
            raw = self._find_key(scope)
            if raw is None:
                await self.app(scope, receive, send)
                return
            try:
                client_key = parse_idempotency_key(raw)
            except InvalidKeyError as exc:
                raise _Problem(400, "invalid-key", "Invalid Idempotency-Key", exc.reason) from None
            except IdempotencyTypeError:  # a header value that is not bytes: unreadable, not a key
                raise _Problem(
                    400, "invalid-key", "Invalid Idempotency-Key", "the header value is not bytes"
                ) from None
            body = await self._read_body(receive)
            if body is None:
                return  # the client went away before sending its body
            await self._guarded(scope, receive, send, client_key, body)
        except _Problem as problem:
            await self._send_problem(send, problem)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body; ``None`` if the client left first; a 413 problem past the limit."""
        try:
            body = await read_body(receive, limit=self._max_request)
        except ClientDisconnectedError:
            return None
        except ArgumentTypeError:
            raise _Problem(400, "bad-body", "Unreadable request body", "a body chunk is not bytes") from None
        if body is None:
            raise _Problem(
                413,
                "request-too-large",
                "Request body too large",
                f"bodies over {self._max_request} bytes are not accepted",
            )
        return body

    def _find_key(self, scope: Scope) -> bytes | None:
        raw: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == self._header or name.lower() == self._header:
                if raw is not None:
                    raise _Problem(
                        400, "invalid-key", "Invalid Idempotency-Key", "the header was sent more than once"
                    )
                raw = value
        if raw is None and (self._required is True or (callable(self._required) and self._required(scope))):
            raise _Problem(
                400,
                "key-missing",
                "Idempotency-Key is missing",
                f"this request must carry an {self._header_name} header",
            )
        return raw

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, client_key: str, body: bytes
    ) -> None:
        route = self._route(scope)
        principal: str | None = None
        if self._principal is not None:
            found = self._principal(scope)
            principal = await found if inspect.isawaitable(found) else found
            if principal is not None and not isinstance(principal, str):
                raise IdempotencyTypeError("principal()", "to return a str or None", principal)
        headers = self._selected_headers(scope) if self._fp_headers else ()
        query = scope.get("query_string") or b""
        fingerprint = request_fingerprint(scope["method"], route, body, headers, query=bytes(query))
        key = scope_key(client_key, principal=principal or "", route=route)
        slot = IdempotencySlot(
            self.store,
            key,
            fingerprint,
            lease=self._lease,
            retention=self._retention,
            heartbeat=self._heartbeat,
            fail_open=self._fail_open,
        )
        try:
            await slot.__aenter__()
        except KeyInFlightError as exc:
            wait = str(_retry_seconds(exc.retry_after)).encode()
            raise _Problem(
                409,
                "in-flight",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                [(b"retry-after", wait)],
            ) from None
        except FingerprintMismatchError:
            raise _Problem(
                422,
                "fingerprint-mismatch",
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different request; use a new key",
            ) from None
        except BackendUnavailableError:
            raise _Problem(
                503,
                "store-unavailable",
                "Service unavailable",
                "idempotency cannot be guaranteed right now; the request was not processed",
                [(b"retry-after", self._retry_after)],
            ) from None
        if slot.replay is not None:
            await self._send_replay(send, slot.replay)
            return
        capture = _Capture(self, slot, send)
        try:
            await self.app(scope, _replaying(body, receive), capture.send)
        except BaseException as exc:
            await slot.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await capture.finish()
        await slot.__aexit__(None, None, None)

    def _selected_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        wanted = self._fp_headers
        picked = [
            (bytes(name).lower(), bytes(value))
            for name, value in scope["headers"]
            if bytes(name).lower() in wanted
        ]
        picked.sort()
        return picked

    async def _send_replay(self, send: Send, response: StoredResponse) -> None:
        headers = list(response.headers)
        if self._replayed is not None:
            headers.append((self._replayed, b"true"))
        # Sent as stored, byte for byte: the application's own status and headers (any status it
        # sent, 600-999 included), which `respond` would normalise.
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})

    async def _send_problem(self, send: Send, problem: _Problem) -> None:
        document = {
            "type": self._problem_type + problem.slug,
            "title": problem.title,
            "status": problem.status,
            "detail": problem.detail,
        }
        headers = [(b"content-type", b"application/problem+json"), *problem.headers]
        await respond(send, problem.status, headers=headers, body=json.dumps(document).encode())


def _replaying(body: bytes, receive: Receive) -> Receive:
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Capture:
    """Forwards the application's response while keeping a copy of it to store."""

    __slots__ = ("_chunks", "_headers", "_middleware", "_send", "_size", "_slot", "_status", "_storing")

    def __init__(self, middleware: IdempotencyMiddleware, slot: IdempotencySlot, send: Send) -> None:
        self._middleware = middleware
        self._slot = slot
        self._send = send
        self._storing = slot.claimed
        self._status = 0
        self._headers: tuple[tuple[bytes, bytes], ...] = ()
        self._chunks: list[bytes] = []
        self._size = 0

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = status = message["status"]
            self._headers = tuple((bytes(n), bytes(v)) for n, v in message.get("headers", ()))
            if self._storing and not self._middleware._store_status(status):
                await self._give_up()
        elif kind == "http.response.body":
            if self._storing:
                chunk = message.get("body", b"")
                self._size += len(chunk)
                if self._size > self._middleware._max_response:
                    await self._give_up()
                else:
                    self._chunks.append(bytes(chunk))
                    if not message.get("more_body", False):
                        await self._store()
        elif self._storing:
            await self._give_up()  # trailers, pathsend, zero-copy: not something we can replay faithfully
        await self._send(message)

    async def _store(self) -> None:
        self._storing = False
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        try:
            response = StoredResponse(self._status, self._headers, body)
        except IdempotencyError as exc:  # a status past 999: sent as the application gave it, not stored
            logger.warning("not storing an idempotent response the application sent: %s", exc)
            await self._slot.release()
            return
        try:
            await self._slot.complete(response)
        except LeaseLostError as exc:
            logger.warning("%s", exc)
        except BackendUnavailableError as exc:
            logger.warning("could not store an idempotent response (the lease will expire): %s", exc)

    async def _give_up(self) -> None:
        self._storing = False
        self._chunks = []
        try:
            await self._slot.release()
        except BackendUnavailableError as exc:
            logger.warning("could not release idempotency key (the lease will expire): %s", exc)

    async def finish(self) -> None:
        """After the application returned: release a key whose response never finished."""
        if self._storing and self._slot.claimed:
            await self._give_up()
