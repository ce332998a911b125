"""The last chunk and the outcome's write on `RedisStore`, which queues the write instead of awaiting it.

The middleware holds the last chunk while the write runs, with no task of its own: these tests check
that the chunk still leaves only once Redis holds the outcome, that it leaves while an application
that goes on after its response still runs, that a message after it follows it out, and that a
request cancelled during the write still has its outcome stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from buttress.idempotency import (
    Claim,
    IdempotencyMiddleware,
    MemoryStore,
    RedisStore,
    StoredResponse,
    idempotent,
)
from buttress.testing import RedisServer

from .conftest import post_scope, receive_json


async def _outcomes(client: Redis, prefix: str) -> list[bytes]:
    """The stored responses under ``prefix`` (the ``r`` field of each record)."""
    found = [await client.hget(name, "r") async for name in client.scan_iter(match=f"{prefix}*")]
    return [value for value in found if value is not None]


async def test_a_batching_redis_store_queues_the_last_write_and_an_unbatched_one_does_not(
    redis_url: str, redis_prefix: str
) -> None:
    answers: list[bool | BaseException] = []
    got = asyncio.Event()

    def answer(outcome: bool | BaseException) -> None:
        answers.append(outcome)
        got.set()

    for batching in (True, False):
        store = RedisStore.from_url(redis_url, prefix=f"{redis_prefix}{batching}:", batching=batching)
        try:
            slot = idempotent(store, "k", "f")
            async with slot:
                queued = slot._complete_soon(StoredResponse(201, (), b"done"), answer)
                assert queued is batching
                if queued:
                    assert not slot.claimed  # the slot is done: leaving it does not complete it again
                    await asyncio.wait_for(got.wait(), 10)
                    assert answers == [True]
                else:
                    await slot.complete(StoredResponse(201, (), b"done"))
            again = idempotent(store, "k", "f")
            async with again:
                assert again.replay == StoredResponse(201, (), b"done")
        finally:
            await store.aclose()
    assert not idempotent(MemoryStore(), "k", "f")._complete_soon(StoredResponse(), answer)


async def _two_chunk_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers 201 in two chunks, ``a`` then ``b``."""
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b", "more_body": False})


async def test_the_last_chunk_leaves_only_once_redis_holds_the_outcome(
    redis_store: RedisStore, redis_prefix: str
) -> None:
    stored_at_last_chunk: list[list[bytes]] = []

    async def server(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            stored_at_last_chunk.append(await _outcomes(redis_store.client, redis_prefix))

    await IdempotencyMiddleware(_two_chunk_app, redis_store)(post_scope(), receive_json, server)
    assert len(stored_at_last_chunk) == 1
    assert len(stored_at_last_chunk[0]) == 1  # the outcome was in Redis before the chunk left


@pytest.fixture(params=["redis", "memory"])
async def queuing_store(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[RedisStore | MemoryStore]:
    """Each store that queues the middleware's last write instead of awaiting it."""
    if request.param == "memory":
        yield MemoryStore()
        return
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        yield store
    finally:
        await store.aclose()


async def test_the_last_chunk_leaves_while_the_application_goes_on(
    queuing_store: RedisStore | MemoryStore,
) -> None:
    """An application that works on after its response (background work) does not hold the chunk back."""
    store = queuing_store
    chunk_out = asyncio.Event()
    finished: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"done", "more_body": False})
        await asyncio.wait_for(chunk_out.wait(), 10)  # times out if the chunk waits for the return
        finished.append(True)

    async def server(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunk_out.set()

    await IdempotencyMiddleware(app, store)(post_scope(), receive_json, server)
    assert finished == [True]


async def test_a_message_after_the_last_chunk_follows_it_out_on_redis(redis_store: RedisStore) -> None:
    log: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"b", "more_body": False})
        log.append("app sent the last chunk")
        await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})

    async def server(message: dict[str, Any]) -> None:
        log.append(message["type"])

    await IdempotencyMiddleware(app, redis_store)(post_scope(), receive_json, server)
    assert log == [
        "http.response.start",
        "app sent the last chunk",
        "http.response.body",
        "http.response.trailers",
    ]


