"""buttress-persistence's repository under both layers: bind_engine for RLS, TenantRepository on top.

buttress-persistence builds its own sessions, so the database layer goes on its engine
(`SqlAlchemyTenancy.bind_engine`) and the application layer around its repository, through core's
AsyncRepository Protocol (`TenantRepository`). With both off, the same calls read across tenants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from buttress.core import AsyncRepository
from buttress.persistence import DatabaseSession, SqlAlchemyRepository
from buttress.tenancy import SqlAlchemyTenancy, TenantRepository, tenant_scope

from .conftest import Database
from .models import Base, Doc

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["on", "off"])
async def repository(
    request: pytest.FixtureRequest, clean: Database
) -> AsyncIterator[AsyncRepository[Doc, int]]:
    layer = request.param
    role = clean.app if layer == "on" else clean.bypass  # off: a role the policies skip
    url = clean.dsn(role).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, connect_args={"server_settings": clean.settings}, pool_size=2)
    if layer == "on":
        SqlAlchemyTenancy(Base).bind_engine(engine)
    database = DatabaseSession(engine)
    inner: SqlAlchemyRepository[Doc, int] = SqlAlchemyRepository(database, Doc)
    try:
        yield TenantRepository(inner) if layer == "on" else inner
    finally:
        await database.aclose()
        await engine.dispose()


async def test_a_persistence_repository_sees_one_tenant(repository: AsyncRepository[Doc, int]) -> None:
    scoped = isinstance(repository, TenantRepository)
    for doc_id, tenant in ((1, "acme"), (2, "acme"), (3, "globex")):
        async with tenant_scope(tenant):
            await repository.add(Doc(id=doc_id, tenant_id=tenant, body=f"{tenant} {doc_id}"))
    async with tenant_scope("acme"):
        listed = sorted(doc.id for doc in await repository.list(limit=100))
        theirs = await repository.get(3)
    if scoped:
        assert listed == [1, 2]
        assert theirs is None
    else:
        assert listed == [1, 2, 3], "without the layers acme reads globex's row"
        assert theirs is not None


async def test_outside_a_scope_the_bound_engine_shows_nothing(clean: Database) -> None:
    url = clean.dsn(clean.app).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, connect_args={"server_settings": clean.settings}, pool_size=1)
    SqlAlchemyTenancy(Base).bind_engine(engine)
    await clean.admin("INSERT INTO docs (id, tenant_id, body) VALUES (9, 'acme', 'a')")
    async with DatabaseSession(engine) as database:
        repository: SqlAlchemyRepository[Doc, int] = SqlAlchemyRepository(database, Doc)
        assert await repository.list(limit=10) == []  # no tenant: the policies show no row
        async with tenant_scope("acme"):
            assert [doc.id for doc in await repository.list(limit=10)] == [9]
    await engine.dispose()
