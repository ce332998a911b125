"""Static checks of the public API (run by mypy --strict, never executed)."""

from __future__ import annotations

from typing import Any, assert_type

import asyncpg
from redis.asyncio import Redis

from buttress.idempotency import (
    Claim,
    ClaimOutcome,
    IdempotencyMiddleware,
    IdempotencySlot,
    IdempotencyStore,
    IdempotencyUnavailableError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    StoredResponse,
    execute,
    idempotent,
    parse_idempotency_key,
    request_fingerprint,
    schema_sql,
    scope_key,
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """A do-nothing ASGI app."""


async def checks() -> None:
    memory: IdempotencyStore = MemoryStore()
    redis: IdempotencyStore = RedisStore.from_url("redis://localhost")
    postgres: IdempotencyStore = await PostgresStore.connect("postgresql://localhost/db")
    assert_type(RedisStore.from_url("redis://localhost", prefix="p:"), RedisStore)
    assert_type(RedisStore(client=Redis(), prefix="p:"), RedisStore)
    assert_type(
        await PostgresStore.connect("postgresql://localhost/db", table="t", min_size=1, max_size=10),
        PostgresStore,
    )
    pool: asyncpg.Pool = await asyncpg.create_pool("postgresql://localhost/db")
    assert_type(PostgresStore(pool=pool, table="t"), PostgresStore)
    async with PostgresStore(pool=pool, table="t") as store:
        assert_type(store, PostgresStore)
        assert_type(await store.drop_schema(), None)
    assert_type(IdempotencyUnavailableError("redis", "redis://h", "refused").address, str)
    assert_type(schema_sql("t"), str)

    claim = await memory.claim("k", "fp", lease=30)
    assert_type(claim, Claim)
    assert_type(claim.outcome, ClaimOutcome)
    assert_type(claim.token, str | None)
    assert_type(claim.response, StoredResponse | None)
    assert_type(await redis.complete("k", "t", StoredResponse(), retention=60), bool)
    assert_type(await postgres.release("k", "t"), bool)
    assert_type(await memory.renew("k", "t", lease=30), bool)

    async with idempotent(memory, "k", "fp") as slot:
        assert_type(slot, IdempotencySlot)
        assert_type(slot.replay, StoredResponse | None)
        await slot.complete(StoredResponse(201, ((b"a", b"b"),), b"body"))

    async def compute() -> dict[str, int]:
        return {"a": 1}

    assert_type(await execute(memory, "k", "fp", compute), dict[str, int])
    assert_type(parse_idempotency_key(b'"k"'), str)
    assert_type(scope_key("k", principal="p", route="/r"), str)
    assert_type(request_fingerprint("POST", "/r", b""), str)
    assert_type(IdempotencyMiddleware(app, memory, principal=lambda scope: None), IdempotencyMiddleware)
    assert_type(StoredResponse.of(200, [("a", "b")], b""), StoredResponse)
