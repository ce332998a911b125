"""The package's OpenTelemetry instruments, read back through buttress-testing's ``metric_reader``."""

from __future__ import annotations

from pathlib import Path

from buttress.fuzzing import Fuzzer, FuzzingConfig
from buttress.testing import RecordedMetrics


def parse_range(header: bytes) -> int:
    """A parser with a planted bug: ``bytes=5-5`` divides by zero."""
    if not header.startswith(b"bytes="):
        raise ValueError("not a byte range")
    first, _, last = header[6:].partition(b"-")
    return 100 // (int(last or b"0") - int(first or b"0"))


def test_a_campaign_reports_its_executions_crashes_and_duration(
    tmp_path: Path, metric_reader: RecordedMetrics
) -> None:
    config = FuzzingConfig(
        max_iterations=3_000,
        seed=1,
        crashes_dir=tmp_path,
        expected_exceptions=(ValueError,),
        minimize_budget=0,
    )
    report = Fuzzer(parse_range, config).run()
    assert report.crashes, "the planted bug is found"
    assert (
        metric_reader.value("buttress.fuzzing.executions", {"fuzzing.phase": "campaign"}) == report.executions
    )
    assert metric_reader.value("buttress.fuzzing.crashes", {"fuzzing.novelty": "new"}) == len(
        report.new_crashes
    )
    assert metric_reader.count("buttress.fuzzing.campaign.duration", {"fuzzing.outcome": "done"}) == 1
    assert metric_reader.value("buttress.fuzzing.timeouts") == 0

    again = Fuzzer(parse_range, config).run()  # the same store: what it finds is known now
    assert not again.new_crashes
    known = metric_reader.value("buttress.fuzzing.crashes", {"fuzzing.novelty": "known"})
    assert known == len(again.crash_counts)
    assert metric_reader.count("buttress.fuzzing.campaign.duration") == 2
