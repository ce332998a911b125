"""Reading back the OpenTelemetry metrics a test produced, through the SDK's in-memory reader.

The OpenTelemetry API lets a process set its global meter provider once, so the first use installs
an SDK `MeterProvider` with an `InMemoryMetricReader` for the whole test session; each test then gets
a `RecordedMetrics` that reads the totals *since the test started* (counters and histograms are
cumulative in the SDK, so the fixture subtracts what they held at the start)::

    async def test_a_hit_is_counted(metric_reader: RecordedMetrics) -> None:
        await cache.get("k")
        assert metric_reader.value("buttress.caching.hits", {"cache.name": "users"}) == 1

It needs the ``telemetry`` extra (``buttress-testing[telemetry]``, which brings ``opentelemetry-sdk``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import MissingExtraError, TestingConfigurationError, TestingTypeError

__all__ = ["MetricPoint", "RecordedMetrics", "install_metric_reader"]

type AttributeValue = str | bool | int | float


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of one instrument, as the SDK reader last collected it.

    Attributes:
        name: The instrument's name.
        unit: Its unit.
        kind: ``"sum"`` (counters, monotonic or not), ``"gauge"`` or ``"histogram"``.
        attributes: The point's attributes.
        value: The point's value; for a histogram, the sum of what it recorded.
        count: How many values a histogram recorded (``None`` for the other kinds).
    """

    name: str
    unit: str
    kind: str
    attributes: Mapping[str, AttributeValue]
    value: float
    count: int | None


_READER: Any = None


def install_metric_reader() -> Any:  # noqa: ANN401 - the SDK's InMemoryMetricReader
    """Install (once) the session's SDK meter provider with an in-memory reader, and return the reader.

    Raises:
        MissingExtraError: opentelemetry-sdk is not installed (the ``telemetry`` extra).
        TestingConfigurationError: The process's global meter provider was already set to
            something else (it can be set only once).
    """
    global _READER  # noqa: PLW0603 - the API's global provider can be set once per process
    if _READER is not None:
        return _READER
    try:
        metrics = importlib.import_module("opentelemetry.metrics")
        sdk = importlib.import_module("opentelemetry.sdk.metrics")
        export = importlib.import_module("opentelemetry.sdk.metrics.export")
    except ImportError as exc:
        raise MissingExtraError("the metric_reader fixture", "telemetry") from exc
    reader = export.InMemoryMetricReader()
    metrics.set_meter_provider(sdk.MeterProvider(metric_readers=[reader]))
    if reader not in getattr(metrics.get_meter_provider(), "_all_metric_readers", ()):
        raise TestingConfigurationError(
            "metric_reader",
            type(metrics.get_meter_provider()).__name__,
            "the global meter provider was set before the fixture could install its reader",
        )
    _READER = reader
    return reader


def _collect(reader: Any) -> list[MetricPoint]:  # noqa: ANN401 - the SDK's reader
    data = reader.get_metrics_data()
    found: list[MetricPoint] = []
    for resource in data.resource_metrics if data is not None else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = type(metric.data).__name__.lower()
                for point in metric.data.data_points:
                    attributes = dict(point.attributes or {})
                    if kind == "histogram":
                        found.append(
                            MetricPoint(metric.name, metric.unit, kind, attributes, point.sum, point.count)
                        )
                    else:
                        found.append(
                            MetricPoint(metric.name, metric.unit, kind, attributes, point.value, None)
                        )
    return found


def _matches(point: MetricPoint, wanted: Mapping[str, AttributeValue]) -> bool:
    return all(point.attributes.get(key) == value for key, value in wanted.items())


def _check_query(name: object, attributes: object) -> Mapping[str, AttributeValue]:
    if not isinstance(name, str) or not name:
        raise TestingTypeError("name", "a non-empty str", name)
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping) or not all(isinstance(key, str) for key in attributes):
        raise TestingTypeError("attributes", "a mapping of str keys, or None", attributes)
    return attributes


class RecordedMetrics:
    """The metrics recorded since this object was made (the ``metric_reader`` fixture's value).

    Args:
        reader: The SDK reader; `install_metric_reader` by default.

    Raises:
        TestingTypeError: ``reader`` is not a metric reader.
    """

    def __init__(self, reader: Any = None) -> None:  # noqa: ANN401 - the SDK's reader
        if reader is not None and not callable(getattr(reader, "get_metrics_data", None)):
            raise TestingTypeError("reader", "an SDK metric reader (with get_metrics_data) or None", reader)
        self._reader = install_metric_reader() if reader is None else reader
        self._start = {self._key(p): p for p in _collect(self._reader)}

    @staticmethod
    def _key(point: MetricPoint) -> tuple[str, tuple[tuple[str, AttributeValue], ...]]:
        return point.name, tuple(sorted(point.attributes.items()))

    def points(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> list[MetricPoint]:
        """The instrument's points now, net of what counters and histograms held at the start.

        Args:
            name: The instrument's name (``"buttress.caching.hits"``).
            attributes: Keep only points carrying these attributes (others may be present too).
        """
        wanted = _check_query(name, attributes)
        found = []
        for point in _collect(self._reader):
            if point.name != name or not _matches(point, wanted):
                continue
            before = self._start.get(self._key(point))
            if before is None or point.kind == "gauge":
                found.append(point)
                continue
            count = None if point.count is None else point.count - (before.count or 0)
            value = point.value - before.value
            found.append(MetricPoint(point.name, point.unit, point.kind, point.attributes, value, count))
        return found

    def value(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> float:
        """The sum of the matching points' values since the start (0 when none were recorded).

        For a counter, what was added; for a histogram, the sum of what was recorded; for a
        gauge, the sum of its current values.
        """
        return sum(point.value for point in self.points(name, attributes))

    def count(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> int:
        """How many values a histogram recorded since the start.

        Raises:
            TestingConfigurationError: ``name`` is not a histogram.
        """
        points = self.points(name, attributes)
        if any(point.count is None for point in points):
            raise TestingConfigurationError("name", name, "is not a histogram")
        return sum(point.count or 0 for point in points)

    def names(self, prefix: str = "buttress.") -> set[str]:
        """The names of the instruments with a point recorded since the start, under ``prefix``."""
        if not isinstance(prefix, str):
            raise TestingTypeError("prefix", "a str", prefix)
        names = set()
        for point in _collect(self._reader):
            before = self._start.get(self._key(point))
            changed = before is None or point.value != before.value or point.count != before.count
            if point.name.startswith(prefix) and changed:
                names.add(point.name)
        return names
