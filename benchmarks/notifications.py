"""buttress-notifications against pooled raw aiosmtplib and Apprise's ``mailto://``, in one run.

Run with ``nox -s bench -- notifications`` (or ``python benchmarks/notifications.py [--quick]``).

1. Email throughput: the same messages (subject, text and HTML alternative, one recipient each) to
   the same local aiosmtpd server (plain SMTP on 127.0.0.1, no TLS or AUTH, so only the client side
   differs). buttress is `SmtpChannel.deliver_many` (pool of 4 connections, one ``RCPT`` per
   recipient, per-recipient results); the baseline is raw ``aiosmtplib.SMTP.send_message`` over a
   pool of 4 connections built by hand; Apprise is ``Apprise.notify`` on a ``mailto://`` URL with
   its per-service throttle turned off (it opens one connection per message and is synchronous).
   Rounds rotate the order of the three (buttress, raw, Apprise; raw, Apprise, buttress; Apprise,
   buttress, raw; ...); the ratio is the median of per-round ratios.
2. Preference decisions: `MemoryPreferenceStore` lookup + `decide` (opt-in/opt-out and quiet hours
   in the user's time zone) for 1,000 users spread over nine time zones with weekday windows, at
   random instants; decisions per second, in one thread, by the wall clock and per CPU second.
   ``--before REV`` runs buttress-notifications as of git revision REV in the same rounds (loaded
   from git into this process), the order alternating; ``--decisions-only`` skips section 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import socket
import statistics
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import apprise
from _harness import Dist, load_before, print_table
from aiosmtpd.controller import Controller

from buttress import notifications
from buttress.notifications import Email, SmtpChannel

POOL = 4
ORDER = ("buttress", "raw", "apprise")
ZONES = (
    "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney",
    "America/Sao_Paulo", "Asia/Tokyo", "Europe/London", "Pacific/Auckland",
)  # fmt: skip
HTML = (
    "<html><body><h1>Order shipped</h1><p>Your order is on its way.</p>"
    + "<p>line</p>" * 20
    + "</body></html>"
)
TEXT = "Order shipped\n\nYour order is on its way.\n" + "line\n" * 20


class Counting:
    """aiosmtpd handler that only counts accepted messages."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 OK"


def emails(n: int, tag: str) -> list[Email]:
    return [
        Email(to=(f"user{i}@example.com",), subject=f"{tag} order {i} shipped", text=TEXT, html=HTML)
        for i in range(n)
    ]


async def run_buttress(port: int, batch: list[Email]) -> float:
    async with SmtpChannel(
        "127.0.0.1", port, sender="shop@example.com", security="none", pool_size=POOL
    ) as smtp:
        start = time.perf_counter()
        outcomes = await smtp.deliver_many(batch)
        elapsed = time.perf_counter() - start
    if not all(isinstance(o, list) and o[0].ok for o in outcomes):
        raise RuntimeError("buttress failed to send a benchmark message")
    return len(batch) / elapsed


async def run_raw(port: int, batch: list[Email]) -> float:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) for _ in range(POOL)]
    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    start = time.perf_counter()

    async def send(email: Email) -> None:
        client = await idle.get()
        try:
            if not client.is_connected:
                await client.connect()
            msg = EmailMessage()
            msg["From"] = "shop@example.com"
            msg["To"] = ", ".join(email.to)
            msg["Subject"] = email.subject
            msg.set_content(email.text)
            msg.add_alternative(email.html or "", subtype="html")
            await client.send_message(msg)
        finally:
            idle.put_nowait(client)

    for client in clients:
        idle.put_nowait(client)
    await asyncio.gather(*(send(e) for e in batch))
    elapsed = time.perf_counter() - start
    for client in clients:
        with contextlib.suppress(aiosmtplib.SMTPException):
            await client.quit()
    return len(batch) / elapsed


def run_apprise(port: int, batch: list[Email]) -> float:
    start = time.perf_counter()
    for email in batch:
        target = apprise.Apprise()
        target.add(
            f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&from=shop@example.com&to={email.to[0]}&mode=insecure&format=html"
        )
        for service in target:
            service.request_rate_per_sec = 0
        if not target.notify(title=email.subject, body=HTML):
            raise RuntimeError("Apprise failed to send a benchmark message")
    return len(batch) / (time.perf_counter() - start)


async def email_bench(rounds: int, n: int, n_apprise: int) -> list[list[str]]:
    handler = Counting()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await run_buttress(port, emails(50, "warm"))
        await run_raw(port, emails(50, "warm"))
        run_apprise(port, emails(5, "warm"))
        ours: list[float] = []
        raw: list[float] = []
        peer: list[float] = []
        ratios_raw: list[float] = []
        ratios_apprise: list[float] = []
        for r in range(rounds):
            # The order rotates every round (buttress, raw, Apprise; then raw, Apprise, buttress; ...)
            # so no client always runs first, or always right after another's connections closed.
            found: dict[str, float] = {}
            for name in ORDER[r % 3 :] + ORDER[: r % 3]:
                if name == "buttress":
                    found[name] = await run_buttress(port, emails(n, f"b{r}"))
                elif name == "raw":
                    found[name] = await run_raw(port, emails(n, f"r{r}"))
                else:
                    found[name] = await asyncio.to_thread(run_apprise, port, emails(n_apprise, f"a{r}"))
            b, a, p = found["buttress"], found["raw"], found["apprise"]
            ours.append(b)
            raw.append(a)
            peer.append(p)
            ratios_raw.append(b / a)
            ratios_apprise.append(b / p)
        expected = 50 + 50 + 5 + rounds * (2 * n + n_apprise)
        if handler.count != expected:
            raise RuntimeError(f"the server got {handler.count} messages, expected {expected}")
    finally:
        controller.stop()
    b, a, p = Dist.range_of(ours), Dist.range_of(raw), Dist.range_of(peer)
    rr, ra = statistics.median(ratios_raw), statistics.median(ratios_apprise)
    return [
        ["buttress `SmtpChannel` (pool 4)", b.cell(), "1.00x"],
        [
            "raw aiosmtplib (pool 4)",
            a.cell(),
            f"buttress = {rr:.2f}x of raw (>= 0.80x: {'met' if rr >= 0.8 else 'NOT met'})",
        ],
        ["Apprise `mailto://` (throttle off)", p.cell(), f"buttress = {ra:.1f}x Apprise"],
    ]


