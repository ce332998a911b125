"""buttress-pooling against asyncpg.Pool and psycopg_pool.AsyncConnectionPool, side by side in one run.

Run with ``nox -s bench -- pooling`` (or ``python benchmarks/pooling.py [--quick]``). Every pool talks to
the same PostgreSQL, in the same process and event loop, after a warm-up. Three workloads:

1. Acquire + release, no query: pools of 10 (``min_size = max_size = 10``, filled before timing), driven
   by 1 and by 64 concurrent tasks; every cycle is timed; p50 and p99 in µs.
2. The pool's own cost: buttress with a no-op resource (``create`` returns ``object()``), against the
   least a pool can be (an ``asyncio.Queue`` of ready objects).
3. Recovery after every backend of a pool is killed with ``pg_terminate_backend``: the time until the
   first ``acquire`` + ``SELECT`` succeeds, retrying (and discarding the dead connection) on errors.

Each pool's connections carry their own ``application_name``, so the kill reaches only that pool.

``--before REV`` adds buttress-pooling as of the git revision REV to workload 1 (a column of its own,
in the same rounds and event loop); ``--tasks 64`` keeps only that row of workload 1, ``--workload 1``
only that workload.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import hashlib
import importlib.metadata
import logging
import os
import platform
import random
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
from _harness import load_before, print_table, ratio
from psycopg_pool import AsyncConnectionPool

import buttress.pooling
from buttress.pooling import Pool, PoolStats, ResetPolicy

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SIZE = 10
TOKEN = secrets.token_hex(3)  # in every application_name this run sets, so kills reach only our backends

type Call = Callable[[], Awaitable[None]]
type Closer = Callable[[], Awaitable[None]]
# One recovery attempt: the backend pid and the instant the query returned, or None when it failed.
type Probe = Callable[[], Awaitable[tuple[int, float] | None]]

# InternalClientError: a query sent between the server's FATAL message and the socket's end.
ASYNCPG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
PSYCOPG_ERRORS = (psycopg.Error, OSError)


@dataclass(frozen=True)
class Scale:
    """How big each workload is; ``--quick`` shrinks everything for a smoke run."""

    cycles: int  # acquire + release cycles per pool, per configuration, per repeat (workload 1)
    noop_cycles: int  # the same for workload 2
    repeats: int
    recovery_rounds: int
    slow_rounds: int  # rounds for a contender whose recovery takes seconds (psycopg_pool with check)
    pause: float  # seconds between the kill and the first attempt, in the second recovery scenario


FULL = Scale(cycles=4_000, noop_cycles=20_000, repeats=5, recovery_rounds=5, slow_rounds=2, pause=1.5)
QUICK = Scale(cycles=1_000, noop_cycles=5_000, repeats=2, recovery_rounds=2, slow_rounds=1, pause=1.5)


# --- statistics and tables ------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted samples, interpolated between the nearest ranks."""
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latency:
    """p50 and p99 of every timed cycle, each with its range over the repeats (the spread)."""

    p50: float
    p99: float
    p50_range: tuple[float, float]
    p99_range: tuple[float, float]
    rate: float  # cycles per second, median over the repeats

    @classmethod
    def of(cls, repeats: Sequence[list[float]], rates: Sequence[float]) -> Latency:
        everything = sorted(x for samples in repeats for x in samples)
        p50s = [percentile(sorted(samples), 50) for samples in repeats]
        p99s = [percentile(sorted(samples), 99) for samples in repeats]
        return cls(
            percentile(everything, 50),
            percentile(everything, 99),
            (min(p50s), max(p50s)),
            (min(p99s), max(p99s)),
            statistics.median(rates),
        )


