"""Import time of every package: ``python -X importtime -c "import buttress.<package>"``.

Run with ``nox -s bench -- import_time`` (or ``python benchmarks/import_time.py [package ...]``).
Each package is imported in a fresh interpreter ``--runs`` times (5 by default), one package after
the other in turn so a change in the machine's load falls on all of them alike; the table gives
the median and the range of what ``-X importtime`` reports for ``buttress.<package>`` (its own
modules and everything they import, buttress-core included; wall-clock time), the median CPU time
of the same import (which a busy machine inflates less), and the third-party packages that cost the
most of it (median milliseconds, cumulative).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The import, and the CPU time it took (printed): unlike -X importtime's wall-clock figures, CPU time
# does not count the time the process waited for a core on a busy machine.
CODE = "import time; t = time.process_time(); import buttress.{package}; print(time.process_time() - t)"
LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


def packages() -> list[str]:
    found = []
    for directory in sorted((ROOT / "packages").iterdir()):
        src = directory / "src" / "buttress"
        found += [p.name for p in src.iterdir() if p.is_dir() and not p.name.startswith("_")]
    return found


def measure(package: str) -> dict[str, float]:
    """One fresh interpreter: the cumulative milliseconds of ``buttress.<package>`` (key ``""``) and of
    each third-party package it imports that no other third-party package imported first."""
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed command
        [sys.executable, "-X", "importtime", "-c", CODE.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
    )
    # -X importtime prints a module after the modules it imported, one level deeper: read it
    # backwards, keeping the chain of modules that are importing.
    times: dict[str, float] = {}
    chain: list[tuple[int, str]] = []
    for line in reversed(result.stderr.splitlines()):
        match = LINE.match(line)
        if not match:
            continue
        depth, name, ms = len(match.group(2)), match.group(3), int(match.group(1)) / 1000
        while chain and chain[-1][0] >= depth:
            chain.pop()
        chain.append((depth, name))
        if name == f"buttress.{package}":
            times[""] = ms
        elif (
            _third_party(name)
            and any(n == f"buttress.{package}" for _, n in chain)
            and not any(_third_party(n) for _, n in chain[:-1])
        ):
            top = name.split(".", maxsplit=1)[0]
            times[top] = times.get(top, 0.0) + ms
    times["<cpu>"] = float(result.stdout) * 1000
    return times


def _third_party(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0]
    return top != "buttress" and top not in sys.stdlib_module_names


def heaviest(runs: list[dict[str, float]]) -> str:
    """The third-party packages that cost the most (median milliseconds), costliest first."""
    names = {name for run in runs for name in run if name and name != "<cpu>"}
    ranked = sorted(((statistics.median(run.get(n, 0.0) for run in runs), n) for n in names), reverse=True)
    return ", ".join(f"{name} {ms:.0f}" for ms, name in ranked[:3] if ms >= 5) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="short names (federation, feature_flags); all by default")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wanted = [p.replace("-", "_") for p in args.packages] or packages()
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in wanted}
    for _ in range(args.runs):
        for package in wanted:
            runs[package].append(measure(package))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{now}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f}")
    print(f"median of {args.runs} fresh interpreters, milliseconds\n")
    print("| package | import time | range | CPU time | heaviest third-party imports |")
    print("| --- | ---: | ---: | ---: | --- |")
    for package in wanted:
        totals = [run[""] for run in runs[package]]
        spread = f"{min(totals):.0f}-{max(totals):.0f}"
        cpu = statistics.median(run["<cpu>"] for run in runs[package])
        median = statistics.median(totals)
        print(f"| {package} | {median:.0f} | {spread} | {cpu:.0f} | {heaviest(runs[package])} |")


if __name__ == "__main__":
    main()