def decision_cases(lib: Any, n: int) -> tuple[Any, list[tuple[str, str, str, datetime, bool]]]:
    """1,000 users in nine zones (weekday nights, weekend mornings quiet) and ``n`` random decisions."""
    rng = random.Random(7)
    store = lib.MemoryPreferenceStore()
    users = [f"user{i}" for i in range(1000)]
    for i, user in enumerate(users):
        nights = lib.QuietWindow.daily(wall(22), wall(7), weekdays=range(5))
        weekend = (lib.QuietWindow(5, wall(0), wall(10)), lib.QuietWindow(6, wall(0), wall(10)))
        choices = {("sms", lib.ANY): False, ("email", "marketing"): i % 3 == 0}
        prefs = lib.Preferences(user, ZONES[i % len(ZONES)], choices, nights + weekend)
        asyncio.run(store.put(prefs))
    base = datetime(2026, 3, 1, tzinfo=UTC)
    cases = [
        (rng.choice(users), rng.choice(("email", "sms", "push")),
         rng.choice(("orders", "marketing", "security")),
         base + timedelta(seconds=rng.randrange(90 * 86400)), rng.random() < 0.05)
        for _ in range(n)
    ]  # fmt: skip
    return store, cases


def decision_round(lib: Any, store: Any, cases: list[Any]) -> tuple[float, float]:
    """Decisions per second over ``cases``: by the wall clock, and per second of this process's CPU."""
    decide, get_now = lib.decide, store.get_now
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    for user, channel, category, now, critical in cases:
        decide(get_now(user), channel, category, now=now, critical=critical)
    wall_took, cpu_took = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return len(cases) / wall_took, len(cases) / cpu_took


def decision_bench(rounds: int, n: int, before_rev: str | None = None) -> list[list[str]]:
    """Lookup + decide, per round; with ``before_rev`` that revision's code too, the order alternating."""
    libs: dict[str, Any] = {"buttress": notifications}
    if before_rev is not None:
        libs[f"buttress at {before_rev}"] = load_before("notifications", before_rev)
    setups = {name: decision_cases(lib, n) for name, lib in libs.items()}
    walls: dict[str, list[float]] = {name: [] for name in libs}
    cpus: dict[str, list[float]] = {name: [] for name in libs}
    names = list(libs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            store, cases = setups[name]
            per_wall, per_cpu = decision_round(libs[name], store, cases)
            walls[name].append(per_wall)
            cpus[name].append(per_cpu)
    # After the timed rounds, so the first round of each starts cold.
    agree = {
        name: [
            (d.verdict.value, d.release_at, d.reason)
            for d in (
                lib.decide(store.get_now(u), c, k, now=t, critical=x) for u, c, k, t, x in cases[:20_000]
            )
        ]
        for name, lib in libs.items()
        for store, cases in [setups[name]]
    }
    if len({repr(a) for a in agree.values()}) != 1:
        raise RuntimeError("the revisions decide differently on the same cases")
    rows = []
    for name, lib in libs.items():
        store, cases = setups[name]
        held = sum(
            1
            for u, c, k, t, x in cases[:2000]
            if lib.decide(store.get_now(u), c, k, now=t, critical=x).release_at
        )
        wall_rate, cpu_rate = Dist.range_of(walls[name]), Dist.range_of(cpus[name])
        met = "met" if wall_rate.p50 >= 100_000 else "NOT met"
        rows.append([
            f"lookup + decide, {name} (1,000 users, 9 zones)",
            wall_rate.cell(),
            cpu_rate.cell(),
            f">= 100,000/s: {met}; {held / 20:.0f}% held",
        ])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and messages")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run the decisions on buttress-notifications as of this git revision",
    )
    parser.add_argument("--decisions-only", action="store_true", help="skip the email section")
    args = parser.parse_args()
    logging.getLogger("apprise").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    rounds, n, n_apprise = (3, 200, 50) if args.quick else (5, 1000, 200)
    print(
        f"buttress-notifications benchmark, {datetime.now(UTC):%Y-%m-%d}, "
        f"Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, aiosmtplib {aiosmtplib.__version__}, apprise {apprise.__version__}"
    )
    if not args.decisions_only:
        email_rows = asyncio.run(email_bench(rounds, n, n_apprise))
        print_table(
            f"Email to a local aiosmtpd (messages/s, median (min-max) of {rounds} rounds)",
            ["client", "messages/s", "ratio"],
            email_rows,
            [
                f"\n{n} messages per round for buttress and raw aiosmtplib, {n_apprise} for Apprise; "
                "multipart text + HTML."
            ],
        )
    decisions = decision_bench(rounds, 20_000 if args.quick else 100_000, args.before)
    print_table(
        f"Preference + quiet-hours decisions in memory (decisions/s, median (min-max) of {rounds} rounds)",
        ["operation", "decisions/s (wall)", "decisions/s (CPU)", "target (wall)"],
        decisions,
    )


if __name__ == "__main__":
    main()
