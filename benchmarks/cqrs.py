"""buttress-cqrs: dispatch overhead of a command bus with 0 and 3 middlewares, against python-cqrs.

Run with ``nox -s bench -- cqrs`` (or ``python benchmarks/cqrs.py [--quick]``). Both libraries run in
the same process and event loop, on the same handler work (return a small result object built from
the command), with the same middlewares: three pass-through layers that await the rest and return
its result. Rounds alternate between the libraries, so drift on a shared machine hits both alike.

python-cqrs is set up its fastest documented way: ``setup_mediator`` (bootstrap's own building
block; ``bootstrap`` itself always appends its LoggingMiddleware) over a ``di`` container, with
``DCRequest``/``DCResponse`` dataclass messages (the library's own benchmarks use these). It builds
the handler through its container on every send; buttress calls a registered instance (its
default), and a row with ``factory=`` shows buttress building one per dispatch as well.

Rows, median µs of CPU time per ``await send(command)`` (the event loop thread's CPU time, so time
other processes held the cores does not count), with the p10-p90 band:

- 0 middlewares; 3 pass-through middlewares (the issue's target: ≤ 5 µs and faster than
  python-cqrs);
- 3 middlewares, handler built per dispatch (buttress ``factory=``);
- buttress with 3 of its ready-made layers (LoggingMiddleware with logging at WARNING,
  TimeoutMiddleware, RetryMiddleware), for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import gc
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

# This script is benchmarks/cqrs.py, so its own folder on sys.path would shadow python-cqrs's `cqrs`
# package: it is taken off while the peer is imported, then put back for `_harness`.
_HERE = sys.path.pop(0)
import cqrs as python_cqrs  # noqa: E402
import di  # noqa: E402
from cqrs.bootstrap import requests as cqrs_bootstrap  # noqa: E402
from cqrs.container import di as cqrs_di  # noqa: E402

sys.path.insert(0, _HERE)
from _harness import Dist, print_table, ratio  # noqa: E402

from buttress.core import Command  # noqa: E402
from buttress.cqrs import (  # noqa: E402
    CommandBus,
    Dispatch,
    LoggingMiddleware,
    Next,
    RetryMiddleware,
    TimeoutMiddleware,
)

TARGET_US = 5.0

# --- the same work on both sides -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Joined:
    meeting_id: str
    user_id: str


@dataclasses.dataclass(frozen=True)
class JoinMeeting(Command[Joined]):
    meeting_id: str
    user_id: str


class JoinMeetingHandler:
    async def handle(self, command: JoinMeeting) -> Joined:
        return Joined(command.meeting_id, command.user_id)


class PassThrough:
    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        return await call_next(dispatch)


@dataclasses.dataclass
class PeerJoinMeeting(python_cqrs.DCRequest):
    meeting_id: str
    user_id: str


@dataclasses.dataclass
class PeerJoined(python_cqrs.DCResponse):
    meeting_id: str
    user_id: str


class PeerJoinMeetingHandler(python_cqrs.RequestHandler[PeerJoinMeeting, PeerJoined]):
    @property
    def events(self) -> list[Any]:
        return []

    async def handle(self, request: PeerJoinMeeting) -> PeerJoined:
        return PeerJoined(meeting_id=request.meeting_id, user_id=request.user_id)


class PeerPassThrough:
    async def __call__(self, request: Any, handle: Any) -> Any:
        return await handle(request)


def peer_mediator(middlewares: int) -> Any:
    container = cqrs_di.DIContainer()
    container.attach_external_container(di.Container())
    emitter = cqrs_bootstrap.setup_event_emitter(container)

    def commands(mapper: python_cqrs.RequestMap) -> None:
        mapper.bind(PeerJoinMeeting, PeerJoinMeetingHandler)

    return cqrs_bootstrap.setup_mediator(
        emitter,
        container,
        middlewares=[PeerPassThrough() for _ in range(middlewares)],
        commands_mapper=commands,
    )


def our_bus(layers: Sequence[Any], *, per_dispatch: bool = False) -> CommandBus:
    bus = CommandBus(middleware=list(layers))
    if per_dispatch:

        async def make(_dispatch: Dispatch) -> JoinMeetingHandler:
            return JoinMeetingHandler()

        bus.register(JoinMeeting, factory=make)
    else:
        bus.register(JoinMeeting, JoinMeetingHandler())
    return bus


# --- measuring ---------------------------------------------------------------------------------------


async def sample(send: Callable[[], Awaitable[object]], per_sample: int) -> float:
    # CPU time of this thread (the event loop's), not wall time: on a shared machine the wall clock
    # also counts the time other processes held the cores, which says nothing about either library.
    start = time.thread_time_ns()
    for _ in range(per_sample):
        await send()
    return (time.thread_time_ns() - start) / per_sample / 1000


async def compare(
    ours: Callable[[], Awaitable[object]],
    theirs: Callable[[], Awaitable[object]] | None,
    *,
    samples: int,
    per_sample: int,
) -> tuple[Dist, Dist | None]:
    for _ in range(5):  # warm-up
        await sample(ours, per_sample)
        if theirs is not None:
            await sample(theirs, per_sample)
    mine: list[float] = []
    peer: list[float] = []
    gc.disable()
    try:
        for _ in range(samples):
            mine.append(await sample(ours, per_sample))
            if theirs is not None:
                peer.append(await sample(theirs, per_sample))
    finally:
        gc.enable()
    return Dist.of(mine), (Dist.of(peer) if theirs is not None else None)


async def run(samples: int, per_sample: int) -> list[tuple[str, Dist, Dist | None]]:
    command = JoinMeeting("m1", "u1")
    request = PeerJoinMeeting(meeting_id="m1", user_id="u1")
    plain, layered = our_bus([]), our_bus([PassThrough() for _ in range(3)])
    built = our_bus([PassThrough() for _ in range(3)], per_dispatch=True)
    ready = our_bus([LoggingMiddleware(), TimeoutMiddleware(5.0), RetryMiddleware(ConnectionError)])
    peer_plain, peer_layered = peer_mediator(0), peer_mediator(3)

    # The same answer from every set-up before anything is timed.
    expected = Joined("m1", "u1")
    for bus in (plain, layered, built, ready):
        if await bus.send(command) != expected:
            raise RuntimeError("benchmark setup is wrong: buttress gave another answer")
    for mediator in (peer_plain, peer_layered):
        answer = await mediator.send(request)
        if (answer.meeting_id, answer.user_id) != ("m1", "u1"):
            raise RuntimeError("benchmark setup is wrong: python-cqrs gave another answer")

    rows = []
    for name, ours, theirs in (
        ("send, 0 middlewares", lambda: plain.send(command), lambda: peer_plain.send(request)),
        ("send, 3 middlewares", lambda: layered.send(command), lambda: peer_layered.send(request)),
        (
            "send, 3 middlewares, handler built per dispatch",
            lambda: built.send(command),
            lambda: peer_layered.send(request),
        ),
        ("send, 3 ready-made layers (logging, timeout, retry)", lambda: ready.send(command), None),
    ):
        mine, peer = await compare(ours, theirs, samples=samples, per_sample=per_sample)
        rows.append((name, mine, peer))
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    args = parser.parse_args(argv)
    samples, per_sample = (20, 500) if args.quick else (60, 2000)
    logging.basicConfig(level=logging.WARNING)  # the logging layer logs nothing at INFO; both quiet
    rows = asyncio.run(run(samples, per_sample))

    print(f"# buttress-cqrs benchmark — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()}; "
        f"buttress-cqrs {importlib.metadata.version('buttress-cqrs')}, "
        f"python-cqrs {importlib.metadata.version('python-cqrs')}; "
        f"samples: {samples} x {per_sample} sends, alternating"
    )
    table = []
    for name, mine, peer in rows:
        met = "yes" if mine.p50 <= TARGET_US else "no"
        table.append(
            [
                name,
                mine.cell(2),
                peer.cell(2) if peer is not None else "—",
                ratio(mine.p50, peer.p50 if peer is not None else None),
                met if "3 middlewares" in name else "",
            ]
        )
    print_table(
        "Dispatch overhead: CPU µs per await send(command), median (p10-p90)",
        ["operation", "buttress-cqrs", "python-cqrs", "ratio", f"≤ {TARGET_US:g} µs"],
        table,
        ["Ratio: buttress ÷ python-cqrs (below 1 means buttress is faster)."],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
