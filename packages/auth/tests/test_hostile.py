"""Hostile input: every public entry point raises only typed errors; the JWKS app never answers 5xx."""

from __future__ import annotations

# Token types are names, not passwords.
# ruff: noqa: S106
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

import buttress.auth as package
from buttress.auth import (
    RBAC,
    Algorithm,
    AlgorithmMismatchError,
    AuthConfigurationError,
    AuthError,
    AuthorizationHeaderError,
    AuthTypeError,
    AuthUnavailableError,
    BearerAuthMiddleware,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    JWKSApp,
    JWKSClient,
    JWKSUnavailableError,
    KeySet,
    MalformedTokenError,
    MemoryTokenStore,
    MissingClaimError,
    MissingExtraError,
    PermissionDeniedError,
    RedisTokenStore,
    RefreshTokenReusedError,
    RevokedTokenError,
    Role,
    RoleCycleError,
    SigningKey,
    TokenError,
    TokenNotYetValidError,
    TokenService,
    TokenVerifier,
    UnknownKeyError,
    UnknownRoleError,
    UnsupportedHeaderError,
    VerificationKeys,
    VerifyingKey,
    WeakKeyError,
    WrongTokenTypeError,
    authenticate,
    bearer_token,
    parse_jwks,
    parse_permission,
    sign_jws,
    thumbprint,
    verify_jws,
)
from buttress.testing import (
    HostileTargets,
    acheck_hostile,
    check_hostile,
    check_hostile_asgi,
    closing_factory,
    free_port,
)

# Each entry point is cheap and checks its arguments first: 100 calls each keep the session short.
TARGETS = HostileTargets(max_examples=100)

KEY = SigningKey.generate("ES256")
ED_KEY = SigningKey.generate("EdDSA")
RSA_PEM = SigningKey.generate("RS256").private_pem()
KEYS = KeySet(KEY, verify_only=(ED_KEY,))
STORE = MemoryTokenStore(max_entries=100)
SERVICE = TokenService(KEYS, issuer="https://id.example", audience="api", store=STORE)
TOKEN = SERVICE.issue_access("user-1")
LATER = datetime.now(UTC) + timedelta(hours=1)

