"""buttress-health: readiness with five checks (one slow) against running them one after another, against
fastapi-health and fastapi-healthchecks, and the in-flight middleware's cost per request.

Run with ``nox -s bench -- health`` (or ``python benchmarks/health.py [--quick]``). Every probe is an
in-process ASGI call (no HTTP client or server between), so what is measured is the probe itself.

Readiness: five checks against the real servers, the same in every variant: PostgreSQL ``SELECT 1``,
PostgreSQL ``SELECT pg_sleep(0.1)`` (the slow one: a dependency answering in 100 ms), Redis PING, a
second Redis PING and a disk-space reading. Run twice: as they are (local round trips, well under a
millisecond), and with the four fast ones 20 ms away (each waits 20 ms before its call, as a round
trip to another host would). Each variant reaches the servers through the same asyncpg
pool and redis-py client, so only the way the checks are run differs:

- buttress: ``HealthApp`` over a ``HealthRegistry`` (concurrent, each under its 5 s timeout);
- sequential: the same five calls awaited one after another in a plain ASGI handler;
- fastapi-health 0.4.0: the five calls as its conditions, on a FastAPI app;
- fastapi-healthchecks 1.1.0: the five calls as its ``Check`` subclasses, on a FastAPI app.

buttress is also mounted in the same FastAPI app, so the framework's routing cost is the same on both
sides of that comparison. Each round runs every variant in turn; the table gives medians over all
probes and the 10th-90th percentiles.

Middleware: a bare ASGI app that answers 200, called directly, with and without
``InFlightMiddleware`` (and with an exempt prefix); then through a real uvicorn with an HTTP client,
where the target is "not measurable above noise".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import os
import platform
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from _harness import Dist, print_table, ratio
from fastapi import FastAPI
from fastapi_health import health
from fastapi_healthchecks.api.router import HealthcheckRouter, Probe
from fastapi_healthchecks.checks import Check
from fastapi_healthchecks.checks import CheckResult as PeerResult

from buttress.health import (
    CheckResult,
    FunctionCheck,
    HealthApp,
    HealthRegistry,
    InFlightMiddleware,
    ShutdownCoordinator,
    Status,
)
from buttress.testing import serve_asgi

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SLOW_SECONDS = 0.1
LATENCY_SECONDS = 0.02


@dataclass(frozen=True)
class Scale:
    rounds: int
    probes: int
    calls: int
    http_requests: int


DEFAULT = Scale(rounds=5, probes=20, calls=200_000, http_requests=2_000)
QUICK = Scale(rounds=2, probes=5, calls=20_000, http_requests=200)

type Call = Callable[[], Awaitable[object]]


def make_calls(pool: Any, client: Any, latency: float) -> dict[str, Call]:
    """The five checks' calls; ``latency`` > 0 makes the four fast ones take that long on the server."""

    async def network() -> None:  # a dependency further away than 127.0.0.1: the round trip's wait
        if latency:
            await asyncio.sleep(latency)

    async def postgres() -> object:
        await network()
        return await pool.fetchval("SELECT 1")

    async def postgres_slow() -> object:
        return await pool.fetchval(f"SELECT pg_sleep({SLOW_SECONDS})")

    async def redis() -> object:
        await network()
        return await client.ping()

    async def redis_again() -> object:
        await network()
        return await client.ping()

    async def disk() -> object:
        await network()
        return await asyncio.to_thread(shutil.disk_usage, ".")

    return {
        "postgres": postgres,
        "postgres_slow": postgres_slow,
        "redis": redis,
        "redis_again": redis_again,
        "disk": disk,
    }


def buttress_app(calls: dict[str, Call]) -> HealthApp:
    registry = HealthRegistry(timeout=5.0)
    for name, call in calls.items():

        async def check(call: Call = call) -> CheckResult:
            await call()
            return CheckResult(Status.PASS)

        registry.add(name, FunctionCheck(check))
    return HealthApp(registry)


