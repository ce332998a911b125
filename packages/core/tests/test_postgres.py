"""What the PostgreSQL backends share: table names, pool sizes, an owned or borrowed pool, outages.

Run against the real server (buttress-testing's ``postgres_dsn``) and a private one it stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buttress.core import (
    ArgumentTypeError,
    BackendErrors,
    BackendUnavailableError,
    ConfigurationError,
    PostgresBackend,
    TableName,
    Telemetry,
    check_pool_size,
    open_pool,
)
from buttress.testing import PostgresServer, acheck_hostile, check_hostile


class StoreConfigurationError(ConfigurationError):
    """A package's configuration error."""


class StoreTypeError(ArgumentTypeError):
    """A package's type error."""


class StoreUnavailableError(BackendUnavailableError):
    """A package's unavailable error."""


ERRORS = BackendErrors(StoreConfigurationError, StoreTypeError, StoreUnavailableError)


class Store(PostgresBackend):
    errors = ERRORS

    def __init__(self, pool: Any, *, table: str = "store") -> None:
        super().__init__(pool)
        self.table = TableName.parse(table, errors=self.errors)

    @classmethod
    async def connect(cls, dsn: str, *, table: str = "store", min_size: int = 1, max_size: int = 4) -> Self:
        TableName.parse(table, errors=cls.errors)
        return await cls._open(dsn, lambda pool: cls(pool, table=table), min_size=min_size, max_size=max_size)

    async def now(self) -> object:
        async with self._connection() as connection:
            return await connection.fetchval("SELECT 1")


# --- TableName and pool sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "sql"),
    [("orders", "orders"), ("app.orders", "app.orders"), ("_x9", "_x9"), ("a" * 48, "a" * 48)],
)
def test_table_names_are_lower_case_identifiers_optionally_qualified(table: str, sql: str) -> None:
    parsed = TableName.parse(table)
    assert parsed.sql == sql == str(parsed)
    assert parsed.derived("attempts").sql == f"{sql}_attempts"


@pytest.mark.parametrize(
    "table", ["", "Orders", "1abc", "a-b", "a.b.c", "a" * 49, "orders;drop", "x y", '"q"', "a\x00", "ä"]
)
def test_other_table_names_are_the_packages_configuration_error(table: str) -> None:
    with pytest.raises(StoreConfigurationError):
        TableName.parse(table, errors=ERRORS)


def test_a_table_that_is_not_text_is_the_packages_type_error() -> None:
    with pytest.raises(StoreTypeError):
        TableName.parse(5, errors=ERRORS)


@pytest.mark.parametrize(("low", "high"), [(0, 1), (1, 10), (10, 10), (0, 1000)])
def test_pool_sizes_in_range(low: int, high: int) -> None:
    assert check_pool_size(low, high) == (low, high)


@pytest.mark.parametrize(("low", "high"), [(-1, 1), (1, 0), (5, 4), (0, 1001), (True, 2), (0, 10**400)])
def test_pool_sizes_out_of_range(low: object, high: object) -> None:
    with pytest.raises(StoreConfigurationError):
        check_pool_size(low, high, errors=ERRORS)


def test_the_helpers_raise_only_typed_errors() -> None:
    check_hostile(TableName.parse, "app.orders", errors=ERRORS)
    check_hostile(check_pool_size, 1, 10, errors=ERRORS)
    check_hostile(BackendErrors)


# --- pools --------------------------------------------------------------------------------------


async def test_connect_owns_its_pool_and_aclose_closes_it(postgres_dsn: str) -> None:
    store = await Store.connect(postgres_dsn, table="app.orders", min_size=1, max_size=2)
    assert store.owns_pool
    assert await store.now() == 1
    await store.aclose()
    await store.aclose()
    assert store.pool.is_closing()


async def test_a_borrowed_pool_is_never_closed(postgres_pool: Any) -> None:
    async with Store(postgres_pool) as store:
        assert not store.owns_pool
        assert await store.now() == 1
    assert not postgres_pool.is_closing()
    assert await postgres_pool.fetchval("SELECT 2") == 2


