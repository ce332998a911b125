"""Redis and PostgreSQL sources and the audit sink against real servers, including their failures."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from buttress.feature_flags import (
    AuditAction,
    ClientStatus,
    Context,
    FeatureFlagsConfigurationError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    FlagClient,
    FlagDefinition,
    FlagDefinitionError,
    FlagDocumentError,
    FlagManager,
    FlagSet,
    MemoryFlagSource,
    PostgresAuditSink,
    PostgresFlagSource,
    Reason,
    RedisFlagSource,
    RedisStickyStore,
    Segment,
    Strategy,
    flag_from_dict,
)
from buttress.testing import FakeClock, PostgresSchema, PostgresServer, RedisServer, eventually

from .conftest import rollout_flag


def flags_key(prefix: str) -> str:
    """Where `RedisFlagSource` keeps the flags under ``prefix``: tagged by the prefix."""
    return f"{prefix}{{{prefix}}}flags"


@pytest.fixture(params=["single", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """The single server's URL, then the 3-primary Redis Cluster's."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster_url"), True
    return request.getfixturevalue("redis_url"), False


@pytest.mark.redis
async def test_redis_pub_sub_delivers_changes_to_every_client(
    any_redis: tuple[str, bool], redis_prefix: str
) -> None:
    """Sharded pub/sub on the server (Redis 7) and on the cluster, where the channel has a shard."""
    redis_url, cluster = any_redis
    writer = RedisFlagSource.from_url(redis_url, prefix=redis_prefix, cluster=cluster)
    readers = [RedisFlagSource.from_url(redis_url, prefix=redis_prefix, cluster=cluster) for _ in range(2)]
    await writer.put(FlagDefinition("checkout", enabled=False))
    clients = [
        FlagClient(source, refresh_interval=60) for source in readers
    ]  # polling alone would take a minute
    try:
        for client in clients:
            await client.start()
        assert not any(client.is_enabled("checkout") for client in clients)
        await asyncio.sleep(0.2)  # let the refreshers subscribe
        await writer.put(FlagDefinition("checkout"))
        await eventually(lambda: all(client.is_enabled("checkout") for client in clients))
        await writer.put_segment(Segment(1, "internal", ()))
        await writer.put(FlagDefinition("seg", strategies=(Strategy("default", segments=(1,)),)))
        await eventually(lambda: all(client.is_enabled("seg") for client in clients))
    finally:
        for client in clients:
            await client.aclose()
        for source in (writer, *readers):
            await source.aclose()


@pytest.mark.redis
async def test_redis_garbage_in_the_hash_is_a_definition_error(redis_url: str, redis_prefix: str) -> None:
    source = RedisFlagSource.from_url(redis_url, prefix=redis_prefix)
    raw = Redis.from_url(redis_url)
    try:
        await raw.hset(flags_key(redis_prefix), "bad", '{"name": "bad", "enabled": "yes"}')
        with pytest.raises(FlagDefinitionError, match="enabled"):
            await source.load()
        await raw.hset(flags_key(redis_prefix), "bad", "not json")
        with pytest.raises(FlagDocumentError):
            await source.load()
    finally:
        await raw.aclose()
        await source.aclose()


@pytest.mark.redis
async def test_redis_going_away_keeps_the_snapshot_goes_stale_and_recovers(redis_server: RedisServer) -> None:
    clock = FakeClock()
    source = RedisFlagSource.from_url(redis_server.url, socket_timeout=1.0)
    await source.put(rollout_flag("beta", 100))
    client = FlagClient(source, refresh_interval=10, stale_after=20, clock=clock)
    try:
        assert await client.refresh()
        redis_server.stop()
        clock.advance(30)
        assert not await client.refresh()
        assert isinstance(client.last_error, FeatureFlagsUnavailableError)
        assert client.status is ClientStatus.STALE
        details = client.evaluate("beta", False, Context(user_id="u"))
        assert (details.value, details.reason) == (True, Reason.STALE)
        with pytest.raises(FeatureFlagsUnavailableError):
            await source.wait_for_change(0.1)
        redis_server.start()
        await source.put(rollout_flag("beta", 0))
        assert await client.refresh()
        assert client.status is ClientStatus.READY
        assert not client.is_enabled("beta", Context(user_id="u"))
    finally:
        await client.aclose()
        await source.aclose()


