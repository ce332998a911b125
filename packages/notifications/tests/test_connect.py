"""How the backends are built and closed: ``X(pool, table=...)`` borrows, ``connect``/``from_url`` own.

A borrowed pool or client is never closed by the backend; an owned one is closed by ``aclose``
(idempotent) or on leaving ``async with``. ``table=`` names the table (optionally schema-qualified);
the outbox derives ``<table>_jobs`` and ``<table>_digests``. A server that cannot be reached is a
`NotificationsUnavailableError` whose message never shows a password.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from buttress.notifications import (
    Job,
    NotificationsConfigurationError,
    NotificationsTypeError,
    NotificationsUnavailableError,
    PostgresOutbox,
    PostgresPreferenceStore,
    PostgresPushSubscriptionStore,
    Preferences,
    Rate,
    RedisRateLimiter,
    Rendered,
)
from buttress.testing import FakeClock, PostgresSchema, free_port

from .test_delivery import START

SECRET = "hunter2-not-shown"  # noqa: S105 - a test password that must never be shown


def job() -> Job:
    return Job(
        id=secrets.token_hex(8),
        notification_id="n1",
        recipient_id="u1",
        channel="email",
        address="a@example.com",
        category="ops",
        content=Rendered("s", "t"),
        created_at=START,
        available_at=START,
    )


async def _tables(pool: asyncpg.Pool[Any], schema: str) -> set[str]:
    rows = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {r["table_name"] for r in rows}


@pytest.mark.postgres
async def test_a_borrowed_pool_is_never_closed(postgres_pool: asyncpg.Pool[Any], postgres_table: str) -> None:
    for store in (
        PostgresOutbox(postgres_pool, table=postgres_table),
        PostgresPreferenceStore(postgres_pool, table=f"{postgres_table}_p"),
        PostgresPushSubscriptionStore(postgres_pool, table=f"{postgres_table}_s"),
    ):
        async with store:
            await store.create_schema()
            await store.drop_schema()
        await store.aclose()  # idempotent
        assert store.closed
    assert await postgres_pool.fetchval("SELECT 1") == 1


@pytest.mark.postgres
async def test_connect_owns_its_pool_of_the_given_size(
    postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    name = f"bt-{secrets.token_hex(6)}"
    settings = {**postgres_schema.server_settings, "application_name": name}
    count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    probe = await asyncpg.connect(postgres_schema.dsn)
    try:
        store = await PostgresPreferenceStore.connect(
            postgres_schema.dsn, table=postgres_table, min_size=3, max_size=4, server_settings=settings
        )
        async with store:
            assert await probe.fetchval(count, name) == 3
            await store.create_schema()
            await store.put(Preferences("u1"))
            assert await store.get("u1") == Preferences("u1")
            await store.drop_schema()
        assert store.closed
        assert await probe.fetchval(count, name) == 0
        await store.aclose()
    finally:
        await probe.close()


@pytest.mark.postgres
async def test_table_may_name_a_schema_and_the_outbox_derives_its_tables(
    postgres_pool: asyncpg.Pool[Any],
) -> None:
    schema = f"s_{secrets.token_hex(6)}"
    await postgres_pool.execute(f"CREATE SCHEMA {schema}")
    try:
        outbox = PostgresOutbox(postgres_pool, table=f"{schema}.mail", clock=FakeClock(START))
        prefs = PostgresPreferenceStore(postgres_pool, table=f"{schema}.prefs")
        subs = PostgresPushSubscriptionStore(postgres_pool, table=f"{schema}.subs")
        for store in (outbox, prefs, subs):
            await store.create_schema()
            await store.create_schema()  # idempotent
        assert await _tables(postgres_pool, schema) == {"mail_jobs", "mail_digests", "prefs", "subs"}
        (stored,) = await outbox.enqueue([job()])
        (claim,) = await outbox.claim(limit=5, lease=30.0)
        assert claim.jobs[0].id == stored.id
        for store in (outbox, prefs, subs):
            await store.drop_schema()
        assert await _tables(postgres_pool, schema) == set()
    finally:
        await postgres_pool.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
async def test_bad_tables_and_sizes_are_refused_before_connecting(postgres_pool: asyncpg.Pool[Any]) -> None:
    for table in ("", "Orders", "a.b.c", "x; drop table", "1abc", "a" * 46):
        with pytest.raises(NotificationsConfigurationError, match="table"):
            PostgresOutbox(postgres_pool, table=table)
    with pytest.raises(NotificationsTypeError, match="table"):
        PostgresOutbox(postgres_pool, table=5)  # type: ignore[arg-type]
    unreachable = f"postgresql://u:{SECRET}@127.0.0.1:{free_port()}/db"
    for sizes in ({"min_size": 5, "max_size": 2}, {"min_size": -1}, {"max_size": 0}):
        with pytest.raises(NotificationsConfigurationError, match="size"):
            await PostgresOutbox.connect(unreachable, **sizes)
    with pytest.raises(NotificationsConfigurationError, match="table"):
        await PostgresOutbox.connect(unreachable, table="Bad")


@pytest.mark.postgres
async def test_table_names_leave_room_for_the_names_derived_from_them(
    postgres_pool: asyncpg.Pool[Any],
) -> None:
    """A store's table is at most 48 characters; the outbox's 45 (its index ``<name>_jobs_notification``)."""
    prefs = PostgresPreferenceStore(postgres_pool, table="p" * 48)
    subs = PostgresPushSubscriptionStore(postgres_pool, table="s" * 48)
    outbox = PostgresOutbox(postgres_pool, table="o" * 45)
    for make, longest in (
        (PostgresPreferenceStore, 48),
        (PostgresPushSubscriptionStore, 48),
        (PostgresOutbox, 45),
    ):
        with pytest.raises(NotificationsConfigurationError, match="table"):
            make(postgres_pool, table="t" * (longest + 1))
    try:
        for store in (prefs, subs, outbox):
            await store.create_schema()
        found = await postgres_pool.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1::text[])",
            ["s" * 48 + "_user", "o" * 45 + "_jobs_notification", "o" * 45 + "_jobs_dedupe"],
        )
        assert found == 3  # each named in full: none cut at 63 bytes
    finally:
        for store in (prefs, subs, outbox):
            await store.drop_schema()


async def test_an_unreachable_postgres_is_unavailable_without_its_password() -> None:
    dsn = f"postgresql://u:{SECRET}@127.0.0.1:{free_port()}/db"
    for connect in (
        PostgresOutbox.connect,
        PostgresPreferenceStore.connect,
        PostgresPushSubscriptionStore.connect,
    ):
        with pytest.raises(NotificationsUnavailableError) as info:
            await connect(dsn)
        assert info.value.backend == "postgresql"
        assert SECRET not in str(info.value)
        assert SECRET not in info.value.address


@pytest.mark.redis
async def test_a_borrowed_redis_client_is_never_closed(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with RedisRateLimiter(client=client, prefix=redis_prefix) as limiter:
            assert await limiter.acquire("k", Rate(1, 60)) == 0.0
        assert limiter.closed
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_from_url_owns_its_client(redis_url: str, redis_prefix: str) -> None:
    limiter = RedisRateLimiter.from_url(redis_url, prefix=redis_prefix)
    async with limiter:
        assert await limiter.acquire("k", Rate(1, 60)) == 0.0
        assert await limiter.acquire("k", Rate(1, 60)) > 0
    await limiter.aclose()
    assert limiter.closed


async def test_an_unreachable_redis_is_unavailable_without_its_password() -> None:
    async with RedisRateLimiter.from_url(f"redis://u:{SECRET}@127.0.0.1:{free_port()}/0") as limiter:
        with pytest.raises(NotificationsUnavailableError) as info:
            await limiter.acquire("k", Rate(1, 60))
    assert info.value.backend == "redis"
    assert SECRET not in str(info.value)


async def _open_and_use(dsn: str, min_size: int) -> None:
    async with await PostgresOutbox.connect(dsn, min_size=min_size, max_size=1) as store:
        await store.create_schema()


@pytest.mark.postgres
@pytest.mark.parametrize("min_size", [0, 1])
async def test_a_dsn_asyncpg_cannot_use_is_bad_input_not_an_outage(
    postgres_schema: PostgresSchema, min_size: int
) -> None:
    """A pool of min_size=0 reads its DSN on first use: the error is the same, then."""
    good = postgres_schema.dsn
    base = good.rsplit("/", 1)[0]
    for dsn in (
        f"{good}?sslmode=bogus",
        good.replace("postgresql://", "mysql://", 1).replace("postgres://", "mysql://", 1),
        "postgresql://[bad",
        "postgresql://u@127.0.0.1:99999/db",
        f"{base}/no_such_database_{secrets.token_hex(4)}",
    ):
        with pytest.raises(NotificationsConfigurationError, match="dsn") as info:
            await _open_and_use(dsn, min_size)
        assert not isinstance(info.value, NotificationsUnavailableError)


@pytest.mark.redis
async def test_a_database_redis_does_not_have_is_bad_input_not_an_outage(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/99999"
    async with RedisRateLimiter.from_url(url) as limiter:
        with pytest.raises(NotificationsConfigurationError, match="url"):
            await limiter.acquire("k", Rate(1, 60))
