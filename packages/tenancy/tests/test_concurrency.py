"""50 concurrent requests for 10 tenants through a real server: zero cross-tenant rows read or written.

uvicorn serves a small ASGI app behind `TenantMiddleware`; the app reads and writes through a
`SqlAlchemyTenancy` session (both layers on) on a pool of five connections as the application role,
so connections pass from tenant to tenant between requests. Hypothesis picks the mix of requests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from buttress.core import Receive, Scope, Send, read_body, respond
from buttress.tenancy import (
    CrossTenantError,
    HeaderResolver,
    MemoryTenantDirectory,
    SqlAlchemyTenancy,
    Tenant,
    TenantMiddleware,
    current_tenant,
    tenant_safe,
)
from buttress.testing import serve_asgi

from .conftest import Database
from .models import Base, Doc

pytestmark = pytest.mark.postgres

TENANTS = [f"tenant-{index}" for index in range(10)]
KINDS = ("orm_read", "raw_read", "write", "cross_write")


class DocsApp:
    """GET /orm and /raw list the tenant's docs; POST /docs writes one; POST /cross tries another tenant's."""

    def __init__(self, db: Database, *, layers: bool = True) -> None:
        self.db = db
        self.layers = layers
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        assert self.sessions is not None
        path = scope["path"]
        body = await read_body(receive, limit=10_000) or b""
        async with self.sessions() as session, session.begin():
            if path == "/orm":
                rows = [(d.tenant_id, d.body) for d in (await session.scalars(select(Doc))).all()]
            elif path == "/raw":  # only row-level security stands between this and every tenant
                result = await session.execute(tenant_safe(text("SELECT tenant_id, body FROM docs")))
                rows = [(row[0], row[1]) for row in result.all()]
            elif path == "/docs":
                # untagged with the layers on (the layer tags it); tagged by hand with them off
                tag = {} if self.layers else {"tenant_id": current_tenant()}
                session.add(Doc(body=body.decode(), **tag))
                rows = []
            else:  # /cross: names another tenant outright
                other = json.loads(body)
                try:
                    session.add(Doc(body=other["body"], tenant_id=other["tenant"]))
                    await session.flush()
                except CrossTenantError:
                    await respond(send, 409, body=b"refused")
                    return
                rows = []
        payload = json.dumps({"tenant": current_tenant(), "rows": rows}).encode()
        await respond(send, 200, headers=[(b"content-type", b"application/json")], body=payload)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                role = self.db.app if self.layers else self.db.bypass  # off: a role RLS skips
                url = self.db.dsn(role).replace("postgresql://", "postgresql+asyncpg://", 1)
                self.engine = create_async_engine(
                    url, connect_args={"server_settings": self.db.settings}, pool_size=5, max_overflow=0
                )
                tenancy = SqlAlchemyTenancy(Base, application_layer=self.layers, database_layer=self.layers)
                if self.layers:
                    await tenancy.check(self.engine)
                self.sessions = tenancy.sessionmaker(self.engine)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.engine is not None:
                    await self.engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def server(database: Database) -> Iterator[str]:
    directory = MemoryTenantDirectory([Tenant(tenant) for tenant in TENANTS])
    app = TenantMiddleware(DocsApp(database), resolver=HeaderResolver(), directory=directory)
    with serve_asgi(app, lifespan="on") as base:
        yield base


requests = st.lists(st.tuples(st.sampled_from(TENANTS), st.sampled_from(KINDS)), min_size=50, max_size=50)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=requests)
async def test_concurrent_requests_never_cross_tenants(server: str, clean: Database, mix: list[Any]) -> None:
    """Property: Tenant Isolation Under Concurrency.

    Fifty requests at once, for ten tenants, mixing ORM reads, raw SQL reads, writes and attempts to
    write for another tenant: every row a request reads is its tenant's, and every row stored is
    stored under the tenant whose request wrote it.
    """
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30.0) as http:
        responses = await asyncio.gather(*(send_one(http, tenant, kind) for tenant, kind in mix))
    for (tenant, kind), response in zip(mix, responses, strict=True):
        if kind == "cross_write":
            assert response.status_code == 409, response.text
            continue
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["tenant"] == tenant
        assert all(owner == tenant and body.startswith(f"{tenant}/") for owner, body in answer["rows"])
    stored = await stored_rows(clean)
    assert all(body.startswith(f"{owner}/") for owner, body in stored), "a row was written for another tenant"
    written = {f"{tenant}/" for tenant, kind in mix if kind == "write"}
    assert {body.split("/")[0] + "/" for _, body in stored} >= written


def test_with_both_layers_off_the_same_requests_leak(clean: Database) -> None:
    """The same server with both layers off (a BYPASSRLS role, no session layer) reads across tenants."""
    directory = MemoryTenantDirectory([Tenant(tenant) for tenant in TENANTS])
    app = TenantMiddleware(DocsApp(clean, layers=False), resolver=HeaderResolver(), directory=directory)

    async def run(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            await asyncio.gather(*(send_one(http, tenant, "write") for tenant in TENANTS))
            cross = await send_one(http, TENANTS[0], "cross_write")
            reads = await asyncio.gather(*(send_one(http, tenant, "orm_read") for tenant in TENANTS))
            return [cross, *reads]

    with serve_asgi(app, lifespan="on") as base:
        cross, *reads = asyncio.run(run(base))
    assert cross.status_code == 200, "without the layers a write for another tenant lands"
    leaked = [r for r in reads if any(owner != r.json()["tenant"] for owner, _ in r.json()["rows"])]
    assert len(leaked) == len(TENANTS), "without the layers every tenant reads the others' rows"


async def send_one(http: httpx.AsyncClient, tenant: str, kind: str) -> httpx.Response:
    headers = {"x-tenant-id": tenant}
    if kind == "orm_read":
        return await http.get("/orm", headers=headers)
    if kind == "raw_read":
        return await http.get("/raw", headers=headers)
    if kind == "write":
        return await http.post("/docs", headers=headers, content=f"{tenant}/{uuid.uuid4().hex}")
    other = TENANTS[(TENANTS.index(tenant) + 1) % len(TENANTS)]
    smuggled = json.dumps({"tenant": other, "body": f"{tenant}/smuggled"})
    return await http.post("/cross", headers=headers, content=smuggled)


async def stored_rows(db: Database) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(db.superuser_dsn, server_settings=db.settings)
    try:
        return [(row[0], row[1]) for row in await connection.fetch("SELECT tenant_id, body FROM docs")]
    finally:
        await connection.close()