def sequential_app(calls: dict[str, Call]) -> Callable[..., Awaitable[None]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for call in calls.values():
            await call()
        body = b'{"status":"pass"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def fastapi_app(calls: dict[str, Call]) -> FastAPI:
    app = FastAPI()
    conditions = []
    for name, call in calls.items():

        async def condition(call: Call = call) -> bool:
            await call()
            return True

        condition.__name__ = name
        conditions.append(condition)
    app.add_api_route("/peer/ready", health(conditions))

    class PeerCheck(Check):
        def __init__(self, name: str, call: Call) -> None:
            self.name, self.call = name, call

        async def __call__(self) -> PeerResult:
            await self.call()
            return PeerResult(name=self.name, passed=True)

    app.include_router(
        HealthcheckRouter(Probe(name="ready", checks=[PeerCheck(n, c) for n, c in calls.items()])),
        prefix="/healthchecks",
    )
    app.mount("/buttress", buttress_app(calls))
    return app


async def probe(app: Any, path: str) -> float:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = time.perf_counter() - started
    status = sent[0]["status"]
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return elapsed


async def readiness(dsn: str, redis_url: str, scale: Scale, latency: float) -> dict[str, Dist]:
    pool = await asyncpg.create_pool(dsn, min_size=5, max_size=10)
    client = aioredis.Redis.from_url(redis_url)
    try:
        calls = make_calls(pool, client, latency)
        framework = fastapi_app(calls)
        variants: dict[str, tuple[Any, str]] = {
            "buttress": (buttress_app(calls), "/ready"),
            "sequential": (sequential_app(calls), "/ready"),
            "buttress in FastAPI": (framework, "/buttress/ready"),
            "fastapi-health": (framework, "/peer/ready"),
            "fastapi-healthchecks": (framework, "/healthchecks/ready"),
        }
        for app, path in variants.values():  # warm-up: connections opened, routes compiled
            for _ in range(3):
                await probe(app, path)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(scale.rounds):
            for name, (app, path) in variants.items():
                for _ in range(scale.probes):
                    samples[name].append(await probe(app, path) * 1000)
        return {name: Dist.of(values) for name, values in samples.items()}
    finally:
        await client.aclose()
        await pool.close()


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def per_call(app: Any, calls: int) -> float:
    """Nanoseconds per direct call of ``app`` (the loop's own cost included, as for bare)."""
    scope = {"type": "http", "method": "GET", "path": "/orders", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        return None

    gc.collect()
    started = time.perf_counter_ns()
    for _ in range(calls):
        await app(scope, receive, send)
    return (time.perf_counter_ns() - started) / calls


async def middleware_direct(scale: Scale) -> dict[str, Dist]:
    coordinator = ShutdownCoordinator()
    variants = {
        "bare": ok,
        "InFlightMiddleware": InFlightMiddleware(ok, coordinator),
        "InFlightMiddleware, exempt=('/health',)": InFlightMiddleware(ok, coordinator, exempt=("/health",)),
    }
    for app in variants.values():
        await per_call(app, scale.calls // 10)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    batches = scale.rounds * 20  # short batches, alternated, so a busy neighbour hits every variant alike
    for _ in range(batches):
        for name, app in variants.items():
            samples[name].append(await per_call(app, scale.calls // batches))
    return {name: Dist.of(values) for name, values in samples.items()}


async def middleware_http(scale: Scale) -> dict[str, Dist]:
    coordinator = ShutdownCoordinator()
    variants = {"bare": ok, "InFlightMiddleware": InFlightMiddleware(ok, coordinator)}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    servers = {name: serve_asgi(app) for name, app in variants.items()}
    bases = {name: server.__enter__() for name, server in servers.items()}
    try:
        async with httpx.AsyncClient() as client:
            for base in bases.values():
                for _ in range(50):
                    await client.get(f"{base}/orders")
            for _ in range(scale.rounds * 2):
                for name, base in bases.items():
                    started = time.perf_counter()
                    for _ in range(scale.http_requests // 4):
                        await client.get(f"{base}/orders")
                    samples[name].append(scale.http_requests // 4 / (time.perf_counter() - started))
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    return {name: Dist.of(values) for name, values in samples.items()}


def header(dsn: str, redis_url: str) -> None:
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in (
            "buttress-health",
            "fastapi-health",
            "fastapi-healthchecks",
            "fastapi",
            "uvicorn",
            "httpx",
        )
    )
    print(f"# buttress-health benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), asyncio default loop")
    print(f"- PostgreSQL at {dsn.rsplit('@', maxsplit=1)[-1]}, Redis at {redis_url}")
    print(f"- load average before the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- {versions}")
    sys.stdout.flush()


async def main(dsn: str, redis_url: str, scale: Scale, quick: bool) -> int:
    header(dsn, redis_url)
    print(f"- scale: {'QUICK (--quick)' if quick else 'default'}: {scale}")
    started = time.perf_counter()
    for latency, title in (
        (0.0, "the four others local round trips (sub-millisecond)"),
        (LATENCY_SECONDS, f"the four others {LATENCY_SECONDS * 1000:g} ms away"),
    ):
        ready = await readiness(dsn, redis_url, scale, latency)
        base = ready["buttress"].p50
        print_table(
            f"Readiness, five checks: one answering in {SLOW_SECONDS * 1000:g} ms, {title} (latency, ms)",
            ["variant", "p50 (p10-p90)", "vs buttress"],
            [[name, dist.cell(1), ratio(dist.p50, base)] for name, dist in ready.items()],
        )
    direct = await middleware_direct(scale)
    bare = direct["bare"].p50
    print_table(
        "InFlightMiddleware, direct ASGI calls (ns per request)",
        ["variant", "p50 (p10-p90)", "added over bare (p50)"],
        [[name, dist.cell(0), f"{dist.p50 - bare:+.0f} ns"] for name, dist in direct.items()],
    )
    served = await middleware_http(scale)
    print_table(
        "InFlightMiddleware under uvicorn, one HTTP/1.1 client in sequence (requests/s)",
        ["variant", "p50 (p10-p90)", "vs bare"],
        [[name, dist.cell(0), ratio(dist.p50, served["bare"].p50)] for name, dist in served.items()],
        [
            "Spread of bare itself: "
            f"{(served['bare'].high - served['bare'].low) / served['bare'].p50:.0%} of its median; "
            f"difference of the medians: {(served['InFlightMiddleware'].p50 / served['bare'].p50 - 1):+.1%}."
        ],
    )
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--dsn", default=os.environ.get("BENCH_POSTGRES_DSN", DEFAULT_DSN))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.dsn, args.redis_url, QUICK if args.quick else DEFAULT, args.quick)))
