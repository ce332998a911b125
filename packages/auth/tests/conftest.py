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


@pytest.fixture(params=["RS256", "ES256", "EdDSA"])
def any_key(
    request: pytest.FixtureRequest, rsa_key: SigningKey, es_key: SigningKey, ed_key: SigningKey
) -> SigningKey:
    return {"RS256": rsa_key, "ES256": es_key, "EdDSA": ed_key}[request.param]
