"""What every benchmark script here shares: sample statistics, the ratio cell and the Markdown table.

The scripts run as ``python benchmarks/<package>.py``, so this module is importable as ``_harness``.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass


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