async def test_a_bad_table_opens_nothing(postgres_dsn: str) -> None:
    with pytest.raises(StoreConfigurationError):
        await Store.connect(postgres_dsn, table="Bad Name")


async def test_a_pool_that_is_not_a_pool_is_the_packages_type_error() -> None:
    with pytest.raises(StoreTypeError):
        Store(object())


async def test_making_a_backend_binds_its_package_s_instruments(
    postgres_dsn: str, counters_made: Callable[[Telemetry], list[str]]
) -> None:
    """A backend class that names its package's Telemetry makes every instrument when it is made.

    Around the application's pool or by ``connect``, at start-up rather than on the first request; a
    pool the backend refuses binds nothing.
    """
    own = Telemetry("buttress.core_test_postgres_bind")
    own.counter("buttress.core_test_postgres_bind.calls")

    class Bound(Store):
        telemetry = own

    made = counters_made(own)
    with pytest.raises(StoreTypeError):
        Bound(object())
    assert made == []
    store = await Bound.connect(postgres_dsn)
    try:
        assert made == ["buttress.core_test_postgres_bind.calls"]
        Bound(store.pool)  # bound already: nothing made twice
        Store(store.pool)  # a class without telemetry binds nothing
        assert made == ["buttress.core_test_postgres_bind.calls"]
    finally:
        await store.aclose()


async def test_a_dsn_the_server_refuses_is_configuration_not_an_outage(postgres_dsn: str) -> None:
    refused = postgres_dsn.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(StoreConfigurationError) as caught:
        await open_pool(refused, min_size=1, max_size=1, errors=ERRORS)
    assert not isinstance(caught.value, BackendUnavailableError)
    with pytest.raises(StoreConfigurationError):
        await open_pool(postgres_dsn, server_settings={"work_mem": "not a size"}, errors=ERRORS)


@pytest.mark.parametrize(
    "dsn",
    [
        "mysql://h/db",
        "not a url",
        "postgresql://127.0.0.1:99999999/db",
        "postgresql://127.0.0.1/db?sslmode=nope",
    ],
)
async def test_a_dsn_asyncpg_cannot_use_is_configuration(dsn: str) -> None:
    with pytest.raises(StoreConfigurationError):
        await open_pool(dsn, errors=ERRORS)


async def test_a_keyword_dsn_is_refused_without_showing_its_password() -> None:
    with pytest.raises(StoreConfigurationError, match="postgresql://") as caught:
        await open_pool("host=db password=hunter2", errors=ERRORS)
    assert "hunter2" not in str(caught.value)


async def test_an_unreachable_server_is_the_packages_unavailable_error_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    dsn = postgres_server.dsn.replace("postgres@", "postgres:s3cret@", 1)
    assert "s3cret" in dsn
    store = await Store.connect(postgres_server.dsn, min_size=0, max_size=1)
    postgres_server.stop()
    with pytest.raises(StoreUnavailableError) as caught:
        await store.now()
    assert caught.value.backend == "postgresql"
    with pytest.raises(StoreUnavailableError) as caught:
        await open_pool(dsn, errors=ERRORS)
    assert "s3cret" not in str(caught.value)
    await store.aclose()


async def test_open_pool_raises_only_typed_errors(postgres_dsn: str) -> None:
    async def opened(*args: Any, **kwargs: Any) -> None:
        pool = await open_pool(*args, **kwargs)
        await pool.close()

    await acheck_hostile(opened, postgres_dsn, min_size=0, max_size=1, server_settings=None, errors=ERRORS,
                         keep=("errors",), max_examples=40)  # fmt: skip


