"""The ``metric_reader``, ``span_recorder``, ``postgres_pool`` and ``postgres_table`` fixtures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from buttress.core import Telemetry
from buttress.testing import (
    PostgresSchema,
    RecordedMetrics,
    RecordedSpans,
    TestingConfigurationError,
    TestingTypeError,
    check_hostile,
    install_metric_reader,
    install_span_exporter,
)

TELEMETRY = Telemetry("buttress.testing_fixture_test")
HITS = TELEMETRY.counter("buttress.testing_fixture_test.hits", unit="{hit}")
DURATION = TELEMETRY.histogram("buttress.testing_fixture_test.duration")
LIVE = {"a": 3.0}
TELEMETRY.observe(
    "buttress.testing_fixture_test.live", lambda: [(v, {"pool.name": k}) for k, v in LIVE.items()]
)


def test_the_span_recorder_holds_the_spans_of_its_own_test(span_recorder: RecordedSpans) -> None:
    with TELEMETRY.span("before"):
        pass
    later = RecordedSpans()
    assert install_span_exporter() is install_span_exporter()
    with pytest.raises(ValueError, match="boom"), TELEMETRY.span("after", {"testing.step": 2}):
        raise ValueError("boom")
    assert [span.name for span in span_recorder.spans()] == ["before", "after"]
    (after,) = later.spans()
    assert (after.name, after.attributes, after.error, after.exceptions) == (
        "after",
        {"testing.step": 2},
        True,
        ("ValueError",),
    )
    assert later.spans("before") == []
    with pytest.raises(TestingTypeError):
        later.spans(3)  # type: ignore[arg-type]


def test_the_reader_counts_from_the_start_of_each_test(metric_reader: RecordedMetrics) -> None:
    HITS.add(5, {"cache.name": "before"})
    later = RecordedMetrics()
    HITS.add(2, {"cache.name": "x"})
    HITS.add(1, {"cache.name": "y"})
    assert metric_reader.value("buttress.testing_fixture_test.hits", {"cache.name": "before"}) == 5
    assert later.value("buttress.testing_fixture_test.hits", {"cache.name": "before"}) == 0
    assert later.value("buttress.testing_fixture_test.hits") == 3
    assert later.value("buttress.testing_fixture_test.hits", {"cache.name": "y"}) == 1
    assert later.names() == {"buttress.testing_fixture_test.hits"}


def test_histograms_give_their_count_and_sum(metric_reader: RecordedMetrics) -> None:
    DURATION.record(0.25, {"op": "get"})
    DURATION.record(0.5, {"op": "get"})
    assert metric_reader.count("buttress.testing_fixture_test.duration", {"op": "get"}) == 2
    assert metric_reader.value("buttress.testing_fixture_test.duration") == 0.75
    (point,) = metric_reader.points("buttress.testing_fixture_test.duration")
    assert (point.kind, point.unit, point.count) == ("histogram", "s", 2)


def test_gauges_read_their_current_value(metric_reader: RecordedMetrics) -> None:
    LIVE["a"] = 9.0
    assert metric_reader.value("buttress.testing_fixture_test.live", {"pool.name": "a"}) == 9.0
    with pytest.raises(TestingConfigurationError, match="is not a histogram"):
        metric_reader.count("buttress.testing_fixture_test.live")


def test_nothing_recorded_is_zero(metric_reader: RecordedMetrics) -> None:
    assert metric_reader.value("buttress.testing_fixture_test.never") == 0
    assert metric_reader.points("buttress.testing_fixture_test.never") == []


def test_the_reader_is_installed_once() -> None:
    assert install_metric_reader() is install_metric_reader()


def test_queries_raise_only_typed_errors(metric_reader: RecordedMetrics) -> None:
    for method, args in [
        (metric_reader.points, ("buttress.x",)),
        (metric_reader.value, ("buttress.x",)),
        (metric_reader.names, ()),
    ]:
        check_hostile(method, *args)
    check_hostile(metric_reader.count, "buttress.x", allowed=(TestingConfigurationError,))
    with pytest.raises(TestingTypeError):
        metric_reader.value("buttress.x", {1: "a"})  # type: ignore[dict-item]


async def test_postgres_pool_works_in_the_module_schema(
    postgres_pool: Any, postgres_schema: PostgresSchema, postgres_table: str
) -> None:
    await postgres_pool.execute(f'CREATE TABLE "{postgres_table}" (id int)')
    assert await postgres_pool.fetchval("SELECT current_schema()") == postgres_schema.name
    found = await asyncio.gather(
        *(
            postgres_pool.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = $1", postgres_table)
            for _ in range(4)
        )
    )
    assert found == [1, 1, 1, 1]


def test_postgres_table_names_are_safe_identifiers(postgres_table: str) -> None:
    assert postgres_table.isascii()
    assert len(postgres_table) <= 40
    assert postgres_table.replace("_", "").isalnum()
    assert postgres_table == postgres_table.lower()
