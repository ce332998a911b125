"""buttress-idempotency's middleware against asgi-idempotency-header, on one Starlette app and one Redis.

Run with ``nox -s bench -- idempotency`` (or ``python benchmarks/idempotency.py [--quick]``); the default
run takes about a minute and a half. Requests are in-process ASGI calls (a scope, a receive, a send: no
HTTP client or server in between, so the middleware's own cost is not diluted), 16 in flight at once,
all in one event loop. Each round runs every variant once, in turn, so drift hits them alike; the table
gives the median requests/s over the rounds and the 10th-90th percentile spread.

Variants, all wrapping the same Starlette app:

- bare: the app alone (requests carry an Idempotency-Key that nothing reads);
- buttress: ``IdempotencyMiddleware`` with ``RedisStore``; first-time POSTs (a new key each) and
  replays (keys completed before the measurement);
- peer: ``asgi-idempotency-header``'s ``IdempotencyHeaderMiddleware`` with its ``RedisBackend`` on the
  same Redis, same first-time and replay requests.

Two handlers: ``POST /orders`` reads the JSON body, awaits 5 ms of simulated downstream I/O (the
database write or payment call a POST exists for) and answers 201 JSON: the workload the issue's
targets are about (first-time >= 85 % of bare, replays >= 100 %). ``POST /noop`` does no I/O, which
shows the middleware's raw overhead per request; no target applies to it.

``--floor`` adds two measuring variants to the same rounds (first-time POSTs and the CPU per request on
``/noop``): ``floor``, a stripped middleware on its own ``RedisStore`` that makes the same two store calls
with the same guarantee (claim before the handler, the outcome stored before the last chunk leaves) and
nothing else (no key validation past ASCII, no heartbeat, no metrics, no size limits, no cancellation
handling: not something to deploy), so that what the middleware's features cost shows apart from what the
store's round trips cost; and ``memory``, ``IdempotencyMiddleware`` on ``MemoryStore``, which makes no
round trip at all.

``--before REV`` adds buttress-idempotency as of the git revision REV (first-time POSTs and replays, and
the CPU per request on ``/noop``) to the same rounds, on the same app, loop and Redis: before and after
measured in the same window.

Every Redis key this script writes contains a random token and is deleted at the end (SCAN on it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import redis.asyncio as aioredis
from _harness import Dist, delete_redis_keys, load_before, print_table, ratio
from idempotency_header_middleware import IdempotencyHeaderMiddleware
from idempotency_header_middleware.backends import RedisBackend
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buttress.idempotency import ClaimOutcome, IdempotencyMiddleware, MemoryStore, RedisStore
from buttress.idempotency._keys import framed_identity, route_frames
from buttress.idempotency._types import stored_response

type ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN = f"bench-idempotency-{secrets.token_hex(6)}"
CONCURRENCY = 16
IO_SECONDS = 0.005
BODY = json.dumps({"item": "book", "quantity": 2, "note": "x" * 200}).encode()


@dataclass(frozen=True)
class Scale:
    rounds: int
    requests: int  # per variant per round, /orders
    noop_requests: int  # per variant per round, /noop


DEFAULT = Scale(rounds=7, requests=1_000, noop_requests=3_000)
QUICK = Scale(rounds=3, requests=300, noop_requests=1_000)


# --- the app ------------------------------------------------------------------------------------------------


def make_app() -> Starlette:
    serial = itertools.count(1)

    async def orders(request: Request) -> JSONResponse:
        payload = await request.json()
        await asyncio.sleep(IO_SECONDS)
        return JSONResponse({"order": next(serial), "item": payload["item"]}, status_code=201)

    async def noop(request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse({"order": next(serial), "item": payload["item"]}, status_code=201)

    return Starlette(
        routes=[Route("/orders", orders, methods=["POST"]), Route("/noop", noop, methods=["POST"])]
    )


class Floor:
    """The same two store calls as the middleware and nothing else (see ``--floor``): a measuring device."""

    def __init__(self, app: ASGIApp, store: RedisStore) -> None:
        self.app, self.store = app, store
        self.frames: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw = next((value for name, value in scope["headers"] if name == b"idempotency-key"), None)
        if raw is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = (await receive())["body"]
        method, route = scope["method"], scope["path"]
        frames = self.frames.get((method, route))
        if frames is None:
            frames = self.frames[method, route] = route_frames(method, route)
        key, fingerprint = framed_identity(raw.decode("ascii"), bytes(8), frames, scope["query_string"], body)
        claim = await self.store._claim_checked(key, fingerprint, 30.0)
        if claim.outcome is not ClaimOutcome.CLAIMED or claim.token is None:
            raise RuntimeError(f"the floor variant handles first-time requests only: {claim}")
        status, headers, chunks, last = 0, (), [], None

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, headers, last
            if message["type"] == "http.response.start":
                status, headers = message["status"], tuple(message.get("headers", ()))
                await send(message)
            elif message.get("more_body", False):
                chunks.append(message.get("body", b""))
                await send(message)
            else:
                chunks.append(message.get("body", b""))
                last = message

        pending = True

        async def replay() -> dict[str, Any]:
            nonlocal pending
            if pending:
                pending = False
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, capture)
        response = stored_response(status, headers, b"".join(chunks))
        await self.store.complete(key, claim.token, response, retention=86_400.0)
        await send(last)


async def call(app: ASGIApp, path: str, key: str) -> int:
    """One in-process POST; return the status code."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"idempotency-key", key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(
    app: ASGIApp,
    path: str,
    keys: Sequence[str],
    expected: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Send one request per key, CONCURRENCY at a time; return requests per second of ``clock``.

    The garbage collector runs in full first, outside the timed part, so that no round pays for the
    garbage of the one before.
    """
    queue = iter(keys)
    failures: list[int] = []

    async def worker() -> None:
        for key in queue:
            status = await call(app, path, key)
            if status != expected:
                failures.append(status)

    gc.collect()
    started = clock()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = clock() - started
    if failures:
        raise RuntimeError(f"benchmark setup is wrong: {len(failures)} requests answered {failures[:5]}")
    return len(keys) / elapsed


async def cpu_per_request(app: ASGIApp, path: str, keys: Sequence[str]) -> float:
    """The process's CPU time (user + system) per request, in µs, ``CONCURRENCY`` requests at a time.

    Unlike requests/s, ``time.process_time`` is not stretched by other processes on the same cores.
    The full collection before the requests is not counted (it cost 8-40 µs per request of its own,
    more than the difference measured, in both variants alike).
    """
    return 1e6 / await run(app, path, keys, 201, clock=time.process_time)


# --- reporting ----------------------------------------------------------------------------------------------


# --- the workload -------------------------------------------------------------------------------------------


async def workload(
    url: str,
    path: str,
    requests: int,
    rounds: int,
    before: Any = None,  # the module of `--before`, or None
    floor: bool = False,
) -> dict[str, Dist]:
    app = make_app()
    store = RedisStore(
        aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, max_connections=32)),
        prefix=f"{TOKEN}:buttress:",
    )
    peer_client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, max_connections=32))
    peer_backend = RedisBackend(
        peer_client, keys_key=f"{TOKEN}:peer-keys", response_key=f"{TOKEN}:peer-response:"
    )
    ours = IdempotencyMiddleware(app, store)
    peer = IdempotencyHeaderMiddleware(app, backend=peer_backend)
    variants: dict[str, tuple[ASGIApp, bool]] = {
        "bare": (app, False),
        "buttress first": (ours, False),
        "buttress replay": (ours, True),
        "peer first": (peer, False),
        "peer replay": (peer, True),
    }
    stores = [store]
    if before is not None:
        old_store = before.RedisStore(
            aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, max_connections=32)),
            prefix=f"{TOKEN}:before:",
        )
        stores.append(old_store)
        old = before.IdempotencyMiddleware(app, old_store)
        variants["before first"] = (old, False)
        variants["before replay"] = (old, True)
    if floor:
        floor_store = RedisStore(
            aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, max_connections=32)),
            prefix=f"{TOKEN}:floor:",
        )
        stores.append(floor_store)
        variants["floor first"] = (Floor(app, floor_store), False)
        variants["memory first"] = (IdempotencyMiddleware(app, MemoryStore()), False)
    replay_keys = [f"{TOKEN}-{path[1:]}-replay-{i}" for i in range(200)]
    # Complete the replay keys once, and warm every variant up.
    for name, (variant, _) in variants.items():
        if name.endswith("replay"):
            await run(variant, path, replay_keys, 201)
        else:
            await run(variant, path, [f"{TOKEN}-warm-{name.replace(' ', '_')}-{i}" for i in range(200)], 201)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    counter = itertools.count()
    for _ in range(rounds):
        for name, (variant, replay) in variants.items():
            if replay:
                keys = [replay_keys[i % len(replay_keys)] for i in range(requests)]
            else:
                keys = [
                    f"{TOKEN}-{path[1:]}-{name.replace(' ', '_')}-{next(counter)}" for _ in range(requests)
                ]
            samples[name].append(await run(variant, path, keys, 201))
    if path == "/noop":
        cpu: dict[str, list[float]] = {"bare": [], "buttress first": []}
        if before is not None:
            cpu["before first"] = []
        if floor:
            cpu["floor first"] = []
            cpu["memory first"] = []
        for turn in range(rounds):
            for name, taken in cpu.items() if turn % 2 == 0 else reversed(cpu.items()):
                keys = [f"{TOKEN}-cpu-{name.replace(' ', '_')}-{next(counter)}" for _ in range(requests)]
                taken.append(await cpu_per_request(variants[name][0], path, keys))
        bare_cpu, ours_cpu = (statistics.median(cpu[name]) for name in ("bare", "buttress first"))
        print(
            f"\nCPU per request on /noop (process time, median of {rounds} rounds of {requests:,}): bare app "
            f"{bare_cpu:.0f} µs, with buttress first-time {ours_cpu:.0f} µs: the middleware adds "
            f"{ours_cpu - bare_cpu:.0f} µs (target < 40 µs)"
        )
        if before is not None:
            old_cpu = statistics.median(cpu["before first"])
            print(
                f"Before (the revision given): {old_cpu:.0f} µs, adding {old_cpu - bare_cpu:.0f} µs; "
                "per round, before - after: "
                + ", ".join(
                    f"{old - new:+.0f}"
                    for old, new in zip(cpu["before first"], cpu["buttress first"], strict=True)
                )
                + " µs"
            )
        if floor:
            floor_cpu, memory_cpu = (statistics.median(cpu[name]) for name in ("floor first", "memory first"))
            print(
                f"The floor (the same store calls, no features) adds {floor_cpu - bare_cpu:.0f} µs; "
                f"the middleware on MemoryStore (no round trip) adds {memory_cpu - bare_cpu:.0f} µs"
            )
    for each in stores:
        await each.client.aclose()
    await peer_client.aclose()
    return {name: Dist.of(values) for name, values in samples.items()}


def report(title: str, stats: dict[str, Dist], with_targets: bool) -> list[str]:
    bare = stats["bare"].p50
    rows = [["bare app (no middleware)", stats["bare"].cell(), "—", "1.00x", "—"]]
    failures: list[str] = []
    for kind, target in (("first", 0.85), ("replay", 1.0)):
        ours, theirs = stats[f"buttress {kind}"].p50, stats[f"peer {kind}"].p50
        label = "first-time POST (new key)" if kind == "first" else "replay (completed key)"
        met = ""
        if with_targets:
            ok = ours / bare >= target
            met = f" (target ≥ {target:.2f}x: {'met' if ok else 'NOT met'})"
            if not ok:
                failures.append(f"{title}: {label} at {ours / bare:.2f}x of bare, target {target:.2f}x")
        rows.append(
            [
                label,
                stats[f"buttress {kind}"].cell(),
                stats[f"peer {kind}"].cell(),
                ratio(ours, bare) + met,
                ratio(ours, theirs),
            ]
        )
    for kind in ("first", "replay"):
        if f"before {kind}" in stats:
            old = stats[f"before {kind}"]
            rows.append([f"{kind} (the revision before)", old.cell(), "—", ratio(old.p50, bare), "—"])
    for name, label in (
        ("floor first", "floor: same store calls, no features"),
        ("memory first", "on MemoryStore"),
    ):
        if name in stats:
            rows.append([f"first-time, {label}", stats[name].cell(), "—", ratio(stats[name].p50, bare), "—"])
    print_table(
        title,
        [
            "requests/s, median (p10-p90)",
            "buttress",
            "asgi-idempotency-header",
            "buttress / bare",
            "buttress / peer",
        ],
        rows,
        [f"bare app: {stats['bare'].cell()} requests/s; {CONCURRENCY} requests in flight."],
    )
    return failures


async def machine(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        info = await client.info("server")
        pings = []
        for _ in range(300):
            started = time.perf_counter()
            await client.ping()
            pings.append((time.perf_counter() - started) * 1e6)
    finally:
        await client.aclose()
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in ("buttress-idempotency", "asgi-idempotency-header", "starlette", "redis")
    )
    print(f"# buttress-idempotency benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), asyncio default loop")
    print(
        f"- Redis {info.get('redis_version')} at {urlparse(url).hostname}:{urlparse(url).port}; "
        f"one PING round trip through redis-py: median {statistics.median(pings):.0f} µs"
    )
    print(f"- load average before the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- {versions}")
    sys.stdout.flush()


async def main(url: str, scale: Scale, quick: bool, before_rev: str | None, floor: bool) -> int:
    await machine(url)
    before = None
    if before_rev is not None:
        before = load_before("idempotency", before_rev)
        print(f"- before: buttress-idempotency at git revision {before_rev}, in the same rounds")
    if floor:
        print("- floor: a stripped middleware on the same store, and the middleware on MemoryStore (--floor)")
    print(
        f"- scale: {'QUICK (--quick)' if quick else 'default'}: {scale.rounds} rounds; "
        f"{scale.requests:,} requests per variant per round on /orders, {scale.noop_requests:,} on /noop; "
        f"key token {TOKEN}"
    )
    started = time.perf_counter()
    failures: list[str] = []
    try:
        orders = await workload(url, "/orders", scale.requests, scale.rounds, before, floor)
        failures += report(
            f"POST /orders: handler with {IO_SECONDS * 1000:g} ms of downstream I/O (the targets)",
            orders,
            True,
        )
        noop = await workload(url, "/noop", scale.noop_requests, scale.rounds, before, floor)
        report("POST /noop: handler with no I/O (raw middleware overhead; no target)", noop, False)
        per_request = {
            name: (1 / noop[name].p50 - 1 / noop["bare"].p50) * 1e6
            for name in (
                "buttress first",
                "buttress replay",
                "peer first",
                "peer replay",
                "before first",
                "floor first",
                "memory first",
            )
            if name in noop
        }
        print(
            "\nAdded time per request over bare on /noop (µs, from the medians): "
            + ", ".join(f"{name} {value:+.0f}" for name, value in per_request.items())
        )
    finally:
        removed = await delete_redis_keys(url, f"{TOKEN}*")
        print(f"\nCleaned up {removed:,} Redis keys; total run time {time.perf_counter() - started:.0f} s.")
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    # A missed target is a result to report, not an error: `nox -s bench` goes on to the next script.
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--before", metavar="REV", help="also run buttress-idempotency at git revision REV")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run a stripped middleware and the middleware on MemoryStore",
    )
    args = parser.parse_args()
    scale = QUICK if args.quick else DEFAULT
    sys.exit(asyncio.run(main(args.redis_url, scale, args.quick, args.before, args.floor)))
