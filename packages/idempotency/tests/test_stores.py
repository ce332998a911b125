"""The Redis and PostgreSQL stores beyond the contract: server-side expiry, the reaper, bad input."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from buttress.idempotency import (
    IdempotencyConfigurationError,
    IdempotencyTypeError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    StoredRecordError,
    StoredResponse,
    schema_sql,
)
from buttress.testing import FakeClock, PostgresSchema

# --- Redis --------------------------------------------------------------------------------------------


async def test_redis_records_expire_on_the_server(redis_store: RedisStore) -> None:
    """The lease, then the retention, is the key's own TTL: nothing to reap, and Redis's clock decides."""
    claim = await redis_store.claim("k", "fp", lease=5)
    assert claim.token is not None
    name = redis_store.prefix + "k"
    assert 0 < await redis_store.client.pttl(name) <= 5000
    assert await redis_store.renew("k", claim.token, lease=50)
    assert 5000 < await redis_store.client.pttl(name) <= 50000
    assert await redis_store.complete("k", claim.token, StoredResponse(body=b"x"), retention=3600)
    assert 50000 < await redis_store.client.pttl(name) <= 3600_000
    assert await redis_store.client.hget(name, "t") is None  # the token is gone once completed


async def test_redis_keeps_to_its_prefix(redis_store: RedisStore) -> None:
    await redis_store.claim("k", "fp", lease=5)
    names = [n async for n in redis_store.client.scan_iter(match=redis_store.prefix + "*")]
    assert names == [(redis_store.prefix + "k").encode()]


async def test_a_corrupt_redis_record_is_a_typed_error(redis_store: RedisStore) -> None:
    await redis_store.client.hset(redis_store.prefix + "bad", mapping={"f": "fp", "r": b"\x09garbage"})
    with pytest.raises(StoredRecordError):
        await redis_store.claim("bad", "fp", lease=5)


@pytest.mark.parametrize("batching", [True, False])
async def test_a_foreign_key_fails_only_its_own_operation(
    redis_url: str, redis_prefix: str, batching: bool
) -> None:
    """A string under the prefix is an error for the operation on it, not for the batch it travels in."""
    store = RedisStore.from_url(redis_url, prefix=redis_prefix, batching=batching)
    try:
        await store.client.set(redis_prefix + "foreign", "not a hash")
        results = await asyncio.gather(
            *(store.claim(f"ok-{i}", "fp", lease=5) for i in range(10)),
            store.claim("foreign", "fp", lease=5),
            store.release("foreign", "token"),
            return_exceptions=True,
        )
        assert [str(r.outcome) for r in results[:10]] == ["claimed"] * 10  # type: ignore[union-attr]
        assert all(isinstance(r, StoredRecordError) for r in results[10:])
        assert "WRONGTYPE" in str(results[10])
    finally:
        await store.aclose()


async def test_redis_store_rejects_bad_clients_and_settings(redis_url: str) -> None:
    decoding = Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(IdempotencyConfigurationError, match="decode_responses"):
            RedisStore(decoding)
    finally:
        await decoding.aclose()
    with pytest.raises(IdempotencyTypeError, match="client"):
        RedisStore(client="redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConfigurationError, match="prefix"):
        RedisStore.from_url(redis_url, prefix="")
    with pytest.raises(IdempotencyConfigurationError) as info:
        RedisStore.from_url("localhost:6379?password=hunter2")
    assert "hunter2" not in str(info.value)
    with pytest.raises(IdempotencyConfigurationError, match="max_connections"):
        RedisStore.from_url(redis_url, max_connections=0)


async def test_a_given_redis_client_is_not_closed(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url)
    store = RedisStore(client=client, prefix=redis_prefix)
    await store.claim("k", "fp", lease=1)
    await store.aclose()
    assert await client.ping()
    await client.aclose()
    assert "RedisStore" in repr(store)


# --- PostgreSQL -----------------------------------------------------------------------------------------


async def _count(store: PostgresStore) -> int:
    return int(await store._call("count", "fetchval", "SELECT count(*) FROM " + store.table))  # noqa: S608 - a test-made table name


async def test_the_reaper_deletes_expired_rows_only(postgres_store: PostgresStore) -> None:
    done = await postgres_store.claim("done", "fp", lease=30)
    assert done.token is not None
    await postgres_store.complete("done", done.token, StoredResponse(), retention=0.2)
    await postgres_store.claim("abandoned", "fp", lease=0.2)
    live = await postgres_store.claim("live", "fp", lease=30)
    kept = await postgres_store.claim("kept", "fp", lease=30)
    assert live.token is not None
    assert kept.token is not None
    await postgres_store.complete("kept", kept.token, StoredResponse(), retention=60)
    await asyncio.sleep(0.3)
    assert await _count(postgres_store) == 4
    assert await postgres_store.reap(batch_size=1) == 2
    assert await _count(postgres_store) == 2
    assert (await postgres_store.claim("live", "fp", lease=30)).outcome == "in_flight"
    assert (await postgres_store.claim("kept", "fp", lease=30)).outcome == "completed"
    assert await postgres_store.reap() == 0


async def test_the_background_reaper_runs_until_closed(postgres_schema: PostgresSchema) -> None:
    store = await PostgresStore.connect(postgres_schema.dsn, table=f"{postgres_schema.name}.reaped")
    await store.create_schema()
    try:
        await store.claim("gone", "fp", lease=0.1)
        task = store.start_reaper(interval=0.2)
        with pytest.raises(IdempotencyConfigurationError, match="already"):
            store.start_reaper(interval=0.2)
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await _count(store) == 0:
                break
        assert await _count(store) == 0
    finally:
        await store.aclose()
    assert task.done()


async def test_a_given_pool_is_used_and_not_closed(postgres_schema: PostgresSchema) -> None:
    pool = await asyncpg.create_pool(postgres_schema.dsn, min_size=1, max_size=2)
    try:
        store = PostgresStore(pool=pool, table=f"{postgres_schema.name}.given")
        await store.create_schema()
        await store.create_schema()  # idempotent DDL
        assert (await store.claim("k", "fp", lease=1)).outcome == "claimed"
        await store.aclose()
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


def test_schema_sql_is_a_documented_migration() -> None:
    ddl = schema_sql("app.idem")
    assert 'CREATE TABLE IF NOT EXISTS "app"."idem"' in ddl
    assert "expires_at" in ddl
    assert 'CREATE INDEX IF NOT EXISTS "idem_expires_at_idx"' in ddl


@pytest.mark.parametrize("table", ["", "a.b.c", "drop table x", 'x"; --', "1abc", "a" * 64])
async def test_bad_table_names_are_rejected(table: str, postgres_pool: asyncpg.Pool) -> None:
    with pytest.raises(IdempotencyConfigurationError, match="table"):
        PostgresStore(pool=postgres_pool, table=table)
    with pytest.raises(IdempotencyConfigurationError, match="table"):
        await PostgresStore.connect("postgresql://db/x", table=table)  # refused before connecting


async def test_postgres_store_rejects_bad_settings() -> None:
    with pytest.raises(IdempotencyTypeError, match="pool"):
        PostgresStore(pool="postgresql://x")  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConfigurationError) as info:
        await PostgresStore.connect("host=db password=hunter2")
    assert "hunter2" not in str(info.value)
    with pytest.raises(IdempotencyConfigurationError, match="max_size"):
        await PostgresStore.connect("postgresql://db/x", max_size=0)


async def test_a_dsn_the_server_refuses_is_a_configuration_error(postgres_schema: PostgresSchema) -> None:
    """Bad input is never reported as an outage: an unknown database is the caller's error."""
    dsn = postgres_schema.dsn.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(IdempotencyConfigurationError, match="dsn"):
        await PostgresStore.connect(dsn)
    with pytest.raises(IdempotencyConfigurationError, match="dsn"):
        await PostgresStore.connect(postgres_schema.dsn, server_settings={"no_such.setting!": "x"})


