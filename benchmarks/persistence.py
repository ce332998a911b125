"""buttress-persistence against hand-written SQLAlchemy Core, advanced-alchemy and fastapi-pagination.

Printed, in order:

1. Pages of 20 on one table of ``BUTTRESS_BENCH_ROWS`` rows (default 1,000,000), sorted by a
   non-unique column (``total``, 1,000 distinct values) with the primary key breaking ties, an index on
   ``(total, id)``: page 1 and page 10,000 with a cursor (`page_after`, target: the same cost) and by
   offset (`page`), with fastapi-pagination's offset page (``apaginate``) beside them.
2. Specification cost: ``to_sql_condition`` for a five-leaf specification (``AND``/``OR``/``NOT``)
   against the same condition written by hand with SQLAlchemy operators, the full statement's
   compilation by SQLAlchemy, and ``is_satisfied_by`` per object.
3. Repository overhead: ``get`` by primary key and ``list`` of 20, against hand-written SQLAlchemy
   Core on a connection (rows, not entities; the statement built per call as usually written, and
   built once with bound parameters), hand-written ORM (``AsyncSession.get``, ``select``) and
   advanced-alchemy's repository (target: ≤ 1.1x Core). All read the same rows through the same
   engine, pool and driver (asyncpg), one pooled connection and one transaction per call: Core and
   the repository roll it back when the connection closes, the ORM and advanced-alchemy when the
   session closes.

``python benchmarks/persistence.py overhead`` runs one section (``pages``, ``specifications``,
``overhead``); all three by default. Medians over sequential calls after a warm-up, with the
10th-90th percentile spread, in microseconds; the repository-overhead calls are taken in turn, round
after round, so a change in the machine's load falls on all of them alike.
PostgreSQL comes from ``BUTTRESS_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from fastapi_pagination import Params
from fastapi_pagination.ext.sqlalchemy import apaginate
from sqlalchemy import BigInteger, Index, bindparam, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

sys.path.insert(0, str(Path(__file__).parent))
from _harness import Dist, print_table, ratio

from buttress.persistence import (
    CursorCodec,
    CursorPosition,
    DatabaseSession,
    FieldSpecification,
    SortField,
    SqlAlchemyRepository,
)

DSN = os.environ.get("BUTTRESS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ROWS = int(os.environ.get("BUTTRESS_BENCH_ROWS", "1000000"))
CALLS = int(os.environ.get("BUTTRESS_BENCH_CALLS", "300"))
SCHEMA = "bench_persistence"
PER_PAGE = 20
FAR_PAGE = 10_000


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("orders_total_id", "total", "id"), {"schema": SCHEMA})
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    total: Mapped[int]
    status: Mapped[str]


async def timed(call: Callable[[], Awaitable[object]], calls: int = CALLS) -> Dist:
    for _ in range(max(10, calls // 10)):
        await call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1e6)
    return Dist.of(samples)


async def timed_together(calls: Sequence[Callable[[], Awaitable[object]]], rounds: int = CALLS) -> list[Dist]:
    """Each call's distribution, timed in turn round after round, so a change of load falls on all alike."""
    for _ in range(max(10, rounds // 10)):
        for call in calls:
            await call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, kept in zip(calls, samples, strict=True):
            start = time.perf_counter()
            await call()
            kept.append((time.perf_counter() - start) * 1e6)
    return [Dist.of(kept) for kept in samples]


def timed_sync(call: Callable[[], object], calls: int = 20_000) -> Dist:
    for _ in range(1000):
        call()
    samples = []
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(calls // 20):
            call()
        samples.append((time.perf_counter() - start) * 1e6 / (calls // 20))
    return Dist.of(samples)


async def build(engine: object) -> float:
    start = time.perf_counter()
    async with engine.begin() as connection:  # type: ignore[attr-defined]
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(
            text(
                f"INSERT INTO {SCHEMA}.orders (id, total, status) "  # noqa: S608 - constants of this script
                "SELECT i, (i::bigint * 7919) % 1000, CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'open' END "
                f"FROM generate_series(1, {ROWS}) AS i"
            )
        )
        await connection.execute(text(f"ANALYZE {SCHEMA}.orders"))
    return time.perf_counter() - start


async def pages(db: DatabaseSession, repo: SqlAlchemyRepository[Order, int]) -> None:

    codec = CursorCodec(b"b" * 32)
    order_by = [SortField("total")]
    keys = (SortField("total"), SortField("id"))
    offset = (FAR_PAGE - 1) * PER_PAGE - 1
    async with db.session() as session:
        last = (
            await session.execute(
                select(Order.total, Order.id).order_by(Order.total, Order.id).offset(offset).limit(1)
            )
        ).one()
    far_cursor = codec.encode(CursorPosition(tuple(last), repo.query_fingerprint(None, keys)))
    far = await repo.page_after(cursors=codec, order_by=order_by, per_page=PER_PAGE, cursor=far_cursor)
    by_offset = await repo.page(order_by=order_by, per_page=PER_PAGE, page=FAR_PAGE)
    if [o.id for o in far.items] != [o.id for o in by_offset.items]:
        raise SystemExit("cursor and offset pages disagree")

    async def fastapi_page(page: int) -> object:
        async with AsyncSession(db.engine) as session:
            return await apaginate(
                session,
                select(Order).order_by(Order.total, Order.id),
                params=Params(page=page, size=PER_PAGE),
            )

    calls = max(20, CALLS // 5)
    results = {
        "cursor (page_after)": (
            await timed(lambda: repo.page_after(cursors=codec, order_by=order_by, per_page=PER_PAGE), calls),
            await timed(
                lambda: repo.page_after(
                    cursors=codec, order_by=order_by, per_page=PER_PAGE, cursor=far_cursor
                ),
                calls,
            ),
        ),
        "offset (page)": (
            await timed(lambda: repo.page(order_by=order_by, per_page=PER_PAGE, page=1), calls),
            await timed(lambda: repo.page(order_by=order_by, per_page=PER_PAGE, page=FAR_PAGE), calls),
        ),
        "fastapi-pagination offset (apaginate, with its count)": (
            await timed(lambda: fastapi_page(1), calls // 2),
            await timed(lambda: fastapi_page(FAR_PAGE), calls // 2),
        ),
    }
    rows = [
        [name, first.cell(0, " µs"), deep.cell(0, " µs"), ratio(deep.p50, first.p50)]
        for name, (first, deep) in results.items()
    ]
    print_table(
        f"Pages of {PER_PAGE} over {ROWS:,} rows, sorted by a non-unique column (µs per page)",
        ["pagination", "page 1", f"page {FAR_PAGE:,}", "page 10,000 / page 1"],
        rows,
        ["fastapi-pagination's page also runs a COUNT(*) over the table, as its Page model reports a total."],
    )


def specifications() -> None:
    spec = (FieldSpecification("total", "gt", 100) & ~FieldSpecification("status", "eq", "paid")) | (
        FieldSpecification("total", "between", (5, 9)) & FieldSpecification("status", "like", "o%")
        | FieldSpecification("id", "in", [1, 2, 3])
    )
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    statement = lambda: select(Order).where(spec.to_sql_condition(Order)).compile(dialect=dialect)  # noqa: E731
    order = Order(id=7, total=150, status="open")

    def by_hand() -> object:
        return ((Order.total > 100) & ~(Order.status == "paid")) | (
            (Order.total >= 5) & (Order.total <= 9) & Order.status.like("o%", escape="\\")
            | Order.id.in_([1, 2, 3])
        )

    condition = timed_sync(lambda: spec.to_sql_condition(Order))
    hand = timed_sync(by_hand)
    compiled = timed_sync(statement, 5000)
    python = timed_sync(lambda: spec.is_satisfied_by(order))
    print_table(
        "Specification cost (five leaves, AND/OR/NOT; µs per call)",
        ["operation", "µs"],
        [
            ["to_sql_condition(Order)", condition.cell(1)],
            ["the same condition written by hand in SQLAlchemy", hand.cell(1)],
            ["to_sql_condition / by hand", ratio(condition.p50, hand.p50)],
            ["select(...).where(...) compiled by SQLAlchemy for asyncpg", compiled.cell(1)],
            ["is_satisfied_by(order)", python.cell(2)],
        ],
    )


async def overhead(db: DatabaseSession, repo: SqlAlchemyRepository[Order, int]) -> None:

    class AAOrders(SQLAlchemyAsyncRepository[Order]):
        model_type = Order

    table = Order.__table__
    engine = db.engine
    ids = iter(range(10**9))

    def next_id() -> int:
        return 1 + (next(ids) * 7919) % ROWS

    async def core_get() -> object:
        async with engine.connect() as connection:
            return (await connection.execute(select(table).where(table.c.id == next_id()))).first()

    by_id = select(table).where(table.c.id == bindparam("id"))
    first_rows = select(table).order_by(table.c.id).limit(bindparam("limit", type_=BigInteger))

    async def core_get_once() -> object:
        async with engine.connect() as connection:
            return (await connection.execute(by_id, {"id": next_id()})).first()

    async def core_list_once() -> object:
        async with engine.connect() as connection:
            return (await connection.execute(first_rows, {"limit": 20})).all()

    async def orm_get() -> object:
        async with AsyncSession(engine) as session:
            return await session.get(Order, next_id())

    async def aa_get() -> object:
        async with AsyncSession(engine) as session:
            return await AAOrders(session=session).get_one_or_none(id=next_id())

    async def core_list() -> object:
        async with engine.connect() as connection:
            return (await connection.execute(select(table).order_by(table.c.id).limit(20))).all()

    async def orm_list() -> object:
        async with AsyncSession(engine) as session:
            return (await session.execute(select(Order).order_by(Order.id).limit(20))).scalars().all()

    async def aa_list() -> object:
        async with AsyncSession(engine) as session:
            return await AAOrders(session=session).list(LimitOffset(limit=20, offset=0))

    measured = {}
    for name, calls in {
        "get": (lambda: repo.get(next_id()), core_get, core_get_once, orm_get, aa_get),
        "list 20": (lambda: repo.list(limit=20), core_list, core_list_once, orm_list, aa_list),
    }.items():
        measured[name] = await timed_together(calls)
    rows = [
        [
            name,
            ours.cell(0),
            core.cell(0),
            once.cell(0),
            orm.cell(0),
            aa.cell(0),
            ratio(ours.p50, core.p50),
            ratio(ours.p50, once.p50),
            ratio(ours.p50, orm.p50),
        ]
        for name, (ours, core, once, orm, aa) in measured.items()
    ]
    print_table(
        "Repository overhead (µs per call, one transaction each)",
        [
            "operation",
            "SqlAlchemyRepository",
            "hand-written Core",
            "Core, statement built once",
            "hand-written ORM",
            "advanced-alchemy",
            "vs Core",
            "vs Core built once",
            "vs ORM",
        ],
        rows,
        [
            "Core returns rows; the repository, the ORM and advanced-alchemy return entities. One pooled "
            "connection and one transaction per call for all, on the same engine and driver."
        ],
    )


async def main(sections: Sequence[str]) -> None:
    engine = create_async_engine(DSN.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=4)
    try:
        built = await build(engine)
        print(f"built {ROWS:,} rows in {built:.1f} s (INSERT ... SELECT generate_series, then ANALYZE)")
        db = DatabaseSession(engine)
        repo: SqlAlchemyRepository[Order, int] = SqlAlchemyRepository(db, Order)
        if "pages" in sections:
            await pages(db, repo)
        if "specifications" in sections:
            specifications()
        if "overhead" in sections:
            await overhead(db, repo)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["pages", "specifications", "overhead"]))
