"""ASGI and WSGI middleware that fingerprints each request and hands the result to the application."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from buttress.core import ASGIApp, Receive, Scope, Send, respond, scope_state

from ._components import _tls as check_tls
from ._fingerprinter import Fingerprinter
from .exceptions import FingerprintConfigurationError, FingerprintTypeError, InvalidRequestError

__all__ = [
    "FINGERPRINT_ENVIRON_KEY",
    "FINGERPRINT_STATE_KEY",
    "FingerprintMiddleware",
    "FingerprintWSGIMiddleware",
]

logger = logging.getLogger(__name__)

FINGERPRINT_STATE_KEY: Final = "fingerprint"
"""Where `FingerprintMiddleware` puts the `Fingerprint` in ``scope["state"]``."""

FINGERPRINT_ENVIRON_KEY: Final = "buttress.fingerprint"
"""Where `FingerprintWSGIMiddleware` puts the `Fingerprint` in the WSGI environ."""

type WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# RFC 9110 section 5.6.2: the characters of a header name.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROBLEM_TYPE: Final = "urn:buttress:fingerprint:invalid-request"


def _problem(error: InvalidRequestError) -> bytes:
    """An RFC 9457 body for a request that cannot be read; it names the part, never the request's data."""
    document = {"type": _PROBLEM_TYPE, "title": "Request cannot be read", "status": 400, "detail": str(error)}
    return json.dumps(document).encode()


def _tls_header(tls_header: object) -> str | None:
    if tls_header is None:
        return None
    if not isinstance(tls_header, str):
        raise FingerprintTypeError("tls_header", "a header name (str) or None", tls_header)
    if _TOKEN.fullmatch(tls_header) is None:
        raise FingerprintConfigurationError(
            "tls_header", tls_header, "must be a header name: letters, digits and !#$%&'*+-.^_`|~"
        )
    return tls_header


def _key(parameter: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise FingerprintTypeError(parameter, "a non-empty str", value)
    return value


def _readable_tls(value: str) -> str | None:
    """``value`` if it is a TLS fingerprint string; otherwise ``None``, so the request goes on without one.

    A value that is not one did not come from the proxy (which sets a well-formed string), so it is
    ignored rather than refused: the request is fingerprinted without `Component.TLS`.
    """
    try:
        check_tls(value)
    except InvalidRequestError:
        logger.debug("ignoring a TLS fingerprint header that is not one (1 to 512 printable ASCII)")
        return None
    return value


def _tls_from(headers: object, name: bytes) -> str | None:
    if not isinstance(headers, list | tuple):
        return None  # the fingerprinter reports a header list it cannot read
    for pair in headers:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        key, value = pair
        if isinstance(key, bytes) and isinstance(value, bytes) and key.lower() == name:
            return _readable_tls(value.decode("latin-1"))
    return None


class FingerprintMiddleware:
    """Pure ASGI middleware: fingerprints every HTTP and WebSocket request into ``scope["state"]``.

    Starlette and FastAPI read it as ``request.state.fingerprint``.

    Whatever the client sends, the middleware does not fail: header bytes of any kind are read as
    latin-1, and a ``tls_header`` value that is not a TLS fingerprint string (1 to 512 printable
    ASCII characters) is ignored, so that request is fingerprinted without `Component.TLS`. A scope
    the fingerprinter cannot read at all (no header list, a header that is not a pair of bytes, which
    a conforming server never sends) is answered ``400`` with an RFC 9457 problem (a WebSocket is
    closed with code 1008) and the application is not called.

    Args:
        app: The ASGI application to wrap.
        fingerprinter: The configured `Fingerprinter`.
        state_key: The key in ``scope["state"]``.
        tls_header: The request header in which your TLS-terminating proxy passes a TLS fingerprint
            (such as ``"x-ja4"``). Only name a header your proxy sets and strips from client input.

    Raises:
        FingerprintTypeError: ``app`` is not callable, ``fingerprinter`` not a `Fingerprinter`,
            ``state_key`` not a non-empty str, ``tls_header`` not a str.
        FingerprintConfigurationError: ``tls_header`` is not a header name.
    """

    def __init__(
        self,
        app: ASGIApp,
        fingerprinter: Fingerprinter,
        *,
        state_key: str = FINGERPRINT_STATE_KEY,
        tls_header: str | None = None,
    ) -> None:
        if not callable(app):
            raise FingerprintTypeError("app", "an ASGI application", app)
        if not isinstance(fingerprinter, Fingerprinter):
            raise FingerprintTypeError("fingerprinter", "a Fingerprinter", fingerprinter)
        self.app = app
        self.fingerprinter = fingerprinter
        self._state_key = _key("state_key", state_key)
        header = _tls_header(tls_header)
        self._tls_header = header.lower().encode("ascii") if header else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection; lifespan scopes pass through."""
        kind = scope.get("type")
        if kind in {"http", "websocket"}:
            tls = None if self._tls_header is None else _tls_from(scope.get("headers"), self._tls_header)
            try:
                fingerprint = self.fingerprinter.from_scope(scope, tls=tls)
            except InvalidRequestError as error:
                await _refuse(kind, send, error)
                return
            scope_state(scope, type_error=FingerprintTypeError)[self._state_key] = fingerprint
        await self.app(scope, receive, send)


async def _refuse(kind: object, send: Send, error: InvalidRequestError) -> None:
    if kind == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await respond(send, 400, headers=[(b"content-type", b"application/problem+json")], body=_problem(error))


class FingerprintWSGIMiddleware:
    """WSGI middleware: fingerprints every request into ``environ["buttress.fingerprint"]``.

    As `FingerprintMiddleware`, it never fails on what the client sends: a ``tls_header`` value that
    is not a TLS fingerprint string is ignored, and an environ the fingerprinter cannot read is
    answered ``400`` with an RFC 9457 problem.

    Args:
        app: The WSGI application to wrap.
        fingerprinter: The configured `Fingerprinter`.
        environ_key: The key in the environ.
        tls_header: The request header in which your proxy passes a TLS fingerprint.

    Raises:
        FingerprintTypeError: ``app`` is not callable, ``fingerprinter`` not a `Fingerprinter`,
            ``environ_key`` not a non-empty str, ``tls_header`` not a str.
        FingerprintConfigurationError: ``tls_header`` is not a header name.
    """

    def __init__(
        self,
        app: WSGIApp,
        fingerprinter: Fingerprinter,
        *,
        environ_key: str = FINGERPRINT_ENVIRON_KEY,
        tls_header: str | None = None,
    ) -> None:
        if not callable(app):
            raise FingerprintTypeError("app", "a WSGI application", app)
        if not isinstance(fingerprinter, Fingerprinter):
            raise FingerprintTypeError("fingerprinter", "a Fingerprinter", fingerprinter)
        self.app = app
        self.fingerprinter = fingerprinter
        self._environ_key = _key("environ_key", environ_key)
        header = _tls_header(tls_header)
        self._tls_key = "HTTP_" + header.upper().replace("-", "_") if header else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        tls = environ.get(self._tls_key) if self._tls_key is not None else None
        try:
            fingerprint = self.fingerprinter.from_environ(
                environ, tls=_readable_tls(tls) if isinstance(tls, str) else None
            )
        except InvalidRequestError as error:
            body = _problem(error)
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        environ[self._environ_key] = fingerprint
        return self.app(environ, start_response)
