"""Agreement with fastapi-filter and fastapi-pagination where they define the same behaviour.

fastapi-filter (3.x) turns query parameters such as ``a__gt=1&b__in=x,y&order_by=-a,b`` into a
``WHERE``/``ORDER BY`` on a SQLAlchemy ``select``. The same query, written in this package's syntax
(``filter={"a": {"gt": 1}, "b": {"in": ["x", "y"]}}&sort=-a,b``), goes through `QuerySchema.parse` and
`SqlAlchemyRepository.find`; the peer runs in a FastAPI app of its own, on the same PostgreSQL rows
(NULLs included). Agreement: the same rows, in the same order of their sort values (ties may come in
any order from the peer, which adds no tie-breaker), or a refusal on both sides. The run is seeded and
its size fixed, so it measures the same thing on every run and prints the agreement.

Intentional differences, each pinned by a test below:

- A filter on a related model: fastapi-filter's nested filter without a join written by hand turns
  into a cross join (SQLAlchemy warns of a cartesian product) and selects rows whose own related row
  does not match (its issue #484); here the path is an ``EXISTS``.
- Sorting: fastapi-filter sorts by any attribute of the model; here only by the allow-listed fields.
- Text compared with ``gt``/``ge``/``lt``/``le``: fastapi-filter sends it, and the answer depends on
  the column's collation; here a text field takes ``eq``, ``ne``, ``in``, ``like`` and ``is_null``,
  and an ordering operator on it is refused.
- ``per_page`` above 100: fastapi-pagination refuses the request; here it is cut to 100.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi_filter import FilterDepends, with_prefix
from fastapi_filter.contrib.sqlalchemy import Filter
from fastapi_pagination import Params
from pydantic import ValidationError
from sqlalchemy import Select, delete, insert, select
from sqlalchemy.exc import SAWarning

from buttress.persistence import (
    DatabaseSession,
    FieldNotAllowedError,
    InvalidQueryError,
    QuerySchema,
    SqlAlchemyRepository,
)

from .conftest import Author, Row

SEED = 20_261_206
CASES = 120
ALPHABET = ["a", "A", "b", "é", " ", "%", "_", "'"]
OPERATORS = {"eq": "", "ne": "neq", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte", "in": "in"}


class RowFilter(Filter):
    """fastapi-filter's filter for `Row`, every operator it has for these columns."""

    a: int | None = None
    a__neq: int | None = None
    a__gt: int | None = None
    a__gte: int | None = None
    a__lt: int | None = None
    a__lte: int | None = None
    a__in: list[int] | None = None
    a__isnull: bool | None = None
    b: str | None = None
    b__neq: str | None = None
    b__gt: str | None = None
    b__gte: str | None = None
    b__lt: str | None = None
    b__lte: str | None = None
    b__in: list[str] | None = None
    b__isnull: bool | None = None
    b__like: str | None = None
    c: bool | None = None
    c__neq: bool | None = None
    c__isnull: bool | None = None
    order_by: list[str] | None = None

    class Constants(Filter.Constants):
        model = Row


class AuthorFilter(Filter):
    name: str | None = None

    class Constants(Filter.Constants):
        model = Author


class RowByAuthorFilter(Filter):
    """fastapi-filter's documented way to filter on a related model: a nested, prefixed filter."""

    author: AuthorFilter | None = FilterDepends(with_prefix("author", AuthorFilter))

    class Constants(Filter.Constants):
        model = Row


SCHEMA = QuerySchema(filters={"a": int, "b": str, "c": bool, "author.name": str}, sorts=["a", "b", "c"])


def peer_app(database: DatabaseSession) -> FastAPI:
    """A FastAPI app that answers the ids fastapi-filter selects, in its order."""
    app = FastAPI()

    async def run(statement: Select[Any]) -> list[int]:
        async with database.connection() as connection:
            return list((await connection.execute(statement)).scalars())

    @app.get("/rows")
    async def rows(found: RowFilter = FilterDepends(RowFilter)) -> list[int]:  # noqa: B008 - its API
        return await run(found.sort(found.filter(select(Row.id))))

    @app.get("/rows-by-author")
    async def rows_by_author(found: RowByAuthorFilter = FilterDepends(RowByAuthorFilter)) -> list[int]:  # noqa: B008
        return await run(found.filter(select(Row.id)))

    return app


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 3)))