def number(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1_000 else f"{value:,.0f}"


def cell(value: float, spread: tuple[float, float]) -> str:
    return f"{number(value)} ({number(spread[0])}-{number(spread[1])})"


# --- pools ----------------------------------------------------------------------------------------------


class NoopFactory:
    """Resources that cost nothing to make or keep: what is left to time is the pool itself."""

    async def create(self) -> object:
        return object()

    async def destroy(self, resource: object) -> None:
        pass


class QueuePool:
    """The least a pool can be: an ``asyncio.Queue`` of ready objects (no states, sizes, timeouts, checks)."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        for _ in range(size):
            self._queue.put_nowait(object())

    async def acquire(self) -> object:
        return await self._queue.get()

    async def release(self, resource: object) -> None:
        self._queue.put_nowait(resource)


def app_name(label: str) -> str:
    return f"bench-pool-{TOKEN}-{label}"[:63]  # PostgreSQL keeps 63 bytes of it


async def open_buttress(
    dsn: str, label: str, *, reset: ResetPolicy = "full", package: Any = buttress.pooling, **options: Any
) -> Pool[Any]:
    """A filled buttress pool; ``package`` is buttress.pooling, or the same at another revision."""
    factory = package.AsyncpgFactory(dsn, reset=reset, server_settings={"application_name": app_name(label)})
    pool: Pool[Any] = package.Pool(factory, min_size=SIZE, max_size=SIZE, name=label, **options)
    await pool.open()
    return pool


async def open_asyncpg(dsn: str, label: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=SIZE, max_size=SIZE, server_settings={"application_name": app_name(label)}
    )
    if pool is None:
        raise RuntimeError("asyncpg.create_pool returned None")
    return pool


async def open_psycopg(dsn: str, label: str, **options: Any) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = AsyncConnectionPool(
        dsn,
        min_size=SIZE,
        max_size=SIZE,
        open=False,
        # autocommit, as asyncpg is: a SELECT leaves no transaction for the pool to roll back.
        kwargs={"application_name": app_name(label), "autocommit": True},
        **options,
    )
    await pool.open(wait=True, timeout=30)
    return pool


# --- timing ---------------------------------------------------------------------------------------------


async def run_cycles(cycle: Call, tasks: int, cycles: int) -> tuple[list[float], float]:
    """``cycles`` calls of ``cycle`` shared by ``tasks`` concurrent tasks; each timed (µs); and cycles/s."""
    clock = time.perf_counter_ns
    per_task = max(cycles // tasks, 1)
    gate = asyncio.Event()
    timed: list[float] = []

    async def worker() -> None:
        await gate.wait()
        mine: list[int] = []
        for _ in range(per_task):
            start = clock()
            await cycle()
            mine.append(clock() - start)
        timed.extend(ns / 1_000 for ns in mine)

    workers = [asyncio.create_task(worker()) for _ in range(tasks)]
    await asyncio.sleep(0)  # every worker is parked on the gate before the clock starts
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*workers)
    return timed, per_task * tasks / (time.perf_counter() - started)


async def compare(
    cycles: dict[str, Call], tasks: int, count: int, repeats: int, seed: int
) -> dict[str, Latency]:
    """Run each pool's ``count`` cycles ``repeats`` times, the pools in a shuffled order each repeat.

    Interleaving repeat by repeat means the drift of a shared, noisy machine hits every pool alike.
    """
    names = list(cycles)
    for name in names:  # warm-up: code paths, connections, CPU caches
        await run_cycles(cycles[name], tasks, max(count // 5, tasks))
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(names)
        for name in names:
            gc.collect()
            timed, rate = await run_cycles(cycles[name], tasks, count)
            samples[name].append(timed)
            rates[name].append(rate)
    return {name: Latency.of(samples[name], rates[name]) for name in cycles}


def latency_rows(
    result: dict[str, Latency], label: str, ours: str, peers: Sequence[str], columns: Sequence[str]
) -> list[list[str]]:
    rows: list[list[str]] = []
    mine = result[ours]
    for stat, pick, spread in (
        ("p50", lambda r: r.p50, lambda r: r.p50_range),
        ("p99", lambda r: r.p99, lambda r: r.p99_range),
    ):
        rows.append(
            [
                f"{label}, {stat} µs",
                *[cell(pick(result[c]), spread(result[c])) for c in columns],
                *[ratio(pick(mine), pick(result[p])) for p in peers],
            ]
        )
    rows.append(
        [
            f"{label}, cycles/s",
            *[f"{result[c].rate:,.0f}" for c in columns],
            *[ratio(mine.rate, result[p].rate) for p in peers],
        ]
    )
    return rows


# --- workload 1: acquire + release, no query ------------------------------------------------------------


async def acquire_release(
    dsn: str, scale: Scale, tasks_rows: Sequence[int] = (1, 64), before: tuple[str, Any] | None = None
) -> None:
    ours = await open_buttress(dsn, "w1-buttress")
    old = None if before is None else await open_buttress(dsn, "w1-before", package=before[1])
    checked = await open_buttress(dsn, "w1-checked", check_on_acquire=True)
    rollback = await open_buttress(dsn, "w1-rollback", reset="rollback")
    apg = await open_asyncpg(dsn, "w1-asyncpg")
    pcg = await open_psycopg(dsn, "w1-psycopg")

    def buttress_cycle(pool: Pool[Any]) -> Call:
        async def cycle() -> None:
            async with pool.acquire():
                pass

        return cycle

    async def apg_cycle() -> None:
        async with apg.acquire():
            pass

    async def pcg_cycle() -> None:
        async with pcg.connection():
            pass

    cycles: dict[str, Call] = {
        "buttress": buttress_cycle(ours),
        "buttress, check_on_acquire": buttress_cycle(checked),
        "buttress, reset='rollback'": buttress_cycle(rollback),
        "asyncpg.Pool": apg_cycle,
        "psycopg_pool": pcg_cycle,
    }
    if old is not None and before is not None:
        cycles[f"buttress before ({before[0]})"] = buttress_cycle(old)
    columns = list(cycles)
    peers = ["asyncpg.Pool", "psycopg_pool"]
    rows: list[list[str]] = []
    try:
        for tasks in tasks_rows:
            result = await compare(cycles, tasks, scale.cycles, scale.repeats, seed=tasks)
            label = f"{tasks} task{'s' if tasks > 1 else ''}"
            full = latency_rows(result, label, "buttress", peers, columns)
            equal = latency_rows(result, label, "buttress, reset='rollback'", ["psycopg_pool"], columns)
            rows += [[*mine, theirs[-1]] for mine, theirs in zip(full, equal, strict=True)]
            if old is not None:
                then = latency_rows(result, label, columns[-1], ["asyncpg.Pool"], columns)
                rows[-3:] = [[*row, was[-1]] for row, was in zip(rows[-3:], then, strict=True)]
        stats = ours.stats()
    finally:
        for pool in (ours, checked, rollback, *([] if old is None else [old])):
            await pool.aclose()
        await apg.close()
        await pcg.close()
    print_table(
        f"1. Acquire + release, no query: pool of {SIZE} (filled), µs per cycle, value (range over repeats)",
        [
            "operation",
            *columns,
            "buttress ÷ asyncpg",
            "buttress ÷ psycopg",
            "rollback ÷ psycopg",
            *([] if old is None else ["before ÷ asyncpg"]),
        ],
        rows,
        [
            f"{scale.cycles:,} cycles per pool and configuration per repeat, {scale.repeats} repeats (pools "
            "in a shuffled order each repeat), after a warm-up; each cycle timed on its own. p50/p99 are "
            "over every cycle of every repeat; the parenthesis is the range of that percentile over the "
            "repeats. Ratios are buttress (as shipped, first column) ÷ peer, < 1: buttress faster.",
            "buttress: `Pool(AsyncpgFactory(dsn), min_size=10, max_size=10)`, otherwise defaults "
            "(`async with pool.acquire()`). Its release runs `AsyncpgFactory.reset`, which is asyncpg's "
            "`Connection.reset()` (one round trip), as asyncpg.Pool's release does; psycopg_pool's "
            "release makes no round trip when the connection is idle. `check_on_acquire` adds the "
            "factory's check (`SELECT 1`) to every acquire; `reset='rollback'` rolls back an open "
            "transaction only (none here, so no round trip), psycopg_pool's own reset semantics: the "
            "last column compares the two like with like.",
            f"buttress counters after the run: acquired={stats.acquired:,}, timeouts={stats.timeouts}, "
            f"created={stats.created}, destroyed={stats.destroyed}, reset_failures={stats.reset_failures}.",
        ],
    )


# --- workload 2: the pool's own cost --------------------------------------------------------------------


async def overhead(scale: Scale) -> None:
    ours: Pool[object] = Pool(NoopFactory(), min_size=SIZE, max_size=SIZE, name="w2-noop")
    await ours.open()
    queue = QueuePool(SIZE)

    def cycles(hold: bool) -> dict[str, Call]:
        """The three cycles; with ``hold`` each keeps its resource across one event-loop iteration."""

        async def use() -> None:
            if hold:
                await asyncio.sleep(0)

        async def ours_with() -> None:
            async with ours.acquire():
                await use()

        async def ours_await() -> None:
            resource = await ours.acquire()
            await use()
            await ours.release(resource)

        async def queue_cycle() -> None:
            resource = await queue.acquire()
            await use()
            await queue.release(resource)

        return {
            "buttress `async with`": ours_with,
            "buttress `await acquire()` + `release()`": ours_await,
            "asyncio.Queue baseline": queue_cycle,
        }

    columns = list(cycles(hold=False))
    rows: list[list[str]] = []
    try:
        for tasks, hold, label, seed in (
            (1, False, "1 task", 2),
            (64, True, "64 tasks, each holding for one loop iteration", 65),
        ):
            result = await compare(cycles(hold), tasks, scale.noop_cycles, scale.repeats, seed)
            rows += latency_rows(result, label, columns[0], ["asyncio.Queue baseline"], columns)
        stats = ours.stats()
    finally:
        await ours.aclose()
    print_table(
        f"2. Pool overhead with a no-op resource: pool of {SIZE}, µs per cycle, value (range over repeats)",
        ["operation", *columns, "buttress ÷ Queue"],
        rows,
        [
            f"{scale.noop_cycles:,} cycles per pool and configuration per repeat, {scale.repeats} repeats, "
            "interleaved, after a warm-up. The factory's `create` returns `object()`, `destroy` does "
            "nothing (no `check`, no `reset`), so every µs is the pool's. The baseline is an "
            "`asyncio.Queue` of 10 objects: `await get()`, `put_nowait()`, nothing else (no states, "
            "counters, timeouts, lifetimes, cancellation safety). Ratios on the `async with` column.",
            "With 64 tasks each holds its resource across an `await asyncio.sleep(0)`, so that the 64 "
            "contend for the 10 resources (without it a pool whose cycle never suspends runs each task's "
            "cycles back to back).",
            f"buttress counters after the run: acquired={stats.acquired:,}, released={stats.released:,}, "
            f"timeouts={stats.timeouts}, wait_time_max={stats.wait_time_max * 1_000:.1f} ms.",
        ],
    )


# --- workload 3: recovery after every backend is killed -------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """How to open one pool for a recovery round: returns its probe and its closer."""

    name: str
    config: str
    open: Callable[[str, str], Awaitable[tuple[Probe, Closer]]]
    slow: bool = False  # a round takes seconds: fewer rounds, and only right after the kill


RECOVERY_STATS: list[PoolStats] = []  # each buttress pool's counters at the end of its recovery round


async def buttress_probe(dsn: str, label: str, **options: Any) -> tuple[Probe, Closer]:
    pool = await open_buttress(dsn, label, **options)

    async def probe() -> tuple[int, float] | None:
        connection = await pool.acquire(timeout=10)
        try:
            pid: int = await connection.fetchval("SELECT pg_backend_pid()")
        except ASYNCPG_ERRORS:
            await pool.release(connection, discard=True)
            return None
        at = time.perf_counter()
        await pool.release(connection)
        return pid, at

    async def close() -> None:
        RECOVERY_STATS.append(pool.stats())
        await pool.aclose()

    return probe, close


async def asyncpg_probe(dsn: str, label: str) -> tuple[Probe, Closer]:
    pool = await open_asyncpg(dsn, label)

    async def probe() -> tuple[int, float] | None:
        try:
            async with pool.acquire(timeout=10) as connection:
                pid: int = await connection.fetchval("SELECT pg_backend_pid()")
                at = time.perf_counter()
        except ASYNCPG_ERRORS:
            return None  # the pool replaces a closed connection on a later acquire
        return pid, at

    return probe, pool.close


async def psycopg_probe(dsn: str, label: str, **options: Any) -> tuple[Probe, Closer]:
    pool = await open_psycopg(dsn, label, **options)

    async def probe() -> tuple[int, float] | None:
        try:
            async with pool.connection(timeout=10) as connection:
                cursor = await connection.execute("SELECT pg_backend_pid()")
                row = await cursor.fetchone()
                at = time.perf_counter()
        except PSYCOPG_ERRORS:
            return None  # returned broken, the pool discards it and opens a replacement
        if row is None:
            raise RuntimeError("SELECT pg_backend_pid() returned no row")
        return int(row[0]), at

    async def close() -> None:
        await pool.close(timeout=5)

    return probe, close


CONTENDERS = (
    Contender("buttress", "defaults (`health_check_interval=30`)", buttress_probe),
    Contender(
        "buttress",
        "`health_check_interval=1`",
        lambda dsn, label: buttress_probe(dsn, label, health_check_interval=1.0),
    ),
    Contender(
        "buttress",
        "`check_on_acquire=True`",
        lambda dsn, label: buttress_probe(dsn, label, check_on_acquire=True),
    ),
    Contender("asyncpg.Pool", "defaults", asyncpg_probe),
    Contender("psycopg_pool", "defaults", psycopg_probe),
    Contender(
        "psycopg_pool",
        "`check=AsyncConnectionPool.check_connection`",
        lambda dsn, label: psycopg_probe(dsn, label, check=AsyncConnectionPool.check_connection),
        slow=True,
    ),
)


async def backends(admin: asyncpg.Connection, name: str) -> list[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", name)
    return [row["pid"] for row in rows]


async def recovery_round(
    admin: asyncpg.Connection, dsn: str, who: Contender, label: str, pause: float
) -> tuple[float, int]:
    probe, close = await who.open(dsn, label)
    try:
        for _ in range(20):  # warm-up: the code paths, on live connections
            if await probe() is None:
                raise RuntimeError(f"{who.name}: a query failed before the kill")
        deadline = time.monotonic() + 20
        while len(await backends(admin, app_name(label))) != SIZE:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{who.name}: the pool never held {SIZE} connections")
            await asyncio.sleep(0.01)
        killed = await admin.fetch(
            "SELECT pid, pg_terminate_backend(pid) AS signalled FROM pg_stat_activity "
            "WHERE application_name = $1",
            app_name(label),
        )
        if len(killed) != SIZE or not all(row["signalled"] for row in killed):
            raise RuntimeError(f"{who.name}: killed {len(killed)} backends, expected {SIZE}")
        dead = [row["pid"] for row in killed]
        # The clock starts once every killed backend has exited (its row leaves pg_stat_activity just
        # before its socket closes). pg_terminate_backend(pid, timeout) would wait too, but it polls
        # every 100 ms per backend, which would hand the health loop a second of head start.
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", dead):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{who.name}: killed backends still running after 10 s")
            await asyncio.sleep(0.001)
        if pause:
            await asyncio.sleep(pause)
        failures = 0
        started = time.perf_counter()
        while True:
            got = await probe()
            if got is None:
                failures += 1
                if failures > 1_000:
                    raise RuntimeError(f"{who.name}: no recovery after {failures} attempts")
                continue
            pid, at = got
            if pid in set(dead):
                raise RuntimeError(f"{who.name}: a query succeeded on a killed backend ({pid})")
            return (at - started) * 1_000, failures
    finally:
        await close()


async def recovery(dsn: str, scale: Scale) -> None:
    admin = await asyncpg.connect(dsn, server_settings={"application_name": app_name("admin")})
    scenarios = (("right after the kill", 0.0), (f"{scale.pause:g} s after the kill", scale.pause))
    times: dict[tuple[int, int], list[float]] = {}
    failures: dict[tuple[int, int], list[int]] = {}
    rng = random.Random(3)
    try:
        for n in range(scale.recovery_rounds):
            order = [
                (s, c)
                for s in range(len(scenarios))
                for c, who in enumerate(CONTENDERS)
                if not who.slow or (s == 0 and n < scale.slow_rounds)
            ]
            rng.shuffle(order)
            for s, c in order:
                ms, failed = await recovery_round(
                    admin, dsn, CONTENDERS[c], f"w3-{n}-{s}-{c}", scenarios[s][1]
                )
                times.setdefault((s, c), []).append(ms)
                failures.setdefault((s, c), []).append(failed)
    finally:
        await admin.close()

    buttress_rows = [c for c, who in enumerate(CONTENDERS) if who.name == "buttress"]
    peer_rows = [c for c in range(len(CONTENDERS)) if c not in buttress_rows]
    rows: list[list[str]] = []
    for s, (scenario, _) in enumerate(scenarios):
        medians = {c: statistics.median(times[(s, c)]) for c in range(len(CONTENDERS)) if (s, c) in times}
        for c, who in enumerate(CONTENDERS):
            if (s, c) not in times:
                continue
            ms, failed = times[(s, c)], failures[(s, c)]
            rows.append(
                [
                    scenario,
                    f"{who.name}, {who.config}",
                    cell(medians[c], (min(ms), max(ms))),
                    f"{statistics.median(failed):g} ({min(failed)}-{max(failed)})",
                    *[ratio(medians[c], medians.get(p)) if c in buttress_rows else "" for p in peer_rows],
                ]
            )
    print_table(
        f"3. Recovery after `pg_terminate_backend` of all {SIZE} connections: ms until the first "
        "acquire + SELECT succeeds, median (min-max)",
        [
            "when",
            "pool, configuration",
            "recovery, ms",
            "failed attempts",
            *[f"÷ {CONTENDERS[p].name}, {CONTENDERS[p].config}" for p in peer_rows],
        ],
        rows,
        [
            f"{scale.recovery_rounds} rounds per row ({scale.slow_rounds} for psycopg_pool with `check`, "
            "right after the kill only: each of its rounds takes about 20 s, see below), rows interleaved "
            f"in a shuffled order; every round on a fresh pool of {SIZE} (filled, warmed up with 20 "
            "queries), its backends found by its own `application_name` and killed from a separate "
            "connection with `pg_terminate_backend(pid)`. The clock starts once every killed backend "
            "has left `pg_stat_activity` (or after the pause) and stops when a query returns on a new "
            "backend.",
            "One attempt: acquire (timeout 10 s), `SELECT pg_backend_pid()` (as cheap as `SELECT 1`; the "
            "pid proves the backend is a new one). On an error the connection is given back as each "
            "library wants it: buttress `release(conn, discard=True)`; asyncpg.Pool and psycopg_pool "
            "discard a closed connection when it comes back (leaving `async with`); then the loop retries "
            "at once. `failed attempts`: attempts that raised before the first success (a dead connection "
            "handed out, or an acquire timeout).",
            "Ratios: that buttress row's median ÷ the peer's median in the same scenario; "
            "< 1: buttress faster.",
            f"buttress counters, summed over its {len(RECOVERY_STATS)} recovery pools: "
            f"created={sum(x.created for x in RECOVERY_STATS)}, "
            f"destroyed={sum(x.destroyed for x in RECOVERY_STATS)}, "
            f"check_failures={sum(x.check_failures for x in RECOVERY_STATS)}, "
            f"create_errors={sum(x.create_errors for x in RECOVERY_STATS)}, "
            f"destroy_errors={sum(x.destroy_errors for x in RECOVERY_STATS)}, "
            f"reset_failures={sum(x.reset_failures for x in RECOVERY_STATS)}.",
            "buttress without `check_on_acquire` checks idle connections only in its health pass "
            "(`AsyncpgFactory.check`), so right after the kill it hands out dead connections (already "
            "known closed to asyncpg) until a replacement is ready; with `health_check_interval=1` the "
            "pass replaces them during the pause; with `check_on_acquire=True` every acquire checks the "
            "connection first and replaces a dead one, so no caller gets one. asyncpg.Pool reconnects on "
            "acquire a connection the driver knows is closed. psycopg_pool with `check` checks on acquire "
            "but backs off (about 1 s, then 2 s, 4 s...) after each connection that fails its check, so "
            "with 10 dead connections the first acquires run into their 10 s timeout.",
        ],
    )


# --- main -----------------------------------------------------------------------------------------------


async def machine(dsn: str, quick: bool) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        version = await connection.fetchval("SHOW server_version")
        max_connections = await connection.fetchval("SHOW max_connections")
    finally:
        await connection.close()
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in ("buttress-pooling", "asyncpg", "psycopg", "psycopg-pool")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    # The package is unreleased and changes between runs: name the exact sources that were measured.
    source = hashlib.sha256()
    for path in sorted(Path(buttress.pooling.__file__).parent.glob("*.py")):
        source.update(path.read_bytes())
    print(f"# buttress-pooling benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"- load average at start: {load}")
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), asyncio default loop")
    print(f"- PostgreSQL {version} (max_connections {max_connections}) at {dsn.rsplit('@', 1)[-1]}")
    print(f"- {versions} (sources sha256 {source.hexdigest()[:12]})")
    print(f"- scale: {'QUICK (--quick)' if quick else 'default'}; application_name token {TOKEN}")
    sys.stdout.flush()


async def main(
    dsn: str, scale: Scale, quick: bool, workloads: Sequence[int], tasks: Sequence[int], before: str | None
) -> None:
    await machine(dsn, quick)
    started = time.perf_counter()
    if 1 in workloads:
        old = None if before is None else (before, load_before("pooling", before))
        await acquire_release(dsn, scale, tasks, old)
    if 2 in workloads:
        await overhead(scale)
    if 3 in workloads:
        await recovery(dsn, scale)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s; load average at the end: {load}.")


if __name__ == "__main__":
    # Every pool logs the dead connections it discards in workload 3; the tables count them instead.
    logging.basicConfig(level=logging.ERROR)
    for name in ("psycopg", "asyncpg", "buttress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run instead of the full scale")
    parser.add_argument("--dsn", default=os.environ.get("BENCH_POSTGRES_DSN", DEFAULT_DSN))
    parser.add_argument(
        "--before", metavar="REV", help="add buttress-pooling at git revision REV to workload 1"
    )
    parser.add_argument("--workload", type=int, action="append", choices=(1, 2, 3), help="run only these")
    parser.add_argument("--tasks", type=int, action="append", choices=(1, 64), help="workload 1's rows")
    args = parser.parse_args()
    workloads, tasks = args.workload or (1, 2, 3), args.tasks or (1, 64)
    asyncio.run(main(args.dsn, QUICK if args.quick else FULL, args.quick, workloads, tasks, args.before))