TARGETS.add(SigningKey, "ES256", KEY._private)
TARGETS.add(SigningKey.generate, "EdDSA")
TARGETS.add(SigningKey.from_pem, RSA_PEM, "RS256")
TARGETS.add(SigningKey.from_secret, b"s" * 32)
TARGETS.add(SigningKey.from_jwk, {"kty": "oct", "k": "AAAA", "alg": "HS256"})
TARGETS.add(KEY.sign, b"data")
TARGETS.add(KEY.private_pem, b"password")
TARGETS.add(VerifyingKey, Algorithm.ES256, KEY.verifying_key._key)
TARGETS.add(VerifyingKey.from_jwk, KEY.verifying_key.jwk())
TARGETS.add(VerifyingKey.from_pem, b"-----BEGIN PUBLIC KEY-----", "ES256")
TARGETS.add(KEY.verifying_key.verify, b"signature", b"data")
TARGETS.add(thumbprint, KEY.verifying_key.jwk())
TARGETS.add(KeySet, KEY, verify_only=(ED_KEY,))
TARGETS.add(KeySet(SigningKey.generate("EdDSA")).rotate, SigningKey.generate("EdDSA"), grace=10)
TARGETS.add(KEYS.retire, "unknown-kid")
TARGETS.add(KEYS.state, KEY.kid)
TARGETS.add(KEYS.get, KEY.kid)
TARGETS.add(KEYS.verification_key, KEY.kid)
TARGETS.add(
    TokenService,
    KEYS,
    issuer="https://id.example",
    audience="api",
    access_ttl=60,
    refresh_ttl=600,
    leeway=5,
    store=STORE,
    max_token_bytes=4096,
)
TARGETS.add(SERVICE.issue_access, "user-1", claims={"roles": ["a"]}, ttl=60, family="f-1")
TARGETS.add(SERVICE.issue_pair, "user-1", claims={"roles": ["a"]})
TARGETS.add(SERVICE.decode, TOKEN, token_type="access")
TARGETS.add(SERVICE.verify, TOKEN, token_type="access")
TARGETS.add(SERVICE.refresh, "refresh-token")
TARGETS.add(SERVICE.revoke, "token")
TARGETS.add(SERVICE.revoke_family, "family-1")
TARGETS.add(SERVICE.revoke_all_for_user, "user-1")
TARGETS.add(
    TokenVerifier,
    VerificationKeys([KEY.verifying_key]),
    issuer="https://id.example",
    audience=["api", "web"],
    leeway=5,
    store=STORE,
    required=("sub", "jti"),
    max_token_bytes=4096,
)
TARGETS.add(
    TokenVerifier(VerificationKeys([KEY.verifying_key]), issuer="https://id.example", audience="api").verify,
    TOKEN,
    token_type="access",
)
TARGETS.add(MemoryTokenStore, max_entries=10)
TARGETS.add(STORE.revoke, "jti-1", expires_at=LATER)
TARGETS.add(STORE.revoke_all_for_user, "user-1", cutoff=datetime.now(UTC), expires_at=LATER)
TARGETS.add(STORE.is_revoked, "jti-1", user_id="user-1", issued_at=datetime.now(UTC), family="f-1")
TARGETS.add(sign_jws, KEY, b"payload", header={"typ": "x"})
TARGETS.add(verify_jws, TOKEN, KEY.verifying_key, max_bytes=4096)
TARGETS.add(parse_jwks, KEYS.jwks())
TARGETS.add(VerificationKeys, KEYS.jwks())
TARGETS.add(VerificationKeys([KEY.verifying_key]).verification_key, KEY.kid)
TARGETS.add(JWKSApp, KEYS, max_age=60)
POLICY = RBAC({"viewer": Role(permissions=("posts:read",)), "editor": Role(("posts:*",), ("viewer",))})
TARGETS.add(RBAC, {"viewer": Role(permissions=("posts:read",))})
TARGETS.add(Role, ("posts:read",), ("viewer",))
TARGETS.add(POLICY.allows, ["editor"], "posts:read")
TARGETS.add(POLICY.require, "editor", "posts:read")
TARGETS.add(POLICY.permissions, "editor")
TARGETS.add(POLICY.includes, "editor")
TARGETS.add(parse_permission, "posts:read", "permission")
TARGETS.add(bearer_token, {"type": "http", "headers": [(b"authorization", b"Bearer " + TOKEN.encode())]})
TARGETS.add(
    authenticate, {"type": "http", "headers": [(b"authorization", b"Bearer " + TOKEN.encode())]}, SERVICE
)


async def benign(scope: Any, receive: Any, send: Any) -> None:
    if scope.get("type") != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


TARGETS.add(BearerAuthMiddleware, benign, SERVICE, scope_key="auth", optional=True, realm="api")
JWKS_URL = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens: every fetch fails fast
TARGETS.add(
    closing_factory(JWKSClient),
    JWKS_URL,
    ttl=60,
    max_ttl=600,
    cooldown=5,
    negative_ttl=5,
    timeout=1,
    max_bytes=4096,
    covers="JWKSClient",
)


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: object) -> None:
    target.check()  # type: ignore[attr-defined]


