"""The tour's buttress-health section."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from buttress.core import Receive, Scope, Send
from buttress.health import (
    CheckResult,
    DiskSpaceCheck,
    FunctionCheck,
    HealthApp,
    HealthRegistry,
    InFlightMiddleware,
    PostgresCheck,
    RedisCheck,
    ShutdownCoordinator,
    Status,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "ready: 200 pass (the public sees only the status)",
    "a hanging check times out alone: slow=fail, disk=pass -> 503",
    "non-critical: the hanging check only warns -> 200 warn",
    "liveness ignores the readiness checks: 200 pass",
    "shutdown: readiness 503 at once, the request in flight finished with 200, a late one got 503",
)
REAL: tuple[str, ...] = (
    "postgresql:responseTime: pass",
    "redis:responseTime: pass",
)

type AsgiMessage = MutableMapping[str, Any]


async def get(app: Callable[..., Awaitable[None]], path: str) -> tuple[int, dict[str, Any]]:
    sent: list[AsgiMessage] = []

    async def receive() -> AsgiMessage:
        return {"type": "http.request", "body": b""}

    async def send(message: AsgiMessage) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return int(sent[0]["status"]), json.loads(body) if body.startswith(b"{") else {}


async def hang() -> bool:
    await asyncio.Event().wait()
    return True


async def run(tour: Tour) -> None:
    registry = HealthRegistry(timeout=2.0)
    registry.add("disk", DiskSpaceCheck(".", warn_below=0.0, fail_below=0.0), groups=("ready", "live"))
    status, body = await get(HealthApp(registry), "/ready")
    tour.say(f"ready: {status} {body['status']} (the public sees only the status)")

    registry.add("slow", FunctionCheck(hang), timeout=0.1)
    status, body = await get(HealthApp(registry, details=True), "/ready")
    checks = {name: entries[0]["status"] for name, entries in body["checks"].items()}
    tour.say(f"a hanging check times out alone: slow={checks['slow']}, disk={checks['disk']} -> {status}")
    registry.remove("slow")
    registry.add("slow", FunctionCheck(hang), timeout=0.1, critical=False)
    status, body = await get(HealthApp(registry), "/ready")
    tour.say(f"non-critical: the hanging check only warns -> {status} {body['status']}")
    status, body = await get(HealthApp(registry), "/live")
    tour.say(f"liveness ignores the readiness checks: {status} {body['status']}")

    await real_backends(tour)

    release = asyncio.Event()

    async def slow_page(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    shutdown = ShutdownCoordinator(registry, drain_delay=0.1, grace=5)
    shutdown.register(registry)
    app = InFlightMiddleware(slow_page, shutdown)
    in_flight = asyncio.ensure_future(get(app, "/orders"))
    await asyncio.sleep(0.01)
    sequence = asyncio.ensure_future(shutdown.shutdown())
    await asyncio.sleep(0)  # the sequence starts: readiness fails at once
    ready = (await registry.ready()).http_status
    while shutdown.accepting:  # noqa: ASYNC110 - the drain delay runs out in the sequence's task
        await asyncio.sleep(0.01)
    late, _ = await get(app, "/orders")
    release.set()
    finished, _ = await in_flight
    report = await sequence
    tour.say(
        f"shutdown: readiness {ready} at once, the request in flight finished with {finished}, "
        f"a late one got {late}"
    )
    tour.say(f"shutdown report: drained={report.drained}, closed={list(report.closed)}")


async def real_backends(tour: Tour) -> None:
    registry = HealthRegistry(timeout=5.0)
    owned: list[Any] = []
    if tour.postgres_dsn is not None:
        postgres = await PostgresCheck.connect(tour.postgres_dsn)
        owned.append(postgres)
        registry.add("postgresql:responseTime", postgres)
    if tour.redis_url is not None:
        redis = RedisCheck.from_url(tour.redis_url)
        owned.append(redis)
        registry.add("redis:responseTime", redis)
    report = await registry.ready()
    for check in report.checks:
        result: CheckResult = check.result
        tour.say(f"{check.name}: {result.status.value}")
        assert result.status is Status.PASS  # noqa: S101 - the tour's servers are up
    for resource in owned:
        await resource.aclose()
