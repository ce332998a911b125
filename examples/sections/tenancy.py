"""The tour's buttress-tenancy section."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg

from buttress.core import Receive, Scope, Send, respond
from buttress.tenancy import (
    HeaderResolver,
    MemoryTenantDirectory,
    NoTenantError,
    PostgresTenancy,
    Tenant,
    TenantMiddleware,
    TenantStatus,
    UnsafeConnectionError,
    current_tenant,
    policy_statements,
    tenant_scope,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "outside a scope: NoTenantError",
    "tasks started in a scope: ['acme', 'globex']",
    "middleware: acme 200 'acme', hooli 404, globex 403, none 400",
)
REAL: tuple[str, ...] = (
    "postgresql: acme reads ['acme-1'], globex reads ['globex-1'], no tenant reads []",
    "postgresql: the startup guard refused a superuser",
)


async def _embedded(tour: Tour) -> None:
    try:
        current_tenant()
    except NoTenantError:
        tour.say("outside a scope: NoTenantError")

    async def job() -> str:
        await asyncio.sleep(0)
        return current_tenant()

    tasks = []
    for tenant in ("acme", "globex"):
        async with tenant_scope(tenant):
            tasks.append(asyncio.create_task(job()))  # the task keeps the scope's tenant
    tour.say(f"tasks started in a scope: {await asyncio.gather(*tasks)}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, body=current_tenant().encode())

    directory = MemoryTenantDirectory([Tenant("acme"), Tenant("globex", TenantStatus.SUSPENDED)])
    middleware = TenantMiddleware(app, resolver=HeaderResolver(), directory=directory)
    answers = [await _call(middleware, tenant) for tenant in ("acme", "hooli", "globex", None)]
    acme, hooli, globex, none = answers
    tour.say(f"middleware: acme {acme[0]} {acme[1]!r}, hooli {hooli[0]}, globex {globex[0]}, none {none[0]}")


async def _call(app: TenantMiddleware, tenant: str | None) -> tuple[int, str]:
    headers = [] if tenant is None else [(b"x-tenant-id", tenant.encode())]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/", "headers": headers}, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return int(sent[0]["status"]), body.decode()  # type: ignore[call-overload]


async def _postgres(tour: Tour, dsn: str) -> None:
    suffix = secrets.token_hex(4)
    table, role = f"tour_tenancy_docs_{suffix}", f"tour_tenancy_app_{suffix}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"CREATE TABLE {table} (tenant_id text NOT NULL, body text NOT NULL)")
        for statement in policy_statements(table):
            await connection.execute(statement)
        await connection.execute(f"INSERT INTO {table} VALUES ('acme', 'acme-1'), ('globex', 'globex-1')")  # noqa: S608
        # A role that owns nothing, as the application would connect (here entered with SET LOCAL ROLE).
        await connection.execute(f"CREATE ROLE {role} NOLOGIN")
        await connection.execute(f"GRANT SELECT ON {table} TO {role}")
        seen = {}
        for tenant in ("acme", "globex", None):
            async with connection.transaction():
                await connection.execute(f"SET LOCAL ROLE {role}")
                if tenant is not None:
                    await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
                seen[tenant] = [row[0] for row in await connection.fetch(f"SELECT body FROM {table}")]  # noqa: S608
        acme, globex, nobody = seen["acme"], seen["globex"], seen[None]
        tour.say(f"postgresql: acme reads {acme}, globex reads {globex}, no tenant reads {nobody}")
        try:
            async with await PostgresTenancy.connect(dsn, tables=[table], max_size=1):
                tour.say("postgresql: the startup guard accepted the DSN's role")
        except UnsafeConnectionError as exc:
            who = "superuser" if "superuser" in exc.reason else "role"
            tour.say(f"postgresql: the startup guard refused a {who}")
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.execute(f"DROP ROLE IF EXISTS {role}")
        await connection.close()


async def run(tour: Tour) -> None:
    await _embedded(tour)
    if tour.postgres_dsn is None:
        tour.say("PostgreSQL: set BUTTRESS_POSTGRES_DSN to see row-level security bind a role")
        return
    try:
        await _postgres(tour, tour.postgres_dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        tour.say(f"postgres unavailable: {type(exc).__name__}")
