"""DatabaseSession: validated configuration, rollback before re-raise, outages, logs without secrets."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from buttress.core import BackendUnavailableError
from buttress.persistence import (
    DatabaseError,
    DatabaseSession,
    PersistenceConfigurationError,
    PersistenceTypeError,
    PersistenceUnavailableError,
    SqlAlchemyRepository,
)
from buttress.testing import PostgresSchema, PostgresServer, RecordedMetrics

from .conftest import Base, Item, asyncpg_url


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"url": ""}, "url"),
        ({"url": "   "}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "postgresql://h/db", "pool_size": 0}, "pool_size"),
        ({"url": "postgresql://h/db", "max_overflow": -1}, "max_overflow"),
        ({"url": "postgresql://h/db", "pool_timeout": 0}, "pool_timeout"),
        ({"url": "postgresql+psycopg2://h/db"}, "url"),
    ],
)
async def test_configuration_is_validated_before_any_connection(
    arguments: dict[str, object], parameter: str
) -> None:
    """Property 1: DatabaseSession configuration validation — a blank URL, ``pool_size < 1`` and
    ``max_overflow < 0`` are refused with a typed error naming the parameter."""
    with pytest.raises(PersistenceConfigurationError) as info:
        await DatabaseSession.connect(**arguments)  # type: ignore[arg-type]
    assert info.value.parameter == parameter
    assert isinstance(info.value, ValueError)


async def test_a_password_never_reaches_an_error_about_the_url() -> None:
    with pytest.raises(PersistenceConfigurationError) as info:
        await DatabaseSession.connect("postgresql+psycopg2://app:hunter2@db/app")
    assert "hunter2" not in str(info.value)


async def test_the_wrong_types_are_typed_errors() -> None:
    with pytest.raises(PersistenceTypeError):
        DatabaseSession("postgresql://h/db")  # type: ignore[arg-type]
    with pytest.raises(PersistenceConfigurationError):
        await DatabaseSession.connect(b"postgresql://h/db")  # type: ignore[arg-type]


async def test_the_block_rolls_back_before_the_error_leaves_it(database: DatabaseSession) -> None:
    """Property 2: rollback before re-raise — the caller's exception comes out unchanged, after the
    transaction was rolled back, and nothing it wrote is kept."""
    seen: list[str] = []
    event.listen(database.engine.sync_engine, "rollback", lambda _connection: seen.append("rollback"))
    problem = KeyError("boom")

    async def write_then_fail() -> None:
        async with database.session() as session:
            await session.execute(insert(Item).values(id=1, name="kept?"))
            raise problem

    with pytest.raises(KeyError) as info:
        await write_then_fail()
    assert info.value is problem
    assert seen == ["rollback"]
    async with database.session() as session:
        assert (await session.execute(select(Item))).first() is None


async def test_a_database_error_is_typed_with_its_cause_chained(database: DatabaseSession) -> None:
    """Property 3: exception chaining — a statement the database refuses is a DatabaseError whose
    ``__cause__`` is SQLAlchemy's error, raised after the rollback."""
    with pytest.raises(DatabaseError) as info:
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    assert info.value.sqlstate == "42P01"
    assert type(info.value.__cause__).__module__.startswith("sqlalchemy")
    assert "no_such_table" not in str(info.value)  # the statement stays out of the message


async def test_a_connection_block_is_rolled_back_and_its_errors_typed(database: DatabaseSession) -> None:
    """``connection()`` is for reads: what its block writes is rolled back when it ends, and a
    statement the database refuses is a DatabaseError with the cause chained."""
    async with database.connection() as connection:
        await connection.execute(insert(Item).values(id=1, name="gone"))
        assert (await connection.execute(select(Item.id))).scalar_one() == 1
    async with database.connection() as connection:
        assert (await connection.execute(select(Item.id))).first() is None
    with pytest.raises(DatabaseError) as info:
        async with database.connection() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))
    assert info.value.sqlstate == "42P01"
    assert type(info.value.__cause__).__module__.startswith("sqlalchemy")
    await database.aclose()
    with pytest.raises(PersistenceConfigurationError):
        async with database.connection():
            pass


