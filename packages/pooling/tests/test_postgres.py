"""The pool with AsyncpgFactory against real PostgreSQL: killed backends, lifetimes, close, spikes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from buttress.core import BackendUnavailableError
from buttress.pooling import AsyncpgFactory, Pool, PoolConfigurationError, PoolUnavailableError
from buttress.testing import PostgresServer


@pytest.fixture
def app_name() -> str:
    return f"bt-pool-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def admin(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres_dsn)
    yield connection
    await connection.close()


def factory_for(dsn: str, app_name: str, **options: Any) -> AsyncpgFactory:
    return AsyncpgFactory(dsn, server_settings={"application_name": app_name}, **options)


async def backends(admin: asyncpg.Connection, app_name: str) -> list[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app_name)
    return sorted(row["pid"] for row in rows)


async def kill_all(admin: asyncpg.Connection, app_name: str) -> int:
    killed: int = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app_name
    )
    return killed


async def test_queries_run_and_reset_cleans_the_session(postgres_dsn: str, app_name: str) -> None:
    async with Pool(factory_for(postgres_dsn, app_name), max_size=1, health_check_interval=None) as pool:
        async with pool.acquire() as connection:
            await connection.execute("SET statement_timeout = '1234ms'")
            await connection.execute("BEGIN")
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW statement_timeout") == "0"
            assert not connection.is_in_transaction()


async def test_recovers_after_every_backend_is_killed(postgres_dsn: str, app_name: str, admin: Any) -> None:
    pool = Pool(factory_for(postgres_dsn, app_name), min_size=3, max_size=3, health_check_interval=None)
    async with pool:
        await pool.open()
        assert len(await backends(admin, app_name)) == 3
        assert await kill_all(admin, app_name) == 3
        await pool.run_health_check()  # finds them dead, destroys them, refills
        assert pool.stats().check_failures == 3
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT 1") == 1
        assert len(await backends(admin, app_name)) == 3


async def test_check_on_acquire_never_hands_out_a_dead_connection(
    postgres_dsn: str, app_name: str, admin: Any
) -> None:
    pool = Pool(
        factory_for(postgres_dsn, app_name),
        min_size=2,
        max_size=2,
        health_check_interval=None,
        check_on_acquire=True,
    )
    async with pool:
        await kill_all(admin, app_name)
        async with pool.acquire(timeout=5) as connection:
            assert await connection.fetchval("SELECT 1") == 1


async def test_max_lifetime_replaces_backends(postgres_dsn: str, app_name: str, admin: Any) -> None:
    pool = Pool(
        factory_for(postgres_dsn, app_name),
        min_size=2,
        max_size=2,
        max_lifetime=0.3,
        health_check_interval=None,
    )
    async with pool:
        before = await backends(admin, app_name)
        await asyncio.sleep(0.35)
        await pool.run_health_check()
        after = await backends(admin, app_name)
        assert len(after) == 2
        assert not set(before) & set(after), "every connection was replaced by a new backend"


async def test_close_leaves_no_connection_even_with_destructions_in_flight(
    postgres_dsn: str, app_name: str, admin: Any
) -> None:
    pool = Pool(
        factory_for(postgres_dsn, app_name),
        min_size=4,
        max_size=6,
        max_lifetime=0.2,
        health_check_interval=None,
    )
    await pool.open()
    held = [await pool.acquire() for _ in range(2)]
    await asyncio.sleep(0.25)
    health = asyncio.ensure_future(pool.run_health_check())  # starts destroying the expired idle ones
    await asyncio.sleep(0)
    releasing = [asyncio.ensure_future(pool.release(c)) for c in held]
    await pool.aclose(timeout=5)
    await asyncio.gather(health, *releasing, return_exceptions=True)
    assert await backends(admin, app_name) == []
    stats = pool.stats()
    assert stats.total == 0
    assert stats.created == stats.destroyed


async def test_a_spike_of_workers_stays_within_max_size(postgres_dsn: str, app_name: str, admin: Any) -> None:
    class SlowConnect(AsyncpgFactory):
        async def create(self) -> asyncpg.Connection:
            await asyncio.sleep(0.15)
            return await super().create()

    pool = Pool(
        SlowConnect(postgres_dsn, server_settings={"application_name": app_name}),
        max_size=5,
        timeout=30,
        health_check_interval=None,
    )
    peak_server = 0
    peak_pool = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak_server, peak_pool
        while not done.is_set():
            peak_server = max(peak_server, len(await backends(admin, app_name)))
            peak_pool = max(peak_pool, pool.stats().total)
            await asyncio.sleep(0.01)

    async def work(n: int) -> int:
        async with pool.acquire() as connection:
            value: int = await connection.fetchval("SELECT $1::int", n)
            await asyncio.sleep(0.01)
            return value

    async with pool:
        watcher = asyncio.ensure_future(watch())
        results = await asyncio.gather(*(work(n) for n in range(50)))
        done.set()
        await watcher
    assert results == list(range(50))
    assert 0 < peak_server <= 5
    assert peak_pool <= 5
    assert await backends(admin, app_name) == []


async def test_cancelling_an_acquire_and_a_release(postgres_dsn: str, app_name: str, admin: Any) -> None:
    async with Pool(factory_for(postgres_dsn, app_name), max_size=1, health_check_interval=None) as pool:
        held = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await held.execute("BEGIN")  # the reset on release has real work to do (ROLLBACK, RESET ALL)
        releasing = asyncio.ensure_future(pool.release(held))
        await asyncio.sleep(0)
        releasing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        async with pool.acquire(timeout=5) as again:
            assert again is held, "the cancelled release still gave the connection back"
            assert not again.is_in_transaction()
        assert len(await backends(admin, app_name)) == 1


def test_factory_arguments_are_checked() -> None:
    with pytest.raises(PoolConfigurationError, match="dsn"):
        AsyncpgFactory("")
    assert "secret" not in repr(AsyncpgFactory("postgresql://u:secret@h/db"))


async def test_reset_releases_advisory_locks_and_listeners(postgres_dsn: str, app_name: str) -> None:
    async with Pool(factory_for(postgres_dsn, app_name), max_size=1, health_check_interval=None) as pool:
        async with pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock(424242)")
            await connection.execute("LISTEN buttress_pool_test")
        async with pool.acquire() as connection:
            held = await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
            assert held == 0
            assert await connection.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


# --- "unavailable" is the server's failure, never the caller's input (issue 18) ---------------------


async def test_a_server_that_cannot_be_reached_is_unavailable_with_the_password_redacted() -> None:
    factory = AsyncpgFactory("postgresql://app:hunter2@127.0.0.1:1/app", timeout=2)
    with pytest.raises(PoolUnavailableError) as info:
        await factory.create()
    assert isinstance(info.value, BackendUnavailableError)
    assert isinstance(info.value, ConnectionError)
    assert info.value.backend == "postgresql"
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in info.value.address


async def test_a_stopped_server_is_unavailable(postgres_server: PostgresServer) -> None:
    factory = AsyncpgFactory(postgres_server.dsn, timeout=5)
    connection = await factory.create()
    await factory.destroy(connection)
    postgres_server.stop()
    with pytest.raises(PoolUnavailableError):
        await factory.create()


async def test_a_dsn_asyncpg_refuses_is_a_configuration_error_not_an_outage(postgres_dsn: str) -> None:
    factory = AsyncpgFactory(f"{postgres_dsn}?sslmode=sometimes")
    with pytest.raises(PoolConfigurationError) as info:
        await factory.create()
    assert not isinstance(info.value, PoolUnavailableError)
    assert info.value.parameter == "dsn"


async def test_bad_connect_options_are_a_configuration_error_not_an_outage(postgres_dsn: str) -> None:
    factory = AsyncpgFactory(postgres_dsn, command_timeout="soon")
    with pytest.raises(PoolConfigurationError) as info:
        await factory.create()
    assert not isinstance(info.value, PoolUnavailableError)
