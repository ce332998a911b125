"""Fuzz every public parser of the suite for a bounded time: ``nox -s fuzz`` runs this.

    python fuzz/run.py                        # every target, BUTTRESS_FUZZ_SECONDS (120) shared out
    python fuzz/run.py search_query --seconds 60 --seed 7
    python fuzz/run.py --update-corpus        # keep the inputs that found new coverage in fuzz/corpus/

Each target starts from its seeds in ``fuzz/corpus/<target>/`` (kept in the repository). Inputs
that reach new coverage go to a scratch copy unless ``--update-corpus`` is given, so a run never
dirties the checkout by default. Crashes (any exception that is not a `ButtressError`) are kept,
minimised, in ``fuzz/crashes/<target>/`` (ignored by git); the run exits 1 if there are any and
prints the command that reproduces each.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from buttress.core import ButtressError
from buttress.fuzzing import Fuzzer, FuzzingConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from targets import TARGETS  # noqa: E402 - the folder is not a package

# Coverage is measured in the package a target parses with, not in the harness.
SCOPES = {
    "csp": ["buttress.csp"],
    "webhook": ["buttress.webhooks"],
    "flag": ["buttress.feature_flags"],
    "federation": ["buttress.federation"],
    "search": ["buttress.search"],
    "idempotency": ["buttress.idempotency"],
    "notification": ["buttress.notifications"],
    "fingerprint": ["buttress.fingerprint"],
    "health": ["buttress.health"],
    "persistence": ["buttress.persistence"],
    "observability": ["buttress.observability"],
    "auth": ["buttress.auth"],
    "tenancy": ["buttress.tenancy"],
}


def _scope(name: str) -> tuple[str, ...]:
    return tuple(SCOPES[name.split("_", 1)[0]])


def main(argv: list[str]) -> int:
    """Run the campaigns named in ``argv``; return 1 when any found a crash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: all): {', '.join(TARGETS)}")
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BUTTRESS_FUZZ_SECONDS", "120")),
        help="total time budget, shared equally between the targets",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of every campaign (default: a new one)")
    parser.add_argument("--update-corpus", action="store_true", help="write new coverage to fuzz/corpus/")
    options = parser.parse_args(argv)
    unknown = [t for t in options.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    names = options.targets or list(TARGETS)
    seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
    share = options.seconds / len(names)
    print(f"fuzzing {len(names)} targets for {share:.1f} s each, seed {seed}")
    scratch = Path(tempfile.mkdtemp(prefix="buttress-fuzz-"))
    found: list[str] = []
    try:
        for name in names:
            seeds = HERE / "corpus" / name
            corpus = seeds if options.update_corpus else scratch / name
            if not options.update_corpus:
                shutil.copytree(seeds, corpus) if seeds.is_dir() else corpus.mkdir(parents=True)
            crashes = HERE / "crashes" / name
            config = FuzzingConfig(
                max_time=share,
                seed=seed,
                corpus_dir=corpus,
                crashes_dir=crashes,
                expected_exceptions=(ButtressError,),
                scope=_scope(name),
                max_input_size=2048,
            )
            report = Fuzzer(TARGETS[name], config).run()
            print(
                f"{name:30} {report.executions:>8} execs {report.execs_per_second:>9.0f}/s "
                f"corpus {report.corpus_size:>4} cov {report.coverage:>5} crashes {len(report.crashes)}"
            )
            for record in report.crashes:
                print(f"  {record.signature}")
                found.append(f"buttress-fuzz reproduce {crashes / record.reproducer}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if found:
        print("crashes found; reproduce each with:\n  " + "\n  ".join(found))
        return 1
    print(f"no crashes (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
