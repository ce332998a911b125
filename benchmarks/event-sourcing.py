"""buttress-event-sourcing against eventsourcing's PostgreSQL recorder, side by side in one run.

Run with ``nox -s bench -- event-sourcing`` (or ``python benchmarks/event-sourcing.py [--quick]``);
the default run takes about a minute on two cores. Both libraries write to the same PostgreSQL server,
each in a schema of its own that is created for the run and dropped at the end. Four workloads:

1. One writer appends 100-event batches, each to a new stream: buttress ``PostgresEventStore.append``
   (asyncpg, one round trip) against eventsourcing's ``PostgresApplicationRecorder.insert_events``
   (psycopg 3, its default gap-safe path: a pipelined transaction that locks the table and inserts with
   ``executemany``). Both take payloads that are already serialized (``EventData`` / ``StoredEvent``).
2. Eight concurrent writers append 50-event batches, each writer a process of its own with one
   connection, for both libraries (released together by a barrier once all have connected; the rate
   runs until the last one finishes), while a subscriber in the main process follows the global log;
   a subscriber that ever moves past a position it has not delivered counts it as skipped. Each
   writer makes one untimed append before the barrier, on both sides, as the single writer warms up:
   a library's first use in a fresh process (imports on first use, the server planning the statement
   for a new connection) is a cold start, not the throughput this row measures.
3. Loading a 1,000-event aggregate: from a snapshot at version 990 plus a 10-event tail, against full
   replay (buttress only: the ratio is the target).
4. The same load with the snapshot corrupted in the database: the hash check fails, the repository falls
   back to full replay; compared with plain full replay.

   Rows 3 and 4 load the same aggregate (1,000 events) the same number of times on each side, in pairs
   whose order alternates (through the snapshot first in even rounds, the full replay first in odd
   ones), each phase after a warm-up of its own.

Times are medians over rounds, with the p10-p90 band; ratios compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import io
import json
import logging
import multiprocessing
import os
import platform
import secrets
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import asyncpg
from _harness import Dist, print_table
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from buttress.event_sourcing import (
    NO_STREAM,
    Aggregate,
    Event,
    EventCodec,
    EventData,
    MemoryEventStore,
    PostgresEventStore,
    RecordedEvent,
    Repository,
    Subscription,
    applies,
)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TOKEN = secrets.token_hex(4)
OURS_SCHEMA = f"bench_buttress_{TOKEN}"
PEER_SCHEMA = f"bench_eventsourcing_{TOKEN}"
PAYLOAD = b'{"amount":"12.50","currency":"EUR","reference":"' + b"x" * 64 + b'"}'


@dataclass(frozen=True)
class Scale:
    single_rounds: int
    single_batches: int
    concurrent_rounds: int
    concurrent_batches: int
    load_rounds: int


DEFAULT = Scale(
    single_rounds=5, single_batches=60, concurrent_rounds=6, concurrent_batches=15, load_rounds=60
)
QUICK = Scale(single_rounds=2, single_batches=10, concurrent_rounds=1, concurrent_batches=5, load_rounds=10)


def verdict(value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    return f"{'≤' if at_most else '≥'} {target:g}x: {'met' if met else 'NOT met'}"


# --- setup --------------------------------------------------------------------------------------------------


async def admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def peer_datastore(dsn: str, pool_size: int, schema: str = PEER_SCHEMA) -> PostgresDatastore:
    url = urlparse(dsn)
    return PostgresDatastore(
        dbname=url.path.lstrip("/") or "postgres",
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        pool_size=pool_size,
        schema=schema,
    )


def peer_recorder(dsn: str, pool_size: int, table: str) -> PostgresApplicationRecorder:
    recorder = PostgresApplicationRecorder(peer_datastore(dsn, pool_size), events_table_name=table)
    recorder.create_table()
    return recorder


async def our_store(dsn: str, table: str, pool_size: int) -> PostgresEventStore:
    store = await PostgresEventStore.connect(
        dsn, table=f"{OURS_SCHEMA}.{table}", min_size=pool_size, max_size=pool_size
    )
    await store.create_schema()
    return store


def our_batch(size: int) -> list[EventData]:
    return [EventData(uuid.uuid4(), "Deposited", PAYLOAD) for _ in range(size)]


def peer_batch(size: int) -> list[StoredEvent]:
    stream = uuid.uuid4()
    return [StoredEvent(stream, version, "bench:Deposited", PAYLOAD) for version in range(1, size + 1)]


# --- 1. one writer ------------------------------------------------------------------------------------------


async def single_writer(dsn: str, scale: Scale) -> tuple[Dist, Dist]:
    store = await our_store(dsn, "single", 2)
    recorder = peer_recorder(dsn, 1, "single_events")
    ours: list[float] = []
    theirs: list[float] = []
    try:
        for warm in range(10):
            await store.append(f"warm-{warm}", our_batch(100), NO_STREAM)
            recorder.insert_events(peer_batch(100))
        # Batch by batch, alternating which library goes first, so both see the same load on a shared box.
        for n in range(scale.single_rounds * scale.single_batches):
            events, stored = our_batch(100), peer_batch(100)
            for side in ("ours", "theirs") if n % 2 == 0 else ("theirs", "ours"):
                started = time.perf_counter()
                if side == "ours":
                    await store.append(f"s-{n}", events, NO_STREAM)
                    ours.append(100 / (time.perf_counter() - started))
                else:
                    recorder.insert_events(stored)
                    theirs.append(100 / (time.perf_counter() - started))
    finally:
        await store.aclose()
        recorder.datastore.close()
    return Dist.of(ours), Dist.of(theirs)


# --- 2. eight writers and a subscriber ----------------------------------------------------------------------


WRITERS = 8


def _ours_writer(dsn: str, table: str, batches: int, barrier: Any, finished: Any) -> None:
    """One writer process of ours: its own connection, then ``batches`` appends after the barrier."""

    async def run() -> None:
        store = await PostgresEventStore.connect(dsn, table=table, min_size=1, max_size=1)
        try:
            await store.append(f"{uuid.uuid4()}-warm", our_batch(50), NO_STREAM)  # untimed
            await asyncio.to_thread(barrier.wait)
            for b in range(batches):
                await store.append(f"{uuid.uuid4()}-{b}", our_batch(50), NO_STREAM)
            finished.put(time.monotonic())
        finally:
            await store.aclose()

    asyncio.run(run())


def _theirs_writer(dsn: str, table: str, batches: int, barrier: Any, finished: Any) -> None:
    """One writer process of the peer's: its own recorder (one connection), the same appends."""
    schema, _, name = table.partition(".")  # a spawned process draws its own TOKEN: pass the schema
    recorder = PostgresApplicationRecorder(peer_datastore(dsn, 1, schema), events_table_name=name)
    try:
        recorder.insert_events(peer_batch(50))  # untimed, as ours
        barrier.wait()
        for _ in range(batches):
            recorder.insert_events(peer_batch(50))
        finished.put(time.monotonic())
    finally:
        recorder.datastore.close()


