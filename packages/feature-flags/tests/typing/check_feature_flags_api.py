"""Static checks of buttress-feature-flags' public types. Run by mypy, never by pytest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

import asyncpg
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from buttress.feature_flags import (
    AuditSink,
    ClientStatus,
    Context,
    EvaluationDetails,
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    FlagAuditEvent,
    FlagClient,
    FlagDefinition,
    FlagDefinitionError,
    FlagDocumentError,
    FlagManager,
    FlagProvider,
    FlagSet,
    FlagSource,
    MemoryAuditSink,
    MemoryFlagSource,
    MemoryStickyStore,
    PostgresAuditSink,
    PostgresFlagSource,
    Reason,
    RedisFlagSource,
    RedisStickyStore,
    Snapshot,
    StickyAssignmentStore,
    VariantResult,
    WritableFlagSource,
    flag_from_dict,
    flag_set_from_dict,
    normalized_hash,
)


async def client_types() -> None:
    source: FlagSource = MemoryFlagSource([FlagDefinition("a")])
    sticky: StickyAssignmentStore = MemoryStickyStore()
    client = FlagClient(source, sticky_store=sticky)
    assert_type(await client.refresh(), bool)
    assert_type(client.is_enabled("a", Context(user_id="1")), bool)
    assert_type(client.get_variant("a"), VariantResult)
    assert_type(client.evaluate("a", False), EvaluationDetails[bool])
    assert_type(client.evaluate("a", "x").value, str)
    assert_type(client.evaluate("a", 1.5, Context()).reason, Reason)
    assert_type(client.status, ClientStatus)
    assert_type(client.snapshot, Snapshot | None)
    client.is_enabled(1)  # type: ignore[arg-type]


async def definition_types() -> None:
    assert_type(flag_from_dict({"name": "a"}), FlagDefinition)
    assert_type(flag_set_from_dict({"features": []}), FlagSet)
    assert_type(normalized_hash("u", "g"), int)


async def management_types() -> None:
    writable: WritableFlagSource = MemoryFlagSource()
    sink: AuditSink = MemoryAuditSink()
    manager = FlagManager(writable, sink)
    assert_type(await manager.create(FlagDefinition("a"), actor="ann"), FlagAuditEvent)
    assert_type(await manager.history("a"), Sequence[FlagAuditEvent])
    await manager.create(FlagDefinition("a"))  # type: ignore[call-arg]


async def backend_types(url: str, dsn: str, pool: asyncpg.Pool, client: Redis) -> None:
    redis_source: WritableFlagSource = RedisFlagSource.from_url(url, prefix="app:")
    postgres_source: WritableFlagSource = await PostgresFlagSource.connect(
        dsn, table="flags", min_size=1, max_size=10
    )
    sink: AuditSink = await PostgresAuditSink.connect(dsn, table="audit", min_size=1, max_size=4)
    assert_type(PostgresFlagSource(pool=pool, table="flags"), PostgresFlagSource)
    assert_type(PostgresAuditSink(pool=pool, table="audit"), PostgresAuditSink)
    assert_type(RedisFlagSource(client=client, prefix="app:"), RedisFlagSource)
    assert_type(RedisFlagSource.from_url(url, prefix="app:", cluster=True), RedisFlagSource)
    assert_type(RedisFlagSource(RedisCluster.from_url(url), prefix="app:"), RedisFlagSource)
    async with PostgresFlagSource(pool=pool) as borrowed:
        assert_type(borrowed, PostgresFlagSource)
        assert_type(await borrowed.aclose(), None)
    await PostgresFlagSource.from_dsn(dsn)  # type: ignore[attr-defined]
    assert_type(await redis_source.load(), FlagSet)
    assert_type(await postgres_source.get("a"), FlagDefinition | None)
    assert_type(await sink.history("a", limit=5), Sequence[FlagAuditEvent])
    sticky: StickyAssignmentStore = RedisStickyStore.from_url(url, ttl=3600)
    assert_type(sticky.get("flag", "user"), str | None)


async def lifecycle_types(source: FlagSource) -> None:
    async with FlagClient(source) as client:
        assert_type(client, FlagClient)
        assert_type(await client.start(), None)
    assert_type(client.closed, bool)


def error_types() -> None:
    assert_type(FeatureFlagsTypeError("p", "a str", 1).expected, str)
    assert_type(FeatureFlagsUnavailableError("redis", "redis://h", "down").address, str)
    assert_type(FlagDocumentError("file", "flags.json", "not UTF-8").reason, str)
    assert_type(FlagDefinitionError("f", "name", "bad").field, str)
    errors: tuple[FeatureFlagsError, ValueError, ConnectionError, TypeError] = (
        FeatureFlagsConfigurationError("p", 1, "bad"),
        FlagDocumentError("file", "flags.json", "not JSON"),
        FeatureFlagsUnavailableError("redis", "redis://h", "down"),
        FeatureFlagsTypeError("p", "a str", 1),
    )
    assert_type(errors[0], FeatureFlagsError)


def provider_types(client: FlagClient) -> None:
    provider = FlagProvider(client)
    assert_type(provider.resolve_boolean_details("a", False).value, bool)
