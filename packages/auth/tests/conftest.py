"""Keys are slow to generate (RSA): each algorithm's key is made once per session."""

from __future__ import annotations

import pytest

from buttress.auth import SigningKey

ISSUER = "https://id.example"
AUDIENCE = "api"


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.generate("RS256")


@pytest.fixture(scope="session")
def es_key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="session")
def ed_key() -> SigningKey:
    return SigningKey.generate("EdDSA")


@pytest.fixture(scope="session")
def ed25519_key() -> SigningKey:
    return SigningKey.generate("Ed25519")  # RFC 9864's fully-specified name


@pytest.fixture(params=["RS256", "ES256", "EdDSA", "Ed25519"])
def any_key(
    request: pytest.FixtureRequest,
    rsa_key: SigningKey,
    es_key: SigningKey,
    ed_key: SigningKey,
    ed25519_key: SigningKey,
) -> SigningKey:
    return {"RS256": rsa_key, "ES256": es_key, "EdDSA": ed_key, "Ed25519": ed25519_key}[request.param]
