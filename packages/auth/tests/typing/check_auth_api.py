"""Static checks of buttress-auth's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_type

from redis.asyncio import Redis

from buttress.auth import (
    RBAC,
    Algorithm,
    BearerAuthMiddleware,
    JWKSApp,
    JWKSClient,
    KeySet,
    KeySource,
    KeyState,
    MemoryTokenStore,
    RedisTokenStore,
    Role,
    SigningKey,
    TokenPair,
    TokenService,
    TokenStore,
    TokenVerifier,
    VerificationKeys,
    VerifiedToken,
    VerifyingKey,
    authenticate,
    bearer_token,
    parse_jwks,
    parse_permission,
    sign_jws,
    thumbprint,
    verify_jws,
)
from buttress.core import Receive, Scope, Send


async def check() -> None:
    key = SigningKey.generate("ES256")
    assert_type(key, SigningKey)
    assert_type(key.alg, Algorithm)
    assert_type(key.kid, str)
    assert_type(key.verifying_key, VerifyingKey)
    assert_type(key.sign(b"x"), bytes)
    assert_type(SigningKey.from_secret(b"s" * 32), SigningKey)
    assert_type(key.verifying_key.jwk(), dict[str, str])
    assert_type(thumbprint(key.verifying_key.jwk()), str)

    keys = KeySet(key)
    assert_type(keys.active, SigningKey)
    assert_type(keys.state(key.kid), KeyState)
    assert_type(keys.get(key.kid), VerifyingKey)
    assert_type(keys.jwks(), dict[str, list[dict[str, str]]])
    source: KeySource = keys
    assert_type(await source.verification_key(key.kid), VerifyingKey)

    store: TokenStore = MemoryTokenStore()
    tokens = TokenService(keys, issuer="https://id.example", audience="api", store=store)
    assert_type(tokens.issue_access("user"), str)
    pair = await tokens.issue_pair("user")
    assert_type(pair, TokenPair)
    assert_type(tokens.decode(pair.access_token), VerifiedToken)
    assert_type(await tokens.verify(pair.access_token), VerifiedToken)
    assert_type(await tokens.refresh(pair.refresh_token), TokenPair)

    verifier = TokenVerifier(VerificationKeys(keys.jwks()), issuer="https://id.example", audience="api")
    assert_type(await verifier.verify(pair.access_token), VerifiedToken)
    assert_type(parse_jwks(keys.jwks()), dict[str, VerifyingKey])
    assert_type(sign_jws(key, b"payload"), str)
    assert_type(verify_jws(sign_jws(key, b"payload"), key.verifying_key), bytes)
    assert_type(JWKSApp(keys), JWKSApp)


async def check_backends_rbac_and_middleware(app: object) -> None:
    async with JWKSClient("https://id.example/.well-known/jwks.json") as jwks:
        assert_type(await jwks.verification_key("kid"), VerifyingKey)
        assert_type(await jwks.keys(), dict[str, VerifyingKey])
        verifier = TokenVerifier(jwks, issuer="https://id.example", audience="api")
        assert_type(await authenticate({"type": "http", "headers": []}, verifier), VerifiedToken | None)
    store = RedisTokenStore(Redis(), prefix="auth:")
    assert_type(await store.revoke("jti", expires_at=datetime.now(UTC)), bool)
    assert_type(RedisTokenStore.from_url("redis://localhost:6379/0"), RedisTokenStore)
    rbac = RBAC({"viewer": Role(permissions=("posts:read",))})
    assert_type(rbac.allows("viewer", "posts:read"), bool)
    assert_type(rbac.permissions("viewer"), frozenset[str])
    assert_type(parse_permission("posts:read"), tuple[str, str])
    assert_type(bearer_token({"type": "http", "headers": []}), str | None)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    keys = KeySet(SigningKey.generate("EdDSA"))
    service = TokenService(keys, issuer="https://id.example", audience="api")
    assert_type(BearerAuthMiddleware(inner, service), BearerAuthMiddleware)
