"""Interop: PyJWT and joserfc verify our tokens through our JWKS, and we verify theirs.

Each test reports agreement both ways on the same keys: a token either side signs is accepted by
the other, and a token the peer rejects for a reason (expired, wrong audience) we reject too.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jwk import KeySet as JoseKeySet

from buttress.auth import (
    ExpiredTokenError,
    InvalidAudienceError,
    KeySet,
    SigningKey,
    TokenService,
    TokenVerifier,
    VerificationKeys,
)

ISSUER = "https://id.example"

# joserfc warns that RFC 9864 deprecates the "EdDSA" identifier (for "Ed25519"); tokens still verify.
JOSE_EDDSA = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

JOSE_KEYS = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey, "Ed25519": OKPKey}


@pytest.fixture(params=["RS256", "ES256", "EdDSA"])
def pyjwt_key(
    request: pytest.FixtureRequest, rsa_key: SigningKey, es_key: SigningKey, ed_key: SigningKey
) -> SigningKey:
    # PyJWT knows no "Ed25519" algorithm name (RFC 9864) yet; joserfc does, and is tested with it
    return {"RS256": rsa_key, "ES256": es_key, "EdDSA": ed_key}[request.param]


def their_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-9",
        "aud": "api",
        "iat": now,
        "exp": now + 300,
        "jti": "j-1",
    }
    claims.update(changes)
    return claims


def test_pyjwt_verifies_our_tokens_through_our_jwks(pyjwt_key: SigningKey) -> None:
    any_key = pyjwt_key
    keys = KeySet(any_key)
    token = TokenService(keys, issuer=ISSUER, audience="api").issue_access("user-1", claims={"roles": ["a"]})
    jwks = jwt.PyJWKSet.from_dict(keys.jwks())
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(
        token,
        key,
        algorithms=[str(any_key.alg)],
        audience="api",
        issuer=ISSUER,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    assert claims["sub"] == "user-1"
    assert claims["roles"] == ["a"]


@JOSE_EDDSA
def test_joserfc_verifies_our_tokens_through_our_jwks(any_key: SigningKey) -> None:
    keys = KeySet(any_key)
    token = TokenService(keys, issuer=ISSUER, audience="api").issue_access("user-1")
    key_set = JoseKeySet.import_key_set(keys.jwks())  # type: ignore[arg-type]
    decoded = jose_jwt.decode(token, key_set, algorithms=[str(any_key.alg)])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": "api"}
    )
    registry.validate(decoded.claims)
    assert decoded.claims["sub"] == "user-1"
    assert decoded.header["typ"] == "at+jwt"


async def test_we_verify_pyjwt_tokens(pyjwt_key: SigningKey) -> None:
    any_key = pyjwt_key
    private = any_key._private
    verifier = TokenVerifier(VerificationKeys([any_key.verifying_key]), issuer=ISSUER, audience="api")
    headers = {"kid": any_key.kid, "typ": "at+jwt"}
    token = jwt.encode(their_claims(), private, algorithm=str(any_key.alg), headers=headers)  # type: ignore[arg-type]
    assert (await verifier.verify(token)).subject == "user-9"
    expired = jwt.encode(
        their_claims(exp=int(time.time()) - 3600),
        private,
        algorithm=str(any_key.alg),
        headers=headers,  # type: ignore[arg-type]
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, any_key.verifying_key._key, algorithms=[str(any_key.alg)], audience="api")  # type: ignore[arg-type]
    with pytest.raises(ExpiredTokenError):
        await verifier.verify(expired)


@JOSE_EDDSA
async def test_we_verify_joserfc_tokens_through_their_jwks(any_key: SigningKey) -> None:
    alg = str(any_key.alg)
    their_key = JOSE_KEYS[alg].import_key(any_key.private_pem())
    their_key.ensure_kid()
    jwks = JoseKeySet([their_key]).as_dict(private=False)
    for entry in jwks["keys"]:
        entry["alg"] = alg  # our reader needs each key's algorithm, as RFC 8725 asks
    verifier = TokenVerifier(VerificationKeys(jwks), issuer=ISSUER, audience="api")
    header = {"alg": alg, "kid": their_key.kid, "typ": "at+jwt"}
    token = jose_jwt.encode(header, their_claims(), their_key, algorithms=[alg])
    assert (await verifier.verify(token)).subject == "user-9"
    assert their_key.kid == any_key.kid  # both compute the RFC 7638 thumbprint
    wrong = jose_jwt.encode(header, their_claims(aud="other"), their_key, algorithms=[alg])
    with pytest.raises(InvalidAudienceError):
        await verifier.verify(wrong)
