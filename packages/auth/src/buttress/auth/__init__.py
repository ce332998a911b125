"""buttress-auth: JWT done to RFC 8725, JWKS published and fetched, revocation and RBAC.

Issue and verify tokens with keys pinned to one algorithm each (RS256, ES256, EdDSA or Ed25519; HS256 only
when chosen explicitly)::

    from buttress.auth import KeySet, MemoryTokenStore, SigningKey, TokenError, TokenService

    keys = KeySet(SigningKey.generate("ES256"))
    tokens = TokenService(keys, issuer="https://id.example", audience="api", store=MemoryTokenStore())
    pair = await tokens.issue_pair("user-7", claims={"roles": ["editor"]})
    try:
        token = await tokens.verify(pair.access_token)
    except TokenError:
        ...  # answer 401

`KeySet.jwks` and `JWKSApp` publish the public keys; `JWKSClient` (the ``http`` extra) fetches
another issuer's, for a `TokenVerifier`. `RedisTokenStore` (the ``redis`` extra) shares
revocations between instances. `RBAC` checks ``resource:action`` permissions through a role
hierarchy in constant time, and `BearerAuthMiddleware` puts the verified principal into an ASGI
scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._jwks import MAX_JWKS_KEYS, JWKSApp, VerificationKeys, parse_jwks
from ._jws import REFUSED_HEADERS, sign_jws, verify_jws
from ._keys import Algorithm, SigningKey, VerifyingKey, thumbprint
from ._keyset import KeySet, KeySource, KeyState
from ._middleware import BearerAuthMiddleware, TokenCheck, authenticate, bearer_token
from ._rbac import RBAC, Role, parse_permission
from ._store import MemoryTokenStore, TokenStore
from ._tokens import TokenPair, TokenService, TokenVerifier
from ._verify import VerifiedToken
from ._version import __version__
from .exceptions import (
    AlgorithmMismatchError,
    AuthConfigurationError,
    AuthError,
    AuthorizationHeaderError,
    AuthTypeError,
    AuthUnavailableError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    JWKSUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    MissingExtraError,
    PermissionDeniedError,
    RefreshTokenReusedError,
    RevokedTokenError,
    RoleCycleError,
    TokenError,
    TokenNotYetValidError,
    UnknownKeyError,
    UnknownRoleError,
    UnsupportedHeaderError,
    WeakKeyError,
    WrongTokenTypeError,
)

if TYPE_CHECKING:
    from ._jwks_client import JWKSClient
    from ._redis import RedisTokenStore

__all__ = [
    "MAX_JWKS_KEYS",
    "RBAC",
    "REFUSED_HEADERS",
    "Algorithm",
    "AlgorithmMismatchError",
    "AuthConfigurationError",
    "AuthError",
    "AuthTypeError",
    "AuthUnavailableError",
    "AuthorizationHeaderError",
    "BearerAuthMiddleware",
    "ExpiredTokenError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "JWKSApp",
    "JWKSClient",
    "JWKSUnavailableError",
    "KeySet",
    "KeySource",
    "KeyState",
    "MalformedTokenError",
    "MemoryTokenStore",
    "MissingClaimError",
    "MissingExtraError",
    "PermissionDeniedError",
    "RedisTokenStore",
    "RefreshTokenReusedError",
    "RevokedTokenError",
    "Role",
    "RoleCycleError",
    "SigningKey",
    "TokenCheck",
    "TokenError",
    "TokenNotYetValidError",
    "TokenPair",
    "TokenService",
    "TokenStore",
    "TokenVerifier",
    "UnknownKeyError",
    "UnknownRoleError",
    "UnsupportedHeaderError",
    "VerificationKeys",
    "VerifiedToken",
    "VerifyingKey",
    "WeakKeyError",
    "WrongTokenTypeError",
    "__version__",
    "authenticate",
    "bearer_token",
    "parse_jwks",
    "parse_permission",
    "sign_jws",
    "thumbprint",
    "verify_jws",
]

__getattr__ = lazy_exports(__name__, {"JWKSClient": "_jwks_client", "RedisTokenStore": "_redis"})
