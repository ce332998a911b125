"""The store going away for real: a private redis-server and PostgreSQL stopped under the middleware."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest
from redis.asyncio import Redis

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


# The worker of the test below: one request through the middleware on a private Redis. Its application
# sends a first chunk, waits for a line on stdin, then sends the last one and returns; the "server" prints
# each message that reaches it.
LAST_WRITE_WORKER = r"""
import asyncio, sys
from buttress.idempotency import IdempotencyMiddleware, RedisStore

async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await send({"type": "http.response.body", "body": b"b", "more_body": False})
    print("returned", flush=True)

async def main(url):
    store = RedisStore.from_url(url, prefix="crash:")
    middleware = IdempotencyMiddleware(app, store, lease=1.0)

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        print("server got", message["type"], message.get("body", b"").decode(), flush=True)

    scope = {"type": "http", "method": "POST", "path": "/orders", "query_string": b"",
             "headers": [(b"idempotency-key", b"k")]}
    await middleware(scope, receive, send)
    print("done", flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_a_worker_killed_while_its_outcome_is_written_never_gave_the_client_the_whole_response(
    redis_server: RedisServer,
) -> None:
    """The application has sent its last chunk and returned, but Redis holds the outcome's write
    (CLIENT PAUSE WRITE) when the worker process is SIGKILLed: the client never received the last
    chunk, so the retry may run the handler again; whatever Redis kept, a retry never meets a lost
    outcome of a response the client holds."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAST_WRITE_WORKER,
        redis_server.url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    admin = Redis.from_url(redis_server.url)
    store = RedisStore.from_url(redis_server.url, prefix="crash:")
    seen: list[str] = []
    try:
        assert worker.stdin is not None
        assert worker.stdout is not None
        while not seen or seen[-1] != "ready":
            seen.append((await asyncio.wait_for(worker.stdout.readline(), 30)).decode().strip())
        await admin.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
        while seen[-1] != "returned":
            seen.append((await asyncio.wait_for(worker.stdout.readline(), 30)).decode().strip())
        await asyncio.sleep(0.5)  # the outcome's EVALSHA is sent, and held by the pause
        worker.kill()
        rest = (await worker.stdout.read()).decode().split("\n")
        await worker.wait()
        seen += [line for line in rest if line]
        assert "server got http.response.body a" in seen
        assert "server got http.response.body b" not in seen  # the client never had the whole response
        assert "done" not in seen
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    try:
        runs: list[int] = []

        async def handler(scope: Any, receive: Any, send: Any) -> None:
            runs.append(1)
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"again", "more_body": False})

        middleware = IdempotencyMiddleware(handler, store, lease=1.0)
        got: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            got.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/orders",
            "query_string": b"",
            "headers": [(b"idempotency-key", b"k")],
        }
        for _ in range(40):  # a 409 while the dead worker's lease lives, at most a second
            got.clear()
            await middleware(scope, receive, send)
            if got[0]["status"] != 409:
                break
            await asyncio.sleep(0.1)
        assert got[0]["status"] == 201
        body = b"".join(message.get("body", b"") for message in got[1:])
        if runs:  # the outcome's write died with the worker: the handler runs again, once
            assert (runs, body) == ([1], b"again")
        else:  # Redis ran the write after the pause: the retry replays the whole first response
            assert body == b"ab"
            assert (b"idempotent-replayed", b"true") in got[0]["headers"]
    finally:
        await store.aclose()