async def test_a_build_that_fails_closes_the_new_pool(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    real = asyncpg.create_pool

    async def spy(*args: Any, **kwargs: Any) -> Any:
        pool = await real(*args, **kwargs)
        opened.append(pool)
        return pool

    monkeypatch.setattr(asyncpg, "create_pool", spy)

    def refuse(pool: Any) -> Store:
        raise StoreConfigurationError("table", "x", "refused by the backend")

    with pytest.raises(StoreConfigurationError):
        await Store._open(postgres_dsn, refuse, min_size=1, max_size=1)
    assert opened
    assert opened[0].is_closing()


# --- what some backends need beyond the common case ---------------------------------------------


def test_a_backend_can_ask_for_shorter_table_names() -> None:
    assert TableName.parse("app." + "a" * 40, errors=ERRORS, max_length=40).name == "a" * 40
    with pytest.raises(StoreConfigurationError, match="at most 40"):
        TableName.parse("a" * 41, errors=ERRORS, max_length=40)
    for limit in (0, 49):
        with pytest.raises(ConfigurationError, match="max_length"):
            TableName.parse("orders", max_length=limit)


async def test_command_timeout_bounds_every_statement(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, min_size=0, max_size=1, command_timeout=0.2, errors=ERRORS)
    try:
        assert await pool.fetchval("SELECT 1") == 1
        with pytest.raises(TimeoutError):
            await pool.execute("SELECT pg_sleep(30)")
    finally:
        pool.terminate()
    for timeout in (0, -1, float("nan"), 10**400, True):
        with pytest.raises(StoreConfigurationError, match="command_timeout"):
            await open_pool(postgres_dsn, command_timeout=timeout, errors=ERRORS)


class LossyStore(Store):
    # A writer for which a read-only server (a standby after a failover) is an outage.
    outages = (asyncpg.ReadOnlySQLTransactionError,)


async def test_a_backend_names_the_driver_errors_that_also_mean_an_outage(postgres_pool: Any) -> None:
    with pytest.raises(StoreUnavailableError), LossyStore(postgres_pool)._unavailable():
        raise asyncpg.ReadOnlySQLTransactionError("read-only")
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError), Store(postgres_pool)._unavailable():
        raise asyncpg.ReadOnlySQLTransactionError("read-only")
    with pytest.raises(StoreUnavailableError):
        async with LossyStore(postgres_pool)._connection():
            raise asyncpg.ReadOnlySQLTransactionError("read-only")


async def test_a_connection_left_mid_operation_is_an_outage_for_every_backend(postgres_pool: Any) -> None:
    """asyncpg's InternalClientError ("another operation is in progress") is what the next call on a
    connection cut mid-operation raises: an outage for every backend, not an untyped escape."""
    with pytest.raises(StoreUnavailableError), Store(postgres_pool)._unavailable():
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")


async def test_a_held_connection_listens_until_given_back(postgres_dsn: str) -> None:
    store = await Store.connect(postgres_dsn, min_size=1, max_size=2)
    heard: list[str] = []
    connection = await store._acquire()
    try:

        def hear(*args: object) -> None:
            heard.append(str(args[-1]))

        await connection.add_listener("core_postgres_test", hear)
        async with store._connection() as other:
            await other.execute("SELECT pg_notify('core_postgres_test', 'hello')")
        for _ in range(100):
            if heard:
                break
            await connection.execute("SELECT 1")
        assert heard == ["hello"]
        await connection.remove_listener("core_postgres_test", hear)
    finally:
        await store.pool.release(connection)
        await store.aclose()


async def test_acquiring_from_a_stopped_server_is_the_packages_unavailable_error(
    postgres_server: PostgresServer,
) -> None:
    store = await Store.connect(postgres_server.dsn, min_size=0, max_size=1)
    postgres_server.stop()
    with pytest.raises(StoreUnavailableError):
        await store._acquire()
    await store.aclose()


@pytest.mark.parametrize(
    "dsn", ["postgresql://u@127.0.0.1:99999/db", "postgresql://127.0.0.1/db?sslmode=nope"]
)
async def test_a_dsn_a_lazy_pool_cannot_use_is_configuration_on_first_use(dsn: str) -> None:
    """A pool of min_size=0 reads its DSN on the first acquire: the error is the same as at connect."""
    store = await Store.connect(dsn, min_size=0, max_size=1)
    with pytest.raises(StoreConfigurationError, match="dsn") as caught:
        await store.now()
    assert not isinstance(caught.value, BackendUnavailableError)
    await store.aclose()