def run_writers(target: Callable[..., None], dsn: str, table: str, batches: int) -> float:
    """Start ``WRITERS`` processes, release them together; seconds until the last one finished."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS + 1)
    finished = context.Queue()
    processes = [
        context.Process(target=target, args=(dsn, table, batches, barrier, finished)) for _ in range(WRITERS)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)  # every writer has connected
    started = time.monotonic()
    ends = [finished.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(60)
        if process.exitcode != 0:
            raise RuntimeError(f"a writer process failed (exit code {process.exitcode})")
    return max(ends) - started


async def concurrent_ours(dsn: str, scale: Scale, round_: int) -> tuple[float, int, int]:
    # 8 writer processes (one connection each) + the subscriber here (its reads + its LISTEN); the
    # peer gets 8 writer processes + its follower thread here.
    table = f"conc{round_}"
    store = await our_store(dsn, table, 2)
    delivered: list[int] = []
    skipped = 0
    timed = WRITERS * scale.concurrent_batches * 50
    total = timed + WRITERS * 50  # and each writer's untimed first append

    async def follow(record: RecordedEvent) -> None:
        nonlocal skipped
        expected = delivered[-1] + 1 if delivered else 1
        skipped += max(0, record.position - expected)
        delivered.append(record.position)

    # Checkpoints in memory: the peer's follower keeps its position in memory too.
    subscriber = Subscription(
        store, follow, name="bench", checkpoints=MemoryEventStore(), batch_size=500, poll_interval=0.5
    )
    subscriber.start()
    try:
        elapsed = await asyncio.to_thread(
            run_writers, _ours_writer, dsn, f"{OURS_SCHEMA}.{table}", scale.concurrent_batches
        )
        for _ in range(3000):
            if len(delivered) >= total:
                break
            await asyncio.sleep(0.01)
    finally:
        await subscriber.aclose()
        await store.aclose()
    missing = total - len(set(delivered))
    return timed / elapsed, skipped, missing


def concurrent_theirs(dsn: str, scale: Scale, round_: int) -> tuple[float, int, int]:
    table = f"conc{round_}_events"
    recorder = peer_recorder(dsn, 2, table)
    timed = WRITERS * scale.concurrent_batches * 50
    total = timed + WRITERS * 50  # and each writer's untimed first append
    delivered: list[int] = []
    done = threading.Event()

    def follow() -> None:
        last = 0
        while True:
            page = recorder.select_notifications(last, 500, inclusive_of_start=False)
            delivered.extend(n.id for n in page)
            if page:
                last = page[-1].id
            elif done.is_set():
                return
            else:
                time.sleep(0.005)

    follower = threading.Thread(target=follow)
    follower.start()
    try:
        elapsed = run_writers(_theirs_writer, dsn, f"{PEER_SCHEMA}.{table}", scale.concurrent_batches)
        for _ in range(3000):
            if len(delivered) >= total:
                break
            time.sleep(0.01)
    finally:
        done.set()
        follower.join()
    stored = {n.id for n in recorder.select_notifications(None, total + 10)}
    recorder.datastore.close()
    skipped = len(stored - set(delivered))
    return timed / elapsed, skipped, total - len(set(delivered))


async def concurrent_writers(dsn: str, scale: Scale) -> tuple[Dist, Dist, int, int]:
    ours: list[float] = []
    theirs: list[float] = []
    our_skips = their_skips = our_missing = their_missing = 0
    for round_ in range(scale.concurrent_rounds):
        for side in ("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours"):
            if side == "ours":
                rate, skipped, missing = await concurrent_ours(dsn, scale, round_)
                ours.append(rate)
                our_skips += skipped
                our_missing += missing
            else:
                rate, skipped, missing = await asyncio.to_thread(concurrent_theirs, dsn, scale, round_)
                theirs.append(rate)
                their_skips += skipped
                their_missing += missing
    return Dist.of(ours), Dist.of(theirs), our_skips + our_missing, their_skips + their_missing


# --- 3/4. loading a 1,000-event aggregate -------------------------------------------------------------------


@dataclass(frozen=True)
class Deposited(Event):
    amount: Decimal
    note: str


class Account(Aggregate[str]):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = Decimal(0)
        self.deposits = 0
        self.last_note = ""

    @applies(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount
        self.deposits += 1
        self.last_note = event.note


async def loading(dsn: str, scale: Scale) -> tuple[Dist, Dist, Dist, Dist]:
    quiet = logging.getLogger("buttress.event_sourcing")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False  # the fallback still logs each time; the records are dropped, not printed
    store = await our_store(dsn, "load", 2)
    accounts = Repository(Account, store, EventCodec([Deposited]), snapshots=store)
    try:
        account = Account("acc-1000")
        for n in range(990):
            account.trigger(Deposited, amount=Decimal("1.25"), note=f"deposit {n}")
        await accounts.save(account)
        await accounts.take_snapshot(account)
        for n in range(10):
            account.trigger(Deposited, amount=Decimal("1.25"), note=f"tail {n}")
        await accounts.save(account)

        async def timed(*, use_snapshot: bool) -> float:
            started = time.perf_counter()
            loaded = await accounts.load("acc-1000", use_snapshot=use_snapshot)
            elapsed = time.perf_counter() - started
            if loaded.version != 1000 or loaded.balance != Decimal(1250):
                raise RuntimeError(f"benchmark setup is wrong: loaded {loaded!r}")
            return elapsed * 1000

        async def pairs(rounds: int) -> tuple[list[float], list[float]]:
            """``rounds`` loads through the snapshot and as many full replays, alternating the order."""
            through: list[float] = []
            replayed: list[float] = []
            for n in range(rounds):
                for use_snapshot in (True, False) if n % 2 == 0 else (False, True):
                    (through if use_snapshot else replayed).append(await timed(use_snapshot=use_snapshot))
            return through, replayed

        await pairs(6)  # warm-up
        snapshot, replay = await pairs(scale.load_rounds)
        async with store.transaction() as conn:
            await conn.execute(
                f"UPDATE {store.snapshots_table} "  # noqa: S608
                "SET state = set_byte(state, 5, get_byte(state, 5) # 1)"
            )
        await pairs(6)  # warm-up again: the server sees another row, the repository another path
        before = accounts.snapshot_integrity_failures
        corrupted, replay_again = await pairs(scale.load_rounds)
        if accounts.snapshot_integrity_failures - before != scale.load_rounds:
            raise RuntimeError("the corrupted snapshot was not detected on every load")
    finally:
        await store.aclose()
    return Dist.of(snapshot), Dist.of(replay), Dist.of(corrupted), Dist.of(replay_again)


# --- main ---------------------------------------------------------------------------------------------------


async def machine(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        server = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    versions = ", ".join(
        f"{dist} {importlib.metadata.version(dist)}"
        for dist in ("buttress-event-sourcing", "eventsourcing", "asyncpg", "psycopg")
    )
    print(f"# buttress-event-sourcing benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), asyncio default loop")
    print(f"- PostgreSQL {server} at {urlparse(dsn).hostname}:{urlparse(dsn).port}; schemas *_{TOKEN}")
    print(f"- {versions}")
    sys.stdout.flush()


async def main(dsn: str, scale: Scale) -> None:
    await machine(dsn)
    await admin(dsn, f'CREATE SCHEMA "{OURS_SCHEMA}"; CREATE SCHEMA "{PEER_SCHEMA}"')
    started = time.perf_counter()
    try:
        o1, t1 = await single_writer(dsn, scale)
        o2, t2, skips_ours, skips_theirs = await concurrent_writers(dsn, scale)
        snap, replay, corrupt, replay_again = await loading(dsn, scale)
    finally:
        await admin(
            dsn,
            f'DROP SCHEMA IF EXISTS "{OURS_SCHEMA}" CASCADE; DROP SCHEMA IF EXISTS "{PEER_SCHEMA}" CASCADE',
        )
    r1, r2 = o1.p50 / t1.p50, o2.p50 / t2.p50
    print_table(
        "Appends on PostgreSQL (events/s, higher is better)",
        ["workload", "buttress", "eventsourcing", "ratio", "target"],
        [
            ["1 writer, 100-event batches", o1.cell(), t1.cell(), f"{r1:.2f}x", verdict(r1, 1.2)],
            ["8 writers, 50-event batches", o2.cell(), t2.cell(), f"{r2:.2f}x", verdict(r2, 1.0)],
            ["events a concurrent subscriber skipped or missed", f"{skips_ours}", f"{skips_theirs}", "", "0"],
        ],
    )
    speedup = replay.p50 / snap.p50
    fallback = corrupt.p50 / replay_again.p50
    print_table(
        "Loading a 1,000-event aggregate (ms, lower is better; buttress only)",
        ["load", "time", "compared with", "ratio", "target"],
        [
            [
                "snapshot (v990) + 10-event tail",
                snap.cell(2),
                f"full replay {replay.cell(2)}",
                f"{speedup:.1f}x faster",
                verdict(speedup, 5),
            ],
            [
                "corrupted snapshot → fallback replay",
                corrupt.cell(2),
                f"full replay {replay_again.cell(2)}",
                f"{fallback:.2f}x the time",
                verdict(fallback, 1.1, at_most=True),
            ],
        ],
        [
            "",
            "Every corrupted-snapshot load was detected (SHA-256 mismatch), counted and logged, "
            "then replayed.",
        ],
    )
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s; schemas dropped.")


# --- --cold: the first append of a fresh process --------------------------------------------------------

# Each child is a fresh interpreter: it opens its store (one connection, opentelemetry-api installed but
# no SDK, as in an application that does not export metrics), then times its first three appends. CPU
# is the child's process clock and the server backend's /proc/<pid>/schedstat (the server runs on this
# machine); wall is perf_counter. Printed as JSON: seconds.
_SERVER_CPU = """
def server_cpu(pid):
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return float("nan")
"""
_OURS_COLD = (
    _SERVER_CPU
    + """
