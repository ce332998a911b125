"""The ASGI and WSGI middleware: resolve, validate, scope; 400/401/403/404/503 and never a 5xx on input."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import LoopThread, Receive, Scope, Send, StartResponse, respond
from buttress.tenancy import (
    ClaimResolver,
    HeaderResolver,
    MemoryTenantDirectory,
    PathPrefixResolver,
    PostgresTenantDirectory,
    SubdomainResolver,
    TenancyConfigurationError,
    TenancyTypeError,
    Tenant,
    TenantMiddleware,
    TenantRequest,
    TenantStatus,
    TenantTokenError,
    WSGITenantMiddleware,
    current_tenant,
)
from buttress.testing import RecordedMetrics, check_hostile_asgi

KEY = b"k" * 32
DIRECTORY = MemoryTenantDirectory([Tenant("acme"), Tenant("globex", TenantStatus.SUSPENDED)])


def sign(tenant: str) -> str:
    return f"{tenant}.{hmac.new(KEY, tenant.encode(), hashlib.sha256).hexdigest()}"


def verify(token: str) -> Mapping[str, object]:
    tenant, _, _signature = token.rpartition(".")
    if not hmac.compare_digest(sign(tenant), token):
        raise ValueError("bad signature")
    return {"tenant_id": tenant, "sub": "user-1"} if tenant else {"sub": "user-1"}


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the tenant it runs for, read from the context and from the scope's state."""
    body = json.dumps({"tenant": current_tenant(), "state": scope["state"]["tenant"].id}).encode()
    await respond(send, 200, headers=[(b"content-type", b"application/json")], body=body)


async def benign(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, body=b"ok")


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://example.com")


async def test_a_known_tenant_runs_in_its_scope(metric_reader: RecordedMetrics) -> None:
    app = TenantMiddleware(echo, resolver=HeaderResolver(), directory=DIRECTORY)
    async with client(app) as http:
        response = await http.get("/", headers={"X-Tenant-ID": "acme"})
    assert response.status_code == 200
    assert response.json() == {"tenant": "acme", "state": "acme"}
    assert metric_reader.value("buttress.tenancy.requests", {"tenancy.outcome": "resolved"}) == 1


