"""buttress-caching and buttress-idempotency on a 3-primary Redis Cluster against one Redis node, one run.

Run with ``nox -s bench -- redis_cluster`` (or ``python benchmarks/redis_cluster.py [--quick]``); the
default run takes about four minutes. Everything runs on private ``redis-server`` processes this script
starts (buttress-testing's `RedisServer` and `RedisClusterServer`, no persistence, no replicas), so the
single node and the cluster's nodes are the same binary with the same settings; nothing touches a
shared server.

The load comes from client processes (1, then 4), each an event loop with 32 operations in flight,
all started together and counting operations for a fixed time. Two workloads:

- caching: ``RedisCache.set`` then ``RedisCache.get`` of a fresh key (two round trips);
- idempotency: ``RedisStore.claim`` of a fresh key then ``complete`` (two script calls).

Three layouts: one node; the cluster with keys spread over every slot (so over the three primaries);
the cluster with every key under one hash tag (so one primary serves them all, the others idle). The
table gives operations/s (median of the rounds, min-max) and ratios against the single node in the
same round. Redis Cluster's gain comes from more CPU serving requests: with fewer cores than primaries
plus client processes, the cores cap it, and the table says what the machine allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import platform
import secrets
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from _harness import Dist, print_table, ratio

from buttress.caching import RedisCache
from buttress.idempotency import RedisStore, StoredResponse
from buttress.testing import RedisClusterServer, RedisServer

CONCURRENCY = 32
WORKLOADS = ("caching", "idempotency")
LAYOUTS = ("single node", "cluster, keys spread", "cluster, one hash tag")
# Fresh keys whose claim came back not "claimed" (none should: a claim the client retries after a
# timeout carries the same lease token, which the store recognises). Counted, reported.
REFUSED: dict[tuple[int, str, str], int] = {}


def _key(layout: str, worker: str, n: int) -> str:
    if layout == "cluster, one hash tag":
        return f"{{hot}}:{worker}:{n}"
    return f"{worker}:{n}"


async def _run(workload: str, layout: str, url: str, start_at: float, duration: float) -> tuple[int, int]:
    """One client process: CONCURRENCY loops of the workload from ``start_at`` for ``duration`` s."""
    cluster = layout != "single node"
    prefix = f"bench:{secrets.token_hex(4)}:"
    backend: Any
    if workload == "caching":
        backend = RedisCache[str].from_url(url, prefix=prefix, cluster=cluster, max_connections=64)
    else:
        backend = RedisStore.from_url(url, prefix=prefix, cluster=cluster, max_connections=64)
    counts = [0] * CONCURRENCY
    refused = [0] * CONCURRENCY
    response = StoredResponse(201, (), b"{}")

    async def loop(index: int, until: float, phase: str) -> None:
        worker = f"{phase}-{index}"  # a fresh key every time: the prefix is this process's own
        n = 0
        while time.monotonic() < until:
            key = _key(layout, worker, n)
            if workload == "caching":
                await backend.set(key, "value", ttl=60)
                await backend.get(key)
            else:
                claim = await backend.claim(key, "fp", lease=30)
                if claim.token is None:  # never expected for a fresh key
                    refused[index] += 1
                else:
                    await backend.complete(key, claim.token, response, retention=60)
            n += 1
        counts[index] = n

    try:
        # Warm up: connections to every node, scripts loaded.
        await asyncio.gather(*(loop(i, time.monotonic() + 0.3, "warm") for i in range(CONCURRENCY)))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        until = time.monotonic() + duration
        refused[:] = [0] * CONCURRENCY
        await asyncio.gather(*(loop(i, until, "run") for i in range(CONCURRENCY)))
    finally:
        await backend.aclose()
    return sum(counts), sum(refused)


def _client(workload: str, layout: str, url: str, start_at: float, duration: float) -> tuple[int, int]:
    return asyncio.run(_run(workload, layout, url, start_at, duration))


def _measure(
    pool: ProcessPoolExecutor, processes: int, workload: str, layout: str, url: str, duration: float
) -> float:
    start_at = time.time() + 1.5  # every process connected and warmed up before the clock starts
    futures = [pool.submit(_client, workload, layout, url, start_at, duration) for _ in range(processes)]
    answers = [future.result() for future in futures]
    REFUSED[(processes, workload, layout)] = REFUSED.get((processes, workload, layout), 0) + sum(
        refused for _, refused in answers
    )
    return sum(ops for ops, _ in answers) / duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 1.5 s per cell (a smoke run)")
    args = parser.parse_args()
    rounds, duration = (1, 1.5) if args.quick else (3, 4.0)
    process_counts = (1, 4)
    load_before = os.getloadavg()
    results: dict[tuple[int, str, str], list[float]] = {}
    context = multiprocessing.get_context("spawn")
    with (
        RedisServer() as single,
        RedisClusterServer(nodes=3) as cluster,
        ProcessPoolExecutor(max(process_counts), mp_context=context) as pool,
    ):
        urls: dict[str, str] = dict.fromkeys(LAYOUTS, cluster.url)
        urls["single node"] = single.url
        for _ in range(rounds):
            for processes in process_counts:
                for workload in WORKLOADS:
                    for layout in LAYOUTS:
                        rate = _measure(pool, processes, workload, layout, urls[layout], duration)
                        results.setdefault((processes, workload, layout), []).append(rate)
    load_after = os.getloadavg()
    _report(results, rounds, duration, process_counts, load_before, load_after)


def _report(
    results: dict[tuple[int, str, str], list[float]],
    rounds: int,
    duration: float,
    process_counts: tuple[int, ...],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    print(f"## Redis Cluster vs one node ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)"
    )
    print(
        f"- Python {platform.python_version()}; {rounds} rounds x {duration} s per cell, "
        f"{CONCURRENCY} in flight per process"
    )
    for workload in WORKLOADS:
        rows = []
        for processes in process_counts:
            base = results[(processes, workload, "single node")]
            for layout in LAYOUTS:
                samples = results[(processes, workload, layout)]
                per_round = [s / b for s, b in zip(samples, base, strict=True)]
                rows.append(
                    [
                        f"{processes} process{'es' if processes > 1 else ''}, {layout}",
                        Dist.range_of(samples).cell(),
                        ratio(statistics.median(per_round), 1.0),
                    ]
                )
        print_table(
            f"{workload}: operations/s (median (min-max))",
            ["load, layout", "ops/s", "vs one node (same round)"],
            rows,
        )
    _growth(results, process_counts)
    odd = {cell: count for cell, count in REFUSED.items() if count}
    if odd:
        print("\nFresh idempotency keys whose claim was not 'claimed':")
        for (processes, workload, layout), count in sorted(odd.items()):
            print(f"- {processes} process(es), {workload}, {layout}: {count}")


def _growth(results: dict[tuple[int, str, str], list[float]], process_counts: tuple[int, ...]) -> None:
    median: Callable[[tuple[int, str, str]], float] = lambda cell: statistics.median(results[cell])  # noqa: E731
    rows = []
    for workload in WORKLOADS:
        for layout in LAYOUTS:
            one, many = (median((p, workload, layout)) for p in (process_counts[0], process_counts[-1]))
            rows.append([f"{workload}, {layout}", ratio(many, one)])
    print_table(
        f"Growth from {process_counts[0]} to {process_counts[-1]} client processes (median ops/s)",
        ["workload, layout", "growth"],
        rows,
    )


if __name__ == "__main__":
    main()
