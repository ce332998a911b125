"""Request ids: accept a safe incoming ``X-Request-ID`` or make one, echo it, bind it for the request.

The id is bound to the logging context (structlog's contextvars, as ``request_id``) and to
`current_request_id` for exactly the request: both are reset when the request ends, however it ends,
so nothing is left behind for the next request a worker serves, and concurrent requests each see
their own (Property 14).

An incoming id is accepted only when it is short (``max_length``, 128 by default) and made of
letters, digits and ``-._:+=/@``: anything else (spaces, quotes, control characters, header
injection attempts) is replaced with a fresh id, never echoed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Final

import structlog

from buttress.core import (
    ASGIApp,
    ExcInfo,
    Message,
    Receive,
    Scope,
    Send,
    StartResponse,
    WSGIApp,
    WSGIEnviron,
    check_count,
    check_text,
)

from ._metrics import REQUEST_IDS
from .exceptions import ObservabilityConfigurationError, ObservabilityTypeError

__all__ = [
    "DEFAULT_HEADER",
    "RequestIdMiddleware",
    "WSGIRequestIdMiddleware",
    "current_request_id",
    "is_safe_request_id",
    "new_request_id",
]

DEFAULT_HEADER: Final = "X-Request-ID"
_DEFAULT_MAX: Final = 128
_SAFE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._:+=/@]*")
_HEADER_NAME: Final = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_request_id: ContextVar[str | None] = ContextVar("buttress_observability_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served in this context, or ``None`` outside a request."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh request id: a random UUID (version 4) in its canonical form."""
    return str(uuid.uuid4())


def is_safe_request_id(value: object, max_length: int = _DEFAULT_MAX) -> bool:
    """Whether ``value`` may be accepted and echoed as a request id.

    A str of 1 to ``max_length`` characters, starting with a letter or digit, made of letters,
    digits and ``-._:+=/@`` only (ASCII).

    Raises:
        ObservabilityTypeError: ``max_length`` is not an int.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise ObservabilityTypeError("max_length", "an int", max_length)
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and value.isascii()
        and _SAFE.fullmatch(value) is not None
    )


def _check(header: object, max_length: object) -> tuple[str, int]:
    name = check_text(
        "header",
        header,
        max_bytes=128,
        error=ObservabilityConfigurationError,
        type_error=ObservabilityTypeError,
    )
    if not _HEADER_NAME.fullmatch(name):
        raise ObservabilityConfigurationError("header", name, "must be an HTTP header name")
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise ObservabilityTypeError("max_length", "an int", max_length)
    limit = check_count(
        "max_length", max_length, minimum=8, maximum=1024, error=ObservabilityConfigurationError
    )
    return name, limit


class _Binding:
    """Bind an id to the request's context; undo exactly that on exit."""

    __slots__ = ("_logging", "_token")

    def __init__(self, request_id: str) -> None:
        self._token = _request_id.set(request_id)
        self._logging = structlog.contextvars.bind_contextvars(request_id=request_id)

    def reset(self) -> None:
        try:
            structlog.contextvars.reset_contextvars(**self._logging)
            _request_id.reset(self._token)
        except ValueError:  # closed from another context than the one it was bound in (a WSGI server's)
            structlog.contextvars.unbind_contextvars("request_id")
            _request_id.set(None)


def _is_header(pair: object, name: bytes) -> bool:
    return (
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and isinstance(pair[0], bytes)
        and isinstance(pair[1], bytes)
        and pair[0].lower() == name
    )


def _choose(incoming: str | None, max_length: int) -> str:
    if incoming is None:
        REQUEST_IDS.add(1, {"request_id.source": "generated"})
        return new_request_id()
    if is_safe_request_id(incoming, max_length):
        REQUEST_IDS.add(1, {"request_id.source": "accepted"})
        return incoming
    REQUEST_IDS.add(1, {"request_id.source": "replaced"})
    return new_request_id()


class RequestIdMiddleware:
    """Give every HTTP request an id: the client's when safe, a fresh one otherwise.

    The id is echoed in the response's ``header``, bound to structlog's context as ``request_id``
    and returned by `current_request_id` while the request is served.

    Args:
        app: The ASGI application.
        header: The request and response header (``X-Request-ID``).
        max_length: The longest incoming id accepted (8 to 1024).

    Raises:
        ObservabilityTypeError: ``app`` is not callable, or an option of the wrong type.
        ObservabilityConfigurationError: A header that is not a header name, or a bad length.
    """

    def __init__(self, app: ASGIApp, *, header: str = DEFAULT_HEADER, max_length: int = _DEFAULT_MAX) -> None:
        if not callable(app):
            raise ObservabilityTypeError("app", "an ASGI application", app)
        self.app = app
        name, self._max = _check(header, max_length)
        self._raw = name.lower().encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection; HTTP requests get their id."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        headers = scope.get("headers")
        for pair in headers if isinstance(headers, list | tuple) else ():
            if _is_header(pair, self._raw):
                incoming = pair[1].decode("latin-1")
                break
        request_id = _choose(incoming, self._max)
        echoed = (self._raw, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message.get("type") == "http.response.start":
                existing = message.get("headers")
                kept = [
                    pair
                    for pair in (existing if isinstance(existing, list | tuple) else ())
                    if not (isinstance(pair, list | tuple) and pair and pair[0] == self._raw)
                ]
                message = {**message, "headers": [*kept, echoed]}
            await send(message)

        binding = _Binding(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            binding.reset()


class _Closing:
    """The body iterable; the binding is undone when the server closes it."""

    __slots__ = ("_binding", "_body")

    def __init__(self, body: Iterable[bytes], binding: _Binding) -> None:
        self._body = body
        self._binding = binding

    def __iter__(self) -> Any:  # noqa: ANN401 - the app's own iterator
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._binding.reset()


class WSGIRequestIdMiddleware:
    """The WSGI twin of `RequestIdMiddleware`.

    Args:
        app: The WSGI application.
        header: The request and response header (``X-Request-ID``).
        max_length: The longest incoming id accepted (8 to 1024).

    Raises:
        ObservabilityTypeError: ``app`` is not callable, or an option of the wrong type.
        ObservabilityConfigurationError: A header that is not a header name, or a bad length.
    """

    def __init__(self, app: WSGIApp, *, header: str = DEFAULT_HEADER, max_length: int = _DEFAULT_MAX) -> None:
        if not callable(app):
            raise ObservabilityTypeError("app", "a WSGI application", app)
        self.app = app
        self._header, self._max = _check(header, max_length)
        self._key = "HTTP_" + self._header.upper().replace("-", "_")

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request with its id."""
        incoming = environ.get(self._key) if isinstance(environ, dict) else None
        request_id = _choose(incoming if isinstance(incoming, str) else None, self._max)
        lowered = self._header.lower()

        def start_with_id(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
        ) -> Any:  # noqa: ANN401 - the server's write callable
            kept = [pair for pair in headers if not (pair and str(pair[0]).lower() == lowered)]
            return start_response(status, [*kept, (self._header, request_id)], exc_info)

        binding = _Binding(request_id)
        try:
            body = self.app(environ, start_with_id)
        except BaseException:
            binding.reset()
            raise
        return _Closing(body, binding)
