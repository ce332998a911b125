"""Each OpenTelemetry instrument of buttress-idempotency, read back with buttress-testing's metric_reader."""

from __future__ import annotations

import asyncio

import pytest

from buttress.idempotency import (
    FingerprintMismatchError,
    IdempotencyUnavailableError,
    KeyInFlightError,
    LeaseLostError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    StoredResponse,
    execute,
    idempotent,
)
from buttress.testing import FakeClock, RecordedMetrics, RedisServer, check_bound_when_made

REQUESTS = "buttress.idempotency.requests"
DURATION = "buttress.idempotency.store.duration"
LOSSES = "buttress.idempotency.lease.losses"
UNAVAILABLE = "buttress.idempotency.store.unavailable"


def outcome(name: str) -> dict[str, str]:
    return {"idempotency.outcome": name}


async def test_requests_are_counted_by_outcome(metric_reader: RecordedMetrics) -> None:
    store = MemoryStore()

    async def operation() -> int:
        return 7

    assert await execute(store, "k", "fp", operation) == 7
    assert await execute(store, "k", "fp", operation) == 7
    with pytest.raises(FingerprintMismatchError):
        await execute(store, "k", "other", operation)
    async with idempotent(store, "busy", "fp"):
        with pytest.raises(KeyInFlightError):
            await execute(store, "busy", "fp", operation)
    assert metric_reader.value(REQUESTS, outcome("executed")) == 2  # "k", then "busy"
    assert metric_reader.value(REQUESTS, outcome("replayed")) == 1
    assert metric_reader.value(REQUESTS, outcome("fingerprint_mismatch")) == 1
    assert metric_reader.value(REQUESTS, outcome("in_flight")) == 1
    assert {p.unit for p in metric_reader.points(REQUESTS)} == {"{request}"}


async def test_a_request_run_unguarded_is_counted(
    redis_server: RedisServer, metric_reader: RecordedMetrics
) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    redis_server.stop()

    async def operation() -> str:
        return "done"

    try:
        assert await execute(store, "k", "fp", operation, fail_open=True) == "done"
    finally:
        await store.aclose()
    assert metric_reader.value(REQUESTS, outcome("unguarded")) == 1


async def test_redis_operations_are_timed(redis_store: RedisStore, metric_reader: RecordedMetrics) -> None:
    await _timed(redis_store, "redis", metric_reader)


async def test_postgres_operations_are_timed(
    postgres_store: PostgresStore, metric_reader: RecordedMetrics
) -> None:
    await _timed(postgres_store, "postgresql", metric_reader)


async def _timed(store: RedisStore | PostgresStore, backend: str, metric_reader: RecordedMetrics) -> None:
    claim = await store.claim("k", "fp", lease=30)
    assert claim.token is not None
    assert await store.renew("k", claim.token, lease=30)
    assert await store.complete("k", claim.token, StoredResponse(), retention=60)
    for operation in ("claim", "renew", "complete"):
        attributes = {"idempotency.store": backend, "idempotency.operation": operation}
        assert metric_reader.count(DURATION, attributes) == 1
        assert metric_reader.value(DURATION, attributes) >= 0
    assert {p.unit for p in metric_reader.points(DURATION)} == {"s"}


async def test_a_lease_lost_at_complete_is_counted(
    fake_clock: FakeClock, metric_reader: RecordedMetrics
) -> None:
    store = MemoryStore(clock=fake_clock)
    async with idempotent(store, "k", "fp", lease=1, heartbeat=0) as slot:
        fake_clock.advance(2)
        await store.claim("k", "fp", lease=30)  # another worker takes the expired key
        with pytest.raises(LeaseLostError):
            await slot.complete(StoredResponse())
    assert metric_reader.value(LOSSES, {"idempotency.operation": "complete"}) == 1


async def test_a_lease_lost_at_renewal_is_counted_once(
    fake_clock: FakeClock, metric_reader: RecordedMetrics
) -> None:
    store = MemoryStore(clock=fake_clock)
    async with idempotent(store, "k", "fp", lease=0.3, heartbeat=0.05) as slot:
        fake_clock.advance(1)
        await store.claim("k", "fp", lease=30)
        for _ in range(200):
            if slot.lease_lost:
                break
            await asyncio.sleep(0.01)
        assert slot.lease_lost
        with pytest.raises(LeaseLostError):
            await slot.complete(StoredResponse())
    assert metric_reader.value(LOSSES, {"idempotency.operation": "renew"}) == 1
    assert metric_reader.value(LOSSES) == 1  # the complete that followed does not count it again


async def test_an_unreachable_store_is_counted(
    redis_server: RedisServer, metric_reader: RecordedMetrics
) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    redis_server.stop()
    try:
        with pytest.raises(IdempotencyUnavailableError):
            await store.claim("k", "fp", lease=1)
    finally:
        await store.aclose()
    with pytest.raises(IdempotencyUnavailableError):
        await PostgresStore.connect("postgresql://postgres:secret@127.0.0.1:1/none")
    redis_claim = {"idempotency.store": "redis", "idempotency.operation": "claim"}
    assert metric_reader.value(UNAVAILABLE, redis_claim) == 1
    assert metric_reader.count(DURATION, redis_claim) == 1  # a failed operation is timed too
    postgres = {"idempotency.store": "postgresql", "idempotency.operation": "connect"}
    assert metric_reader.value(UNAVAILABLE, postgres) == 1
    assert {p.unit for p in metric_reader.points(UNAVAILABLE)} == {"{error}"}


def test_making_the_redis_store_binds_the_package_s_instruments() -> None:
    make = "from buttress.idempotency import RedisStore; RedisStore.from_url('redis://localhost')"
    assert "buttress.idempotency.store.unavailable" in check_bound_when_made(
        "buttress.idempotency._metrics:TELEMETRY", make
    )
