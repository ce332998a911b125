"""ASGI and WSGI middleware that fingerprints each request and hands the result to the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from ._fingerprinter import Fingerprinter
from .exceptions import FingerprintTypeError

__all__ = [
    "FINGERPRINT_ENVIRON_KEY",
    "FINGERPRINT_STATE_KEY",
    "FingerprintMiddleware",
    "FingerprintWSGIMiddleware",
]

FINGERPRINT_STATE_KEY: Final = "fingerprint"
"""Where `FingerprintMiddleware` puts the `Fingerprint` in ``scope["state"]``."""

FINGERPRINT_ENVIRON_KEY: Final = "buttress.fingerprint"
"""Where `FingerprintWSGIMiddleware` puts the `Fingerprint` in the WSGI environ."""

# ASGI scopes and messages are dicts whose values have many types: Any is their honest type.
type _Scope = MutableMapping[str, Any]
type _Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
type _Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
type ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]
type WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _tls_from(headers: Iterable[tuple[str, str]], name: str | None) -> str | None:
    if name is None:
        return None
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class FingerprintMiddleware:
    """Pure ASGI middleware: fingerprints every HTTP and WebSocket request into ``scope["state"]``.

    Starlette and FastAPI read it as ``request.state.fingerprint``.

    Args:
        app: The ASGI application to wrap.
        fingerprinter: The configured `Fingerprinter`.
        state_key: The key in ``scope["state"]``.
        tls_header: The request header in which your TLS-terminating proxy passes a TLS fingerprint
            (such as ``"x-ja4"``). Only name a header your proxy sets and strips from client input.
    """

    def __init__(
        self,
        app: ASGIApp,
        fingerprinter: Fingerprinter,
        *,
        state_key: str = FINGERPRINT_STATE_KEY,
        tls_header: str | None = None,
    ) -> None:
        if not isinstance(fingerprinter, Fingerprinter):
            raise FingerprintTypeError("fingerprinter", "a Fingerprinter", fingerprinter)
        self.app = app
        self.fingerprinter = fingerprinter
        self._state_key = state_key
        self._tls_header = tls_header.lower() if tls_header else None

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """Handle one ASGI connection; lifespan scopes pass through."""
        if scope["type"] in {"http", "websocket"}:
            tls = None
            if self._tls_header is not None:
                raw = ((bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope["headers"])
                tls = _tls_from(raw, self._tls_header)
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state[self._state_key] = self.fingerprinter.from_scope(scope, tls=tls)
        await self.app(scope, receive, send)


class FingerprintWSGIMiddleware:
    """WSGI middleware: fingerprints every request into ``environ["buttress.fingerprint"]``.

    Args:
        app: The WSGI application to wrap.
        fingerprinter: The configured `Fingerprinter`.
        environ_key: The key in the environ.
        tls_header: The request header in which your proxy passes a TLS fingerprint.
    """

    def __init__(
        self,
        app: WSGIApp,
        fingerprinter: Fingerprinter,
        *,
        environ_key: str = FINGERPRINT_ENVIRON_KEY,
        tls_header: str | None = None,
    ) -> None:
        if not isinstance(fingerprinter, Fingerprinter):
            raise FingerprintTypeError("fingerprinter", "a Fingerprinter", fingerprinter)
        self.app = app
        self.fingerprinter = fingerprinter
        self._environ_key = environ_key
        self._tls_key = "HTTP_" + tls_header.upper().replace("-", "_") if tls_header else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        tls = environ.get(self._tls_key) if self._tls_key is not None else None
        environ[self._environ_key] = self.fingerprinter.from_environ(
            environ, tls=tls if isinstance(tls, str) else None
        )
        return self.app(environ, start_response)
