"""buttress-feature-flags against the OpenFeature SDK (InMemoryProvider) and UnleashClient, in one run.

Run with ``nox -s bench -- feature-flags`` (or ``python benchmarks/feature-flags.py [--quick]``); about
a minute on two cores. Three measurements, printed in this order:

1. Evaluations/s of one flag with one constraint (``plan IN [pro, enterprise]``) and a 50 % flexible
   rollout on ``userId``, over 1,000 pre-built contexts, after a warm-up:
   buttress (`FlagClient.is_enabled`, and `evaluate` with details), the OpenFeature SDK with its
   ``InMemoryProvider`` on the equivalent flag (a ``context_evaluator`` doing the same check and the
   same murmur3 bucket), buttress's `FlagProvider` behind the same SDK, and UnleashClient's local
   evaluation (its Rust engine, yggdrasil) bootstrapped offline from the same Unleash payload.
2. Rollout bucket computation, µs per call: `normalized_hash` and the compiled hot path.
3. p99 evaluation latency while 1,000 flags are reloaded back to back by the client's refresher (each
   reload brings a new version of every flag, the evaluated one included), against the idle p99. Idle
   and reloading phases alternate five times; the event loop yields every 200 evaluations, and each
   evaluation's context is built just before it (outside the timed call), as a request would. A
   control phase runs a background task that only allocates the 1,001 new definitions: it shows what
   any allocating background work costs a ~1 us call in the same interpreter. (With 1,000 pre-built
   contexts reused instead, which that churn evicts from the CPU cache, the ratio measured 1.4-1.5x
   for both the reload and the control.)

Medians of several repetitions, the implementations (UnleashClient included) taking turns, the same
number of calls each; the spread is min-max. FlagProvider's ratio to InMemoryProvider is also shown
round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import importlib.metadata
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import mmh3
from _harness import print_table
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from buttress.feature_flags import (
    Context,
    FlagClient,
    FlagProvider,
    FlagSet,
    MemoryFlagSource,
    flag_from_dict,
    normalized_hash,
)

KEY = "checkout"
FEATURE: dict[str, Any] = {
    "name": KEY,
    "enabled": True,
    "strategies": [
        {
            "name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "default", "groupId": KEY},
            "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro", "enterprise"]}],
        }
    ],
}
PLANS = ("free", "pro", "enterprise", "team")
ROUNDS = 5


def rate(call: Callable[[int], None], count: int, repeats: int) -> tuple[float, float, float]:
    """Median, min and max calls/s of ``call(count)`` over ``repeats`` runs, after a warm-up."""
    call(min(count, 20_000))
    results = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        call(count)
        results.append(count / (time.perf_counter() - start))
    return statistics.median(results), min(results), max(results)


def rates(calls: dict[str, Callable[[int], None]], count: int, repeats: int) -> dict[str, list[float]]:
    """Calls/s of each of several calls, round by round; the runs take turns, so load hits all alike."""
    for call in calls.values():
        call(min(count, 20_000))
    results: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            gc.collect()
            start = time.perf_counter()
            call(count)
            results[name].append(count / (time.perf_counter() - start))
    return results


def summary(results: list[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(results), min(results), max(results)


def fmt_rate(value: tuple[float, float, float]) -> str:
    median, low, high = value
    return f"{median:,.0f} ({low:,.0f}-{high:,.0f})"


def make_contexts(count: int) -> list[tuple[str, str]]:
    return [(f"user-{index}", PLANS[index % len(PLANS)]) for index in range(count)]


def buttress_client() -> FlagClient:
    flag = flag_from_dict(FEATURE)
    return FlagClient(MemoryFlagSource(), bootstrap=FlagSet(flags={KEY: flag}))


def openfeature_in_memory() -> Any:
    prefix = f"{KEY}:"

    def evaluator(flag: InMemoryFlag[bool], context: EvaluationContext) -> FlagResolutionDetails[bool]:
        plan = context.attributes.get("plan")
        user = context.targeting_key
        on = (
            plan in ("pro", "enterprise")
            and user is not None
            and mmh3.hash(prefix + user, 0, False) % 100 + 1 <= 50
        )
        return FlagResolutionDetails(value=on, variant="on" if on else "off", reason=Reason.TARGETING_MATCH)

    flag = InMemoryFlag("off", {"on": True, "off": False}, context_evaluator=evaluator)
    api.set_provider(InMemoryProvider({KEY: flag}), "bench-in-memory")
    return api.get_client("bench-in-memory")


def unleash_client(workdir: str) -> Any:
    try:
        from UnleashClient import UnleashClient  # noqa: PLC0415
        from UnleashClient.cache import FileCache  # noqa: PLC0415
    except ImportError:
        return None
    cache = FileCache("buttress-bench", directory=workdir)
    cache.bootstrap_from_dict({"version": 1, "features": [FEATURE]})
    return UnleashClient(
        url="http://127.0.0.1:9/unused",  # never contacted: the client is not initialized, only bootstrapped
        app_name="buttress-bench",
        cache=cache,
        disable_metrics=True,
        disable_registration=True,
    )


def bench_throughput(count: int, repeats: int) -> tuple[float, float, float]:
    contexts = make_contexts(1_000)
    ours = [Context(user_id=user, properties={"plan": plan}) for user, plan in contexts]
    theirs = [EvaluationContext(targeting_key=user, attributes={"plan": plan}) for user, plan in contexts]
    unleash_contexts = [{"userId": user, "properties": {"plan": plan}} for user, plan in contexts]
    client = buttress_client()
    of_client = openfeature_in_memory()
    api.set_provider_and_wait(FlagProvider(client), "bench-buttress")
    our_of_client = api.get_client("bench-buttress")

    # Every implementation must agree before it is timed.
    expected = [client.is_enabled(KEY, context) for context in ours]
    for name, answers in (
        (
            "OpenFeature InMemoryProvider",
            [of_client.get_boolean_value(KEY, False, context) for context in theirs],
        ),
        ("FlagProvider", [our_of_client.get_boolean_value(KEY, False, context) for context in theirs]),
    ):
        if answers != expected:
            raise SystemExit(f"{name} disagrees with FlagClient: the flags are not equivalent")
    if not 0.1 < sum(expected) / len(expected) < 0.5:  # half of the paying half
        raise SystemExit("the benchmark flag is on for an unexpected share of contexts")

    def loop(evaluate: Callable[[Any], object], items: Sequence[Any]) -> Callable[[int], None]:
        size = len(items)

        def run(n: int) -> None:
            for index in range(n):
                evaluate(items[index % size])

        return run

    notes = [
        "Ratios: buttress rows against the OpenFeature InMemoryProvider row of the same kind"
        " (value or details).",
    ]
    with tempfile.TemporaryDirectory() as workdir:
        unleash = None
        try:
            unleash = unleash_client(workdir)
        except Exception as exc:  # noqa: BLE001 - report, do not hide, a peer that cannot run
            notes.append(f"UnleashClient could not run offline: {type(exc).__name__}: {exc}")
        if unleash is not None:
            got = [unleash.is_enabled(KEY, context) for context in unleash_contexts]
            if got != expected:
                notes.append("UnleashClient disagreed with buttress on some contexts (not timed).")
                unleash = None
        calls = {
            "is_enabled": loop(lambda c: client.is_enabled(KEY, c), ours),
            "details": loop(lambda c: client.evaluate(KEY, False, c), ours),
            "of_value": loop(lambda c: of_client.get_boolean_value(KEY, False, c), theirs),
            "of_details": loop(lambda c: of_client.get_boolean_details(KEY, False, c), theirs),
            "ours_in_of": loop(lambda c: our_of_client.get_boolean_value(KEY, False, c), theirs),
        }
        if unleash is not None:
            calls["unleash"] = loop(lambda c: unleash.is_enabled(KEY, c), unleash_contexts)
        # Every row makes the same number of calls, and the rows take turns (load hits all alike).
        rounds = rates(calls, count, repeats)
    found = {name: summary(results) for name, results in rounds.items()}
    is_enabled, details, of_value = found["is_enabled"], found["details"], found["of_value"]
    of_details, ours_in_of = found["of_details"], found["ours_in_of"]
    rows = [
        ["buttress `is_enabled`", fmt_rate(is_enabled), f"{is_enabled[0] / of_value[0]:.1f}x"],
        ["buttress `evaluate` (details)", fmt_rate(details), f"{details[0] / of_details[0]:.1f}x"],
        ["OpenFeature SDK + InMemoryProvider, value", fmt_rate(of_value), "1.0x"],
        ["OpenFeature SDK + InMemoryProvider, details", fmt_rate(of_details), "1.0x"],
        [
            "OpenFeature SDK + buttress FlagProvider, value",
            fmt_rate(ours_in_of),
            f"{ours_in_of[0] / of_value[0]:.2f}x",
        ],
    ]
    if "unleash" in found:
        yggdrasil = found["unleash"]
        rows.append(
            [
                "UnleashClient (yggdrasil) `is_enabled`",
                fmt_rate(yggdrasil),
                f"{yggdrasil[0] / of_value[0]:.1f}x",
            ]
        )
        notes.append(
            f"buttress `is_enabled` / UnleashClient `is_enabled`: {is_enabled[0] / yggdrasil[0]:.1f}x"
            " (UnleashClient bootstrapped from the same payload, offline, metrics and registration off)."
        )
    notes.append(
        "FlagProvider through the SDK / InMemoryProvider through the SDK, per round (same calls, in turns): "
        + ", ".join(
            f"{ours / theirs:.2f}x"
            for ours, theirs in zip(rounds["ours_in_of"], rounds["of_value"], strict=True)
        )
    )
    api.clear_providers()
    print_table(
        "Evaluations/s: one constraint + 50 % flexible rollout (median, min-max)",
        ["implementation", "evaluations/s", "vs OpenFeature"],
        rows,
        notes,
    )
    return is_enabled[0] / of_value[0], details[0] / of_details[0], ours_in_of[0] / of_value[0]


def bench_bucket(count: int, repeats: int) -> float:
    users = [f"user-{index}" for index in range(1_000)]

    def public(n: int) -> None:
        for index in range(n):
            normalized_hash(users[index % 1_000], KEY)

    prefix = f"{KEY}:"
    murmur = mmh3.hash

    def hot_path(n: int) -> None:
        for index in range(n):
            murmur(prefix + users[index % 1_000], 0, False) % 100 + 1

    def empty(n: int) -> None:
        for index in range(n):
            users[index % 1_000]

    repeats = max(repeats, 7)
    loop_cost = 1e6 / rate(empty, count, repeats)[0]
    results = [
        (name, 1e6 / rate(fn, count, repeats)[0] - loop_cost)
        for name, fn in (
            ("`normalized_hash()`", public),
            ("compiled hot path (`mmh3.hash(prefix + id)`)", hot_path),
        )
    ]
    print_table(
        "Rollout bucket computation (µs per call, loop overhead subtracted)",
        ["computation", "µs/call", "target"],
        [[name, f"{value:.3f}", "< 0.8"] for name, value in results],
    )
    return max(value for _, value in results)


def percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1_000


async def bench_reload(samples: int) -> float:
    flags = [
        flag_from_dict(
            {
                **FEATURE,
                "name": f"flag-{index}",
                "strategies": [
                    {
                        **FEATURE["strategies"][0],
                        "parameters": {"rollout": str(index % 100), "groupId": f"flag-{index}"},
                    }
                ],
            }
        )
        for index in range(1_000)
    ]
    hot = flag_from_dict(FEATURE)
    source = MemoryFlagSource([*flags, hot])
    client = FlagClient(source, refresh_interval=3600)
    await client.refresh()
    raw_contexts = make_contexts(1_000)
    clock = time.perf_counter_ns

    async def measure(n: int) -> list[int]:
        latencies = []
        is_enabled = client.is_enabled
        for index in range(n):
            # A request builds its context just before evaluating, so the context is fresh in the cache.
            user, plan = raw_contexts[index % 1_000]
            context = Context(user_id=user, properties={"plan": plan})
            start = clock()
            is_enabled(KEY, context)
            latencies.append(clock() - start)
            if index % 200 == 0:
                await asyncio.sleep(0)  # let the refresher run, as a server's event loop would
        return latencies

    reloads = 0
    background = asyncio.Event()
    control = False

    async def reloader() -> None:
        nonlocal reloads
        while True:
            await background.wait()
            # A new version of every flag (the evaluated one included) on every reload: the client loads
            # 1,001 changed definitions and swaps in a new snapshot, recompiling the flags in use.
            changed = [dataclasses.replace(flag, description=f"v{reloads}") for flag in [*flags, hot]]
            new_set = FlagSet(flags={flag.key: flag for flag in changed})
            if not control:  # the control phase builds the definitions and stops there
                await source.replace(new_set)
                await client.refresh()
                reloads += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(reloader())
    await measure(20_000)
    # Idle and reloading phases alternate, so a change in the shared machine's load hits both alike.
    idle: list[list[int]] = []
    busy: list[list[int]] = []
    churn: list[list[int]] = []
    for _ in range(ROUNDS):
        background.clear()
        await asyncio.sleep(0)
        idle.append(await measure(samples // ROUNDS))
        control = True
        background.set()
        churn.append(await measure(samples // ROUNDS))
        control = False
        busy.append(await measure(samples // ROUNDS))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    def summary(phases: list[list[int]], fraction: float) -> float:
        return statistics.median(percentile(phase, fraction) for phase in phases)

    idle_p99, busy_p99 = summary(idle, 0.99), summary(busy, 0.99)
    print_table(
        f"p99 evaluation latency, idle vs 1,000 flags reloading (us; median of {ROUNDS} alternating phases)",
        ["state", "p50", "p99", "p99.9"],
        [
            ["idle", f"{summary(idle, 0.5):.2f}", f"{idle_p99:.2f}", f"{summary(idle, 0.999):.2f}"],
            [
                f"reloading back to back ({reloads} full reloads)",
                f"{summary(busy, 0.5):.2f}",
                f"{busy_p99:.2f}",
                f"{summary(busy, 0.999):.2f}",
            ],
            [
                "control: background task only builds the 1,001 definitions",
                f"{summary(churn, 0.5):.2f}",
                f"{summary(churn, 0.99):.2f}",
                f"{summary(churn, 0.999):.2f}",
            ],
        ],
        [
            f"Ratio reloading/idle p99: {busy_p99 / idle_p99:.2f}x (target <= 1.5x); per phase: "
            + ", ".join(
                f"{percentile(b, 0.99) / percentile(i, 0.99):.2f}x" for i, b in zip(idle, busy, strict=True)
            ),
            f"Control/idle p99: {summary(churn, 0.99) / idle_p99:.2f}x: what any allocating background task"
            " costs the evaluations in the same interpreter, before the client is involved.",
        ],
    )
    return busy_p99 / idle_p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    args = parser.parse_args()
    count, repeats, samples = (20_000, 3, 50_000) if args.quick else (100_000, 5, 300_000)
    versions = {
        name: importlib.metadata.version(name) for name in ("openfeature-sdk", "UnleashClient", "mmh3")
    }
    print(f"# buttress-feature-flags benchmark, {time.strftime('%Y-%m-%d')}")
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; {versions}")
    value_ratio, details_ratio, provider_ratio = bench_throughput(count, repeats)
    bucket = bench_bucket(count * 8, repeats)
    reload_ratio = asyncio.run(bench_reload(samples))
    print("\n### Targets\n")
    throughput_met = "met" if min(value_ratio, details_ratio) >= 3 else "NOT met"
    print(
        f"- evaluations/s vs OpenFeature InMemoryProvider >= 3x: {value_ratio:.1f}x (value),"
        f" {details_ratio:.1f}x (details) -> {throughput_met}"
    )
    provider_met = "met" if provider_ratio >= 1.0 else "NOT met"
    print(f"- FlagProvider through the SDK >= 1.0x InMemoryProvider: {provider_ratio:.2f}x -> {provider_met}")
    print(f"- bucket computation < 0.8 us: {bucket:.3f} us -> {'met' if bucket < 0.8 else 'NOT met'}")
    reload_met = "met" if reload_ratio <= 1.5 else "NOT met"
    print(f"- p99 while reloading <= 1.5x idle: {reload_ratio:.2f}x -> {reload_met}")


if __name__ == "__main__":
    main()