import asyncio, json, sys, time, uuid
from buttress.event_sourcing import NO_STREAM, EventData, PostgresEventStore

async def main(dsn, table, payload):
    out = {}
    wall, cpu = time.perf_counter(), time.process_time()
    store = await PostgresEventStore.connect(dsn, table=table, min_size=1, max_size=1)
    elapsed = (time.perf_counter() - wall, time.process_time() - cpu)
    pid = next(h._con for h in store.pool._holders if h._con is not None).get_server_pid()
    out["connect"] = (*elapsed, server_cpu(pid))  # the backend's CPU since it started
    for n in (1, 2, 3):
        events = [EventData(uuid.uuid4(), "Deposited", payload)]
        wall, cpu, srv = time.perf_counter(), time.process_time(), server_cpu(pid)
        await store.append(f"cold-{uuid.uuid4()}", events, NO_STREAM)
        out[f"append {n}"] = (time.perf_counter() - wall, time.process_time() - cpu, server_cpu(pid) - srv)
    await store.aclose()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].encode()))
"""
)
_PEER_COLD = (
    _SERVER_CPU
    + """
import json, sys, time, uuid
from urllib.parse import urlparse
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

dsn, schema, table, payload = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
url = urlparse(dsn)
out = {}
wall, cpu = time.perf_counter(), time.process_time()
datastore = PostgresDatastore(
    dbname=url.path.lstrip("/") or "postgres", host=url.hostname or "127.0.0.1", port=url.port or 5432,
    user=url.username or "postgres", password=url.password or "", pool_size=1, schema=schema,
)
recorder = PostgresApplicationRecorder(datastore, events_table_name=table)
with datastore.get_connection() as conn:
    pid = conn.info.backend_pid