@pytest.mark.parametrize(
    ("headers", "status", "outcome"),
    [
        ({}, 400, "missing"),
        ({"X-Tenant-ID": "hooli"}, 404, "unknown"),
        ({"X-Tenant-ID": "ACME"}, 404, "unknown"),
        ({"X-Tenant-ID": "<script>alert(1)</script>"}, 404, "unknown"),
        ({"X-Tenant-ID": "globex"}, 403, "suspended"),
    ],
)
async def test_refusals_are_problem_details_that_echo_nothing(
    headers: dict[str, str], status: int, outcome: str, metric_reader: RecordedMetrics
) -> None:
    app = TenantMiddleware(echo, resolver=HeaderResolver(), directory=DIRECTORY)
    async with client(app) as http:
        response = await http.get("/", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    for value in headers.values():
        assert value not in response.text
    assert metric_reader.value("buttress.tenancy.requests", {"tenancy.outcome": outcome}) == 1


@pytest.mark.parametrize(
    ("resolver", "url", "headers", "status"),
    [
        (SubdomainResolver("example.com"), "http://acme.example.com/x", {}, 200),
        (SubdomainResolver("example.com"), "http://example.com/x", {}, 400),
        (SubdomainResolver("example.com"), "http://a.acme.example.com/x", {}, 400),
        (SubdomainResolver("example.com"), "http://acme.example.org/x", {}, 400),
        (SubdomainResolver("example.com"), "http://globex.example.com:8080/x", {}, 403),
        (PathPrefixResolver("/t/"), "http://example.com/t/acme/orders", {}, 200),
        (PathPrefixResolver("/t/"), "http://example.com/orders", {}, 400),
        (PathPrefixResolver("/"), "http://example.com/hooli/orders", {}, 404),
        (ClaimResolver(verify), "http://example.com/", {"Authorization": f"Bearer {sign('acme')}"}, 200),
        (ClaimResolver(verify), "http://example.com/", {"Authorization": f"Bearer {sign('acme')}x"}, 401),
        (ClaimResolver(verify), "http://example.com/", {"Authorization": "Basic YTpi"}, 400),
        (ClaimResolver(verify), "http://example.com/", {}, 400),
        (ClaimResolver(verify), "http://example.com/", {"Authorization": f"Bearer {sign('')}"}, 401),
    ],
)
async def test_each_resolver(resolver: Any, url: str, headers: dict[str, str], status: int) -> None:
    app = TenantMiddleware(echo, resolver=resolver, directory=DIRECTORY)
    async with client(app) as http:
        response = await http.get(url, headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.json()["tenant"] == "acme"


async def test_an_unreachable_directory_is_503_not_a_crash(metric_reader: RecordedMetrics) -> None:
    pool = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=0, max_size=1)
    try:
        app = TenantMiddleware(echo, resolver=HeaderResolver(), directory=PostgresTenantDirectory(pool))
        async with client(app) as http:
            response = await http.get("/", headers={"X-Tenant-ID": "acme"})
    finally:
        await pool.close()
    assert response.status_code == 503
    assert metric_reader.value("buttress.tenancy.requests", {"tenancy.outcome": "unavailable"}) == 1


async def test_lifespan_passes_through_and_websockets_are_closed_when_refused() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    app = TenantMiddleware(inner, resolver=HeaderResolver(), directory=DIRECTORY)
    await app({"type": "lifespan"}, _never, _discard)
    sent: list[dict[str, Any]] = []

    async def record(message: Any) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/", "headers": [(b"x-tenant-id", b"hooli")]}, _never, record)
    await app({"type": "websocket", "path": "/", "headers": [(b"x-tenant-id", b"acme")]}, _never, record)
    assert seen == ["lifespan", "websocket"]
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Not Found"}]


async def _never() -> dict[str, Any]:
    raise AssertionError("not read")


async def _discard(message: Any) -> None:
    pass


async def test_every_resolver_behind_the_middleware_answers_no_5xx() -> None:
    """The middleware with each resolver (test_hostile.py drives it with the header one)."""
    for resolver in (SubdomainResolver("example.com"), PathPrefixResolver("/"), ClaimResolver(verify)):
        await check_hostile_asgi(
            TenantMiddleware(benign, resolver=resolver, directory=DIRECTORY), max_examples=25
        )


# --- WSGI ------------------------------------------------------------------------------------------


def wsgi_echo(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body() -> Iterator[bytes]:  # read while the server iterates, after the app returned
        yield current_tenant().encode()
        yield b"|" + environ["buttress.tenant"].id.encode()

    return body()


def call(app: Any, **environ: Any) -> tuple[str, bytes]:
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(line)
        return lambda data: None

    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "example.com",
        "wsgi.input": io.BytesIO(),
    }
    result = app({**base, **environ}, start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return status[0], body


def test_the_wsgi_middleware_scopes_the_body_too() -> None:
    app = WSGITenantMiddleware(wsgi_echo, resolver=HeaderResolver(), directory=DIRECTORY)
    try:
        assert call(app, HTTP_X_TENANT_ID="acme") == ("200 OK", b"acme|acme")
        assert call(app, HTTP_X_TENANT_ID="globex")[0].startswith("403")
        assert call(app, HTTP_X_TENANT_ID="hooli")[0].startswith("404")
        assert call(app)[0].startswith("400")
        subdomains = WSGITenantMiddleware(
            wsgi_echo, resolver=SubdomainResolver("example.com"), directory=DIRECTORY
        )
        assert call(subdomains, HTTP_HOST="acme.example.com:443") == ("200 OK", b"acme|acme")
        subdomains.close()
    finally:
        app.close()


def test_a_given_runner_is_used_and_left_running() -> None:
    runner = LoopThread("tenancy-test")
    runner.start()
    try:
        app = WSGITenantMiddleware(wsgi_echo, resolver=HeaderResolver(), directory=DIRECTORY, runner=runner)
        assert call(app, HTTP_X_TENANT_ID="acme")[0] == "200 OK"
        app.close()
        assert runner.running
    finally:
        runner.stop()


# --- resolvers -------------------------------------------------------------------------------------

requests = st.builds(
    TenantRequest,
    host=st.text(max_size=80),
    path=st.text(max_size=80),
    headers=st.dictionaries(
        st.sampled_from(["x-tenant-id", "authorization", "host", "other"]), st.text(max_size=200), max_size=4
    ),
)


@given(requests)
def test_resolvers_answer_any_request_with_a_str_or_none(request: TenantRequest) -> None:
    """Property 23: Tenant Resolution Totality.

    Every resolver answers every request with a tenant id or None; only a token that fails
    verification raises, as TenantTokenError.
    """
    for resolver in (HeaderResolver(), SubdomainResolver("example.com"), PathPrefixResolver("/t/")):
        found = resolver.resolve(request)
        assert found is None or isinstance(found, str)
    try:
        found = ClaimResolver(verify).resolve(request)
    except TenantTokenError:
        return
    assert found is None or isinstance(found, str)


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True))
def test_a_subdomain_resolves_to_its_label(label: str) -> None:
    resolver = SubdomainResolver("shop.example.com")
    assert resolver.resolve(TenantRequest(f"{label}.shop.example.com", "/")) == label
    assert resolver.resolve(TenantRequest(f"{label}.shop.example.com.", "/")) == label
    assert resolver.resolve(TenantRequest(f"x.{label}.shop.example.com", "/")) is None


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: HeaderResolver("bad header"), TenancyConfigurationError),
        (lambda: SubdomainResolver("Example.COM"), TenancyConfigurationError),
        (lambda: PathPrefixResolver("t/"), TenancyConfigurationError),
        (lambda: ClaimResolver("not callable"), TenancyTypeError),  # type: ignore[arg-type]
        (lambda: TenantMiddleware(echo, resolver=object(), directory=DIRECTORY), TenancyTypeError),  # type: ignore[arg-type]
        (
            lambda: WSGITenantMiddleware(
                wsgi_echo, resolver=HeaderResolver(), directory=DIRECTORY, timeout=0
            ),
            TenancyConfigurationError,
        ),
    ],
)
def test_configuration_is_checked(make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()
