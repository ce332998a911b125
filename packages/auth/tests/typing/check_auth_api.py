"""Static checks of buttress-auth's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from typing import assert_type

from buttress.auth import (
    Algorithm,
    JWKSApp,
    KeySet,
    KeySource,
    KeyState,
    MemoryTokenStore,
    SigningKey,
    TokenPair,
    TokenService,
    TokenStore,
    TokenVerifier,
    VerificationKeys,
    VerifiedToken,
    VerifyingKey,
    parse_jwks,
    sign_jws,
    thumbprint,
    verify_jws,
)


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
