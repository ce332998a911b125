"""buttress-tenancy: what each enforcement layer costs on a point lookup, and the middleware per request.

Printed, in order:

1. A point lookup by primary key through an ``AsyncSession``, one session and one transaction per
   call, as a request would: unscoped (a plain session on a table without policies), with the
   application layer only (``with_loader_criteria`` on every ORM statement), with the database layer
   only (the tenant set by ``set_config(..., true)`` at the start of the transaction, row-level
   security on the table) and with both (target: ≤ 1.15x unscoped), the tenant sent by a separate
   statement or, with `TenantConnection`, with the ``BEGIN``. The same lookup on asyncpg alone:
   a transaction on a pooled connection, against `PostgresTenancy.transaction()`.
2. The middleware per request: `TenantMiddleware` (header resolver, memory directory of 1,000 tenants)
   around a bare ASGI app, against the bare app, both called directly (no server).

All variants run interleaved in rounds, as the application role (no superuser, no BYPASSRLS), on the
same server, after a warm-up. Medians with the 10th-90th percentile spread.
PostgreSQL comes from ``BUTTRESS_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

sys.path.insert(0, str(Path(__file__).parent))
from _harness import Dist, print_table, ratio

from buttress.core import respond
from buttress.tenancy import (
    HeaderResolver,
    MemoryTenantDirectory,
    PostgresTenancy,
    SqlAlchemyTenancy,
    Tenant,
    TenantConnection,
    TenantMiddleware,
    policy_statements,
    tenant_scope,
)

DSN = os.environ.get("BUTTRESS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CALLS = int(os.environ.get("BUTTRESS_BENCH_CALLS", "2000"))
ROWS = 100_000
TENANTS = 100
SCHEMA = "bench_tenancy"
ROLE = "bench_tenancy_app"


class Base(DeclarativeBase):
    pass


class Doc(Base):  # under row-level security
    __tablename__ = "docs"
    __table_args__ = {"schema": SCHEMA}  # noqa: RUF012
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str]
    body: Mapped[str]


class PlainBase(DeclarativeBase):
    pass


class PlainDoc(PlainBase):  # the same rows, no policies: the unscoped baseline and the ORM layer alone
    __tablename__ = "plain_docs"
    __table_args__ = {"schema": SCHEMA}  # noqa: RUF012
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str]
    body: Mapped[str]


def role_dsn(dsn: str, role: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, f"{role}@{parts.netloc.rpartition('@')[2]}", parts.path, "", ""))


async def setup() -> None:
    connection = await asyncpg.connect(DSN)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await connection.execute(
            f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        await connection.execute(f"CREATE SCHEMA {SCHEMA}")
        for table in ("docs", "plain_docs"):
            columns = "id bigint PRIMARY KEY, tenant_id text NOT NULL, body text NOT NULL"
            await connection.execute(f"CREATE TABLE {SCHEMA}.{table} ({columns})")
            await connection.execute(
                f"INSERT INTO {SCHEMA}.{table} SELECT i, 't' || (i % {TENANTS}), 'body ' || i "  # noqa: S608
                f"FROM generate_series(1, {ROWS}) AS i"
            )
            await connection.execute(f"CREATE INDEX ON {SCHEMA}.{table} (tenant_id)")
            await connection.execute(f"ANALYZE {SCHEMA}.{table}")
        for statement in policy_statements(f"{SCHEMA}.docs"):
            await connection.execute(statement)
        await connection.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE}")
        await connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {ROLE}")
    finally:
        await connection.close()


async def teardown() -> None:
    connection = await asyncpg.connect(DSN)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await connection.execute(f"DROP OWNED BY {ROLE}")
        await connection.execute(f"DROP ROLE IF EXISTS {ROLE}")
    finally:
        await connection.close()


async def measure(variants: dict[str, Callable[[int], Awaitable[object]]]) -> dict[str, Dist]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for warm in range(200):
        for call in variants.values():
            await call(warm + 1)
    for index in range(CALLS):
        key = (index * 7919) % ROWS + 1
        for name, call in variants.items():
            start = time.perf_counter()
            await call(key)
            samples[name].append((time.perf_counter() - start) * 1e6)
    return {name: Dist.of(values) for name, values in samples.items()}


async def lookups() -> None:
    url = role_dsn(DSN, ROLE).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, pool_size=2, max_overflow=0)
    begin_engine = create_async_engine(
        url, pool_size=2, max_overflow=0, connect_args={"connection_class": TenantConnection}
    )
    plain = async_sessionmaker(engine)
    app_only = SqlAlchemyTenancy(PlainBase, database_layer=False).sessionmaker(engine)
    db_only = SqlAlchemyTenancy(Base, application_layer=False).sessionmaker(engine)
    both = SqlAlchemyTenancy(Base).sessionmaker(engine)
    both_on_begin = SqlAlchemyTenancy(Base).sessionmaker(begin_engine)
    await SqlAlchemyTenancy(Base).check(engine)
    pool = await asyncpg.create_pool(role_dsn(DSN, ROLE), min_size=2, max_size=2)
    tenancy = PostgresTenancy(pool, tables=[f"{SCHEMA}.docs"])
    await tenancy.check()

    def tenant_of(key: int) -> str:
        return f"t{key % TENANTS}"

    def orm(
        sessions: async_sessionmaker, model: type[Doc] | type[PlainDoc]
    ) -> Callable[[int], Awaitable[object]]:  # type: ignore[type-arg]
        async def call(key: int) -> object:
            with tenant_scope(tenant_of(key)):
                async with sessions() as session, session.begin():
                    found = (await session.scalars(select(model).where(model.id == key))).one_or_none()
            if found is None:
                raise RuntimeError(f"row {key} was not found for its tenant")
            return found

        return call

    async def raw_plain(key: int) -> object:
        async with pool.acquire() as connection, connection.transaction():
            return await connection.fetchrow(f"SELECT * FROM {SCHEMA}.plain_docs WHERE id = $1", key)  # noqa: S608

    async def raw_scoped(key: int) -> object:
        with tenant_scope(tenant_of(key)):
            async with tenancy.transaction() as connection:
                row = await connection.fetchrow(f"SELECT * FROM {SCHEMA}.docs WHERE id = $1", key)  # noqa: S608
        if row is None:
            raise RuntimeError(f"row {key} was not found for its tenant")
        return row

    results = await measure(
        {
            "unscoped": orm(plain, PlainDoc),
            "application layer": orm(app_only, PlainDoc),
            "database layer": orm(db_only, Doc),
            "both layers": orm(both, Doc),
            "both layers, TenantConnection": orm(both_on_begin, Doc),
            "asyncpg unscoped": raw_plain,
            "asyncpg PostgresTenancy": raw_scoped,
        }
    )
    await engine.dispose()
    await begin_engine.dispose()
    await pool.close()
    base, raw = results["unscoped"], results["asyncpg unscoped"]
    rows = []
    for name, dist in results.items():
        peer = raw if name.startswith("asyncpg") else base
        rows.append([name, dist.cell(0), ratio(dist.p50, peer.p50), ratio(dist.low, peer.low)])
    print_table(
        "Point lookup by primary key, one transaction per call (µs per call)",
        ["variant", "p50 (p10-p90)", "vs unscoped (p50)", "vs unscoped (p10)"],
        rows,
        [
            f"{CALLS} calls per variant, interleaved; {ROWS:,} rows, {TENANTS} tenants. The p10 ratio is "
            "the steadier one on a loaded machine."
        ],
    )


async def middleware() -> None:
    async def bare(
        scope: object, receive: object, send: Callable[[dict[str, object]], Awaitable[None]]
    ) -> None:
        await respond(send, 200, body=b"ok")  # type: ignore[arg-type]

    directory = MemoryTenantDirectory([Tenant(f"t{index}") for index in range(1000)])
    wrapped = TenantMiddleware(bare, resolver=HeaderResolver(), directory=directory)  # type: ignore[arg-type]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        pass

    def request(key: int) -> dict[str, object]:
        headers = [(b"host", b"example.com"), (b"x-tenant-id", f"t{key % 1000}".encode())]
        return {"type": "http", "method": "GET", "path": "/", "headers": headers}

    async def call_bare(key: int) -> object:
        return await bare(request(key), receive, send)

    async def call_wrapped(key: int) -> object:
        return await wrapped(request(key), receive, send)

    results = await measure({"bare app": call_bare, "TenantMiddleware": call_wrapped})
    base = results["bare app"]
    added = results["TenantMiddleware"].p50 - base.p50
    print_table(
        "The middleware per request (µs per call, direct ASGI calls)",
        ["variant", "p50 (p10-p90)", "vs bare"],
        [[name, dist.cell(1), ratio(dist.p50, base.p50)] for name, dist in results.items()],
        [f"Added per request: {added:.1f} µs (resolve, check the id, look it up, enter the scope)."],
    )


async def main() -> None:
    await setup()
    try:
        await lookups()
        await middleware()
    finally:
        await teardown()
    print(
        f"\nload: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}, Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    asyncio.run(main())
