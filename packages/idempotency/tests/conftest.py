"""Fixtures shared by the idempotency tests: stores on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from buttress.idempotency import MemoryStore, PostgresStore, RedisStore


@pytest.fixture
async def redis_store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisStore]:
    """A `RedisStore` on the shared server under the test's own prefix."""
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        yield store
    finally:
        await store.aclose()


_tables = iter(range(1_000_000))


@pytest.fixture
async def postgres_store(postgres_pool: asyncpg.Pool, postgres_table: str) -> AsyncIterator[PostgresStore]:
    """A `PostgresStore` on the module's schema, in a table of its own, around buttress-testing's pool."""
    store = PostgresStore(pool=postgres_pool, table=postgres_table)
    await store.create_schema()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture(params=["memory", "redis", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """The backend of `any_store` and its service, looked up here, outside the event loop."""
    if request.param == "redis":
        return "redis", (request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_schema")
    return "memory", None


@pytest.fixture
async def any_store(store_kind: tuple[str, Any]) -> AsyncIterator[MemoryStore | RedisStore | PostgresStore]:
    """Each store in turn: memory, then Redis and PostgreSQL on real servers."""
    kind, service = store_kind
    store: MemoryStore | RedisStore | PostgresStore
    if kind == "memory":
        store = MemoryStore()
    elif kind == "redis":
        store = RedisStore.from_url(service[0], prefix=service[1])
    else:
        store = await PostgresStore.connect(service.dsn, table=f"{service.name}.keys_{next(_tables)}")
        await store.create_schema()
    try:
        yield store
    finally:
        await store.aclose()


class CountingApp:
    """A raw ASGI application that counts its calls and answers according to the path.

    ``/status/<n>`` answers ``n``; ``/boom`` raises; ``/stream/<k>`` sends ``k`` body chunks;
    ``/big/<n>`` sends ``n`` bytes; anything else answers 201 with the call number and the echoed body.
    When ``gate`` is set, each call waits on it after reading the body (``entered`` tells the test).
    """

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.calls += 1
        call = self.calls
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        path: str = scope["path"]
        if path == "/boom":
            raise RuntimeError("the handler failed")
        status, payload, parts = 201, b'{"call": %d, "echo": "%s"}' % (call, body.hex().encode()), 1
        if path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        elif path.startswith("/big/"):
            payload = b"x" * int(path.rsplit("/", 1)[1])
        elif path.startswith("/stream/"):
            parts = int(path.rsplit("/", 1)[1])
        headers = [(b"content-type", b"application/json"), (b"x-call", str(call).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index in range(parts):
            more = index < parts - 1
            await send({"type": "http.response.body", "body": payload, "more_body": more})


@pytest.fixture
def counting_app() -> CountingApp:
    """A fresh `CountingApp`."""
    return CountingApp()


def post_scope(key: bytes = b"k") -> dict[str, Any]:
    """The ASGI scope of ``POST /orders`` with ``Idempotency-Key: <key>``, for calling the middleware raw."""
    return {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "query_string": b"",
        "headers": [(b"idempotency-key", key)],
    }


async def receive_json() -> dict[str, Any]:
    """An ASGI ``receive`` whose request body is ``{}``, in one message."""
    return {"type": "http.request", "body": b"{}", "more_body": False}


def client_for(app: Any) -> httpx.AsyncClient:
    """An httpx client that calls ``app`` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def make_client() -> Any:
    """``make_client(app)`` -> an in-process httpx client (close it with ``async with``)."""
    return client_for
