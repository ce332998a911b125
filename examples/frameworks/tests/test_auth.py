"""buttress-auth in every example: ``GET /me`` behind a bearer token, ``POST /token`` issuing one.

Each framework verifies in its own way (FastAPI ``Depends``, Litestar ``Provide``, Starlette
``BearerAuthMiddleware`` on the route, a view decorator in Quart, Flask and Django), and every one
answers a request without a valid token 401 with a ``WWW-Authenticate: Bearer`` challenge, never 5xx.
"""

from __future__ import annotations

import httpx
import pytest

from buttress.auth import KeySet, SigningKey, TokenService
from buttress.testing import FakeClock
from frameworks.shop import AUDIENCE, ISSUER, USERS
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import IN_PROCESS, TARGETS, Target


def login(client: httpx.Client, password: str | None = None) -> httpx.Response:
    """``POST /token`` as alice, with her password unless ``password`` is given."""
    return client.post("/token", json={"user": "alice", "password": password or USERS["alice"]})


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_valid_token_gets_the_principal_and_anything_else_a_401_challenge(
    target: Target, servers: Servers
) -> None:
    forged = TokenService(KeySet(SigningKey.generate("ES256")), issuer=ISSUER, audience=AUDIENCE)
    with httpx.Client(base_url=servers(target), timeout=30) as client:
        issued = login(client)
        refused_login = login(client, password=USERS["alice"][::-1])
        token = issued.json()["access_token"]
        valid = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        missing = client.get("/me")
        garbage = client.get("/me", headers={"Authorization": "Bearer not.a.token"})
        foreign = client.get("/me", headers={"Authorization": f"Bearer {forged.issue_access('alice')}"})
        basic = client.get("/me", headers={"Authorization": "Basic YWxpY2U6d29uZGVybGFuZA=="})
    assert issued.status_code == 200
    assert issued.json()["token_type"] == "Bearer"  # noqa: S105 - the scheme, not a secret
    assert refused_login.status_code == 401
    assert valid.status_code == 200
    assert valid.json() == {"subject": "alice", "roles": ["customer"]}
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert "error=" not in missing.headers["www-authenticate"], "no token: a bare challenge (RFC 6750)"
    for refused in (garbage, foreign):
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # another scheme carries no bearer token: a bare challenge, as with no header (RFC 6750 3.1)
    assert basic.status_code == 401
    assert basic.headers["www-authenticate"].startswith("Bearer ")
    assert "error=" not in basic.headers["www-authenticate"]


@pytest.mark.parametrize("target", IN_PROCESS, ids=str)
def test_an_expired_token_signed_with_the_app_s_own_key_gets_a_401(target: Target, servers: Servers) -> None:
    """Signed by the app's key, so only its expiry refuses it (issued at 2026-01-01, 15 minutes' life)."""
    tokens = servers.tokens(target)
    assert tokens is not None
    then = TokenService(tokens.keys, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock())
    expired = httpx.get(
        f"{servers(target)}/me", headers={"Authorization": f"Bearer {then.issue_access('alice')}"}, timeout=30
    )
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