@pytest.mark.parametrize("cancel_while", ["the middleware waits", "the application runs"])
async def test_a_request_cancelled_during_the_redis_write_still_stores_its_outcome(
    redis_server: RedisServer, cancel_while: str
) -> None:
    """Redis holds the write (CLIENT PAUSE WRITE on a private server) while the request is cancelled."""
    store = RedisStore.from_url(redis_server.url, prefix="cancel:")
    admin = Redis.from_url(redis_server.url)
    calls: list[int] = []
    sent: list[dict[str, Any]] = []
    forever = asyncio.Event()
    paused = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(1)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        if len(calls) == 1:
            await admin.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
            paused.set()
        await send({"type": "http.response.body", "body": b"once", "more_body": False})
        if cancel_while == "the application runs":
            await forever.wait()

    async def server(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = IdempotencyMiddleware(app, store)
    try:
        await store.claim("warm-up", "f", lease=1)  # the script is loaded before the pause
        request = asyncio.create_task(middleware(post_scope(), receive_json, server))
        await asyncio.wait_for(paused.wait(), 10)
        await asyncio.sleep(0.2)  # the write is sent and held by the pause
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert [m["type"] for m in sent] == ["http.response.start"]  # the chunk waits for the write
        await admin.execute_command("CLIENT", "UNPAUSE")
        for _ in range(1000):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.01)
        assert sent[-1]["body"] == b"once"  # sent once stored, as the request would have
        replay: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            replay.append(message)

        await middleware(post_scope(), receive_json, keep)
        assert calls == [1]
        assert replay[0]["status"] == 201
        assert replay[1]["body"] == b"once"
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await store.aclose()


async def test_an_outage_during_the_last_redis_write_still_sends_the_chunk(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The server goes away while the outcome is written: the chunk leaves, the outage is logged."""
    store = RedisStore.from_url(redis_server.url, prefix="down:", socket_timeout=0.5)
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        redis_server.stop()
        await send({"type": "http.response.body", "body": b"done", "more_body": False})

    async def server(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        with caplog.at_level(logging.WARNING, logger="buttress.idempotency"):
            await IdempotencyMiddleware(app, store)(post_scope(), receive_json, server)
        assert sent[-1]["body"] == b"done"
        assert "could not store an idempotent response" in caplog.text
    finally:
        redis_server.start()
        await store.aclose()


async def test_a_memory_store_holds_the_outcome_before_the_last_chunk_leaves_from_the_request_task() -> None:
    """`MemoryStore` writes the outcome at once and the request's own task sends the last chunk."""
    store = MemoryStore()
    seen: list[tuple[bool, int]] = []
    middleware: IdempotencyMiddleware

    async def server(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            statuses: list[int] = []

            async def again(reply: dict[str, Any]) -> None:
                if reply["type"] == "http.response.start":
                    statuses.append(reply["status"])
                    assert (b"idempotent-replayed", b"true") in reply["headers"]

            await middleware(post_scope(), receive_json, again)  # a retry, while the chunk is held
            seen.append((asyncio.current_task() is request, statuses[0]))

    middleware = IdempotencyMiddleware(_two_chunk_app, store)
    request = asyncio.ensure_future(middleware(post_scope(), receive_json, server))
    await request
    assert seen == [(True, 201)]  # stored before the chunk left, and sent by the request's own task


async def _done_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers 201 ``done`` in one chunk."""
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"done", "more_body": False})


async def _unheard(message: dict[str, Any]) -> None:
    """A server that takes every message and keeps none."""


async def test_a_store_that_overrides_complete_keeps_it_for_the_middlewares_last_write(
    redis_url: str, redis_prefix: str
) -> None:
    """The queued last write is the store's own `complete`; a subclass's override is never bypassed."""
    written: list[str] = []

    class CountingRedis(RedisStore):
        async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
            written.append("redis")
            return await super().complete(key, token, response, retention=retention)

    class CountingMemory(MemoryStore):
        async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
            written.append("memory")
            return await super().complete(key, token, response, retention=retention)

    redis = CountingRedis.from_url(redis_url, prefix=redis_prefix)
    try:
        for store in (redis, CountingMemory()):
            await IdempotencyMiddleware(_done_app, store)(post_scope(), receive_json, _unheard)
    finally:
        await redis.aclose()
    assert written == ["redis", "memory"]


async def test_a_store_that_overrides_claim_is_claimed_through_it(redis_url: str, redis_prefix: str) -> None:
    """The middleware's checked claim is the store's own `claim`; a subclass's override is never bypassed."""
    claimed: list[str] = []

    class AuditedClaims(RedisStore):
        async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
            claimed.append(key)
            return await super().claim(key, fingerprint, lease=lease)

    store = AuditedClaims.from_url(redis_url, prefix=redis_prefix)
    try:
        middleware = IdempotencyMiddleware(_done_app, store)
        await middleware(post_scope(), receive_json, _unheard)
        await middleware(post_scope(), receive_json, _unheard)  # the replay is a claim too
    finally:
        await store.aclose()
    assert len(claimed) == 2
