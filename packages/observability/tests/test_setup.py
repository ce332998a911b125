"""setup_telemetry: idempotent, thread-safe (Property 11), and shutdown flushes to a real OTLP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from buttress.observability import (
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    TelemetryAlreadySetError,
    TracingMiddleware,
    current_setup,
    setup_telemetry,
    shutdown,
    traced,
)
from buttress.testing import isolated_opentelemetry, serve_asgi


@pytest.fixture
def fresh() -> Iterator[None]:
    with isolated_opentelemetry():
        try:
            yield
        finally:
            shutdown()


def test_setup_installs_global_providers_with_the_resource(fresh: None) -> None:
    setup = setup_telemetry(
        "orders", "1.2.3", environment="test", resource_attributes={"service.namespace": "shop"}
    )
    assert trace.get_tracer_provider() is setup.tracer_provider
    assert metrics.get_meter_provider() is setup.meter_provider
    assert setup.resource_attributes["service.name"] == "orders"
    assert setup.resource_attributes["service.version"] == "1.2.3"
    assert setup.resource_attributes["deployment.environment.name"] == "test"
    assert setup.resource_attributes["service.namespace"] == "shop"
    assert current_setup() is setup


def test_a_second_call_with_other_settings_is_refused(fresh: None) -> None:
    setup = setup_telemetry("orders", "1.0")
    assert setup_telemetry("orders", "1.0") is setup
    with pytest.raises(TelemetryAlreadySetError):
        setup_telemetry("orders", "2.0")
    assert current_setup() is setup


def test_providers_set_by_other_code_are_not_overwritten(fresh: None) -> None:
    theirs = TracerProvider()
    trace.set_tracer_provider(theirs)
    with pytest.raises(TelemetryAlreadySetError):
        setup_telemetry("orders", "1.0")
    assert trace.get_tracer_provider() is theirs
    assert current_setup() is None


def test_shutdown_flushes_spans_and_metrics_to_the_exporters(fresh: None) -> None:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    setup_telemetry("orders", "1.0", span_exporters=[exporter], metric_readers=[reader])

    @traced
    def work() -> int:
        return 1

    work()
    # The batch processor holds the span until flushed; shutdown must send it.
    assert shutdown() is True
    assert [span.name for span in exporter.get_finished_spans()] == [work.__qualname__]
    assert current_setup() is None
    assert shutdown() is True  # nothing left: a no-op


def test_shutdown_flushes_to_a_real_otlp_receiver(fresh: None) -> None:
    received: list[tuple[str, int]] = []

    async def collector(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append((scope["path"], len(body)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(collector) as base:
        setup_telemetry("orders", "1.0", otlp_endpoint=base, export_interval=3600)
        app_spans = trace.get_tracer("test").start_span("one")
        app_spans.end()
        counter = metrics.get_meter("test").create_counter("orders.placed")
        counter.add(1)
        assert shutdown(timeout=10) is True
    paths = {path for path, size in received if size > 0}
    assert paths == {"/v1/traces", "/v1/metrics"}


@settings(max_examples=15, deadline=None)
@given(threads=st.integers(2, 8), same=st.booleans())
def test_property_11_setup_is_idempotent_and_thread_safe(threads: int, same: bool) -> None:
    """Property 11: Telemetry setup is idempotent and thread-safe.

    Threads released at once all call setup_telemetry: with one set of settings they all get the one
    setup that became the global providers; with different settings exactly one wins and the others
    are refused with a typed error. The process is never left with half of a setup.
    """
    with isolated_opentelemetry():
        barrier = threading.Barrier(threads)
        results: list[object] = [None] * threads

        def call(index: int) -> None:
            barrier.wait()
            try:
                results[index] = setup_telemetry("svc", "1.0" if same else f"1.{index}")
            except TelemetryAlreadySetError as exc:
                results[index] = exc

        workers = [threading.Thread(target=call, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        try:
            setups = [r for r in results if not isinstance(r, TelemetryAlreadySetError)]
            winner = current_setup()
            assert winner is not None
            assert all(setup is winner for setup in setups)
            assert len(setups) == (threads if same else 1)
            assert trace.get_tracer_provider() is winner.tracer_provider
            assert metrics.get_meter_provider() is winner.meter_provider
        finally:
            shutdown()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"service_name": ""}, ObservabilityConfigurationError),
        ({"service_name": 7}, ObservabilityTypeError),
        ({"version": "x" * 300}, ObservabilityConfigurationError),
        ({"otlp_endpoint": "collector:4318"}, ObservabilityConfigurationError),
        ({"resource_attributes": {"a": object()}}, ObservabilityTypeError),
        ({"span_exporters": [object()]}, ObservabilityTypeError),
        ({"export_interval": 0}, ObservabilityConfigurationError),
    ],
)
def test_bad_settings_are_refused_before_anything_is_set(kwargs: dict[str, object], error: type) -> None:
    arguments: dict[str, object] = {"service_name": "svc", "version": "1", **kwargs}
    with isolated_opentelemetry():
        with pytest.raises(error):
            setup_telemetry(**arguments)  # type: ignore[arg-type]
        assert current_setup() is None
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_the_middleware_made_before_setup_reports_to_it(fresh: None) -> None:
    exporter = InMemorySpanExporter()

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = TracingMiddleware(app)
    setup_telemetry("orders", "1.0", span_exporters=[exporter])
    with serve_asgi(wrapped) as base:
        assert httpx.get(f"{base}/x").status_code == 204
    shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["GET"]
