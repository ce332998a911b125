"""`BearerAuthMiddleware` and `authenticate`: a verified principal in the ASGI scope, no framework needed.

The middleware answers RFC 6750's way: 401 with ``WWW-Authenticate: Bearer`` when a token is missing
or invalid (``error="invalid_token"``), 400 for a malformed ``Authorization`` header, 503 with
``Retry-After`` when the revocation store or the JWKS cannot be reached. It never answers 5xx to a
client's bad input. Frameworks wrap `authenticate` in their own dependency systems instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Final, Protocol

from buttress.core import ASGIApp, Receive, Scope, Send, check_text, respond

from ._verify import ACCESS, VerifiedToken
from .exceptions import (
    AuthConfigurationError,
    AuthorizationHeaderError,
    AuthTypeError,
    AuthUnavailableError,
    TokenError,
)

__all__ = ["BearerAuthMiddleware", "TokenCheck", "authenticate", "bearer_token"]

logger = logging.getLogger(__name__)

_MAX_HEADER: Final = 16_384
_TOKEN68: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


class TokenCheck(Protocol):
    """**Protocol**: what verifies a bearer token (`TokenService` and `TokenVerifier` both do).

    Methods:
        verify: The verified token, or a `TokenError`; `AuthUnavailableError` when a backend
            cannot be reached.
    """

    async def verify(self, token: str, *, token_type: str = ACCESS) -> VerifiedToken:
        """Verify ``token`` as a token of ``token_type``."""
        ...


def bearer_token(scope: Scope) -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, or ``None`` when there is none.

    A header of another scheme (``Basic ...``) is no bearer token: ``None`` as well.

    Raises:
        AuthorizationHeaderError: A ``Bearer`` header that is not ``Bearer <token68>`` (RFC 6750
            section 2.1), a repeated header, or one longer than 16 KiB.
    """
    if not isinstance(scope, Mapping):
        raise AuthTypeError("scope", "an ASGI scope (a mapping)", scope)
    headers = scope.get("headers")
    found: bytes | None = None
    if isinstance(headers, Iterable) and not isinstance(headers, bytes | str):
        for pair in headers:
            if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], bytes)):
                continue
            if pair[0].lower() == b"authorization":
                if found is not None:
                    raise AuthorizationHeaderError("the request has more than one Authorization header")
                value = pair[1]
                found = value if isinstance(value, bytes) else b""
    if found is None:
        return None
    if len(found) > _MAX_HEADER:
        raise AuthorizationHeaderError("the Authorization header is too long")
    scheme, _, token = found.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        # Another scheme (Basic, Digest...) carries no bearer token: the request is answered as one
        # without credentials, a bare challenge (RFC 6750 section 3.1), not as a malformed one.
        return None
    token = token.strip(b" ")
    if not token or not set(token) <= _TOKEN68:
        raise AuthorizationHeaderError("the Authorization header is not 'Bearer <token>'")
    return token.decode("ascii")


async def authenticate(scope: Scope, verifier: TokenCheck) -> VerifiedToken | None:
    """The verified bearer token of a request, or ``None`` when it carries no ``Authorization``.

    For a framework's dependency system (FastAPI ``Depends``, Litestar guards): they decide what a
    missing token means; an invalid one raises.

    Raises:
        TokenError: The token is malformed or must not be trusted.
        AuthUnavailableError: The store or the JWKS cannot be reached.
    """
    if not callable(getattr(verifier, "verify", None)):
        raise AuthTypeError("verifier", "a TokenService or TokenVerifier", verifier)
    token = bearer_token(scope)
    if token is None:
        return None
    return await verifier.verify(token)


def _challenge(realm: str, error: TokenError | None) -> bytes:
    value = f'Bearer realm="{realm}"'
    if error is not None:
        kind = "invalid_request" if isinstance(error, AuthorizationHeaderError) else "invalid_token"
        value += f', error="{kind}", error_description="{error.reason}"'
    return value.encode("ascii")


class BearerAuthMiddleware:
    """ASGI middleware: verify the bearer token and put the `VerifiedToken` in ``scope[scope_key]``.

    Args:
        app: The application behind it.
        verifier: A `TokenService` or `TokenVerifier` (anything with ``verify``).
        scope_key: Where the principal goes in the scope (``"auth"``).
        optional: Let requests without ``Authorization`` through with ``None`` in the scope (a
            request with an invalid token is refused all the same).
        realm: The ``realm`` of the ``WWW-Authenticate`` challenge.

    Raises:
        AuthTypeError: ``app`` is not callable or ``verifier`` has no ``verify``.
        AuthConfigurationError: A bad ``scope_key`` or ``realm``.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenCheck,
        *,
        scope_key: str = "auth",
        optional: bool = False,
        realm: str = "api",
    ) -> None:
        if not callable(app):
            raise AuthTypeError("app", "an ASGI application", app)
        if not callable(getattr(verifier, "verify", None)):
            raise AuthTypeError("verifier", "a TokenService or TokenVerifier", verifier)
        if optional is not True and optional is not False:
            raise AuthTypeError("optional", "a bool", optional)
        self._app = app
        self._verifier = verifier
        self._key = check_text(
            "scope_key", scope_key, max_bytes=64, error=AuthConfigurationError, type_error=AuthTypeError
        )
        realm = check_text(
            "realm", realm, max_bytes=128, error=AuthConfigurationError, type_error=AuthTypeError
        )
        if not realm.isascii() or not realm.isprintable() or '"' in realm or "\\" in realm:
            raise AuthConfigurationError(
                "realm", realm, "must be printable ASCII without quotes or backslashes"
            )
        self._realm = realm
        self._optional = optional

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate an HTTP or WebSocket request; pass other scopes through."""
        if scope.get("type") not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        try:
            verified = await authenticate(scope, self._verifier)
        except TokenError as exc:
            await self._refuse(scope, send, 400 if isinstance(exc, AuthorizationHeaderError) else 401, exc)
            return
        except AuthUnavailableError:
            logger.warning("a bearer token could not be checked: a backend is unavailable")
            await self._unavailable(scope, send)
            return
        if verified is None and not self._optional:
            await self._refuse(scope, send, 401, None)
            return
        if not isinstance(scope, MutableMapping):
            raise AuthTypeError("scope", "a mutable ASGI scope (a dict)", scope)
        # The scope itself, as Starlette's AuthenticationMiddleware does: request.auth reads it.
        scope[self._key] = verified
        await self._app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, error: TokenError | None) -> None:
        if scope.get("type") == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"www-authenticate", _challenge(self._realm, error)), (b"content-type", b"text/plain")]
        await respond(
            send, status, headers=headers, body=b"unauthorized" if status == 401 else b"bad request"
        )

    async def _unavailable(self, scope: Scope, send: Send) -> None:
        if scope.get("type") == "websocket":
            await send({"type": "websocket.close", "code": 1013})
            return
        headers = [(b"retry-after", b"5"), (b"content-type", b"text/plain")]
        await respond(send, 503, headers=headers, body=b"authentication is unavailable")

    def __repr__(self) -> str:
        return f"BearerAuthMiddleware(scope_key={self._key!r}, optional={self._optional})"
