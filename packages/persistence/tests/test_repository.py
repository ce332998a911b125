"""SqlAlchemyRepository on PostgreSQL: soft delete, optimistic locking under races, specifications, bulk."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import create_async_engine

from buttress.persistence import (
    DatabaseSession,
    EntityExistsError,
    EntityNotFoundError,
    FieldSpecification,
    PersistenceConfigurationError,
    PersistenceTypeError,
    SqlAlchemyRepository,
    UnknownFieldError,
    VersionConflictError,
)
from buttress.testing import FakeClock, PostgresSchema, RecordedMetrics

from .conftest import Author, Doc, Item, Note, Row, Tag, asyncpg_url

IDS_VALUES = (0, 1)
IDS = st.sampled_from(IDS_VALUES)


@pytest.fixture
def docs(database: DatabaseSession) -> SqlAlchemyRepository[Doc, int]:
    return SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", version="version")


async def test_soft_deleted_entities_are_invisible_unless_asked_for(
    docs: SqlAlchemyRepository[Doc, int],
) -> None:
    """Property 6: soft delete — a deleted entity is kept, marked, and hidden from get, list, find and
    count unless ``include_deleted``; restore brings it back."""
    for n in range(3):
        await docs.add(Doc(id=n, title=f"d{n}"))
    assert await docs.delete(1) is True
    assert await docs.get(1) is None
    assert [d.id for d in await docs.list()] == [0, 2]
    assert await docs.count() == 2
    hidden = await docs.get(1, include_deleted=True)
    assert hidden is not None
    assert hidden.deleted_at is not None
    assert hidden.version == 2
    assert await docs.count(include_deleted=True) == 3
    assert await docs.delete(1) is False
    with pytest.raises(EntityNotFoundError):
        await docs.update(dataclasses.replace(hidden, deleted_at=None))
    assert await docs.restore(1) is True
    assert await docs.restore(1) is False
    assert (await docs.get(1)) is not None
    assert await docs.delete(1, hard=True) is True
    assert await docs.get(1, include_deleted=True) is None


async def test_soft_delete_reads_the_injected_clock(database: DatabaseSession) -> None:
    clock = FakeClock(start=datetime(2030, 1, 2, tzinfo=UTC))
    repo = SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", clock=clock)
    await repo.add(Doc(id=1, title="x"))
    await repo.delete(1)
    stored = await repo.get(1, include_deleted=True)
    assert stored is not None
    assert stored.deleted_at == datetime(2030, 1, 2, tzinfo=UTC)


async def test_a_stale_version_is_a_typed_conflict(docs: SqlAlchemyRepository[Doc, int]) -> None:
    """Property 13: optimistic locking — an update from a stale read is refused with the versions."""
    await docs.add(Doc(id=1, title="a"))
    first = await docs.get(1)
    second = await docs.get(1)
    assert first is not None
    assert second is not None
    first.title = "first"
    await docs.update(first)
    assert first.version == 2
    second.title = "second"
    with pytest.raises(VersionConflictError) as info:
        await docs.update(second)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert (await docs.get(1)) == first


async def test_concurrent_updates_of_one_version_let_exactly_one_win(
    docs: SqlAlchemyRepository[Doc, int], metric_reader: RecordedMetrics
) -> None:
    """Property 13 under a race: N sessions update the same version at once; one wins, N-1 conflict."""
    await docs.add(Doc(id=1, title="a"))
    copies = [await docs.get(1) for _ in range(8)]
    for n, copy in enumerate(copies):
        assert copy is not None
        copy.score = n
    results = await asyncio.gather(*(docs.update(copy) for copy in copies if copy), return_exceptions=True)
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, VersionConflictError) for r in results if r is not None)
    stored = await docs.get(1)
    assert stored is not None
    assert stored.version == 2
    assert metric_reader.value("buttress.persistence.conflicts", {"persistence.conflict": "version"}) == 7
    assert (
        metric_reader.count("buttress.persistence.operation.duration", {"persistence.operation": "update"})
        == 8
    )


async def test_a_delete_racing_updates_leaves_no_lost_write(docs: SqlAlchemyRepository[Doc, int]) -> None:
    await docs.add(Doc(id=1, title="a"))
    current = await docs.get(1)
    assert current is not None
    results = await asyncio.gather(docs.delete(1), docs.update(current), return_exceptions=True)
    deleted, updated = results
    assert deleted is True
    # The update either landed before the delete, or found the entity gone or moved on.
    assert updated is None or isinstance(updated, EntityNotFoundError | VersionConflictError)
    assert await docs.get(1) is None


def test_optimistic_increments_from_several_processes_lose_nothing(postgres_schema: PostgresSchema) -> None:
    """Concurrent writers in several processes: each retries on VersionConflictError, and every
    increment is kept."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent.parent)!r})
        from sqlalchemy.ext.asyncio import create_async_engine
        from buttress.persistence import DatabaseSession, SqlAlchemyRepository, VersionConflictError
        from tests.conftest import Base, Doc

        async def main():
            engine = create_async_engine({postgres_schema.dsn.replace("postgresql://", "postgresql+asyncpg://")!r},
                connect_args={{"server_settings": {postgres_schema.server_settings!r}}})
            repo = SqlAlchemyRepository(DatabaseSession(engine), Doc, version="version")
            for _ in range(15):
                while True:
                    doc = await repo.get(424242)
                    doc.score += 1
                    try:
                        await repo.update(doc)
                        break
                    except VersionConflictError:
                        continue
            await engine.dispose()

        asyncio.run(main())
        """
    )

    async def prepare() -> None:
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

        engine = create_async_engine(
            postgres_schema.dsn.replace("postgresql://", "postgresql+asyncpg://"),
            connect_args={"server_settings": postgres_schema.server_settings},
        )
        database = DatabaseSession(engine)
        from .conftest import Base  # noqa: PLC0415

        await database.create_all(Base.metadata)
        repo = SqlAlchemyRepository(database, Doc, version="version")
        await repo.delete(424242)
        await repo.add(Doc(id=424242, title="counter"))
        await engine.dispose()

    async def result() -> int:
        from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

        engine = create_async_engine(
            postgres_schema.dsn.replace("postgresql://", "postgresql+asyncpg://"),
            connect_args={"server_settings": postgres_schema.server_settings},
        )
        repo = SqlAlchemyRepository(DatabaseSession(engine), Doc, version="version")
        doc = await repo.get(424242)
        await repo.delete(424242)
        await engine.dispose()
        assert doc is not None
        return doc.score

    asyncio.run(prepare())
    workers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0]
    assert asyncio.run(result()) == 45


def test_soft_deletes_restores_and_updates_from_several_processes_are_each_counted_once(
    postgres_schema: PostgresSchema,
) -> None:
    """Property 6 and 13 across processes: writers that soft-delete, restore and update one entity at
    once (each update with the version it read) see only EntityNotFoundError or VersionConflictError
    when they lose, and the stored version ends at 1 plus the number of writes that won: each won
    write raised it exactly once, none was lost or applied twice."""
    dsn = postgres_schema.dsn.replace("postgresql://", "postgresql+asyncpg://")
    script = textwrap.dedent(
        f"""
        import asyncio, random, sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent.parent)!r})
        from sqlalchemy.ext.asyncio import create_async_engine
        from buttress.persistence import (
            DatabaseSession, EntityNotFoundError, SqlAlchemyRepository, VersionConflictError,
        )
        from tests.conftest import Doc

        async def main():
            engine = create_async_engine({dsn!r},
                connect_args={{"server_settings": {postgres_schema.server_settings!r}}})
            database = DatabaseSession(engine)
            repo = SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", version="version")
            won, rng = 0, random.Random(int(sys.argv[1]))
            for _ in range(15):
                act = rng.choice(["update", "delete", "restore"])
                if act == "delete":
                    won += await repo.delete(535353)
                elif act == "restore":
                    won += await repo.restore(535353)
                else:
                    doc = await repo.get(535353, include_deleted=True)
                    doc.score += 1
                    try:
                        await repo.update(doc)
                        won += 1
                    except (EntityNotFoundError, VersionConflictError):
                        pass
            await engine.dispose()
            print(won)

        asyncio.run(main())
        """
    )

    async def with_repo(work: Callable[[SqlAlchemyRepository[Doc, int]], Awaitable[object]]) -> object:
        engine = create_async_engine(dsn, connect_args={"server_settings": postgres_schema.server_settings})
        database = DatabaseSession(engine)
        await database.create_all(Doc.metadata)
        try:
            return await work(
                SqlAlchemyRepository(database, Doc, soft_delete="deleted_at", version="version")
            )
        finally:
            await engine.dispose()

    async def prepare(repo: SqlAlchemyRepository[Doc, int]) -> None:
        await repo.delete(535353, hard=True)
        await repo.add(Doc(id=535353, title="contended"))

    async def stored(repo: SqlAlchemyRepository[Doc, int]) -> Doc | None:
        found = await repo.get(535353, include_deleted=True)
        await repo.delete(535353, hard=True)
        return found

    asyncio.run(with_repo(prepare))
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(seed)], stdout=subprocess.PIPE, text=True)
        for seed in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    doc = asyncio.run(with_repo(stored))
    assert isinstance(doc, Doc)
    assert doc.version == 1 + sum(int(output) for output in outputs)


async def test_specifications_select_through_relationships(database: DatabaseSession) -> None:
    """A relationship path compiles to EXISTS: rows are found through their author and their tags,
    with no join left to the caller (fastapi-filter #484) and no duplicate rows."""
    authors = SqlAlchemyRepository(database, Author)
    rows = SqlAlchemyRepository(database, Row)
    tags = SqlAlchemyRepository(database, Tag)
    await authors.add_many([Author(id=1, name="Ada"), Author(id=2, name="Bob")])
    await rows.add_many([Row(id=1, a=1, author_id=1), Row(id=2, a=2, author_id=2), Row(id=3, a=3)])
    await tags.add_many(
        [Tag(id=1, row_id=1, label="x"), Tag(id=2, row_id=1, label="y"), Tag(id=3, row_id=2, label="x")]
    )
    by_ada = await rows.find(FieldSpecification("author.name", "eq", "Ada"))
    assert [r.id for r in by_ada] == [1]
    tagged = await rows.find(FieldSpecification("tags.label", "in", ["x", "y"]))
    assert [r.id for r in tagged] == [1, 2]
    untagged = await rows.find(~FieldSpecification("tags.label", "eq", "x"), order_by=["-a"])
    assert [r.id for r in untagged] == [3]
    assert await rows.count(FieldSpecification("author.name", "like", "%o%")) == 1


async def test_bulk_operations_honour_soft_delete(docs: SqlAlchemyRepository[Doc, int]) -> None:
    """Property 14: bulk operations honour soft delete — delete_where and update_where touch only live
    rows, and a row deleted earlier keeps its deletion time and version."""
    await docs.add_many([Doc(id=n, title=f"d{n}", score=n) for n in range(6)])
    await docs.delete(0)
    before = await docs.get(0, include_deleted=True)
    low = FieldSpecification("score", "lt", 3)
    assert await docs.update_where(low, {"title": "low"}) == 2
    assert await docs.delete_where(low) == 2
    assert await docs.delete_where(low) == 0
    assert await docs.get(0, include_deleted=True) == before
    assert [d.id for d in await docs.list()] == [3, 4, 5]
    assert await docs.delete_where(FieldSpecification("score", "ge", 0), hard=True) == 3
    assert await docs.count(include_deleted=True) == 3


async def test_add_many_is_all_or_nothing(docs: SqlAlchemyRepository[Doc, int]) -> None:
    await docs.add(Doc(id=2, title="two"))
    with pytest.raises(EntityExistsError):
        await docs.add_many([Doc(id=1, title="one"), Doc(id=2, title="again")])
    assert await docs.get(1) is None


async def test_find_sorts_pages_and_rejects_bad_arguments(database: DatabaseSession) -> None:
    items = SqlAlchemyRepository(database, Item)
    await items.add_many([Item(id=n, name=f"n{n % 3}", rank=n % 2) for n in range(9)])
    found = await items.find(FieldSpecification("rank", "eq", 1), order_by=["-name"], limit=2, offset=1)
    assert [(i.name, i.id) for i in found] == [("n1", 1), ("n1", 7)]  # n2(5) skipped; ties by id
    with pytest.raises(UnknownFieldError):
        await items.find(FieldSpecification("nope", "eq", 1))
    with pytest.raises(UnknownFieldError):
        await items.find(order_by=["nope"])
    with pytest.raises(PersistenceTypeError):
        await items.find(FieldSpecification("rank", "eq", "one"))
    with pytest.raises(PersistenceConfigurationError):
        await items.update_where(FieldSpecification("rank", "eq", 1), {"id": 5})


def test_the_repository_checks_its_configuration(database: DatabaseSession) -> None:
    with pytest.raises(PersistenceConfigurationError):
        SqlAlchemyRepository(database, Doc, soft_delete="title")
    with pytest.raises(PersistenceConfigurationError):
        SqlAlchemyRepository(database, Doc, version="deleted_at")
    with pytest.raises(PersistenceTypeError):
        SqlAlchemyRepository(database, dict)


async def test_entities_read_on_a_connection_are_what_a_session_loads(database: DatabaseSession) -> None:
    """Reads build detached entities from rows: equal to the ORM's, with the same identity, and an ORM
    session that adopts one updates the stored row (it knows the entity is stored)."""
    items: SqlAlchemyRepository[Item, int] = SqlAlchemyRepository(database, Item)
    await items.add_many([Item(id=1, name="a", rank=None), Item(id=2, name="b", rank=7)])
    found = await items.get(2)
    listed = await items.list()
    async with database.session() as session:
        loaded = await session.get(Item, 2)
        assert loaded is not None
        identity = inspect(loaded).key
    assert found == loaded
    assert listed[1] == loaded
    state = inspect(found)
    assert state.detached
    assert state.key == identity
    assert not state.modified
    async with database.session() as session:
        session.add(found)
        found.name = "changed"
    assert (await items.get(2)) == Item(id=2, name="changed", rank=7)
    rows: SqlAlchemyRepository[Row, int] = SqlAlchemyRepository(database, Row)
    await rows.add(Row(id=1))
    row = await rows.get(1)
    assert row is not None
    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        _ = row.author


async def test_a_mapping_with_load_listeners_is_read_through_the_orm(database: DatabaseSession) -> None:
    """A ``@reconstructor`` (a ``load`` listener) runs for every entity the repository returns."""
    notes: SqlAlchemyRepository[Note, int] = SqlAlchemyRepository(database, Note)
    await notes.add_many([Note(id=1, text="x"), Note(id=2, text="y")])
    found = await notes.get(1)
    assert found is not None
    assert found.__dict__.get("loaded_by_orm") is True
    assert inspect(found).detached
    listed = await notes.find(FieldSpecification("text", "eq", "y"))
    assert [(n.id, n.__dict__.get("loaded_by_orm")) for n in listed] == [(2, True)]
    page = await notes.page(per_page=1)
    assert [n.id for n in page.items] == [1]


def test_the_repository_lifecycle_follows_a_model(postgres_schema: PostgresSchema) -> None:
    """Stateful: soft delete and optimistic locking, driven by hypothesis against a dict model — add
    (refused for a stored id, deleted or not), update with the current or a stale version, soft and
    hard delete, restore; after every step get, list and count show exactly the live entities with
    the versions the model expects, and include_deleted shows the deleted ones too."""

    class Lifecycle(RuleBasedStateMachine):
        @initialize()
        def open(self) -> None:
            self.loop = asyncio.new_event_loop()
            self.engine = create_async_engine(
                asyncpg_url(postgres_schema.dsn),
                connect_args={"server_settings": postgres_schema.server_settings},
                pool_size=2,
            )
            self.database = DatabaseSession(self.engine)
            self.repo = SqlAlchemyRepository(self.database, Doc, soft_delete="deleted_at", version="version")
            self.model: dict[int, tuple[int, int, bool]] = {}  # id -> (score, version, deleted)
            self.run(self.database.create_all(Doc.metadata))
            self.run(self.empty())

        async def empty(self) -> None:
            async with self.database.session() as session:
                await session.execute(delete(Doc))

        def run[R](self, work: Coroutine[Any, Any, R]) -> R:
            return self.loop.run_until_complete(work)

        def teardown(self) -> None:
            if hasattr(self, "loop"):
                self.run(self.engine.dispose())
                self.loop.close()

        @rule(key=IDS, score=st.integers(0, 9))
        def add(self, key: int, score: int) -> None:
            if key in self.model:
                with pytest.raises(EntityExistsError):
                    self.run(self.repo.add(Doc(id=key, title="t", score=score)))
                return
            self.run(self.repo.add(Doc(id=key, title="t", score=score)))
            self.model[key] = (score, 1, False)

        def live(self) -> list[int]:
            return sorted(k for k, v in self.model.items() if not v[2])

        def deleted(self) -> list[int]:
            return sorted(k for k, v in self.model.items() if v[2])

        @precondition(lambda self: self.live())
        @rule(data=st.data(), score=st.integers(0, 9), stale=st.booleans())
        def update_a_live_one(self, data: st.DataObject, score: int, stale: bool) -> None:
            self.update(data.draw(st.sampled_from(self.live())), score, stale)

        @precondition(lambda self: self.live())
        @rule(data=st.data(), hard=st.booleans())
        def delete_a_live_one(self, data: st.DataObject, hard: bool) -> None:
            self.delete(data.draw(st.sampled_from(self.live())), hard)

        @precondition(lambda self: self.deleted())
        @rule(data=st.data())
        def restore_a_deleted_one(self, data: st.DataObject) -> None:
            self.restore(data.draw(st.sampled_from(self.deleted())))

        @rule(key=IDS, score=st.integers(0, 9), stale=st.booleans())
        def update(self, key: int, score: int, stale: bool) -> None:
            current = self.model.get(key)
            version = (current[1] if current else 1) - (1 if stale else 0)
            doc = Doc(id=key, title="t", score=score, version=version)
            if current is None or current[2]:
                with pytest.raises(EntityNotFoundError):
                    self.run(self.repo.update(doc))
            elif stale:
                with pytest.raises(VersionConflictError) as info:
                    self.run(self.repo.update(doc))
                assert (info.value.expected, info.value.actual) == (version, current[1])
            else:
                self.run(self.repo.update(doc))
                assert doc.version == version + 1
                self.model[key] = (score, version + 1, False)

        @rule(key=IDS, hard=st.booleans())
        def delete(self, key: int, hard: bool) -> None:
            current = self.model.get(key)
            found = self.run(self.repo.delete(key, hard=hard))
            if hard:
                assert found is (current is not None)
                self.model.pop(key, None)
            else:
                assert found is (current is not None and not current[2])
                if found and current is not None:
                    self.model[key] = (current[0], current[1] + 1, True)

        @rule(key=IDS)
        def restore(self, key: int) -> None:
            current = self.model.get(key)
            restored = self.run(self.repo.restore(key))
            assert restored is (current is not None and current[2])
            if restored and current is not None:
                self.model[key] = (current[0], current[1] + 1, False)

        @invariant()
        def reads_show_the_model(self) -> None:
            if not hasattr(self, "repo"):
                return
            live = {k: v for k, v in self.model.items() if not v[2]}
            listed = self.run(self.repo.list())
            assert [(d.id, d.score, d.version) for d in listed] == [(k, *live[k][:2]) for k in sorted(live)]
            everything = self.run(self.repo.list(include_deleted=True))
            assert [(d.id, d.version, d.deleted_at is not None) for d in everything] == [
                (k, v[1], v[2]) for k, v in sorted(self.model.items())
            ]
            assert self.run(self.repo.count()) == len(live)
            for key in IDS_VALUES:
                found = self.run(self.repo.get(key))
                assert (found is not None) is (key in live)

    run_state_machine_as_test(
        Lifecycle, settings=settings(max_examples=15, stateful_step_count=20, deadline=None)
    )