def value_of(field: str, rng: random.Random) -> object:
    return rng.randint(-3, 3) if field == "a" else text(rng) if field == "b" else rng.random() < 0.5


def condition(rng: random.Random) -> tuple[str, str, object]:
    """One (field, operator, value) that both sides can express."""
    field = rng.choice(["a", "b", "c"])
    ops = ["eq", "ne", "is_null"] + (["in"] if field != "c" else [])
    ops += ["gt", "ge", "lt", "le"] if field == "a" else ["like"] if field == "b" else []
    op = rng.choice(ops)
    if op == "is_null":
        return field, op, rng.random() < 0.5
    if op == "in":  # the peer splits on commas, and reads an empty parameter as no value at all
        values = [value_of(field, rng) for _ in range(rng.randint(1, 3))]
        return field, op, values if values != [""] else ["a"]
    if op == "like":  # without a % the peer wraps the pattern in %...%: not the same pattern
        return field, op, text(rng) + "%" + text(rng)
    return field, op, value_of(field, rng)


def peer_params(conditions: Sequence[tuple[str, str, object]], sort: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for field, op, value in conditions:
        suffix = "isnull" if op == "is_null" else "like" if op == "like" else OPERATORS[op]
        key = f"{field}__{suffix}" if suffix else field
        if isinstance(value, list):
            params[key] = ",".join(str(item) for item in value)
        else:
            params[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if sort:
        params["order_by"] = ",".join(sort)
    return params


def our_params(conditions: Sequence[tuple[str, str, object]], sort: Sequence[str]) -> dict[str, str]:
    document: dict[str, dict[str, object]] = {}
    for field, op, value in conditions:
        document.setdefault(field, {})[op] = value
    params = {"per_page": "100", "filter": json.dumps(document)}
    if sort:
        params["sort"] = ",".join(sort)
    return params


def random_rows(rng: random.Random) -> list[dict[str, object]]:
    def maybe(make: Callable[[], object]) -> object:
        return None if rng.random() < 0.3 else make()

    return [
        {
            "id": n,
            "a": maybe(lambda: rng.randint(-3, 3)),
            "b": maybe(lambda: text(rng)),
            "c": maybe(rng.random),
        }
        | {"c": None if rng.random() < 0.3 else rng.random() < 0.5}
        for n in range(rng.randint(0, 8))
    ]


async def store(
    database: DatabaseSession, authors: list[dict[str, object]], rows: list[dict[str, object]]
) -> None:
    async with database.session() as session:
        await session.execute(delete(Row))
        await session.execute(delete(Author))
        if authors:
            await session.execute(insert(Author), authors)
        if rows:
            await session.execute(insert(Row), rows)


def sort_values(
    ids: Sequence[int], rows: list[dict[str, object]], sort: Sequence[str]
) -> list[tuple[object, ...]]:
    by_id = {row["id"]: row for row in rows}
    return [tuple(by_id[i][key.lstrip("-")] for key in sort) for i in ids]


async def test_agreement_with_fastapi_filter_is_100_percent(
    database: DatabaseSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """Filters and sorts both define (eq, neq, gt, gte, lt, lte, in, isnull, like with a ``%``; sorts
    up and down, NULLs included) select the same rows in the same order as fastapi-filter's."""
    rng = random.Random(SEED)
    repo: SqlAlchemyRepository[Row, int] = SqlAlchemyRepository(database, Row)
    transport = httpx.ASGITransport(app=peer_app(database))
    agreed, disagreements = 0, []
    async with httpx.AsyncClient(transport=transport, base_url="http://peer") as peer:
        for _ in range(CASES):
            rows = random_rows(rng)
            conditions = list(
                {(c[0], c[1]): c for c in (condition(rng) for _ in range(rng.randint(0, 3)))}.values()
            )
            fields = rng.sample(["a", "b", "c"], rng.randint(0, 2))
            sort = [f"-{f}" if rng.random() < 0.5 else f for f in fields]
            await store(database, [], rows)
            answer = await peer.get("/rows", params=peer_params(conditions, sort))
            theirs = answer.json() if answer.status_code == 200 else f"refused ({answer.status_code})"
            try:
                query = SCHEMA.parse(our_params(conditions, sort))
            except InvalidQueryError as exc:
                ours: object = f"refused ({exc})"
            else:
                ours = [row.id for row in await repo.find(query.where, order_by=query.sort, limit=100)]
            if isinstance(ours, list) and isinstance(theirs, list):
                same = sorted(ours) == sorted(theirs) and (
                    sort_values(ours, rows, sort) == sort_values(theirs, rows, sort)
                )
            else:
                same = isinstance(ours, str) and isinstance(theirs, str)
            if same:
                agreed += 1
            else:
                disagreements.append(
                    f"{peer_params(conditions, sort)} on {rows}: ours {ours}, theirs {theirs}"
                )
    with capsys.disabled():  # the measurement this test is for
        rate = f"{agreed}/{CASES} queries agree ({agreed / CASES:.2%})"
        sys.stdout.write(f"\nbuttress-persistence vs fastapi-filter: {rate}\n")
    assert not disagreements, "\n".join(disagreements[:5])


async def test_a_related_field_is_an_exists_where_fastapi_filter_cross_joins(
    database: DatabaseSession,
) -> None:
    """Intentional difference: fastapi-filter's nested filter, without a join written by hand, selects
    every row as soon as some author matches (a cross join, which SQLAlchemy warns about); here
    ``author.name`` selects only the rows whose own author matches."""
    await store(
        database,
        [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}],
        [{"id": 1, "author_id": 1}, {"id": 2, "author_id": 2}, {"id": 3, "author_id": None}],
    )
    transport = httpx.ASGITransport(app=peer_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://peer") as peer:
        with pytest.warns(SAWarning, match="cartesian product"):
            theirs = (await peer.get("/rows-by-author", params={"author__name": "ann"})).json()
    query = SCHEMA.parse({"filter": '{"author.name": "ann"}'})
    ours = [row.id for row in await SqlAlchemyRepository(database, Row).find(query.where)]
    assert ours == [1]
    assert sorted(theirs) == [1, 2, 3]


async def test_fastapi_filter_sorts_by_fields_outside_the_allow_list(database: DatabaseSession) -> None:
    """Intentional difference: fastapi-filter sorts by any attribute of the model (``author_id`` here,
    which the resource does not expose); the allow-list refuses it without naming the others."""
    await store(database, [], [{"id": 1}, {"id": 2}])
    transport = httpx.ASGITransport(app=peer_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://peer") as peer:
        answer = await peer.get("/rows", params={"order_by": "-author_id"})
    assert sorted(answer.json()) == [1, 2]
    with pytest.raises(FieldNotAllowedError) as info:
        SCHEMA.parse({"sort": "-author_id"})
    assert info.value.field == "author_id"
    assert all(f"'{hidden}'" not in str(info.value) for hidden in ("a", "b", "c"))


async def test_text_ordering_is_refused_where_fastapi_filter_runs_it(database: DatabaseSession) -> None:
    """Intentional difference: ``b__lt=b`` is collation-dependent SQL that fastapi-filter runs; the
    same filter is refused here with a message that names the operators the field takes."""
    await store(database, [], [{"id": 1, "b": "a"}, {"id": 2, "b": "c"}])
    transport = httpx.ASGITransport(app=peer_app(database))
    async with httpx.AsyncClient(transport=transport, base_url="http://peer") as peer:
        assert (await peer.get("/rows", params={"b__lt": "b"})).json() == [1]
    with pytest.raises(InvalidQueryError, match="b takes eq, ne, in, like, is_null, not lt"):
        SCHEMA.parse({"filter": '{"b": {"lt": "b"}}'})


@pytest.mark.parametrize("size", ["1", "20", "100", "101", "1000", "0", "-1", "x", "1.5", ""])
def test_page_sizes_agree_with_fastapi_pagination_up_to_100(size: str) -> None:
    """fastapi-pagination's ``Params`` and `QuerySchema` take the same sizes 1..100 and refuse the
    same malformed ones; above 100 the peer refuses and ``per_page`` is cut to 100 (intentional)."""
    try:
        theirs: object = Params(page=1, size=size).size  # type: ignore[arg-type] - its query-string input
    except ValidationError:
        theirs = "refused"
    try:
        ours: object = SCHEMA.parse({"per_page": size}).per_page
    except InvalidQueryError:
        ours = "refused"
    if size.isdigit() and int(size) > 100:
        assert (theirs, ours) == ("refused", 100)
    else:
        assert ours == theirs