async def test_a_value_the_driver_cannot_send_is_the_callers_error_not_an_outage(postgres_pool: Any) -> None:
    """asyncpg's client-side DataError is an InterfaceError, like a lost connection: it is bad input."""
    store = Store(postgres_pool)
    with pytest.raises(StoreConfigurationError) as caught:
        async with store._connection() as connection:
            await connection.fetchval("SELECT $1::int", "private 42")
    assert not isinstance(caught.value, BackendUnavailableError)
    assert "private" not in str(caught.value)  # the value is not repeated in the message


async def test_a_value_the_server_refuses_names_its_sqlstate_not_the_value(postgres_pool: Any) -> None:
    store = Store(postgres_pool)
    with pytest.raises(StoreConfigurationError, match="SQLSTATE 22P02") as caught:
        async with store._connection() as connection:
            await connection.fetchval("SELECT 'private 42'::text::int")
    assert "private" not in str(caught.value)


# --- The reset on release -----------------------------------------------------------------------


class NeutralStore(Store):
    """A backend whose own statements leave no session state: its pool skips the reset query."""

    session_neutral = True

    async def work_mem(self) -> str:
        async with self._connection() as connection:
            return str(await connection.fetchval("SHOW work_mem"))

    async def fail(self) -> None:
        async with self._connection() as connection:
            await connection.execute("SET work_mem = '2MB'")
            raise RuntimeError("the block failed")


def reset_queries(connection: Any, seen: list[str]) -> None:
    """Record every reset query the connection runs (asyncpg logs each executed query)."""
    reset = connection.get_reset_query()
    connection.add_query_logger(lambda record: seen.append(record.query) if record.query == reset else None)


async def dirty(pool: Any, value: str = "3MB") -> None:
    """Take a connection as an application would, change its session, give it back."""
    async with pool.acquire() as connection:
        await connection.execute(f"SET work_mem = '{value}'")
        await connection.execute("SELECT pg_advisory_lock(4242)")


async def session_of(pool: Any) -> tuple[str, int]:
    async with pool.acquire() as connection:
        held = await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        return str(await connection.fetchval("SHOW work_mem")), int(held)


async def test_the_default_reset_hands_no_session_state_to_the_next_user(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, min_size=1, max_size=1, errors=ERRORS)
    try:
        before = await session_of(pool)
        await dirty(pool)
        assert await session_of(pool) == before
    finally:
        await pool.close()


async def test_reset_rollback_runs_no_query_and_rolls_back_an_open_transaction(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, min_size=1, max_size=1, reset="rollback", errors=ERRORS)
    try:
        default, _ = await session_of(pool)
        seen: list[str] = []
        async with pool.acquire() as connection:
            reset_queries(connection, seen)
            await connection.execute("BEGIN")
            await connection.execute("SET LOCAL work_mem = '5MB'")
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SHOW work_mem") == default
        await dirty(pool)
        # As documented: a session SET outlives the release under "rollback".
        assert await session_of(pool) == ("3MB", 1)
        assert seen == []
    finally:
        await pool.close()


async def test_a_reset_callable_runs_after_the_rollback_and_a_failure_replaces_the_connection(
    postgres_dsn: str,
) -> None:
    calls: list[bool] = []

    async def reset(connection: Any) -> None:
        calls.append(connection.is_in_transaction())
        if len(calls) == 2:
            raise RuntimeError("the reset failed")
        await connection.execute("RESET ALL")

    pool = await open_pool(postgres_dsn, min_size=1, max_size=1, reset=reset, errors=ERRORS)
    try:
        async with pool.acquire() as connection:
            first = connection.get_server_pid()
            await connection.execute("BEGIN")
            await connection.execute("SET work_mem = '6MB'")
        assert calls == [False]  # asyncpg rolled back first
        with pytest.raises(RuntimeError, match="the reset failed"):
            async with pool.acquire() as connection:
                assert connection.get_server_pid() == first
        async with pool.acquire() as connection:
            assert connection.get_server_pid() != first  # the failed reset terminated it
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("reset", "error"),
    [("none", StoreConfigurationError), ("", StoreConfigurationError), (3, StoreTypeError)],
)
async def test_a_reset_that_is_no_policy_is_refused_before_connecting(reset: object, error: type) -> None:
    with pytest.raises(error, match="reset"):
        await open_pool("postgresql://127.0.0.1:1/none", reset=reset, errors=ERRORS)  # type: ignore[arg-type]