def test_redis_bad_arguments() -> None:
    with pytest.raises(FeatureFlagsTypeError, match="client"):
        RedisFlagSource("redis://x")  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsConfigurationError, match="url"):
        RedisFlagSource.from_url("")
    with pytest.raises(FeatureFlagsConfigurationError, match="empty hash tag"):
        RedisFlagSource.from_url("redis://127.0.0.1:1/0", prefix="app{}:")
    with pytest.raises(FeatureFlagsConfigurationError, match="cluster"):
        RedisFlagSource.from_url("redis://127.0.0.1:1/0", cluster="yes")  # type: ignore[arg-type]


@pytest.mark.redis
async def test_redis_source_names_share_one_slot_and_prefixes_spread(redis_cluster_url: str) -> None:
    """Property: a source's hashes and channel share a slot; different prefixes spread over the primaries."""
    client = RedisCluster.from_url(redis_cluster_url)
    try:
        await client.initialize()
        owners = set()
        for n in range(30):
            source = RedisFlagSource(client, prefix=f"project-{n}:")
            names = [flags_key(source.prefix), f"{source.prefix}{{{source.prefix}}}segments", source.channel]
            assert len({client.keyslot(name) for name in names}) == 1
            owners.add(client.get_node_from_key(source.channel).name)
        assert len(owners) == 3
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_before_sharded_pub_sub_falls_back_to_plain_pub_sub() -> None:
    """A server without SPUBLISH/SSUBSCRIBE (before Redis 7; here the commands are renamed away)."""
    old = RedisServer(extra_args=("--rename-command", "SPUBLISH", "", "--rename-command", "SSUBSCRIBE", ""))
    with old:
        writer = RedisFlagSource.from_url(old.url)
        reader = RedisFlagSource.from_url(old.url)
        try:
            # The subscription is confirmed whatever the deadline: SSUBSCRIBE's refusal is read and
            # SUBSCRIBE replaces it within this call, so the put below cannot be missed.
            assert await reader.wait_for_change(0.0) is False  # subscribed, with SUBSCRIBE
            await writer.put(FlagDefinition("legacy"))
            assert await reader.wait_for_change(5) is True
            await writer.put_segment(Segment(1, "internal", ()))
            assert await reader.wait_for_change(5) is True
            assert await writer.delete("legacy") is not None
            assert await reader.wait_for_change(5) is True
            assert "legacy" not in (await reader.load()).flags
        finally:
            await writer.aclose()
            await reader.aclose()


@pytest.mark.postgres
async def test_postgres_notify_delivers_changes(postgres_schema: PostgresSchema) -> None:
    table = f"flags_{uuid.uuid4().hex[:8]}"
    settings = postgres_schema.server_settings
    writer = await PostgresFlagSource.connect(postgres_schema.dsn, table=table, server_settings=settings)
    reader = await PostgresFlagSource.connect(postgres_schema.dsn, table=table, server_settings=settings)
    client = FlagClient(reader, refresh_interval=60)
    try:
        await client.start()
        await asyncio.sleep(0.2)
        await writer.put(FlagDefinition("pg-flag"))
        await eventually(lambda: client.is_enabled("pg-flag"))
        await writer.put_segment(Segment(7, "s", ()))
        await writer.put(FlagDefinition("pg-seg", strategies=(Strategy("default", segments=(7,)),)))
        await eventually(lambda: client.is_enabled("pg-seg"))
        await writer.delete("pg-flag")
        await eventually(lambda: not client.is_enabled("pg-flag"))
    finally:
        await client.aclose()
        await writer.aclose()
        await reader.aclose()