@TARGETS.drives(
    "AlgorithmMismatchError",
    "AuthConfigurationError",
    "AuthError",
    "AuthTypeError",
    "AuthUnavailableError",
    "AuthorizationHeaderError",
    "ExpiredTokenError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "JWKSUnavailableError",
    "MalformedTokenError",
    "MissingClaimError",
    "MissingExtraError",
    "PermissionDeniedError",
    "RefreshTokenReusedError",
    "RevokedTokenError",
    "RoleCycleError",
    "TokenError",
    "TokenNotYetValidError",
    "UnknownKeyError",
    "UnknownRoleError",
    "UnsupportedHeaderError",
    "WeakKeyError",
    "WrongTokenTypeError",
)
def test_the_errors_are_built_from_anything() -> None:
    """Error constructors format what they are given: 25 hostile calls each find a formatting bug."""
    for plain in (
        AuthError,
        TokenError,
        MalformedTokenError,
        InvalidSignatureError,
        InvalidIssuerError,
        InvalidAudienceError,
        RevokedTokenError,
        RefreshTokenReusedError,
        AuthorizationHeaderError,
    ):
        check_hostile(plain, "message", max_examples=25)
    check_hostile(AlgorithmMismatchError, "RS256", "none", max_examples=25)
    check_hostile(
        AuthConfigurationError, "leeway", -1, "must be at least 0", show_value=True, max_examples=25
    )
    check_hostile(AuthTypeError, "token", "a str", b"raw", max_examples=25)
    check_hostile(
        AuthUnavailableError, "redis", "redis://:secret@cache:6379/0", "ConnectionError", max_examples=25
    )
    check_hostile(JWKSUnavailableError, "jwks", "https://id.example/jwks.json", "timeout", max_examples=25)
    check_hostile(ExpiredTokenError, 1_900_000_000.0, max_examples=25)
    check_hostile(TokenNotYetValidError, 1_900_000_000.0, "nbf", max_examples=25)
    check_hostile(MissingClaimError, "exp", "is missing", max_examples=25)
    check_hostile(UnsupportedHeaderError, "jku", max_examples=25)
    check_hostile(UnknownKeyError, "kid", max_examples=25)
    check_hostile(WrongTokenTypeError, "access", "refresh+jwt", max_examples=25)
    check_hostile(PermissionDeniedError, "posts:write", max_examples=25)
    check_hostile(WeakKeyError, "pem", "too small", max_examples=25)
    check_hostile(UnknownRoleError, "ghost", "role", max_examples=25)
    check_hostile(RoleCycleError, ("a", "b", "a"), max_examples=25)
    check_hostile(MissingExtraError, "RedisTokenStore", "redis", max_examples=25)
    check_hostile(AuthorizationHeaderError, "bad header", max_examples=25)


async def test_the_jwks_app_never_answers_5xx() -> None:
    await check_hostile_asgi(JWKSApp(KEYS))


async def test_the_middleware_never_answers_5xx() -> None:
    await check_hostile_asgi(BearerAuthMiddleware(benign, SERVICE))
    await check_hostile_asgi(BearerAuthMiddleware(benign, SERVICE, optional=True))


@TARGETS.drives("JWKSClient.verification_key")
async def test_the_jwks_client_raises_only_typed_errors() -> None:
    async with JWKSClient(JWKS_URL, timeout=1) as jwks:
        await acheck_hostile(jwks.verification_key, "kid", max_examples=50)


@TARGETS.drives("RedisTokenStore")
@pytest.mark.redis
async def test_the_redis_store_raises_only_typed_errors(redis_url: str, redis_prefix: str) -> None:
    client: Redis = Redis.from_url(redis_url)
    later = datetime.now(UTC) + timedelta(minutes=5)
    try:
        await acheck_hostile(RedisTokenStore, client, prefix=redis_prefix)
        await acheck_hostile(
            closing_factory(RedisTokenStore.from_url), redis_url, prefix=redis_prefix, max_examples=25
        )
        store = RedisTokenStore(client, prefix=redis_prefix)
        await acheck_hostile(store.revoke, "jti-1", expires_at=later)
        await acheck_hostile(store.revoke_all_for_user, "user-1", cutoff=datetime.now(UTC), expires_at=later)
        await acheck_hostile(
            store.is_revoked, "jti-1", user_id="user-1", issued_at=datetime.now(UTC), family="f"
        )
    finally:
        await client.aclose()


def test_every_public_name_is_driven() -> None:
    TARGETS.assert_covers(
        package,
        exempt={
            "Algorithm": "an enum: Algorithm(value) raises ValueError by the enum contract; the "
            "library's own entry points take its names and raise AuthConfigurationError",
            "KeyState": "an enum that KeySet.state returns; never built from input",
            "TokenPair": "a record TokenService builds for its caller; never built from input",
            "VerifiedToken": "a record verification builds for its caller; never built from input",
        },
    )
