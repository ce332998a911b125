"""The pool's stats reach OpenTelemetry as gauges and counters named buttress.pool.*."""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from buttress.pooling import Pool


async def test_stats_are_exported_as_opentelemetry_metrics(factory: Any) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)
    try:
        pool = Pool(factory, min_size=2, max_size=3, health_check_interval=None, name="metrics-test")
        async with pool, pool.acquire():
            data = reader.get_metrics_data()
        assert data is not None
        points: dict[str, float] = {}
        for resource_metrics in data.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:  # type: ignore[union-attr]
                        if point.attributes.get("pool.name") == "metrics-test":
                            points[metric.name] = point.value  # type: ignore[union-attr]
        assert points["buttress.pool.in_use"] == 1
        assert points["buttress.pool.idle"] == 1
        assert points["buttress.pool.total"] == 2
        assert points["buttress.pool.acquired"] == 1
        assert points["buttress.pool.created"] == 2
    finally:
        provider.shutdown()
