"""Offset and cursor pages: ties broken by the primary key, tamper-evident cursors, concurrent writers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from buttress.persistence import (
    CursorCodec,
    DatabaseSession,
    FieldSpecification,
    InvalidCursorError,
    PersistenceConfigurationError,
    QuerySchema,
    SortField,
    SqlAlchemyRepository,
)

from .conftest import Item

CODEC = CursorCodec(b"k" * 32)


async def walk(
    repo: SqlAlchemyRepository[Item, int], order_by: list[str], per_page: int, **kw: Any
) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        page = await repo.page_after(cursors=CODEC, order_by=order_by, per_page=per_page, cursor=cursor, **kw)
        seen.extend(item.id for item in page.items)
        if not page.has_next:
            return seen
        cursor = page.next_cursor


def python_order(items: list[Item], key: SortField) -> list[int]:
    """The documented order: NULLs last going up, first going down; the id breaks ties, going up."""
    present = [i for i in items if getattr(i, key.field) is not None]
    missing = sorted(i.id for i in items if getattr(i, key.field) is None)
    present.sort(key=lambda i: i.id)
    present.sort(key=lambda i: getattr(i, key.field), reverse=key.descending)
    ordered = [i.id for i in present]
    return missing + ordered if key.descending else ordered + missing


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    max_examples=40,
)
@given(
    ranks=st.lists(st.none() | st.integers(0, 3), max_size=25),
    key=st.sampled_from(
        [SortField("rank"), SortField("rank", True), SortField("name"), SortField("name", True)]
    ),
    per_page=st.integers(1, 6),
)
async def test_a_cursor_walk_returns_every_row_once_in_order(
    database: DatabaseSession, ranks: list[int | None], key: SortField, per_page: int
) -> None:
    """Property 25: cursor pagination — walking every page after page, on a sort column full of ties
    and NULLs, returns each row exactly once, in the order of one unpaged query (the classic bug
    skips or repeats rows when the primary key does not break ties)."""
    async with database.session() as session:
        await session.execute(delete(Item))
    items = [Item(id=n, name=f"n{(r or 0) % 2}", rank=r) for n, r in enumerate(ranks)]
    repo = SqlAlchemyRepository(database, Item)
    await repo.add_many(items)
    walked = await walk(repo, [str(key)], per_page)
    assert walked == python_order(items, key)
    assert walked == [i.id for i in await repo.find(order_by=[key], limit=100)]


async def test_cursor_pages_under_concurrent_inserts_and_deletes(database: DatabaseSession) -> None:
    """Rows that exist for the whole walk are each seen exactly once while others are inserted and
    deleted between pages (and no row is ever seen twice)."""
    repo = SqlAlchemyRepository(database, Item)
    await repo.add_many([Item(id=n, name="x", rank=n % 4) for n in range(0, 400, 2)])
    stable = {n for n in range(0, 400, 2) if n % 10 != 0}
    seen: list[int] = []
    cursor = None
    step = 0
    while True:
        page = await repo.page_after(cursors=CODEC, order_by=["-rank"], per_page=7, cursor=cursor)
        seen.extend(item.id for item in page.items)
        # Between pages, other writers insert odd ids and delete ids divisible by 10.
        await asyncio.gather(
            repo.add_many([Item(id=1001 + 2 * step + 1000 * k, name="new", rank=k) for k in range(4)]),
            repo.delete(step * 10),
        )
        step += 1
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert stable <= set(seen)


async def test_cursors_are_tamper_evident_and_bound_to_their_query(database: DatabaseSession) -> None:
    repo = SqlAlchemyRepository(database, Item)
    await repo.add_many([Item(id=n, name="x", rank=n) for n in range(10)])
    first = await repo.page_after(cursors=CODEC, order_by=["rank"], per_page=3)
    token = first.next_cursor
    assert token is not None
    body, _, mac = token.partition(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    for bad in [forged, token + "x", "garbage", "", "a.b.c", token.replace(".", "")]:
        with pytest.raises(InvalidCursorError):
            await repo.page_after(cursors=CODEC, order_by=["rank"], per_page=3, cursor=bad)
    with pytest.raises(InvalidCursorError):  # another sort
        await repo.page_after(cursors=CODEC, order_by=["-rank"], per_page=3, cursor=token)
    with pytest.raises(InvalidCursorError):  # another filter
        await repo.page_after(
            FieldSpecification("rank", "gt", 1), cursors=CODEC, order_by=["rank"], cursor=token
        )
    with pytest.raises(InvalidCursorError):  # another key
        await repo.page_after(cursors=CursorCodec(secrets.token_bytes(32)), order_by=["rank"], cursor=token)
    second = await repo.page_after(cursors=CODEC, order_by=["rank"], per_page=3, cursor=token)
    assert [i.id for i in second.items] == [3, 4, 5]


async def test_offset_pages_stay_correct_for_huge_offsets(database: DatabaseSession) -> None:
    """Property 24: large offsets — a page far past the end is empty, even past what a bigint holds."""
    repo = SqlAlchemyRepository(database, Item)
    await repo.add_many([Item(id=n, name="x") for n in range(5)])
    page = await repo.page(per_page=2, page=3)
    assert ([i.id for i in page.items], page.has_next) == ([4], False)
    assert (await repo.page(per_page=2, page=2)).has_next
    assert (await repo.page(per_page=100, page=10**6)).items == []
    assert (await repo.page(per_page=100, page=2**62)).items == []  # offset past 2**63 - 1: no query
    with pytest.raises(PersistenceConfigurationError):
        await repo.page(per_page=101)


async def test_fetch_follows_a_parsed_query(database: DatabaseSession) -> None:
    repo = SqlAlchemyRepository(database, Item)
    await repo.add_many([Item(id=n, name=f"n{n % 2}", rank=n) for n in range(10)])
    offset = QuerySchema(filters={"name": str}, sorts=["rank"])
    page = await repo.fetch(
        offset.parse({"filter": '{"name": "n1"}', "sort": "-rank", "per_page": "2", "page": "2"})
    )
    assert [i.id for i in page.items] == [5, 3]
    cursor = QuerySchema(filters={"name": str}, sorts=["rank"], pagination="cursor")
    query = cursor.parse("filter=%7B%22name%22%3A%22n0%22%7D&sort=rank&per_page=3")
    first = await repo.fetch(query, cursors=CODEC)
    second = await repo.fetch(
        cursor.parse(
            {"filter": '{"name":"n0"}', "sort": "rank", "per_page": "3", "cursor": first.next_cursor or ""}
        ),
        cursors=CODEC,
    )
    assert [i.id for i in first.items + list(second.items)] == [0, 2, 4, 6, 8]
    with pytest.raises(PersistenceConfigurationError):
        await repo.fetch(query)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"k":[["td",[9999999999,0,0]]],"q":"q","v":1}',  # timedelta out of range
        b'{"k":[["td",[1e400,0,0]]],"q":"q","v":1}',  # infinity as days
        b'{"k":[["f","0x1p99999"]],"q":"q","v":1}',  # float out of range
        b'{"k":[["d","sNaN"]],"q":"q","v":1}',  # a NaN that raises when compared
        b'{"k":[["i","1"]],"q":"q","v":2}',  # another version
        b'{"k":[["x","1"]],"q":"q","v":1}',  # an unknown tag
    ],
)
def test_a_signed_cursor_that_holds_no_position_is_refused(payload: bytes) -> None:
    """Behind a valid signature (a key that leaked, an older encoder), a payload that decodes to no
    sort position is still an InvalidCursorError, never an arithmetic error."""
    key = b"k" * 32
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    token = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, mac))
    with pytest.raises(InvalidCursorError):
        CursorCodec(key).decode(token, query="q")