async def test_a_session_neutral_backend_skips_the_reset_query_after_its_own_use(postgres_dsn: str) -> None:
    store = await NeutralStore.connect(postgres_dsn, min_size=1, max_size=1)
    try:
        seen: list[str] = []
        async with store.pool.acquire() as connection:
            reset_queries(connection, seen)
        assert len(seen) == 1  # the application's own use: reset in full
        default = await store.work_mem()
        for _ in range(3):
            assert await store.work_mem() == default
        assert len(seen) == 1  # none after the backend's
    finally:
        await store.aclose()


async def test_a_session_neutral_backend_still_resets_what_the_application_changed(postgres_dsn: str) -> None:
    """A connection whose session the application changed through ``backend.pool`` comes back clean."""
    store = await NeutralStore.connect(postgres_dsn, min_size=1, max_size=1)
    try:
        before = await session_of(store.pool)
        await dirty(store.pool)
        assert await store.work_mem() == before[0]
        assert await session_of(store.pool) == before
        with pytest.raises(RuntimeError):
            await store.fail()  # a block that raised: reset in full
        assert await store.work_mem() == before[0]
    finally:
        await store.aclose()


async def test_a_borrowed_pool_keeps_its_own_reset(postgres_dsn: str) -> None:
    pool = await open_pool(postgres_dsn, min_size=1, max_size=1, errors=ERRORS)
    store = NeutralStore(pool)
    try:
        seen: list[str] = []
        async with pool.acquire() as connection:
            reset_queries(connection, seen)
        await store.work_mem()
        assert len(seen) == 2  # the application's pool resets after every release, the backend's too
    finally:
        await pool.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["backend", "application", "failed"]), max_size=8))
async def test_no_user_of_a_session_neutral_pool_gets_another_users_session(
    postgres_dsn: str, steps: list[str]
) -> None:
    """Property: whatever the order of uses, every acquire sees the session a new connection has."""
    store = await NeutralStore.connect(postgres_dsn, min_size=1, max_size=2)
    try:
        fresh = await session_of(store.pool)
        for index, step in enumerate(steps):
            if step == "application":
                await dirty(store.pool, f"{index + 2}MB")
            elif step == "failed":
                with pytest.raises(RuntimeError):
                    await store.fail()
            else:
                assert await store.work_mem() == fresh[0]
            assert await session_of(store.pool) == fresh
    finally:
        await store.aclose()


async def test_init_runs_once_on_each_connection_the_pool_opens(postgres_dsn: str) -> None:
    opened: list[int] = []

    async def init(connection: Any) -> None:
        opened.append(connection.get_server_pid())

    store = await Store._open(postgres_dsn, Store, min_size=1, max_size=2, init=init)
    try:
        assert len(opened) == 1  # min_size connections, at open
        async with store.pool.acquire() as first, store.pool.acquire() as second:
            pids = {first.get_server_pid(), second.get_server_pid()}
        async with store.pool.acquire():
            pass
        assert sorted(opened) == sorted(pids)  # the second connection got it when the pool grew; no reuse
    finally:
        await store.aclose()


async def test_an_init_that_is_not_callable_is_the_packages_type_error(postgres_dsn: str) -> None:
    with pytest.raises(StoreTypeError):
        await open_pool(postgres_dsn, init="prepare", errors=ERRORS)  # type: ignore[arg-type]