async def test_the_schema_can_be_dropped_and_made_again(postgres_store: PostgresStore) -> None:
    await postgres_store.claim("k", "fp", lease=30)
    await postgres_store.drop_schema()
    await postgres_store.drop_schema()  # idempotent
    await postgres_store.create_schema()
    assert (await postgres_store.claim("k", "fp", lease=30)).outcome == "claimed"


async def test_an_owned_pool_is_closed_once_and_async_with_closes_it(postgres_schema: PostgresSchema) -> None:
    async with await PostgresStore.connect(
        postgres_schema.dsn, table=f"{postgres_schema.name}.owned"
    ) as store:
        await store.create_schema()
        pool = store.pool
    assert pool.is_closing()
    await store.aclose()  # idempotent
    assert store.closed


async def test_reap_rejects_a_bad_batch(postgres_store: PostgresStore) -> None:
    with pytest.raises(IdempotencyConfigurationError, match="batch_size"):
        await postgres_store.reap(batch_size=0)


# --- memory -----------------------------------------------------------------------------------------------


async def test_memory_store_evicts_the_oldest_completed_record_when_full() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock, max_records=3)
    for index, key in enumerate("abc"):
        claim = await store.claim(key, "fp", lease=10)
        assert claim.token is not None
        await store.complete(key, claim.token, StoredResponse(), retention=100 + index)
    await store.claim("d", "fp", lease=10)
    assert len(store) == 3
    assert (await store.claim("a", "fp", lease=10)).outcome == "claimed"  # "a" was evicted
    assert (await store.claim("b", "fp", lease=10)).outcome in {"completed", "claimed"}


async def test_memory_store_never_evicts_in_flight_records() -> None:
    store = MemoryStore(max_records=2)
    for key in "abc":
        assert (await store.claim(key, "fp", lease=10)).outcome == "claimed"
    assert [str((await store.claim(k, "fp", lease=10)).outcome) for k in "abc"] == ["in_flight"] * 3


async def test_memory_store_purge_and_bad_input(fake_clock: FakeClock) -> None:
    store = MemoryStore(clock=fake_clock)
    await store.claim("k", "fp", lease=1)
    fake_clock.advance(2)
    assert await store.purge() == 1
    with pytest.raises(IdempotencyConfigurationError, match="max_records"):
        MemoryStore(max_records=0)
    with pytest.raises(IdempotencyConfigurationError, match="key"):
        await store.claim("", "fp", lease=1)
    with pytest.raises(IdempotencyConfigurationError, match="fingerprint"):
        await store.claim("k", 7, lease=1)  # type: ignore[arg-type]
    assert "MemoryStore" in repr(store)
