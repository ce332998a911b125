"""BearerAuthMiddleware and authenticate: RFC 6750 answers, the principal in the scope, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from buttress.auth import (
    AuthorizationHeaderError,
    AuthUnavailableError,
    BearerAuthMiddleware,
    KeySet,
    MemoryTokenStore,
    SigningKey,
    TokenService,
    VerifiedToken,
    authenticate,
    bearer_token,
)
from buttress.testing import serve_asgi


async def whoami(scope: dict[str, Any], receive: Any, send: Any) -> None:
    principal = scope.get("auth")
    body = b"anonymous" if principal is None else principal.subject.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DownStore(MemoryTokenStore):
    async def is_revoked(self, *args: Any, **kwargs: Any) -> bool:
        raise AuthUnavailableError("redis", "redis://cache:6379/0", "ConnectionError")


@pytest.fixture
def service(es_key: SigningKey) -> TokenService:
    return TokenService(KeySet(es_key), issuer="https://id.example", audience="api", store=MemoryTokenStore())


async def test_the_principal_reaches_the_app_over_http(service: TokenService) -> None:
    pair = await service.issue_pair("user-7")
    with serve_asgi(BearerAuthMiddleware(whoami, service)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            ok = await http.get("/", headers={"authorization": f"Bearer {pair.access_token}"})
            assert (ok.status_code, ok.text) == (200, "user-7")
            missing = await http.get("/")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
            refresh = await http.get("/", headers={"authorization": f"Bearer {pair.refresh_token}"})
            assert refresh.status_code == 401
            assert (
                'error="invalid_token", error_description="token_type"' in refresh.headers["www-authenticate"]
            )
            # another scheme is no credentials for this resource: a bare challenge (RFC 6750 3.1)
            basic = await http.get("/", headers={"authorization": "Basic dXNlcjpwYXNz"})
            assert basic.status_code == 401
            assert basic.headers["www-authenticate"] == 'Bearer realm="api"'
            malformed = await http.get("/", headers={"authorization": "Bearer a b"})
            assert malformed.status_code == 400
            assert 'error="invalid_request"' in malformed.headers["www-authenticate"]
            await service.revoke(pair.access_token)
            revoked = await http.get("/", headers={"authorization": f"Bearer {pair.access_token}"})
            assert revoked.status_code == 401
            assert "revoked" in revoked.headers["www-authenticate"]


async def test_optional_lets_anonymous_requests_through(service: TokenService) -> None:
    with serve_asgi(BearerAuthMiddleware(whoami, service, optional=True)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/")).text == "anonymous"
            basic = await http.get("/", headers={"authorization": "Basic dXNlcjpwYXNz"})
            assert basic.text == "anonymous"
            assert (await http.get("/", headers={"authorization": "Bearer not.a.token"})).status_code == 401


async def test_an_unavailable_store_is_503(es_key: SigningKey) -> None:
    service = TokenService(KeySet(es_key), issuer="https://id.example", audience="api", store=DownStore())
    token = service.issue_access("user-7")
    with serve_asgi(BearerAuthMiddleware(whoami, service)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.get("/", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"


async def test_a_websocket_without_a_token_is_closed(service: TokenService) -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    await BearerAuthMiddleware(whoami, service)({"type": "websocket", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
        ([(b"Authorization", b"bearer   abc")], "abc"),
        ([(b"x-other", b"Bearer abc")], None),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([(b"authorization", b"Token abc")], None),
    ],
)
def test_bearer_token_extraction(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    assert bearer_token({"type": "http", "headers": headers}) == token


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer",
        b"Bearer ",
        b"Bearer a b",
        b"Bearer \xff",
        b"Bearer a\x00b",
        b"Bearer " + b"a" * 20_000,
    ],
)
def test_malformed_authorization_headers(value: bytes) -> None:
    with pytest.raises(AuthorizationHeaderError):
        bearer_token({"type": "http", "headers": [(b"authorization", value)]})


def test_a_repeated_authorization_header_is_refused() -> None:
    headers = [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")]
    with pytest.raises(AuthorizationHeaderError):
        bearer_token({"type": "http", "headers": headers})


async def test_authenticate_for_frameworks(service: TokenService) -> None:
    token = service.issue_access("user-7")
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
    verified = await authenticate(scope, service)
    assert isinstance(verified, VerifiedToken)
    assert verified.subject == "user-7"
    assert await authenticate({"type": "http", "headers": []}, service) is None
