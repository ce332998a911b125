"""Hostile input: every public entry point raises only typed errors; no middleware answers 5xx to it."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

import buttress.observability as package
from buttress.observability import (
    AuditEntry,
    AuditEntryError,
    AuditFilter,
    AuditIntegrityError,
    DjangoRouteMiddleware,
    ExcludedPaths,
    LogLevelError,
    MemoryAuditSink,
    MissingExtraError,
    ObservabilityConfigurationError,
    ObservabilityError,
    ObservabilityTypeError,
    ObservabilityUnavailableError,
    PostgresAuditSink,
    Redactor,
    RequestIdMiddleware,
    TelemetryAlreadySetError,
    TelemetrySetup,
    TracingMiddleware,
    WSGIRequestIdMiddleware,
    WSGITracingMiddleware,
    add_trace_context,
    chain_hash,
    check_level,
    configure_logging,
    error_type,
    framework_route,
    function_kind,
    is_safe_request_id,
    redact_pii,
    redact_text,
    setup_telemetry,
    shutdown,
    traced,
    verify_chain,
)
from buttress.testing import (
    HostileTarget,
    HostileTargets,
    acheck_hostile,
    check_hostile,
    check_hostile_asgi,
    check_hostile_wsgi,
    isolated_opentelemetry,
)

TARGETS = HostileTargets()


async def benign(scope: Any, receive: Any, send: Any) -> None:
    if scope.get("type") != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_benign(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def plain(x: int) -> int:
    return x


TARGETS.add(traced, name="span", attributes={"a": 1}, arguments=())
TARGETS.add(traced(name="span", arguments=["x"]), plain, covers="traced")
TARGETS.add(function_kind, plain)
TARGETS.add(error_type, ValueError())
TARGETS.add(framework_route, {"type": "http", "path": "/"})
TARGETS.add(ExcludedPaths, ["/health", "/static/*"])
TARGETS.add(is_safe_request_id, "abc", 64)
TARGETS.add(TracingMiddleware, benign, excluded_paths=["/x"], route_resolver=None, ok_status=False)
TARGETS.add(WSGITracingMiddleware, wsgi_benign, excluded_paths=["/x"], route_resolver=None, ok_status=False)
TARGETS.add(RequestIdMiddleware, benign, header="X-Request-ID", max_length=64)
TARGETS.add(WSGIRequestIdMiddleware, wsgi_benign, header="X-Request-ID", max_length=64)
TARGETS.add(DjangoRouteMiddleware, plain)
TARGETS.add(shutdown, 1.0, setup=None)
TARGETS.add(check_level, "INFO")
TARGETS.add(add_trace_context, None, "info", {"event": "e"})
TARGETS.add(Redactor, ["password"], extra_keys=["tax_id"], patterns=True, replacement="[X]", max_depth=8)
TARGETS.add(redact_pii, None, "info", {"event": "e", "email": "a@b.co"}, covers="redact_pii")
TARGETS.add(redact_pii.redact, {"nested": ["a@b.co"]}, covers="Redactor.redact")
TARGETS.add(redact_pii.sensitive, "api_key", covers="Redactor.sensitive")
TARGETS.add(redact_text, "mail a@b.co")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY = AuditEntry.create("a", "x", "r", timestamp=T0)
TARGETS.add(AuditEntry, "id1", T0, "a", "x", "r", outcome="success", details={"k": 1}, request_id=None)
TARGETS.add(
    AuditEntry.create, "a", "x", "r", outcome="success", details={"k": [1]}, timestamp=T0, request_id="r"
)
TARGETS.add(AuditEntry.from_dict, ENTRY.to_dict())
TARGETS.add(AuditFilter, actor="a", action="x", resource="r", since=T0, until=T0, limit=10)
TARGETS.add(chain_hash, ENTRY)
TARGETS.add(verify_chain, [], previous=None)
TARGETS.add(MemoryAuditSink, max_entries=10, chain=True)
TARGETS.add(MemoryAuditSink().append, ENTRY, covers="MemoryAuditSink.append")
TARGETS.add(MemoryAuditSink().query, AuditFilter(), covers="MemoryAuditSink.query")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    target.check()


@TARGETS.drives("setup_telemetry")
def test_setup_telemetry_raises_only_typed_errors() -> None:
    with isolated_opentelemetry():
        try:
            check_hostile(
                setup_telemetry,
                "svc",
                "1.0",
                environment="test",
                resource_attributes={"a": "b"},
                otlp_endpoint=None,
                span_exporters=(),
                metric_readers=(),
                export_interval=1.0,
            )
        finally:
            shutdown()


async def test_the_asgi_middleware_never_answers_5xx() -> None:
    await check_hostile_asgi(TracingMiddleware(benign))
    await check_hostile_asgi(RequestIdMiddleware(benign))
    await check_hostile_asgi(RequestIdMiddleware(TracingMiddleware(benign, excluded_paths=["/h*"])))


def test_the_wsgi_middleware_never_answers_5xx() -> None:
    check_hostile_wsgi(WSGITracingMiddleware(wsgi_benign))
    check_hostile_wsgi(WSGIRequestIdMiddleware(wsgi_benign))
    check_hostile_wsgi(WSGIRequestIdMiddleware(WSGITracingMiddleware(wsgi_benign)))


@TARGETS.drives(
    "ObservabilityError",
    "ObservabilityConfigurationError",
    "ObservabilityTypeError",
    "ObservabilityUnavailableError",
    "LogLevelError",
    "AuditEntryError",
    "TelemetryAlreadySetError",
    "AuditIntegrityError",
    "MissingExtraError",
    "TelemetrySetup",
)
def test_the_errors_and_records_type_their_errors() -> None:
    # Plain constructors with nothing to parse: 50 examples each keep the session short.
    check_hostile(ObservabilityError, "message", max_examples=50)
    check_hostile(
        ObservabilityConfigurationError, "timeout", 5, "must be positive", show_value=True, max_examples=50
    )
    check_hostile(ObservabilityTypeError, "timeout", "a float", "5", max_examples=50)
    check_hostile(
        ObservabilityUnavailableError, "postgresql", "postgresql://u:secret@db/x", "refused", max_examples=50
    )
    check_hostile(LogLevelError, "level", "LOUD", "must be a level name", max_examples=50)
    check_hostile(AuditEntryError, "timestamp", "x", "must be timezone-aware", max_examples=50)
    check_hostile(TelemetryAlreadySetError, "setup_telemetry", "svc", "already set up", max_examples=50)
    check_hostile(AuditIntegrityError, 3, "hash mismatch", max_examples=50)
    check_hostile(MissingExtraError, "setup_telemetry", "sdk", max_examples=50)
    with isolated_opentelemetry():
        setup = setup_telemetry("svc", "1.0")
        check_hostile(
            TelemetrySetup, "svc", "1.0", setup.tracer_provider, setup.meter_provider, {}, (), max_examples=50
        )
        check_hostile(setup.shutdown, 1.0)


@TARGETS.drives("configure_logging")
def test_configure_logging_raises_only_typed_errors() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        check_hostile(
            configure_logging,
            level="INFO",
            format="json",
            redact=True,
            sensitive_keys=("password",),
            extra_sensitive_keys=(),
            stream=io.StringIO(),
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


@TARGETS.drives("PostgresAuditSink")
async def test_the_postgres_sink_raises_only_typed_errors(
    postgres_pool: asyncpg.Pool, postgres_table: str
) -> None:
    await acheck_hostile(PostgresAuditSink, postgres_pool, table=postgres_table, chain=True, max_examples=50)
    sink = PostgresAuditSink(postgres_pool, table=postgres_table, chain=True)
    await sink.create_schema()
    await acheck_hostile(sink.append, AuditEntry.create("a", "x", "r"))
    await acheck_hostile(sink.query, AuditFilter(actor="a"))
    await acheck_hostile(sink.verify, batch=10)
    await acheck_hostile(
        PostgresAuditSink.connect, "postgresql://127.0.0.1:9/x", table="t", chain=False, max_size=1
    )


def test_every_public_name_is_driven() -> None:
    TARGETS.assert_covers(package)
