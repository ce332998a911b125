"""buttress-fuzzing against atheris and Hypothesis, on the same pure-Python targets, in one run.

Run with ``nox -s bench -- fuzzing`` (or ``python benchmarks/fuzzing.py [--quick]``); about six
minutes on two cores (most of it Hypothesis, at about a thousand examples a second). Targets live
in ``benchmarks/_fuzzing_targets.py``. Three measurements:

1. Executions per second on ``parse_record`` (tiny, branchy) and ``parse_config`` (loops over
   lines): buttress with coverage (``sys.monitoring``) and without, atheris (libFuzzer with its
   bytecode instrumentation of the target module), and Hypothesis ``@given(st.binary())`` calling the
   same function (generate phase only, no database).
2. Executions needed to find each of the three planted bugs (one bug live at a time, since atheris
   and Hypothesis stop at their first failure), median over seeds, capped at a budget.
3. Crash signatures computed per second (target: >= 10,000/s), on an exception 12 frames deep.

atheris runs in a subprocess: ``atheris.Fuzz()`` never returns (libFuzzer exits the process when it
is done or has crashed) and its instrumentation is installed at import time, so it cannot share the
process with the other two. Its executions/s are measured inside that process, from its first to its
last call of the target, so interpreter start-up is not counted against it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from buttress.fuzzing import CrashSignature, Fuzzer, FuzzingConfig, SignatureBuilder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _fuzzing_targets as targets  # noqa: E402 - after the path is set

BUGS = ("rle", "scale", "header")

ATHERIS_SCRIPT = """
import sys, time
sys.path.insert(0, {here!r})
import atheris
with atheris.instrument_imports():
    import _fuzzing_targets as targets
bugs = {bugs!r}
for name in targets.BUGS:
    targets.BUGS[name] = name in bugs
function = getattr(targets, {function!r})
runs = {runs}
state = {{"n": 0, "t0": 0.0}}

def one_input(data):
    n = state["n"] = state["n"] + 1
    if n == 1:
        state["t0"] = time.perf_counter()
    if n == runs:
        print("RESULT", n, time.perf_counter() - state["t0"], "done", file=sys.stderr, flush=True)
    try:
        function(data)
    except Exception:
        print("RESULT", n, time.perf_counter() - state["t0"], "crash", file=sys.stderr, flush=True)
        raise

