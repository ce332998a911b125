"""The store going away for real: a private redis-server and PostgreSQL stopped under the middleware."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from buttress.idempotency import (
    IdempotencyMiddleware,
    IdempotencyUnavailableError,
    PostgresStore,
    RedisStore,
    execute,
    idempotent,
)
from buttress.testing import PostgresServer, RedisServer


async def test_redis_down_is_503_and_the_handler_does_not_run(
    redis_server: RedisServer, counting_app: Any, make_client: Any
) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    app = IdempotencyMiddleware(counting_app, store, retry_after=7)
    try:
        async with make_client(app) as client:
            ok = await client.post("/orders", headers={"Idempotency-Key": "before"})
            assert ok.status_code == 201
            redis_server.stop()
            down = await client.post("/orders", headers={"Idempotency-Key": "during"})
            assert down.status_code == 503
            assert down.headers["retry-after"] == "7"
            assert down.headers["content-type"] == "application/problem+json"
            assert down.json()["type"].endswith("store-unavailable")
            assert counting_app.calls == 1
            unguarded = await client.post("/orders")  # no key: not the middleware's business
            assert unguarded.status_code == 201
            redis_server.start()
            back = await client.post("/orders", headers={"Idempotency-Key": "during"})
            assert back.status_code == 201
            again = await client.post("/orders", headers={"Idempotency-Key": "during"})
            assert again.headers["idempotent-replayed"] == "true"
        assert counting_app.calls == 3
    finally:
        await store.aclose()


async def test_a_full_redis_is_unavailable_naming_only_its_error_code(
    redis_server: RedisServer, counting_app: Any, make_client: Any
) -> None:
    """OOM on every claim (maxmemory reached, no eviction) is an outage: 503, the handler does not run."""
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    app = IdempotencyMiddleware(counting_app, store)
    try:
        await store.client.config_set("maxmemory-policy", "noeviction")
        await store.client.config_set("maxmemory", 1)
        with pytest.raises(IdempotencyUnavailableError) as info:
            await store.claim("order-7", "fp", lease=5.0)
        assert info.value.reason == "OutOfMemoryError"
        assert "order-7" not in str(info.value)
        async with make_client(app) as client:
            full = await client.post("/orders", headers={"Idempotency-Key": "k"})
        assert full.status_code == 503
        assert counting_app.calls == 0
    finally:
        await store.aclose()


async def test_redis_down_with_fail_open_runs_the_handler(
    redis_server: RedisServer, counting_app: Any, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    app = IdempotencyMiddleware(counting_app, store, fail_open=True)
    try:
        redis_server.kill()
        async with make_client(app) as client:
            with caplog.at_level(logging.WARNING, logger="buttress.idempotency"):
                responses = [await client.post("/orders", headers={"Idempotency-Key": "k"}) for _ in range(2)]
        assert [r.status_code for r in responses] == [201, 201]
        assert all("idempotent-replayed" not in r.headers for r in responses)
        assert counting_app.calls == 2
        assert "fail_open" in caplog.text
    finally:
        await store.aclose()


async def test_redis_lost_while_the_handler_runs_still_answers(
    redis_server: RedisServer, counting_app: Any, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The work is done: the client gets the response even though it could not be recorded."""
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    counting_app.gate = asyncio.Event()
    app = IdempotencyMiddleware(counting_app, store)
    try:
        async with make_client(app) as client:
            pending = asyncio.create_task(client.post("/orders", headers={"Idempotency-Key": "k"}))
            await counting_app.entered.wait()
            redis_server.kill()
            with caplog.at_level(logging.WARNING, logger="buttress.idempotency"):
                counting_app.gate.set()
                response = await pending
        assert response.status_code == 201
        assert "could not store" in caplog.text
    finally:
        await store.aclose()


async def test_the_core_fails_closed_and_open_on_a_dead_redis(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    redis_server.stop()
    ran: list[str] = []

    async def operation() -> str:
        ran.append("x")
        return "done"

    try:
        with pytest.raises(IdempotencyUnavailableError) as info:
            await execute(store, "k", "fp", operation)
        assert isinstance(info.value, ConnectionError)
        assert ran == []
        assert await execute(store, "k", "fp", operation, fail_open=True) == "done"
        async with idempotent(store, "k", "fp", fail_open=True) as slot:
            assert not slot.guarded
            assert not slot.claimed
        assert ran == ["x"]
    finally:
        await store.aclose()


async def test_postgres_down_is_503_and_back_up_works(
    postgres_server: PostgresServer, counting_app: Any, make_client: Any
) -> None:
    store = await PostgresStore.connect(postgres_server.dsn, command_timeout=2)
    await store.create_schema()
    app = IdempotencyMiddleware(counting_app, store)
    try:
        async with make_client(app) as client:
            assert (await client.post("/orders", headers={"Idempotency-Key": "a"})).status_code == 201
            postgres_server.stop()
            down = await client.post("/orders", headers={"Idempotency-Key": "b"})
            assert down.status_code == 503
            assert counting_app.calls == 1
            postgres_server.start()
            back = await client.post("/orders", headers={"Idempotency-Key": "a"})
            assert back.headers["idempotent-replayed"] == "true"
    finally:
        await store.aclose()


async def test_an_unreachable_postgres_at_connect_is_unavailable_with_the_password_redacted() -> None:
    with pytest.raises(IdempotencyUnavailableError) as info:
        await PostgresStore.connect("postgresql://postgres:secret@127.0.0.1:1/none")
    assert isinstance(info.value, ConnectionError)
    assert info.value.backend == "postgresql"
    assert "secret" not in str(info.value)
    assert "secret" not in info.value.address


async def test_a_stopped_postgres_after_connect_is_unavailable_not_a_crash(
    postgres_server: PostgresServer, counting_app: Any, make_client: Any
) -> None:
    store = await PostgresStore.connect(postgres_server.dsn, command_timeout=2)
    await store.create_schema()
    postgres_server.stop()
    app = IdempotencyMiddleware(counting_app, store)
    try:
        async with make_client(app) as client:
            response = await client.post("/orders", headers={"Idempotency-Key": "k"})
        assert response.status_code == 503
        with pytest.raises(IdempotencyUnavailableError):
            await store.claim("k", "fp", lease=1)
        assert counting_app.calls == 0
    finally:
        await store.aclose()


@pytest.mark.parametrize("batching", [True, False])
async def test_a_server_that_forgot_the_script_is_taught_it_again(
    redis_server: RedisServer, batching: bool
) -> None:
    """A restart or ``SCRIPT FLUSH`` empties the script cache: the next call loads it and runs, once."""
    store = RedisStore.from_url(redis_server.url, batching=batching)
    ran: list[str] = []

    async def operation() -> str:
        ran.append("x")
        return "done"

    try:
        assert await execute(store, "k1", "fp", operation) == "done"
        await store.client.script_flush()
        assert await execute(store, "k1", "fp", operation) == "done"  # a replay, read by the script
        assert await execute(store, "k2", "fp", operation) == "done"
        assert ran == ["x", "x"]
    finally:
        await store.aclose()
