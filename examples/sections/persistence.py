"""The tour's buttress-persistence section."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

from buttress.persistence import (
    CursorCodec,
    DatabaseSession,
    FieldNotAllowedError,
    FieldSpecification,
    PersistenceUnavailableError,
    QuerySchema,
    SqlAlchemyRepository,
    VersionConflictError,
    problem_details,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "sqlite: big unpaid orders [3, 5], Python agrees: True",
    "stale update refused: expected version 1, stored 2",
    "cursor pages: [[3, 2], [5, 4], [1]]",
    "filter on a hidden field: 400 Bad Request",
)
REAL: tuple[str, ...] = ("postgresql: big unpaid orders [3, 5], Python agrees: True",)


class Base(MappedAsDataclass, DeclarativeBase):
    pass


class Order(Base):
    # A table of its own per run, so tours running side by side on one server never meet.
    __tablename__ = f"tour_orders_{secrets.token_hex(4)}"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    total: Mapped[int]
    status: Mapped[str | None] = mapped_column(default=None)
    version: Mapped[int | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


ORDERS = [
    Order(id=1, total=40, status="paid"),
    Order(id=2, total=250, status="paid"),
    Order(id=3, total=300, status=None),  # NULL status: "not paid" is unknown in SQL, so asked for
    Order(id=4, total=90, status="open"),
    Order(id=5, total=120, status="open"),
]
BIG_UNPAID = FieldSpecification("total", "gt", 100) & (
    ~FieldSpecification("status", "eq", "paid") | FieldSpecification("status", "is_null", True)
)


async def _show(tour: Tour, database: DatabaseSession, *, full: bool) -> None:
    await database.create_all(Base.metadata)
    orders: SqlAlchemyRepository[Order, int] = SqlAlchemyRepository(
        database, Order, soft_delete="deleted_at", version="version"
    )
    await orders.add_many([Order(id=o.id, total=o.total, status=o.status) for o in ORDERS])
    found = [o.id for o in await orders.find(BIG_UNPAID)]
    agrees = found == [o.id for o in ORDERS if BIG_UNPAID.is_satisfied_by(o)]
    tour.say(f"{database.dialect}: big unpaid orders {found}, Python agrees: {agrees}")
    if full:
        mine, theirs = await orders.get(1), await orders.get(1)
        if mine is None or theirs is None:
            raise RuntimeError("order 1 was just added")
        mine.status = "refunded"
        await orders.update(mine)
        try:
            await orders.update(theirs)
        except VersionConflictError as exc:
            tour.say(f"stale update refused: expected version {exc.expected}, stored {exc.actual}")
        schema = QuerySchema(filters={"status": str, "total": int}, sorts=["total"], pagination="cursor")
        codec = CursorCodec(secrets.token_bytes(32))
        pages: list[list[int]] = []
        cursor = ""
        while True:
            query = schema.parse({"sort": "-total", "per_page": "2", "cursor": cursor})
            page = await orders.fetch(query, cursors=codec)
            pages.append([o.id for o in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        tour.say(f"cursor pages: {pages}")
        try:
            schema.parse('filter={"password_hash": {"like": "a%"}}')
        except FieldNotAllowedError as exc:
            problem = problem_details(exc)
            tour.say(f"filter on a hidden field: {problem.status} {problem.title}")
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)


async def run(tour: Tour) -> None:
    async with await DatabaseSession.connect("sqlite:///:memory:") as database:
        await _show(tour, database, full=True)
    if tour.postgres_dsn is None:
        tour.say("PostgreSQL: set BUTTRESS_POSTGRES_DSN to run the same queries there")
        return
    try:
        database = await DatabaseSession.connect(tour.postgres_dsn, pool_size=2)
    except PersistenceUnavailableError as exc:
        tour.say(f"postgres unavailable: {exc}")
        return
    async with database:
        await _show(tour, database, full=False)