out["connect"] = (time.perf_counter() - wall, time.process_time() - cpu, server_cpu(pid))
for n in (1, 2, 3):
    events = [StoredEvent(uuid.uuid4(), 1, "bench:Deposited", payload)]
    wall, cpu, srv = time.perf_counter(), time.process_time(), server_cpu(pid)
    recorder.insert_events(events)
    out[f"append {n}"] = (time.perf_counter() - wall, time.process_time() - cpu, server_cpu(pid) - srv)
datastore.close()
print(json.dumps(out))
"""
)


def _before_path(rev: str) -> str:
    """A folder holding buttress-core's and buttress-event-sourcing's sources at ``rev``, for PYTHONPATH."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tempfile.mkdtemp(prefix="buttress-es-cold-before-")
    for package in ("core", "event-sourcing"):
        archive = subprocess.run(  # noqa: S603 - git archive of a revision the user named
            ["git", "-C", root, "archive", rev, f"packages/{package}/src"],  # noqa: S607
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                member.name = member.name.split("/src/", 1)[-1]  # buttress/<package>/...
            tar.extractall(folder, filter="data")
    return folder


def _child(code: str, args: list[str], pythonpath: str | None = None) -> dict[str, list[float]]:
    env = dict(os.environ)
    if pythonpath is not None:  # ahead of the installed (editable) packages
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


async def cold(dsn: str, runs: int, before: str | None) -> None:
    """The first appends of fresh processes: ours (and ours at ``before``) against eventsourcing's."""
    await machine(dsn)
    load = os.getloadavg()[0]
    table = f"{OURS_SCHEMA}.cold"
    await admin(dsn, f'CREATE SCHEMA "{OURS_SCHEMA}"; CREATE SCHEMA "{PEER_SCHEMA}"')
    try:
        store = await our_store(dsn, "cold", 1)
        await store.aclose()
        peer_recorder(dsn, 1, "cold_events").datastore.close()
        sides: dict[str, tuple[str, list[str], str | None]] = {
            "buttress": (_OURS_COLD, [dsn, table, PAYLOAD.decode()], None),
            "eventsourcing": (_PEER_COLD, [dsn, PEER_SCHEMA, "cold_events", PAYLOAD.decode()], None),
        }
        if before is not None:
            sides[f"buttress at {before}"] = (
                _OURS_COLD,
                [dsn, table, PAYLOAD.decode()],
                _before_path(before),
            )
        found: dict[str, list[dict[str, list[float]]]] = {side: [] for side in sides}
        for _ in range(runs):  # the sides in turn, so a change of load falls on each alike
            for side, (code, args, path) in sides.items():
                found[side].append(_child(code, args, path))
    finally:
        await admin(
            dsn,
            f'DROP SCHEMA IF EXISTS "{OURS_SCHEMA}" CASCADE; DROP SCHEMA IF EXISTS "{PEER_SCHEMA}" CASCADE',
        )
    rows = []
    for side, results in found.items():
        for step in ("connect", "append 1", "append 2", "append 3"):
            wall, cpu, server = (Dist.range_of([r[step][i] * 1000 for r in results]) for i in range(3))
            rows.append([side, step, wall.cell(2), cpu.cell(2), server.cell(2)])
    print_table(
        f"A fresh process's store: open, then its first appends (ms, median (min-max) of {runs} processes)",
        ["library", "step", "wall", "client CPU", "server CPU"],
        rows,
        [
            "connect's server CPU is its connection's backend since it started (log-in and what the pool "
            "runs on a new connection); eventsourcing's pool opens its connection on first use, here "
            "inside connect.",
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a small smoke run instead of the full scale")
    parser.add_argument("--dsn", default=os.environ.get("BUTTRESS_POSTGRES_DSN", DEFAULT_DSN))
    parser.add_argument(
        "--cold", action="store_true", help="only the first appends of fresh processes (see cold())"
    )
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per side for --cold")
    parser.add_argument("--before", metavar="REV", help="with --cold: also buttress at git revision REV")
    args = parser.parse_args()
    if args.cold:
        asyncio.run(cold(args.dsn, args.runs, args.before))
    else:
        asyncio.run(main(args.dsn, QUICK if args.quick else DEFAULT))