@pytest.mark.postgres
async def test_postgres_manager_and_audit_history(postgres_schema: PostgresSchema) -> None:
    settings = postgres_schema.server_settings
    source = await PostgresFlagSource.connect(postgres_schema.dsn, table="managed", server_settings=settings)
    sink = await PostgresAuditSink.connect(
        postgres_schema.dsn, table="managed_audit", server_settings=settings
    )
    manager = FlagManager(source, sink)
    try:
        await manager.create(rollout_flag("pricing", 10), actor="ann")
        await manager.update(rollout_flag("pricing", 50), actor="bob")
        await manager.disable("pricing", actor="ann")
        await manager.enable("pricing", actor="ann")
        await manager.delete("pricing", actor="cid")
        history = await manager.history("pricing")
        assert [event.action for event in history] == [
            AuditAction.CREATE,
            AuditAction.MODIFY,
            AuditAction.DISABLE,
            AuditAction.ENABLE,
            AuditAction.DELETE,
        ]
        assert history[1].before == rollout_flag("pricing", 10)
        assert history[1].after == rollout_flag("pricing", 50)
        assert history[2].after is not None
        assert history[2].after.enabled is False
        assert history[-1].after is None
        assert [event.actor for event in await manager.history("pricing", limit=1)] == ["cid"]
        await source.drop_schema()
        await sink.drop_schema()
        assert await source.get("pricing") is None  # the tables come back, empty, on next use
        assert await sink.history("pricing") == ()
    finally:
        await source.aclose()
        await sink.aclose()


@pytest.mark.postgres
async def test_postgres_going_away_keeps_the_snapshot_and_recovers(postgres_server: PostgresServer) -> None:
    source = await PostgresFlagSource.connect(postgres_server.dsn)
    await source.put(FlagDefinition("kept"))
    client = FlagClient(source, refresh_interval=10)
    try:
        assert await client.refresh()
        postgres_server.stop()
        assert not await client.refresh()
        assert isinstance(client.last_error, FeatureFlagsUnavailableError)
        assert client.is_enabled("kept")
        postgres_server.start()
        for _ in range(50):  # the pool's connections died with the server; new ones come back
            if await client.refresh():
                break
            await asyncio.sleep(0.1)
        assert client.status is ClientStatus.READY
        await source.put(FlagDefinition("kept", enabled=False))
        assert await client.refresh()
        assert not client.is_enabled("kept")
    finally:
        await client.aclose()
        await source.aclose()


@pytest.mark.postgres
async def test_postgres_a_terminated_listener_falls_back_and_resubscribes(
    postgres_schema: PostgresSchema,
) -> None:
    settings = postgres_schema.server_settings
    # A channel of its own: the server is shared, and only this test's listener may be cut.
    channel = f"listen_cut_{uuid.uuid4().hex[:12]}"
    source = await PostgresFlagSource.connect(
        postgres_schema.dsn, table="listen_cut", channel=channel, server_settings=settings
    )
    try:
        await source.wait_for_change(0.05)
        admin = await asyncpg.connect(postgres_schema.dsn)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                f"LISTEN%{channel}%",
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        with pytest.raises(FeatureFlagsUnavailableError, match="LISTEN"):
            await source.wait_for_change(0.1)
        waiter = asyncio.create_task(source.wait_for_change(5))
        await asyncio.sleep(0.3)
        await source.put(FlagDefinition("after-cut"))
        assert await waiter is True
    finally:
        await source.aclose()


async def test_postgres_bad_arguments() -> None:
    with pytest.raises(FeatureFlagsConfigurationError, match="table"):
        await PostgresFlagSource.connect("postgresql://x/y", table="bad; drop")
    with pytest.raises(FeatureFlagsTypeError, match="pool"):
        PostgresAuditSink(object())  # type: ignore[arg-type]
    with pytest.raises(FeatureFlagsConfigurationError, match="dsn"):
        await PostgresAuditSink.connect("")


def test_a_strategy_naming_a_missing_segment_never_matches() -> None:
    flag = flag_from_dict({"name": "s", "strategies": [{"name": "default", "segments": [99]}]})
    client = FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={"s": flag}))
    assert not client.is_enabled("s")


