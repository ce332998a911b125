"""What every benchmark script here shares: the ratio cell and the Markdown table it prints.

The scripts run as ``python benchmarks/<package>.py``, so this module is importable as ``_harness``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


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
