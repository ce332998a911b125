"""The tour's buttress-idempotency section."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from buttress.idempotency import (
    IdempotencyMiddleware,
    KeyInFlightError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    execute,
    idempotent,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "memory: a message delivered 3 times ran 1 time(s)",
    "memory: a POST, its retry, the key reused for another body -> [201, 201, 422]",
)
REAL: tuple[str, ...] = (
    "redis: a message delivered 3 times ran 1 time(s)",
    "postgres: a message delivered 3 times ran 1 time(s)",
    "redis: a POST, its retry, the key reused for another body -> [201, 201, 422]",
    "postgres: a POST, its retry, the key reused for another body -> [201, 201, 422]",
)


type AsgiMessage = MutableMapping[str, Any]


async def order_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[AsgiMessage]],
    send: Callable[[AsgiMessage], Awaitable[None]],
) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-order", b"8")]})
    await send({"type": "http.response.body", "body": b'{"order": 8}'})


async def post(app: IdempotencyMiddleware, key: str, body: bytes) -> int:
    sent: list[AsgiMessage] = []

    async def receive() -> AsgiMessage:
        return {"type": "http.request", "body": body}

    async def send(message: AsgiMessage) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "headers": [(b"idempotency-key", key.encode())],
    }
    await app(scope, receive, send)
    return int(sent[0]["status"])


async def run(tour: Tour) -> None:
    stores: list[tuple[str, MemoryStore | RedisStore | PostgresStore]] = [("memory", MemoryStore())]
    if tour.redis_url is not None:
        stores.append(("redis", RedisStore.from_url(tour.redis_url, prefix=f"tour:{secrets.token_hex(4)}:")))
    if tour.postgres_dsn is not None:
        postgres = await PostgresStore.connect(tour.postgres_dsn, table="buttress_tour_idempotency")
        await postgres.create_schema()
        stores.append(("postgres", postgres))
    for name, store in stores:
        runs: list[int] = []

        async def charge(runs: list[int] = runs) -> dict[str, int]:
            runs.append(1)
            return {"charged": 100}

        key = secrets.token_hex(4)  # fresh keys, so a second tour run starts clean
        results = [await execute(store, key, "charge:100", charge) for _ in range(3)]
        tour.say(f"{name}: a message delivered 3 times ran {len(runs)} time(s) -> {results[-1]}")
        async with idempotent(store, key + "-b", "charge:5"):
            try:
                await execute(store, key + "-b", "charge:5", charge)
            except KeyInFlightError as exc:
                tour.say(
                    f"{name}: a duplicate while the first runs is refused, retry in {exc.retry_after:.0f} s"
                )
        app = IdempotencyMiddleware(order_app, store)
        statuses = [await post(app, key, body) for body in (b"{}", b"{}", b'{"other": 1}')]
        tour.say(f"{name}: a POST, its retry, the key reused for another body -> {statuses}")
        if isinstance(store, RedisStore):  # leave nothing behind on the tour's Redis
            await store.client.delete(*[k async for k in store.client.scan_iter(match=store.prefix + "*")])
        await store.aclose()
