"""Static checks of the public API (run by mypy --strict, never executed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from buttress.core import AsyncRepository
from buttress.persistence import (
    CursorCodec,
    DatabaseSession,
    FieldSpecification,
    ListQuery,
    Page,
    ProblemDetails,
    ProblemDetailsMiddleware,
    QuerySchema,
    SortField,
    Specification,
    SpecificationBuilder,
    SqlAlchemyRepository,
    VersionConflictError,
    escape_like,
    problem_details,
)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    total: Mapped[int]
    version: Mapped[int]


async def check(url: str) -> None:
    db = await DatabaseSession.connect(url, pool_size=5, max_overflow=10)
    assert_type(db, DatabaseSession)
    async with db.connection() as connection:
        assert_type(connection, AsyncConnection)
    async with db.session() as session:
        assert_type(session, AsyncSession)
    repo = SqlAlchemyRepository[Order, int](db, Order, version="version")
    as_protocol: AsyncRepository[Order, int] = repo
    del as_protocol
    assert_type(await repo.get(1), Order | None)
    assert_type(await repo.list(limit=10), Sequence[Order])
    spec: Specification[Order] = FieldSpecification("total", "gt", 10) & ~FieldSpecification(
        "total", "eq", 99
    )
    assert_type(spec.is_satisfied_by(Order(id=1, total=5, version=1)), bool)
    assert_type(spec.evaluate(Order(id=1, total=5, version=1)), bool | None)
    assert_type(spec.to_sql_condition(Order), ColumnElement[bool])
    assert_type(await repo.find(spec, order_by=["-total"]), Sequence[Order])
    assert_type(await repo.count(spec), int)
    assert_type(await repo.delete(1), bool)
    built = SpecificationBuilder[Order]().where("total", "ge", 1).or_where(spec).build()
    assert_type(built, Specification[Order])
    page = await repo.page_after(spec, cursors=CursorCodec(b"k" * 32), order_by=[SortField("total")])
    assert_type(page, Page[Order])
    assert_type(page.next_cursor, str | None)
    query = QuerySchema(filters={"total": int}, sorts=["total"]).parse("sort=-total")
    assert_type(query, ListQuery)
    assert_type(await repo.fetch(query), Page[Order])
    assert_type(escape_like("50%"), str)
    assert_type(problem_details(VersionConflictError("Order", 1, expected=1, actual=2)), ProblemDetails)
    assert_type(ProblemDetailsMiddleware(lambda scope, receive, send: _noop()), ProblemDetailsMiddleware)
    await db.aclose()


async def _noop() -> None:
    return None
