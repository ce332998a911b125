"""The tour's buttress-fuzzing section."""

from __future__ import annotations

import tempfile
from pathlib import Path

from buttress.fuzzing import CrashStore, Fuzzer, FuzzingConfig

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = ("the same seed replays the campaign: True",)
REAL: tuple[str, ...] = ()


def parse_range(header: bytes) -> tuple[int, int]:
    """Parse an HTTP Range header like b"bytes=0-99" (a planted bug: an empty range divides by zero)."""
    if not header.startswith(b"bytes="):
        raise ValueError("not a byte range")
    first, _, last = header[6:].partition(b"-")
    start, end = int(first or b"0"), int(last or b"0")
    chunks = 100 // (end - start)  # the bug: start == end
    return start, chunks


async def run(tour: Tour) -> None:
    crashes = Path(tempfile.mkdtemp(prefix="tour-fuzz-"))
    config = FuzzingConfig(
        max_iterations=20_000, seed=1, crashes_dir=crashes, expected_exceptions=(ValueError,)
    )
    report = await Fuzzer(parse_range, config).run_async()
    tour.say(
        f"{report.executions} executions, {report.coverage} coverage features, corpus of {report.corpus_size}"
    )
    for record in report.crashes:
        reproducer = (crashes / str(record.reproducer)).read_bytes()
        tour.say(f"crash {record.signature.id} x{record.count}: {record.signature} <- {reproducer!r}")
    again = await Fuzzer(parse_range, config).run_async()  # the same seed: the same campaign
    merged = [(r.signature.exception_type, r.count) for r in CrashStore(crashes).records()]
    tour.say(
        f"the same seed replays the campaign: {again.crash_counts == report.crash_counts}; index: {merged}"
    )