async def test_commit_keeps_what_the_block_wrote(database: DatabaseSession) -> None:
    async with database.session() as session:
        session.add(Item(id=7, name="seven"))
    repo = SqlAlchemyRepository(database, Item)
    assert await repo.get(7) == Item(id=7, name="seven")


async def test_a_borrowed_engine_is_left_open(postgres_schema: PostgresSchema) -> None:
    engine = create_async_engine(asyncpg_url(postgres_schema.dsn))
    async with DatabaseSession(engine) as database:
        assert database.dialect == "postgresql"
    async with engine.connect() as connection:  # still usable: aclose did not dispose it
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    await engine.dispose()
    with pytest.raises(PersistenceConfigurationError):
        async with database.session():
            pass


async def test_connect_opens_an_owned_engine_and_logs_no_password(
    postgres_schema: PostgresSchema, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_schema.dsn.replace("postgres@", "postgres:s3cret-pass@", 1)
    caplog.set_level(logging.DEBUG, logger="buttress.persistence")
    database = await DatabaseSession.connect(url, pool_size=2, max_overflow=0, pool_timeout=5)
    assert "s3cret-pass" not in database.address
    assert "s3cret-pass" not in repr(database)
    async with database.session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    await database.aclose()
    await database.aclose()  # idempotent
    assert database.closed
    assert any(record.getMessage().startswith("connected to") for record in caplog.records)
    for record in caplog.records:
        assert "s3cret-pass" not in record.getMessage()
        assert "s3cret-pass" not in str(record.__dict__)


async def test_sqlite_is_the_embedded_default_with_case_sensitive_like(tmp_path: object) -> None:
    database = await DatabaseSession.connect("sqlite:///:memory:")
    async with database.session() as session:
        assert (await session.execute(text("SELECT 'ABC' LIKE 'abc'"))).scalar_one() == 0
    await database.aclose()


async def test_connecting_to_a_stopped_server_is_unavailable(postgres_server: PostgresServer) -> None:
    url = postgres_server.dsn.replace("postgres@", "postgres:s3cret@", 1)
    postgres_server.stop()
    with pytest.raises(PersistenceUnavailableError) as info:
        await DatabaseSession.connect(url)
    assert isinstance(info.value, BackendUnavailableError)
    assert "s3cret" not in str(info.value)
    assert info.value.__cause__ is not None


async def test_an_outage_is_unavailable_and_the_session_recovers(
    postgres_server: PostgresServer, metric_reader: RecordedMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    """The server goes away under an open pool: operations raise PersistenceUnavailableError (the
    URL redacted, the driver's error chained), count on the unavailable counter, and work again once
    the server is back."""
    url = postgres_server.dsn.replace("postgres@", "postgres:s3cret@", 1)
    database = await DatabaseSession.connect(url, pool_size=1, max_overflow=0)
    await database.create_all(Base.metadata)
    repo = SqlAlchemyRepository(database, Item)
    await repo.add(Item(id=1, name="before"))
    postgres_server.stop()
    for _ in range(2):
        with pytest.raises(PersistenceUnavailableError) as info:
            await repo.get(1)
        assert "s3cret" not in str(info.value)
        assert info.value.__cause__ is not None
    assert metric_reader.value("buttress.persistence.unavailable") == 2
    assert all("s3cret" not in record.getMessage() for record in caplog.records)
    postgres_server.start()
    assert await repo.get(1) == Item(id=1, name="before")
    await database.aclose()


async def test_transactions_are_timed_by_outcome(
    database: DatabaseSession, metric_reader: RecordedMetrics
) -> None:
    async with database.session():
        pass
    with pytest.raises(RuntimeError):
        async with database.session():
            raise RuntimeError
    name = "buttress.persistence.transaction.duration"
    assert metric_reader.count(name, {"persistence.outcome": "commit"}) == 1
    assert metric_reader.count(name, {"persistence.outcome": "rollback"}) == 1