args = [sys.argv[0], "-runs=" + str(runs), "-seed={seed}", "-max_len=64", "-rss_limit_mb=0"]
atheris.Setup(args, one_input)
atheris.Fuzz()
"""


def _set_bugs(live: tuple[str, ...]) -> None:
    for name in targets.BUGS:
        targets.BUGS[name] = name in live


def _atheris(
    function: str, runs: int, *, bugs: tuple[str, ...] = (), seed: int = 1
) -> tuple[int, float, bool]:
    """(executions, seconds, crashed) of one atheris run in a subprocess."""
    script = ATHERIS_SCRIPT.format(here=str(HERE), bugs=bugs, function=function, runs=runs, seed=seed)
    # libFuzzer writes a crash-<sha1> file into its working directory: give it a scratch one.
    with tempfile.TemporaryDirectory(prefix="bench-atheris-") as scratch:
        done = subprocess.run(  # noqa: S603 - our own script, run by this interpreter
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=scratch,
        )
    lines = [line for line in done.stderr.splitlines() if line.startswith("RESULT")]
    if not lines:
        raise RuntimeError(f"atheris produced no result:\n{done.stderr[-2000:]}")
    _, n, seconds, how = lines[-1].split()
    return int(n), float(seconds), how == "crash"


def _buttress(
    function: Callable[[bytes], object], runs: int, *, coverage: bool = True, seed: int = 1
) -> tuple[int, float, dict[str, int]]:
    config = FuzzingConfig(
        max_iterations=runs, seed=seed, coverage=coverage, max_input_size=64, minimize_budget=0
    )
    start = time.perf_counter()
    report = Fuzzer(function, config).run()
    elapsed = time.perf_counter() - start
    found = {s.frames[0].function: report.first_found[s.digest] for s in report.signatures if s.frames}
    return report.executions, elapsed, found


def _hypothesis(function: Callable[[bytes], object], runs: int, *, seed: int = 1) -> tuple[int, float, bool]:
    """(executions, seconds, crashed) of @given(st.binary()) calling the function, generate phase only."""
    calls = [0]

    @settings(
        max_examples=runs,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(st.binary(max_size=64))
    def test(data: bytes) -> None:
        calls[0] += 1
        function(data)

    test._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]  # reproducible runs
    start = time.perf_counter()
    crashed = False
    try:
        test()
    except Exception:  # noqa: BLE001 - a found bug ends Hypothesis's run
        crashed = True
    return calls[0], time.perf_counter() - start, crashed


def _fmt_rate(values: list[float]) -> str:
    median = statistics.median(values)
    spread = (max(values) - min(values)) / 2
    return f"{median:>9,.0f} ±{spread:,.0f}"


def throughput(quick: bool) -> list[tuple[str, str, float, float, float, float]]:
    runs = 20_000 if quick else 100_000
    repeats = 3 if quick else 5
    rows = []
    _set_bugs(())
    for name in ("parse_record", "parse_config"):
        function = getattr(targets, name)
        _buttress(function, 2_000)  # warm-up
        guided: list[float] = []
        blind: list[float] = []
        atheris_rates: list[float] = []
        hypothesis_rates: list[float] = []
        # Interleaved, so a burst of load from elsewhere on the machine hits every fuzzer alike.
        for s in range(repeats):
            guided.append(runs / _buttress(function, runs, seed=s)[1])
            blind.append(runs / _buttress(function, runs, coverage=False, seed=s)[1])
            n, seconds, _ = _atheris(name, runs, seed=s + 1)
            atheris_rates.append(n / seconds)
            n, seconds, _ = _hypothesis(function, runs // 20, seed=s)
            hypothesis_rates.append(n / seconds)
        rows.append(
            (
                name,
                _fmt_rate(guided),
                statistics.median(guided),
                statistics.median(blind),
                statistics.median(atheris_rates),
                statistics.median(hypothesis_rates),
            )
        )
        print(
            f"  {name}: buttress {_fmt_rate(guided)}/s, no coverage {_fmt_rate(blind)}/s, "
            f"atheris {_fmt_rate(atheris_rates)}/s, hypothesis {_fmt_rate(hypothesis_rates)}/s",
            flush=True,
        )
    return rows


FUNCTIONS = {"rle": "_run_length", "scale": "_scaled", "header": "_header"}


def bug_finding(quick: bool) -> list[tuple[str, str, str, str]]:
    budget = 100_000 if quick else 300_000
    # Hypothesis runs about a thousand examples a second: 20,000 is already its longest row.
    hyp_budget = 5_000 if quick else 20_000
    seeds = range(2) if quick else range(3)
    rows = []
    for bug in BUGS:
        _set_bugs((bug,))
        mine, theirs, hyp = [], [], []
        for seed in seeds:
            _, _, found = _buttress(targets.parse_record, budget, seed=seed)
            mine.append(found.get(FUNCTIONS[bug]))
            n, _, crashed = _atheris("parse_record", budget, bugs=(bug,), seed=seed + 1)
            theirs.append(n if crashed else None)
            n, _, crashed = _hypothesis(targets.parse_record, hyp_budget, seed=seed)
            hyp.append(n if crashed else None)
        rows.append((bug, _found(mine, budget), _found(theirs, budget), _found(hyp, hyp_budget)))
        print(f"  {bug}: buttress {mine}, atheris {theirs}, hypothesis {hyp}", flush=True)
    _set_bugs(BUGS)
    return rows


def _found(values: list[int | None], budget: int) -> str:
    hits = sorted(v for v in values if v is not None)
    if not hits:
        return f"not in {budget:,} ({len(values)} runs)"
    median = statistics.median([v if v is not None else budget for v in values])
    suffix = f", {len(hits)}/{len(values)} runs" if len(hits) < len(values) else ""
    return f"{median:>9,.0f}{suffix}"


def _deep(n: int) -> None:
    if n == 0:
        raise ValueError("deep")
    _deep(n - 1)


def signatures(quick: bool) -> tuple[float, float]:
    try:
        _deep(11)
    except ValueError as caught:
        exc = caught
    count = 20_000 if quick else 100_000
    builder = SignatureBuilder(max_frames=3)
    builder.signature(exc)
    start = time.perf_counter()
    for _ in range(count):
        builder.signature(exc)
    warm = count / (time.perf_counter() - start)
    cold_count = count // 10
    start = time.perf_counter()
    for _ in range(cold_count):
        CrashSignature.from_exception(exc)
    cold = cold_count / (time.perf_counter() - start)
    return warm, cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets (about a minute)")
    args = parser.parse_args()
    versions = {p: importlib.metadata.version(p) for p in ("buttress-fuzzing", "atheris", "hypothesis")}
    print(
        f"# fuzzing benchmark, {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {versions}",
        flush=True,
    )
    print("\n## 1. executions per second (median ± half-range)", flush=True)
    rates = throughput(args.quick)
    print("\n## 2. executions to find each planted bug (median over seeds)", flush=True)
    finds = bug_finding(args.quick)
    print("\n## 3. crash signatures per second", flush=True)
    warm, cold = signatures(args.quick)

    print(
        "\n| target | buttress (coverage) | buttress (no coverage) | atheris | hypothesis @given | "
        "vs atheris | vs hypothesis |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, shown, guided, blind, atheris_rate, hyp_rate in rates:
        print(
            f"| {name} execs/s | {shown} | {blind:,.0f} | {atheris_rate:,.0f} | {hyp_rate:,.0f} | "
            f"{guided / atheris_rate:.1f}x | {guided / hyp_rate:.1f}x |"
        )
    print("\n| planted bug | buttress | atheris | hypothesis @given |")
    print("|---|---:|---:|---:|")
    for bug, mine, theirs, hyp in finds:
        print(f"| {bug} ({FUNCTIONS[bug]}) | {mine} | {theirs} | {hyp} |")
    print("\n| signatures | per second | target |")
    print("|---|---:|---:|")
    for label, rate in (
        ("SignatureBuilder.signature (per-file cache warm)", warm),
        ("CrashSignature.from_exception (new builder each)", cold),
    ):
        print(f"| {label} | {rate:,.0f} | >= 10,000 {'met' if rate >= 10_000 else 'MISSED'} |")


if __name__ == "__main__":
    main()
