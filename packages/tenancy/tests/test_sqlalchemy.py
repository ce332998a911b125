"""Both layers through SQLAlchemy sessions, each leak test run with its layer on and off.

The application layer is tested alone by connecting as a BYPASSRLS role, so nothing but the layer
stands between a session and the other tenant's rows; with the layer off, the leak shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import joinedload, selectinload

from buttress.tenancy import (
    CrossTenantError,
    NoTenantError,
    SqlAlchemyTenancy,
    TenancyTypeError,
    TenancyUnavailableError,
    TenantConnection,
    UnsafeConnectionError,
    UnscopedStatementError,
    tenant_safe,
    tenant_scope,
)
from buttress.tenancy._context import _peek
from buttress.tenancy._sqlalchemy import _supported

from .conftest import Database
from .models import Base, Doc, Kid, Parent

pytestmark = pytest.mark.postgres

LAYER = pytest.mark.parametrize("layer", ["on", "off"])


def engine_for(db: Database, role: str, **options: object) -> AsyncEngine:
    url = db.dsn(role).replace("postgresql://", "postgresql+asyncpg://", 1)
    return create_async_engine(url, connect_args={"server_settings": db.settings}, **options)  # type: ignore[arg-type]


@pytest.fixture
async def bypass_engine(clean: Database) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(clean, clean.bypass, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


def app_layer(engine: AsyncEngine, layer: str) -> async_sessionmaker:  # type: ignore[type-arg]
    tenancy = SqlAlchemyTenancy(Base, application_layer=layer == "on", database_layer=False)
    return tenancy.sessionmaker(engine, expire_on_commit=False)


async def seed_family(db: Database) -> None:
    """An acme parent whose kids include a globex row (a cross-tenant reference gone wrong)."""
    await db.admin(
        "INSERT INTO parents VALUES (1, 'acme', 'acme-parent'), (2, 'globex', 'globex-parent')",
        "INSERT INTO kids VALUES (10, 'acme', 1, 'ours'), (20, 'globex', 1, 'secret'), "
        "(30, 'acme', 2, 'odd')",
        "INSERT INTO docs (tenant_id, body) VALUES ('acme', 'a1'), ('acme', 'a2'), ('globex', 'g1')",
    )


# --- the database layer: a pool of one connection -----------------------------------------------


def plain_set_on_checkout(engine: AsyncEngine) -> None:
    """The layer switched off: the tenant SET for the session when a connection is checked out."""

    @event.listens_for(engine.sync_engine, "checkout")
    def set_tenant(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
        tenant = _peek()
        if tenant is not None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET app.tenant_id = '{tenant}'")
            cursor.close()
            dbapi_connection.commit()


@pytest.fixture
async def pool_of_one(clean: Database) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(clean, clean.app, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


def pooled_sessions(engine: AsyncEngine, layer: str) -> async_sessionmaker:  # type: ignore[type-arg]
    if layer == "off":
        plain_set_on_checkout(engine)
    tenancy = SqlAlchemyTenancy(Base, database_layer=layer == "on")
    return tenancy.sessionmaker(engine)


async def unscoped_count(engine: AsyncEngine) -> int:
    """What the next user of the pooled connection sees with no tenant of its own."""
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM docs"))).scalar_one())


@LAYER
async def test_the_next_user_of_a_pooled_connection_sees_nothing_of_the_last(
    pool_of_one: AsyncEngine, layer: str
) -> None:
    sessions = pooled_sessions(pool_of_one, layer)
    async with tenant_scope("acme"), sessions() as session, session.begin():
        session.add_all([Doc(body="a1"), Doc(body="a2")])
    seen = await unscoped_count(pool_of_one)
    assert seen == (0 if layer == "on" else 2)


@LAYER
async def test_the_same_after_an_exception_mid_transaction(pool_of_one: AsyncEngine, layer: str) -> None:
    sessions = pooled_sessions(pool_of_one, layer)
    async with tenant_scope("acme"), sessions() as session, session.begin():
        session.add(Doc(body="kept"))

    async def fail_midway() -> None:
        async with tenant_scope("acme"), sessions() as session, session.begin():
            session.add(Doc(body="lost"))
            await session.flush()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await fail_midway()
    seen = await unscoped_count(pool_of_one)
    assert seen == (0 if layer == "on" else 1)
    async with tenant_scope("acme"), sessions() as session:
        assert (await session.scalars(select(Doc.body))).all() == ["kept"]


async def test_tenant_b_sees_only_its_own_rows_on_the_same_connection(pool_of_one: AsyncEngine) -> None:
    sessions = pooled_sessions(pool_of_one, "on")
    for tenant in ("acme", "globex"):
        async with tenant_scope(tenant), sessions() as session, session.begin():
            session.add(Doc(body=tenant))
    async with tenant_scope("globex"), sessions() as session:
        raw = (await session.execute(tenant_safe(text("SELECT tenant_id FROM docs")))).scalars().all()
    assert raw == ["globex"]  # the raw statement went through: the database layer bound it


async def test_the_guard_on_an_engine(clean: Database, pool_of_one: AsyncEngine) -> None:
    tenancy = SqlAlchemyTenancy(Base)
    await tenancy.check(pool_of_one)
    superuser = create_async_engine(
        clean.superuser_dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
        connect_args={"server_settings": clean.settings},
    )
    try:
        with pytest.raises(UnsafeConnectionError, match="superuser"):
            await tenancy.check(superuser)
    finally:
        await superuser.dispose()


async def test_a_database_transaction_needs_a_tenant(pool_of_one: AsyncEngine) -> None:
    sessions = pooled_sessions(pool_of_one, "on")
    async with sessions() as session:
        with pytest.raises(NoTenantError):
            await session.execute(tenant_safe(text("SELECT 1")))


# --- the application layer alone ------------------------------------------------------------------


@LAYER
async def test_orm_selects_are_filtered(clean: Database, bypass_engine: AsyncEngine, layer: str) -> None:
    await seed_family(clean)
    async with tenant_scope("acme"), app_layer(bypass_engine, layer)() as session:
        tenants = set((await session.scalars(select(Doc.tenant_id))).all())
        count = (await session.execute(select(func.count()).select_from(Doc))).scalar_one()
    assert tenants == ({"acme"} if layer == "on" else {"acme", "globex"})
    assert count == (2 if layer == "on" else 3)


@LAYER
async def test_joined_eager_loads_are_filtered(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    await seed_family(clean)
    async with tenant_scope("acme"), app_layer(bypass_engine, layer)() as session:
        parent = (await session.scalars(select(Parent).options(joinedload(Parent.kids)))).unique().first()
        assert parent is not None
        labels = [kid.label for kid in parent.kids]
    assert labels == (["ours"] if layer == "on" else ["ours", "secret"])


@LAYER
async def test_selectin_loads_are_filtered(clean: Database, bypass_engine: AsyncEngine, layer: str) -> None:
    await seed_family(clean)
    async with tenant_scope("acme"), app_layer(bypass_engine, layer)() as session:
        parents = (await session.scalars(select(Parent).options(selectinload(Parent.kids)))).all()
        labels = sorted(kid.label for parent in parents for kid in parent.kids)
    assert labels == (["ours"] if layer == "on" else ["odd", "ours", "secret"])


@LAYER
async def test_any_and_has_subqueries_are_filtered(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    await seed_family(clean)
    async with tenant_scope("acme"), app_layer(bypass_engine, layer)() as session:
        by_secret_kid = (
            await session.scalars(select(Parent.id).where(Parent.kids.any(Kid.label == "secret")))
        ).all()
        by_foreign_parent = (
            await session.scalars(select(Kid.id).where(Kid.parent.has(Parent.name == "globex-parent")))
        ).all()
    if layer == "on":
        assert by_secret_kid == []
        assert by_foreign_parent == []
    else:
        assert by_secret_kid == [1], "any() told acme that a globex row exists"
        assert by_foreign_parent == [30]


@LAYER
async def test_inserts_are_tagged_and_cross_tenant_ones_refused(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    sessions = app_layer(bypass_engine, layer)
    if layer == "on":
        async with tenant_scope("acme"), sessions() as session, session.begin():
            session.add(Doc(body="untagged"))
        with pytest.raises(CrossTenantError):
            async with tenant_scope("acme"), sessions() as session, session.begin():
                session.add(Doc(body="smuggled", tenant_id="globex"))
    else:
        async with tenant_scope("acme"), sessions() as session, session.begin():
            session.add(Doc(body="smuggled", tenant_id="globex"))
    rows = await all_docs(clean)
    assert rows == ([("acme", "untagged")] if layer == "on" else [("globex", "smuggled")])


@LAYER
async def test_bulk_inserts_are_tagged_and_cross_tenant_rows_refused(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    sessions = app_layer(bypass_engine, layer)
    batch = [{"body": "b1", "tenant_id": "acme"}, {"body": "b2", "tenant_id": "globex"}]
    if layer == "on":
        async with tenant_scope("acme"), sessions() as session, session.begin():
            await session.execute(insert(Doc), [{"body": "t1"}, {"body": "t2"}])
            await session.execute(insert(Doc).values(body="t3"))
        with pytest.raises(CrossTenantError):
            async with tenant_scope("acme"), sessions() as session, session.begin():
                await session.execute(insert(Doc), batch)
        with pytest.raises(CrossTenantError):
            async with tenant_scope("acme"), sessions() as session, session.begin():
                await session.execute(insert(Doc).values(body="b3", tenant_id="globex"))
        assert await all_docs(clean) == [("acme", "t1"), ("acme", "t2"), ("acme", "t3")]
    else:
        async with tenant_scope("acme"), sessions() as session, session.begin():
            await session.execute(insert(Doc), batch)
        assert ("globex", "b2") in await all_docs(clean)


@LAYER
async def test_bulk_updates_and_deletes_stay_in_the_tenant(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    await seed_family(clean)
    sessions = app_layer(bypass_engine, layer)
    async with tenant_scope("acme"), sessions() as session, session.begin():
        await session.execute(update(Doc).values(body="touched"))
        await session.execute(delete(Kid).where(Kid.parent_id == 1))
    rows = await all_docs(clean)
    kids = await clean_fetch(clean, "SELECT tenant_id FROM kids ORDER BY id")
    if layer == "on":
        assert ("globex", "g1") in rows
        assert kids == ["globex", "acme"]  # globex's kid under parent 1 survived
    else:
        assert ("globex", "touched") in rows
        assert kids == ["acme"]


@LAYER
async def test_moving_rows_or_objects_to_another_tenant_is_refused(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    await seed_family(clean)
    sessions = app_layer(bypass_engine, layer)
    if layer == "on":
        with pytest.raises(CrossTenantError):
            async with tenant_scope("acme"), sessions() as session, session.begin():
                await session.execute(update(Doc).values(tenant_id="globex"))

        async def move_an_object() -> None:
            async with tenant_scope("acme"), sessions() as session, session.begin():
                doc = (await session.scalars(select(Doc))).first()
                assert doc is not None
                doc.tenant_id = "globex"

        with pytest.raises(CrossTenantError):
            await move_an_object()
        assert ("globex", "a1") not in await all_docs(clean)
    else:
        async with tenant_scope("acme"), sessions() as session, session.begin():
            await session.execute(update(Doc).values(tenant_id="globex"))
        assert ("globex", "a1") in await all_docs(clean)


async def test_objects_of_another_tenant_cannot_be_changed_or_deleted(
    clean: Database, bypass_engine: AsyncEngine
) -> None:
    await seed_family(clean)
    sessions = app_layer(bypass_engine, "on")
    async with tenant_scope("globex"), sessions() as session:
        theirs = (await session.scalars(select(Doc))).one()

    async def change(how: str) -> None:
        async with tenant_scope("acme"), sessions() as session, session.begin():
            mine = await session.merge(theirs, load=False)
            if how == "update":
                mine.body = "defaced"
            else:
                await session.delete(mine)

    for how in ("update", "delete"):
        with pytest.raises(CrossTenantError):
            await change(how)
    assert ("globex", "g1") in await all_docs(clean)


@LAYER
async def test_the_identity_map_answers_get_for_the_current_tenant_only(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    """One session across two scopes: ``get()`` hits the identity map, where no criteria apply."""
    await seed_family(clean)
    async with app_layer(bypass_engine, layer)() as session:
        async with tenant_scope("acme"):
            mine = (await session.scalars(select(Doc).order_by(Doc.id))).first()
            assert mine is not None
            doc_id = mine.id
            assert await session.get(Doc, doc_id) is mine
        async with tenant_scope("globex"):
            cached = await session.get(Doc, doc_id)
            session.expire(mine)  # asked again: a refresh, then the same check
            refreshed = await session.get(Doc, doc_id)
            if layer == "on":
                assert cached is None
                assert refreshed is None
                with pytest.raises(NoResultFound):
                    await session.get_one(Doc, doc_id)
            else:
                assert cached is mine  # the leak the layer closes
                assert refreshed is mine
        async with tenant_scope("acme"):
            assert await session.get(Doc, doc_id) is mine
    async with tenant_scope("acme"), app_layer(bypass_engine, layer)() as session:
        assert (await session.get(Parent, 1)) is not None  # a plain miss still loads, scoped


@LAYER
async def test_text_and_core_statements_on_tenant_tables_are_refused_unless_marked(
    clean: Database, bypass_engine: AsyncEngine, layer: str
) -> None:
    await seed_family(clean)
    sessions = app_layer(bypass_engine, layer)
    statements = [
        text("SELECT tenant_id FROM docs"),
        select(Doc.__table__.c.tenant_id),
        select(Doc).from_statement(text("SELECT * FROM docs")),
    ]
    async with tenant_scope("acme"), sessions() as session:
        for statement in statements:
            if layer == "on":
                with pytest.raises(UnscopedStatementError):
                    await session.execute(statement)
            else:
                assert len((await session.execute(statement)).all()) == 3
        marked = text("SELECT count(*) FROM docs WHERE tenant_id = :t").bindparams(t="acme")
        assert (await session.execute(tenant_safe(marked))).scalar_one() == 2
        if layer == "on":  # text() is opaque: even one that names no table must be marked
            with pytest.raises(UnscopedStatementError):
                await session.execute(text("SELECT 1"))


async def test_orm_work_outside_a_scope_raises(clean: Database, bypass_engine: AsyncEngine) -> None:
    async with app_layer(bypass_engine, "on")() as session:
        with pytest.raises(NoTenantError):
            await session.scalars(select(Doc))
        session.add(Doc(body="orphan"))
        with pytest.raises(NoTenantError):
            await session.flush()


def test_the_base_and_flags_are_checked() -> None:
    with pytest.raises(TenancyTypeError):
        SqlAlchemyTenancy(object)  # type: ignore[arg-type]
    with pytest.raises(TenancyTypeError):
        SqlAlchemyTenancy(Base, database_layer=1)  # type: ignore[arg-type]
    tenancy = SqlAlchemyTenancy(Base.registry)
    assert set(tenancy.models) == {Doc, Parent, Kid}
    with pytest.raises(TenancyTypeError):
        tenant_safe("SELECT 1")


async def all_docs(db: Database) -> list[tuple[str, str]]:
    rows = await clean_fetch(db, "SELECT tenant_id || '|' || body FROM docs ORDER BY id")
    return [tuple(row.split("|", 1)) for row in rows]  # type: ignore[misc]


async def clean_fetch(db: Database, query: str) -> list[str]:
    connection = await asyncpg.connect(db.superuser_dsn, server_settings=db.settings)
    try:
        return [row[0] for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def test_the_guard_reports_an_unreachable_database() -> None:
    engine = create_async_engine("postgresql+asyncpg://app:secret@127.0.0.1:1/x")
    try:
        with pytest.raises(TenancyUnavailableError) as caught:
            await SqlAlchemyTenancy(Base).check(engine)
        assert "secret" not in str(caught.value)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("layer", ["on", "off"])
async def test_a_tenant_connection_sends_the_tenant_with_begin(clean: Database, layer: str) -> None:
    """With TenantConnection the session skips its own set_config; the tenant still binds, and ends."""
    options = {"connect_args": {"server_settings": clean.settings}}
    if layer == "on":
        options["connect_args"]["connection_class"] = TenantConnection  # type: ignore[index]
    url = clean.dsn(clean.app).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, pool_size=1, max_overflow=0, **options)  # type: ignore[arg-type]
    tenancy = SqlAlchemyTenancy(Base)
    sessions = tenancy.sessionmaker(engine)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        for tenant in ("acme", "globex"):
            async with tenant_scope(tenant), sessions() as session, session.begin():
                session.add(Doc(body=tenant))
        async with tenant_scope("globex"), sessions() as session:
            assert (await session.scalars(select(Doc.body))).all() == ["globex"]
        assert await unscoped_count(engine) == 0
    finally:
        await engine.dispose()
    separate = [s for s in statements if "set_config" in s]
    assert (separate == []) is (layer == "on"), "TenantConnection saves the separate set_config"


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("2.0.58", False),
        ("2.0.0", False),
        ("1.4.54", False),
        ("2.1.0", True),
        ("2.1.0b1", True),
        ("2.2", True),
        ("x", False),
    ],
)
def test_an_sqlalchemy_whose_criteria_miss_any_and_has_is_refused(version: str, supported: bool) -> None:
    # on 2.0, with_loader_criteria did not reach the EXISTS of any()/has(): another tenant's rows showed
    assert _supported(version) is supported