@pytest.fixture(params=["single", "cluster"])
def sticky_redis(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """The single server's URL, then the 3-primary Redis Cluster's: a subject's hash is one key."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster_url"), True
    return request.getfixturevalue("redis_url"), False


@pytest.mark.redis
async def test_redis_sticky_assignments_are_shared_between_processes(
    sticky_redis: tuple[str, bool], redis_prefix: str
) -> None:
    redis_url, cluster = sticky_redis
    first = RedisStickyStore.from_url(redis_url, prefix=redis_prefix, ttl=3600, cluster=cluster)
    second = RedisStickyStore.from_url(redis_url, prefix=redis_prefix, cluster=cluster)
    users = [Context(user_id=str(n)) for n in range(100)]
    try:
        wide = FlagClient(
            MemoryFlagSource(),
            bootstrap=FlagSet(flags={"beta": rollout_flag("beta", 100)}),
            sticky_store=first,
        )
        assert all(wide.is_enabled("beta", user) for user in users)
        await first.flush()
        # Another process, after the rollout shrank to 10 %: it prefetches and keeps every user on.
        narrow = FlagClient(
            MemoryFlagSource(),
            bootstrap=FlagSet(flags={"beta": rollout_flag("beta", 10)}),
            sticky_store=second,
        )
        for user in users:
            assert user.user_id is not None
            await second.prefetch(user.user_id)
        assert all(narrow.is_enabled("beta", user) for user in users)
        assert narrow.evaluate("beta", False, users[0]).reason is Reason.CACHED
        raw: Any = RedisCluster.from_url(redis_url) if cluster else Redis.from_url(redis_url)
        try:
            assert 0 < await raw.pttl(f"{redis_prefix}0") <= 3_600_000
        finally:
            await raw.aclose()
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_redis_sticky_first_assignment_wins(sticky_redis: tuple[str, bool], redis_prefix: str) -> None:
    redis_url, cluster = sticky_redis
    first = RedisStickyStore.from_url(redis_url, prefix=redis_prefix, cluster=cluster)
    second = RedisStickyStore.from_url(redis_url, prefix=redis_prefix, cluster=cluster)
    try:
        first.set("flag", "u1", "blue")
        await first.flush()
        second.set("flag", "u1", "green")  # a racing process guessed differently
        await second.flush()
        await second.prefetch("u1")
        assert second.get("flag", "u1") == "blue"
        assert second.get("flag", "nobody") is None
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_redis_sticky_store_without_redis_keeps_evaluating(redis_server: RedisServer) -> None:
    store = RedisStickyStore.from_url(redis_server.url, prefix="s:")
    client = FlagClient(
        MemoryFlagSource(), bootstrap=FlagSet(flags={"beta": rollout_flag("beta", 100)}), sticky_store=store
    )
    try:
        redis_server.stop()
        with pytest.raises(FeatureFlagsUnavailableError):
            await store.prefetch("u1")
        assert client.is_enabled("beta", Context(user_id="u1"))  # assigned locally, the write is dropped
        await store.flush()
        assert client.evaluate("beta", False, Context(user_id="u1")).reason is Reason.CACHED
        redis_server.start()
        store.set("other", "u1", "x")
        await store.flush()
        await store.prefetch("u1")
        assert store.get("other", "u1") == "x"
    finally:
        await store.aclose()


def test_redis_sticky_store_arguments() -> None:
    with pytest.raises(FeatureFlagsConfigurationError, match="max_subjects"):
        RedisStickyStore(Redis(), max_subjects=0)
    with pytest.raises(FeatureFlagsConfigurationError, match="ttl"):
        RedisStickyStore(Redis(), ttl=0)
    with pytest.raises(FeatureFlagsTypeError, match="client"):
        RedisStickyStore("redis://")  # type: ignore[arg-type]


# --- Owned and borrowed pools and clients, and what "unavailable" means -------------------------


@pytest.mark.postgres
async def test_a_borrowed_pool_is_never_closed(postgres_pool: asyncpg.Pool, postgres_table: str) -> None:
    async with PostgresFlagSource(pool=postgres_pool, table=postgres_table) as source:
        await source.put(FlagDefinition("borrowed"))
    async with PostgresAuditSink(pool=postgres_pool, table=f"{postgres_table}_audit") as sink:
        assert await sink.history("borrowed") == ()
    await source.aclose()  # idempotent
    assert source.closed
    assert await postgres_pool.fetchval("SELECT 1") == 1
    assert (await PostgresFlagSource(pool=postgres_pool, table=postgres_table).load()).flags.keys() == {
        "borrowed"
    }


@pytest.mark.postgres
async def test_connect_owns_its_pool_and_aclose_closes_it(
    postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    source = await PostgresFlagSource.connect(
        postgres_schema.dsn,
        table=f"{postgres_schema.name}.{postgres_table}",
        min_size=1,
        max_size=2,
        server_settings=postgres_schema.server_settings,
    )
    pool = source.pool
    assert pool.get_max_size() == 2
    await source.put(FlagDefinition("owned"))
    assert await source.wait_for_change(0.01) is False  # one connection listens now
    async with source:
        assert "owned" in (await source.load()).flags
    assert pool.is_closing()
    await source.aclose()


@pytest.mark.postgres
async def test_table_may_name_a_schema(postgres_pool: asyncpg.Pool, postgres_schema: PostgresSchema) -> None:
    sink = PostgresAuditSink(pool=postgres_pool, table=f"{postgres_schema.name}.audit_in_schema")
    source = PostgresFlagSource(pool=postgres_pool, table=f"{postgres_schema.name}.flags_in_schema")
    assert source.channel.endswith("_changes")
    assert len(source.channel.encode()) <= 63  # the schema's name is long: shortened with a hash
    manager = FlagManager(source, sink)
    await manager.create(FlagDefinition("schema"), actor="ann")
    assert [event.action for event in await manager.history("schema")] == [AuditAction.CREATE]


async def test_an_unreachable_postgres_is_unavailable_and_its_password_stays_out() -> None:
    with pytest.raises(FeatureFlagsUnavailableError) as raised:
        await PostgresFlagSource.connect("postgresql://ann:s3cret@127.0.0.1:1/flags")
    assert raised.value.backend == "postgresql"
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in raised.value.address


async def test_pool_sizes_are_checked_before_connecting() -> None:
    nowhere = "postgresql://127.0.0.1:1/x"
    with pytest.raises(FeatureFlagsConfigurationError, match="min_size"):
        await PostgresFlagSource.connect(nowhere, min_size=5, max_size=2)
    with pytest.raises(FeatureFlagsConfigurationError, match="max_size"):
        await PostgresAuditSink.connect(nowhere, max_size=0)
    with pytest.raises(FeatureFlagsTypeError, match="table"):
        await PostgresAuditSink.connect(nowhere, table=7)  # type: ignore[arg-type]


@pytest.mark.redis
async def test_a_borrowed_redis_client_is_never_closed(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        async with RedisFlagSource(client=client, prefix=redis_prefix) as source:
            await source.put(FlagDefinition("borrowed"))
            assert await source.wait_for_change(0.01) is False
        async with RedisStickyStore(client=client, prefix=redis_prefix) as store:
            store.set("borrowed", "u", "a")
        assert await client.ping()
        assert await client.hget(f"{redis_prefix}u", "borrowed") == b"a"  # flushed on close
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_a_key_of_another_type_is_bad_content_not_an_outage(redis_url: str, redis_prefix: str) -> None:
    raw = Redis.from_url(redis_url)
    try:
        await raw.set(flags_key(redis_prefix), "a string where a hash belongs")
        async with RedisFlagSource.from_url(redis_url, prefix=redis_prefix) as source:
            with pytest.raises(FlagDocumentError, match="another type") as raised:
                await source.load()
            assert not isinstance(raised.value, ConnectionError)
    finally:
        await raw.aclose()


@pytest.mark.redis
async def test_an_unreachable_redis_is_unavailable_and_its_password_stays_out() -> None:
    async with RedisFlagSource.from_url("redis://:s3cret@127.0.0.1:1/0", socket_timeout=1.0) as source:
        with pytest.raises(FeatureFlagsUnavailableError) as raised:
            await source.load()
    assert raised.value.backend == "redis"
    assert "s3cret" not in str(raised.value)
