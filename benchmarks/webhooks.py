"""buttress-webhooks against standardwebhooks (verification) and a raw httpx loop (delivery), in one run.

Run with ``nox -s bench -- webhooks`` (or ``python benchmarks/webhooks.py [--quick]``). Three parts:

1. Verification: `WebhookVerifier.verify` against ``standardwebhooks.Webhook.verify`` (JSON parsing
   off on both) on the same signed 1 KiB payload, and signing against ``Webhook.sign``; operations/s.
2. Delivery: short rounds of 200 messages per path to a local receiver (uvicorn in a subprocess)
   that verifies every signature and counts ids. A raw httpx loop signs and POSTs the same payloads
   (sequentially, and 8 at a time); the outbox path is measured end to end, send and delivery
   together, as a service runs them: one `DeliveryWorker` (8 in flight) is running and idle, then 8
   senders call `PostgresOutbox.send` for the 200 messages (as request handlers would) while the
   worker, woken by the sends, claims, signs, POSTs and records them; the clock stops when the last
   delivery is recorded as delivered. The outbox opens its own pool (`PostgresOutbox.connect`, whose
   releases skip asyncpg's reset query after the outbox's own statements); the same outbox on an
   application's ``asyncpg.create_pool`` (a full reset on every release) runs in the same rounds, and
   so does the previous outbox (one statement per send, no grouping, on the application's pool). The
   same again on `MemoryOutbox` (the embedded default, through the same `Outbox` Protocol). The
   PostgreSQL outbox is also run in two phases, all sends then `DeliveryWorker.drain` (the previous
   measurement; each phase is shown alone too). The target
   is the PostgreSQL outbox end to end >= 80% of the faster raw loop, taken as the median of
   per-round ratios, since the paths of one round share the machine's load. Since the load on a
   shared machine moves those rates, the CPU each path costs per message is measured too (this
   process, the pool's PostgreSQL backends and the receiver, from ``/proc``): a measure the other
   programs on the machine do not move.
3. Flaky receiver: one id in five answers 503 + ``Retry-After: 0`` the first time; a fast retry
   schedule; the run ends when nothing is pending. Target: 100% delivered, 0 duplicates.

PostgreSQL comes from ``BUTTRESS_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
the script works in a schema of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import standardwebhooks
from _harness import Dist, print_table, ratio

from buttress.webhooks import (
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    MemoryEndpointStore,
    MemoryOutbox,
    NetworkPolicy,
    PostgresOutbox,
    RetrySchedule,
    WebhookSigner,
    WebhookVerifier,
    generate_secret,
    new_message_id,
)

HERE = Path(__file__).parent
DSN = os.environ.get("BUTTRESS_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = 8


def per_second(calls: dict[str, Callable[[], object]], count: int, rounds: int) -> dict[str, Dist]:
    """Operations/s of each call; rounds alternate between the calls so machine noise hits all alike."""
    for call in calls.values():
        for _ in range(count // 10):
            call()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            for _ in range(count):
                call()
            samples[name].append(count / (time.perf_counter() - started))
    return {name: Dist.range_of(values) for name, values in samples.items()}


def verification(quick: bool) -> None:
    secret = generate_secret()
    body = json.dumps({"type": "invoice.paid", "data": {"id": "in_1", "lines": ["x" * 40] * 20}}).encode()[
        :1024
    ]
    msg_id = new_message_id()
    ours = WebhookVerifier(secret)
    theirs = standardwebhooks.Webhook(secret)
    signer = WebhookSigner(secret)
    headers = signer.headers(body, msg_id=msg_id)
    stamp = datetime.datetime.now(datetime.UTC)
    text = body.decode()
    if ours.verify(headers, body).id != msg_id:
        raise RuntimeError("benchmark setup is wrong: the verifier returned another id")
    theirs.verify(body, headers, json_parse=False)
    count, rounds = (5_000, 5) if quick else (20_000, 9)
    rows = []
    found = per_second(
        {
            "ours": lambda: ours.verify(headers, body),
            "theirs": lambda: theirs.verify(body, headers, json_parse=False),
        },
        count,
        rounds,
    )
    verify_ours, verify_theirs = found["ours"], found["theirs"]
    rows.append(
        [
            "verify (v1, 1 KiB)",
            verify_ours.cell(),
            verify_theirs.cell(),
            ratio(verify_ours.p50, verify_theirs.p50),
        ]
    )
    found = per_second(
        {
            "ours": lambda: signer.sign(msg_id, stamp, body),
            "theirs": lambda: theirs.sign(msg_id, stamp, text),
        },
        count,
        rounds,
    )
    sign_ours, sign_theirs = found["ours"], found["theirs"]
    rows.append(
        ["sign (v1, 1 KiB)", sign_ours.cell(), sign_theirs.cell(), ratio(sign_ours.p50, sign_theirs.p50)]
    )
    print_table(
        "Signing and verification (operations/s, median (min-max))",
        ["operation", "buttress", "standardwebhooks", "ratio"],
        rows,
        [
            "Target: verify >= 1.50x standardwebhooks: "
            f"{'met' if verify_ours.p50 >= 1.5 * verify_theirs.p50 else 'NOT met'}."
        ],
    )


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from ``/proc`` (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class CpuMeter:
    """CPU per message of each path: this process, the PostgreSQL backends of a pool, the receiver."""

    def __init__(self, admin: asyncpg.Connection, receiver: int) -> None:
        self.admin = admin
        self.receiver = receiver
        self.used: dict[str, list[float]] = {}  # path -> [client, postgres, receiver, messages]

    async def backends(self, application: str | None) -> dict[int, float]:
        if application is None:
            return {}
        rows = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", application
        )
        return {r["pid"]: cpu_of(r["pid"]) for r in rows}

    async def start(self, application: str | None) -> tuple[float, dict[int, float], float]:
        return time.process_time(), await self.backends(application), cpu_of(self.receiver)

    async def stop(
        self, path: str, application: str | None, began: tuple[float, dict[int, float], float], messages: int
    ) -> None:
        client = time.process_time() - began[0]
        after = await self.backends(application)
        postgres = sum(used - began[1].get(pid, 0.0) for pid, used in after.items())
        total = self.used.setdefault(path, [0.0, 0.0, 0.0, 0.0])
        for index, value in enumerate((client, postgres, cpu_of(self.receiver) - began[2], messages)):
            total[index] += value

    def per_message(self, path: str) -> tuple[float, float, float]:
        client, postgres, receiver, messages = self.used[path]
        return client / messages, postgres / messages, receiver / messages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
            else:
                return
    raise RuntimeError("the receiver did not start")


async def stats(client: httpx.AsyncClient, base: str, *, reset: bool = True) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"{base}/stats")).json()
    if reset:
        await client.post(f"{base}/reset")
    return found


def expect(found: dict[str, Any], ids: set[str]) -> None:
    if set(found["ok"]) != ids or any(n != 1 for n in found["ok"].values()) or found["rejected"]:
        raise RuntimeError(
            f"benchmark check failed: {len(found['ok'])} ids of {len(ids)}, rejected {found['rejected']}"
        )


async def raw_loop(
    base: str, signer: WebhookSigner, bodies: list[bytes], concurrency: int
) -> tuple[float, set[str]]:
    """Sign and POST every body with plain httpx: ``concurrency`` loops pulling from one queue."""
    ids = [new_message_id() for _ in bodies]
    queue = iter(zip(ids, bodies, strict=True))
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def loop() -> None:
            for msg_id, body in queue:
                headers = {"content-type": "application/json", **signer.headers(body, msg_id=msg_id)}
                response = await client.post(f"{base}/ok", content=body, headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - started), set(ids)


class _Counted:
    """Counts the deliveries an outbox records as delivered, to stop the clock at the last one."""

    def __init__(self) -> None:
        self.target = 0
        self.delivered = 0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.target, self.delivered = count, 0
        self.done.clear()

    def add(self, outcomes: Any, held: set[int]) -> None:
        self.delivered += sum(
            1 for o in outcomes if o.status is DeliveryStatus.DELIVERED and o.claim.delivery_id in held
        )
        if self.delivered >= self.target:
            self.done.set()


class CountedPostgresOutbox(PostgresOutbox):
    """`PostgresOutbox` whose `settle` also counts what it recorded as delivered (nothing else changes)."""

    counted = _Counted()

    async def settle(self, outcomes: Any) -> tuple[set[int], dict[str, datetime.datetime]]:
        held, failing = await super().settle(outcomes)
        self.counted.add(outcomes, held)
        return held, failing


class OneStatementPerSend(CountedPostgresOutbox):
    """The outbox as it was before sends were grouped: each send its own statement and commit."""

    async def _grouped(self, send: Any) -> bool:
        async with self._connection() as connection:
            stored = bool(await connection.fetchval(self._send_sql, *send.arguments))
        if stored and send.targets:
            self._sends.notify()
        return stored


class CountedMemoryOutbox(MemoryOutbox):
    """`MemoryOutbox` whose `settle` also counts what it recorded as delivered (nothing else changes)."""

    counted = _Counted()

    async def settle(self, outcomes: Any) -> tuple[set[int], dict[str, datetime.datetime]]:
        held, failing = await super().settle(outcomes)
        self.counted.add(outcomes, held)
        return held, failing


def delivery_worker(outbox: PostgresOutbox | MemoryOutbox) -> DeliveryWorker:
    return DeliveryWorker(
        outbox,
        policy=NetworkPolicy(allow=["127.0.0.0/8"]),
        batch_size=16,
        concurrency=CONCURRENCY,
        timeout=10,
        lease=60,
    )


async def send_all(outbox: PostgresOutbox | MemoryOutbox, bodies: list[bytes]) -> set[str]:
    """Send every body with ``CONCURRENCY`` senders, as request handlers would."""
    queue = iter(bodies)
    ids: set[str] = set()

    async def sender() -> None:
        for body in queue:
            ids.add((await outbox.send("invoice.paid", body)).id)

    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    return ids


async def outbox_round(
    outbox: CountedPostgresOutbox | CountedMemoryOutbox, bodies: list[bytes]
) -> tuple[float, set[str]]:
    """Send and deliver together: a running worker, woken by the sends; the end-to-end rate and ids."""
    outbox.counted.expect(len(bodies))
    async with delivery_worker(outbox) as worker:
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop=stop))
        await asyncio.sleep(0.01)  # the worker is up and idle, as in a service between requests
        started = time.perf_counter()
        ids = await send_all(outbox, bodies)
        await outbox.counted.done.wait()
        elapsed = time.perf_counter() - started
        stop.set()
        await runner
    return len(bodies) / elapsed, ids


async def phased_round(outbox: PostgresOutbox, bodies: list[bytes]) -> tuple[float, float, float, set[str]]:
    """All sends, then `DeliveryWorker.drain`: the enqueue rate, the delivery rate, and both together."""
    started = time.perf_counter()
    ids = await send_all(outbox, bodies)
    sending = time.perf_counter() - started
    async with delivery_worker(outbox) as worker:
        started = time.perf_counter()
        delivered = await worker.drain()
        delivering = time.perf_counter() - started
    if delivered != len(bodies):
        raise RuntimeError(f"the worker delivered {delivered} of {len(bodies)}")
    return len(bodies) / sending, delivered / delivering, len(bodies) / (sending + delivering), ids


async def delivery(quick: bool) -> None:
    secret = generate_secret()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    receiver = subprocess.Popen(  # noqa: S603, ASYNC220 - our own helper, started once before timing
        [sys.executable, str(HERE / "_webhooks_receiver.py"), str(port), secret]
    )
    schema = f"bench_webhooks_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    # Each pool names itself to PostgreSQL, so the CPU of its backends can be read.
    app_settings = {"search_path": schema, "application_name": f"{schema}_app"}
    own_settings = {"search_path": schema, "application_name": f"{schema}_own"}
    pool = await asyncpg.create_pool(DSN, min_size=2, max_size=20, server_settings=app_settings)
    store = MemoryEndpointStore()
    schedule = RetrySchedule((0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5), jitter=0)
    outbox = await CountedPostgresOutbox.connect(
        DSN, store, table="webhook", schedule=schedule, min_size=2, max_size=20, server_settings=own_settings
    )
    meter = CpuMeter(admin, receiver.pid)
    applications = {
        "box": own_settings["application_name"],
        "app": app_settings["application_name"],
        "before": app_settings["application_name"],
    }
    try:
        await wait_for(f"{base}/stats")
        # The same tables through the application's pool: asyncpg's full reset on every release.
        on_app_pool = CountedPostgresOutbox(pool, store, table="webhook", schedule=schedule)
        previous = OneStatementPerSend(pool, store, table="webhook", schedule=schedule)
        await outbox.create_schema()
        memory = CountedMemoryOutbox(store, schedule=schedule)
        endpoint = await store.create(Endpoint(f"{base}/ok", (secret,)))
        signer = WebhookSigner(secret)
        count, rounds = (200, 5) if quick else (200, 15)
        body = json.dumps({"type": "invoice.paid", "data": {"id": "in_1", "amount": 1234}}).encode()
        bodies = [body] * count
        async with httpx.AsyncClient() as control:
            await raw_loop(base, signer, bodies[:100], CONCURRENCY)  # warm-up
            await outbox_round(outbox, bodies[:100])
            await outbox_round(on_app_pool, bodies[:100])
            await outbox_round(previous, bodies[:100])
            await outbox_round(memory, bodies[:100])
            await phased_round(outbox, bodies[:100])
            await stats(control, base)
            rates: dict[str, list[float]] = {
                "seq": [],
                "conc": [],
                "box": [],
                "app": [],
                "before": [],
                "mem": [],
                "phased": [],
                "enqueue": [],
                "deliver": [],
            }
            paired: list[float] = []
            paired_app: list[float] = []
            paired_before: list[float] = []
            paired_phased: list[float] = []
            for index in range(rounds):
                # Short rounds, in a rotating order, so the machine's load hits every path alike;
                # the ratio is taken within each round, then its median reported.
                measured: dict[str, float] = {}
                order = ("seq", "conc", "box", "app", "before", "mem", "phased")
                for path in order[index % 7 :] + order[: index % 7]:
                    began = await meter.start(applications.get(path))
                    if path == "box":
                        rate, ids = await outbox_round(outbox, bodies)
                    elif path == "app":
                        rate, ids = await outbox_round(on_app_pool, bodies)
                    elif path == "before":
                        rate, ids = await outbox_round(previous, bodies)
                    elif path == "mem":
                        rate, ids = await outbox_round(memory, bodies)
                    elif path == "phased":
                        queued, deliver, rate, ids = await phased_round(outbox, bodies)
                        rates["enqueue"].append(queued)
                        rates["deliver"].append(deliver)
                    else:
                        rate, ids = await raw_loop(base, signer, bodies, 1 if path == "seq" else CONCURRENCY)
                    await meter.stop(path, applications.get(path), began, len(bodies))
                    expect(await stats(control, base), ids)
                    measured[path] = rate
                    rates[path].append(rate)
                raw = max(measured["seq"], measured["conc"])
                paired.append(measured["box"] / raw)
                paired_app.append(measured["app"] / raw)
                paired_before.append(measured["before"] / raw)
                paired_phased.append(measured["phased"] / raw)
            seq, conc, box, app, before, mem, phased, enq, dlv = (
                Dist.range_of(rates[k])
                for k in ("seq", "conc", "box", "app", "before", "mem", "phased", "enqueue", "deliver")
            )
            within = statistics.median(paired)
            print_table(
                f"Delivery to a verifying receiver ({rounds} rounds x {count} messages a path, messages/s)",
                ["path", "messages/s", "outbox end to end / this"],
                [
                    ["raw httpx loop, sequential (sign + POST)", seq.cell(), ratio(box.p50, seq.p50)],
                    [
                        f"raw httpx loop, {CONCURRENCY} in flight (sign + POST)",
                        conc.cell(),
                        ratio(box.p50, conc.p50),
                    ],
                    [
                        f"PostgresOutbox end to end: {CONCURRENCY} senders + a running DeliveryWorker "
                        f"({CONCURRENCY} in flight), its own pool (connect)",
                        box.cell(),
                        "1.00x",
                    ],
                    [
                        "PostgresOutbox end to end, on the application's asyncpg pool (full reset)",
                        app.cell(),
                        ratio(box.p50, app.p50),
                    ],
                    [
                        "before: one statement per send, on the application's pool (full reset)",
                        before.cell(),
                        ratio(box.p50, before.p50),
                    ],
                    [
                        f"MemoryOutbox end to end: {CONCURRENCY} senders + a running DeliveryWorker",
                        mem.cell(),
                        ratio(box.p50, mem.p50),
                    ],
                    [
                        "PostgresOutbox in two phases: all sends, then drain",
                        phased.cell(),
                        ratio(box.p50, phased.p50),
                    ],
                    ["of which the sends alone (enqueue)", enq.cell(), "—"],
                    ["of which the drain alone (claim, sign, POST, record)", dlv.cell(), "—"],
                ],
                [
                    "Every request in every row was verified by the receiver; each id counted exactly once.",
                    "End to end = messages / time from the first send to the last delivery recorded.",
                    "Median of per-round ratios, PostgresOutbox end to end / the faster raw loop of its "
                    f"round: {within:.2f}x (on the application's pool: {statistics.median(paired_app):.2f}x; "
                    f"before: {statistics.median(paired_before):.2f}x; "
                    f"in two phases: {statistics.median(paired_phased):.2f}x).",
                    f"Target: end to end >= 0.80x the raw loop: {'met' if within >= 0.8 else 'NOT met'}.",
                ],
            )
            cpu_table(meter)
            await flaky(outbox, store, endpoint, base, control, [body] * (300 if quick else 1000))
    finally:
        await outbox.aclose()
        await pool.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
        receiver.terminate()
        receiver.wait(10)


def cpu_table(meter: CpuMeter) -> None:
    rows = []
    totals: dict[str, float] = {}
    names = {
        "seq": "raw httpx loop, sequential",
        "conc": f"raw httpx loop, {CONCURRENCY} in flight",
        "box": "PostgresOutbox end to end, its own pool (connect)",
        "app": "PostgresOutbox end to end, the application's pool (full reset)",
        "before": "before: one statement per send, the application's pool",
        "mem": "MemoryOutbox end to end",
    }
    for path, name in names.items():
        client, postgres, received = meter.per_message(path)
        totals[path] = client + postgres + received
        rows.append([name, *(f"{1e6 * v:,.0f}" for v in (client, postgres, received, totals[path]))])
    raw = min(totals["seq"], totals["conc"])
    print_table(
        "CPU per message, all rounds (µs: this process, the pool's PostgreSQL backends, the receiver)",
        ["path", "client", "PostgreSQL", "receiver", "total"],
        rows,
        [
            "The kernel counts CPU in ticks of "
            f"{1e3 / _TICK:g} ms; PostgreSQL's own background processes (WAL writer, checkpointer) are "
            "not counted.",
            f"The cheaper raw loop's CPU / PostgresOutbox's (its own pool): {raw / totals['box']:.2f}x; "
            f"on the application's pool: {raw / totals['app']:.2f}x; before: {raw / totals['before']:.2f}x.",
        ],
    )


async def flaky(
    outbox: PostgresOutbox,
    store: MemoryEndpointStore,
    endpoint: Endpoint,
    base: str,
    control: httpx.AsyncClient,
    bodies: list[bytes],
) -> None:
    await store.update(dataclasses.replace(endpoint, url=f"{base}/flaky"))
    ids = {(await outbox.send("invoice.paid", body)).id for body in bodies}
    started = time.perf_counter()
    async with DeliveryWorker(
        outbox,
        policy=NetworkPolicy(allow=["127.0.0.0/8"]),
        batch_size=16,
        concurrency=CONCURRENCY,
        timeout=10,
        lease=60,
    ) as worker:
        while (await outbox.counts())[DeliveryStatus.PENDING]:
            if not await worker.drain():
                await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    found = await stats(control, base)
    delivered = set(found["ok"]) & ids
    duplicates = sum(n - 1 for n in found["ok"].values() if n > 1)
    refused = sum(found["refused"].values())
    counts = await outbox.counts()
    print_table(
        "Flaky receiver: 20% of first attempts answer 503 + Retry-After: 0",
        ["messages", "503 answers", "delivered", "duplicates", "dead", "wall time (s)"],
        [
            [
                str(len(ids)),
                f"{refused} ({refused / len(ids):.0%})",
                f"{len(delivered)} ({len(delivered) / len(ids):.0%})",
                str(duplicates),
                str(counts[DeliveryStatus.DEAD]),
                f"{elapsed:.2f}",
            ]
        ],
        [
            "Target: 100% delivered, 0 duplicates: "
            f"{'met' if delivered == ids and not duplicates else 'NOT met'}."
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    print(
        f"# buttress-webhooks benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, standardwebhooks "
        f"{_version('standardwebhooks')}, httpx {httpx.__version__}"
    )
    verification(args.quick)
    asyncio.run(delivery(args.quick))


def _version(name: str) -> str:
    return importlib.metadata.version(name)


if __name__ == "__main__":
    main()
