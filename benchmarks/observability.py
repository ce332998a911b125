"""buttress-observability: the tracing middleware's cost per request against
opentelemetry-instrumentation-asgi, and the PII redaction processor's cost per log event against
structlog without it.

Run with ``nox -s bench -- observability`` (or ``python benchmarks/observability.py [--quick]``).

Middleware: every request is an in-process ASGI call (no server, no client) of a bare app that answers
200 with a small body, so what is measured is the middleware. Both middleware get the same SDK
``TracerProvider`` (a ``SimpleSpanProcessor`` over an exporter that drops every span: the "no-op
exporter") and the same SDK ``MeterProvider`` (an in-memory reader that is never collected), passed
explicitly. Variants:

- bare: the app alone (the baseline every overhead is measured from);
- buttress: ``TracingMiddleware`` (one server span and ``http.server.request.duration``);
- otel-asgi (1 span): ``OpenTelemetryMiddleware(exclude_spans=["receive", "send"])`` with
  ``OTEL_SEMCONV_STABILITY_OPT_IN=http``, so it too makes one span with the stable attributes and the
  stable duration histogram (it also keeps its active-requests counter and body-size histograms,
  which it cannot turn off);
- otel-asgi (default): the same with its default send/receive spans.

Each round calls every variant ``REQUESTS`` times in turn (so drift hits all alike); a variant's
overhead is its per-request time minus the bare app's in the same round. The table gives the median
overhead over rounds and the p10-p90 band.

Redaction: one log event (a request log line with nested context: an e-mail, a bearer token, a card
number, a password in a URL, and benign fields) rendered to JSON by structlog with and without
``redact_pii``; the cost is the difference per event.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "http"

from _harness import Dist, print_table, ratio
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from buttress.observability import TracingMiddleware


class DropSpans(SpanExporter):
    """The no-op exporter: accepts every span and does nothing with it."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


async def bare(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/items/42",
    "raw_path": b"/items/42",
    "query_string": b"",
    "root_path": "",
    "headers": [
        (b"host", b"api.example.com"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"application/json"),
        (b"accept-encoding", b"gzip"),
    ],
    "client": ("10.0.0.7", 52000),
    "server": ("10.0.0.1", 8000),
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


async def per_request(app: Callable[..., Any], requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - start) / requests


async def middleware(rounds: int, requests: int) -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    variants: dict[str, Callable[..., Any]] = {
        "bare": bare,
        "buttress": TracingMiddleware(bare, tracer_provider=tracer_provider, meter_provider=meter_provider),
        "otel-asgi (1 span)": OpenTelemetryMiddleware(
            bare,
            exclude_spans=["receive", "send"],
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        ),
        "otel-asgi (default)": OpenTelemetryMiddleware(
            bare, tracer_provider=tracer_provider, meter_provider=meter_provider
        ),
    }
    for app in variants.values():  # warm-up
        await per_request(app, requests)
    overheads: dict[str, list[float]] = {name: [] for name in variants if name != "bare"}
    gc.disable()
    try:
        for _ in range(rounds):
            times = {name: await per_request(app, requests) for name, app in variants.items()}
            for name, samples in overheads.items():
                samples.append((times[name] - times["bare"]) * 1e6)
            gc.collect()
    finally:
        gc.enable()
    ours = statistics.median(overheads["buttress"])
    rows = []
    for name, samples in overheads.items():
        dist = Dist.of(samples)
        rows.append([name, dist.cell(1, " µs"), ratio(ours, dist.p50) if name != "buttress" else "1.00x"])
    print_table(
        "Tracing middleware: overhead per request over the bare app (in-process ASGI call)",
        ["variant", "overhead (p50, p10-p90)", "buttress / variant"],
        rows,
        [f"{rounds} rounds of {requests} requests per variant; SDK with a no-op exporter, same providers."],
    )


def redaction(rounds: int, events: int) -> None:
    import structlog  # noqa: PLC0415

    from buttress.observability import redact_pii  # noqa: PLC0415

    event = {
        "event": "request served",
        "method": "POST",
        "path": "/orders",
        "status": 201,
        "duration_ms": 12.5,
        "user": {"email": "ada@example.com", "name": "Ada", "roles": ["admin", "billing"]},
        "headers": {"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},
        "payment": {"card": "4111 1111 1111 1111", "amount": 1299},
        "upstream": "https://svc:hunter2@billing.internal/charge",
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    }
    plain = structlog.processors.JSONRenderer()
    processors: dict[str, list[Callable[..., Any]]] = {
        "structlog (JSON, no redaction)": [plain],
        "structlog + redact_pii": [redact_pii, plain],
    }

    def run(chain: list[Callable[..., Any]]) -> float:
        start = time.perf_counter()
        for _ in range(events):
            value: Any = dict(event)
            for processor in chain:
                value = processor(None, "info", value)
        return (time.perf_counter() - start) / events * 1e6

    for chain in processors.values():
        run(chain)
    samples: dict[str, list[float]] = {name: [] for name in processors}
    for _ in range(rounds):
        for name, chain in processors.items():
            samples[name].append(run(chain))
    base = statistics.median(samples["structlog (JSON, no redaction)"])
    rows = []
    for name, values in samples.items():
        dist = Dist.of(values)
        rows.append([name, dist.cell(1, " µs"), f"{dist.p50 - base:+.1f} µs"])
    print_table(
        "Log events: cost per event rendered to JSON",
        ["pipeline", "per event (p50, p10-p90)", "redaction's cost"],
        rows,
        [f"{rounds} rounds of {events} events; a request event with 6 PII values among 20 fields."],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-redaction", action="store_true")
    args = parser.parse_args()
    rounds, requests = (5, 2_000) if args.quick else (21, 5_000)
    print(f"# buttress-observability benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
        f"opentelemetry-sdk {importlib.metadata.version('opentelemetry-sdk')}, "
        f"opentelemetry-instrumentation-asgi "
        f"{importlib.metadata.version('opentelemetry-instrumentation-asgi')}, "
        f"structlog {importlib.metadata.version('structlog')}"
    )
    asyncio.run(middleware(rounds, requests))
    if not args.no_redaction:
        redaction(rounds, requests)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
