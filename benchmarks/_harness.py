"""What every benchmark script here shares: sample statistics, the ratio cell and the Markdown table.

The scripts run as ``python benchmarks/<package>.py``, so this module is importable as ``_harness``.
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def ratio(ours: float | None, theirs: float | None) -> str:
    """``ours / theirs`` as ``1.23x`` (two significant digits below 0.1x); ``—`` when either is missing."""
    if ours is None or theirs is None or theirs == 0:
        return "—"
    value = ours / theirs
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()
) -> None:
    """Print a Markdown table under a ``###`` title: first column left-aligned, the rest right-aligned."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if notes:
        print()
        for note in notes:
            print(note)
    sys.stdout.flush()


async def delete_redis_keys(url: str, match: str) -> int:
    """Delete every key matching ``match`` (SCAN, then UNLINK in batches); return how many went."""
    import redis.asyncio as aioredis  # noqa: PLC0415 - only the scripts that use Redis need it

    client = aioredis.Redis.from_url(url)
    removed = 0
    try:
        batch: list[bytes] = []
        async for name in client.scan_iter(match=match, count=1_000):
            batch.append(name)
            if len(batch) >= 1_000:
                removed += await client.unlink(*batch)
                batch.clear()
        if batch:
            removed += await client.unlink(*batch)
    finally:
        await client.aclose()
    return removed


@dataclass(frozen=True)
class Dist:
    """A median and a band around it: the p10-p90 deciles (`of`) or the whole range (`range_of`)."""

    p50: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Dist:
        """Median and p10-p90; min-max when there are too few samples for deciles."""
        if len(samples) < 3:
            return cls.range_of(samples)
        deciles = statistics.quantiles(samples, n=10, method="inclusive")
        return cls(statistics.median(samples), deciles[0], deciles[-1])

    @classmethod
    def range_of(cls, samples: Sequence[float]) -> Dist:
        """Median and min-max (for a handful of rounds)."""
        return cls(statistics.median(samples), min(samples), max(samples))

    def cell(self, digits: int = 0, unit: str = "") -> str:
        """``p50 (low-high)`` with thousands separators and ``digits`` decimals."""
        return f"{self.p50:,.{digits}f}{unit} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def load_before(package: str, rev: str) -> Any:
    """buttress-``package``'s source at git revision ``rev``, imported as ``buttress_<package>_before``.

    A package with only relative imports (besides buttress-core, shared by both) runs beside the
    current one in this process: "before" and "after" in the same rounds.
    """
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("--before needs git")
    where = f"packages/{package}/src/buttress/{package.replace('-', '_')}"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    archive = subprocess.run(  # noqa: S603 - git archive of a revision the user named
        [git, "-C", root, "archive", rev, where], check=True, capture_output=True
    ).stdout
    folder = tempfile.mkdtemp(prefix=f"buttress-{package}-before-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # modules may import lazily until exit
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    name = f"buttress_{package.replace('-', '_')}_before"
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, where, "__init__.py"))
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load buttress-{package} at {rev}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
