"""Run README's test command (``uvx nox``: every default session) on several lanes at once.

CI has two cores and most sessions wait on servers, a build or an import as much as they compute,
so two lanes finish the same sessions in far less wall time than one. Each session still runs in
its own ``uvx nox -s <session>`` process with its own virtualenv, exactly as ``uvx nox`` runs it.

Scheduling: longest first (estimates below, from an earlier run; a package's tests not listed
count as 40 s, any other session as a minute), and never two sessions of the same package at once
(the Python 3.12 and 3.13 runs of one package share table and channel names on the shared
servers). A session's output is printed whole when it ends, so the log reads session by session;
a table of durations closes the run.

    python3 .ci/lanes.py [--lanes N] LOG [SESSION ...]   # every session's output goes to LOG as well;
                                                         # named sessions only, when given
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Seconds per session on CI's two cores with two lanes (a quiet run, 2026-12-06); tests sessions per
# package. Only the order matters: the longest start first.
ESTIMATES = {
    "explore": 310.0,
    "fuzz": 130.0,
    "tour": 70.0,
    "frameworks": 35.0,
    "build": 25.0,
    "typecheck": 20.0,
    "docs": 15.0,
    "conventions": 15.0,
    "lint": 5.0,
}
TESTS_ESTIMATES = {
    "testing": 95.0,
    "webhooks": 80.0,
    "caching": 77.0,
    "idempotency": 75.0,
    "feature-flags": 70.0,
    "persistence": 60.0,
    "health": 58.0,
    "notifications": 58.0,
    "search": 57.0,
}


def _estimate(session: str) -> float:
    package = _package(session)
    if session.startswith("tests-") and package is not None:
        return TESTS_ESTIMATES.get(package, 40.0)
    if session.startswith("bare("):
        return 8.0
    return ESTIMATES.get(session, 60.0)


def _package(session: str) -> str | None:
    found = re.search(r"package='([^']+)'", session)
    return found.group(1) if found else None


def main() -> int:
    """Run the default sessions on the lanes; 1 when any failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("log", type=Path)
    parser.add_argument("sessions", nargs="*")
    parser.add_argument("--lanes", type=int, default=2)
    args = parser.parse_args()

    listed = json.loads(
        subprocess.run(
            ["uvx", "nox", "-l", "--json"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )
    # With no -s, `nox -l --json` lists exactly the default sessions: the ones `uvx nox` runs.
    defaults = [
        str(entry["session"]) for entry in listed if not args.sessions or entry["session"] in args.sessions
    ]
    pending = sorted(defaults, key=_estimate, reverse=True)
    running: set[str] = set()
    results: dict[str, tuple[int, float]] = {}
    lock = threading.Condition()
    log = args.log.open("w", encoding="utf-8")
    start = time.monotonic()

    def take() -> str | None:
        with lock:
            while True:
                if not pending:
                    return None
                for session in pending:
                    package = _package(session)
                    if package is None or package not in running:
                        pending.remove(session)
                        if package is not None:
                            running.add(package)
                        return session
                lock.wait()

    def worker() -> None:
        while (session := take()) is not None:
            began = time.monotonic()
            done = subprocess.run(
                ["uvx", "nox", "-s", session],
                check=False,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            took = time.monotonic() - began
            output = done.stdout.decode("utf-8", errors="replace")
            with lock:
                results[session] = (done.returncode, took)
                package = _package(session)
                if package is not None:
                    running.discard(package)
                status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode})"
                at = time.monotonic() - start
                header = f"\n===== {session}: {status} in {took:.0f} s (at {at:.0f} s) =====\n"
                for stream in (sys.stdout, log):
                    stream.write(header + output)
                    stream.flush()
                lock.notify_all()

    threads = [threading.Thread(target=worker) for _ in range(args.lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    failed = sorted(s for s, (code, _) in results.items() if code != 0)
    print(f"\n===== {len(results)} sessions on {args.lanes} lanes in {time.monotonic() - start:.0f} s =====")
    for session, (code, took) in sorted(results.items(), key=lambda item: -item[1][1]):
        print(f"{took:7.0f} s  {'ok    ' if code == 0 else 'FAILED'}  {session}")
    if failed:
        print("failed sessions:\n  " + "\n  ".join(failed))
    log.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
