"""The tour's buttress-observability section."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

import asyncpg
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from buttress.core import Receive, Scope, Send
from buttress.observability import (
    ROUTE_KEY,
    AuditEntry,
    AuditIntegrityError,
    MemoryAuditSink,
    PostgresAuditSink,
    RequestIdMiddleware,
    TracingMiddleware,
    configure_logging,
    current_setup,
    setup_telemetry,
    traced,
    verify_chain,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "server span 'GET /items/{item_id}' (never the raw path), continuing the client's trace: True",
    "@traced child span 'load_item' with app.item.id=42",
    "log line: request_id=abc-123, trace_id of the span: True, email=[REDACTED], card=[REDACTED]",
    "audit chain of 3 verified; an edited entry is found at sequence 2",
)
REAL: tuple[str, ...] = ("postgresql audit: 2 entries, chain verified, UPDATE refused (append-only)",)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@traced(arguments={"item_id": "app.item.id"})
async def load_item(item_id: int) -> dict[str, Any]:
    structlog.get_logger("shop").info("item loaded", email="ada@example.com", card="4111 1111 1111 1111")
    return {"id": item_id}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A one-route app: its router leaves the matched template where the tracing middleware reads it."""
    if isinstance(scope, dict):  # ASGI servers pass a dict
        scope[ROUTE_KEY] = "/items/{item_id}"
    item = await load_item(int(scope["path"].rsplit("/", 1)[1]))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(item).encode()})


async def call(asgi: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:  # noqa: ANN401 - any ASGI app
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await asgi({"type": "http", "method": "GET", "path": path, "headers": headers}, receive, send)
    return int(sent[0]["status"])


async def run(tour: Tour) -> None:
    exporter = InMemorySpanExporter()
    # The application's one call (the sdk extra); an OTLP collector would be otlp_endpoint="http://...".
    setup = current_setup() or setup_telemetry("tour", "1.0", span_exporters=[exporter])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    lines = io.StringIO()
    configure_logging(stream=lines)
    try:
        asgi = RequestIdMiddleware(TracingMiddleware(app))
        await call(asgi, "/items/42", [(b"traceparent", TRACEPARENT.encode()), (b"x-request-id", b"abc-123")])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
    sdk_provider: Any = setup.tracer_provider  # the SDK's, which can flush its batch processor
    sdk_provider.force_flush()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans["GET /items/{item_id}"]
    continued = server.context.trace_id == int(TRACEPARENT.split("-")[1], 16)
    tour.say(f"server span '{server.name}' (never the raw path), continuing the client's trace: {continued}")
    child = spans["load_item"]
    attributes = dict(child.attributes or {})
    tour.say(f"@traced child span '{child.name}' with app.item.id={attributes['app.item.id']}")
    line = json.loads(lines.getvalue().splitlines()[0])
    same_trace = line["trace_id"] == format(server.context.trace_id, "032x")
    tour.say(
        f"log line: request_id={line['request_id']}, trace_id of the span: {same_trace}, "
        f"email={line['email']}, card={line['card']}"
    )

    sink = MemoryAuditSink(chain=True)
    for amount in (10, 20, 30):
        await sink.append(
            AuditEntry.create("user:7", "order.refund", "order:o-1", details={"amount": amount})
        )
    verified = await sink.verify()
    entries = await sink.query()
    edited = [entries[0], replace(entries[1], details={"amount": 2000}), entries[2]]
    try:
        verify_chain(edited)
    except AuditIntegrityError as exc:
        tour.say(f"audit chain of {verified} verified; an edited entry is found at sequence {exc.sequence}")

    if tour.postgres_dsn is not None:
        await postgres(tour, tour.postgres_dsn)


async def postgres(tour: Tour, dsn: str) -> None:
    table = f"tour_audit_{uuid.uuid4().hex[:10]}"
    async with await PostgresAuditSink.connect(dsn, table=table, chain=True) as sink:
        await sink.create_schema()
        try:
            await sink.append(AuditEntry.create("user:7", "login", "session"))
            await sink.append(AuditEntry.create("user:7", "order.refund", "order:o-1"))
            count = await sink.verify()
            try:
                await sink.pool.execute(f"UPDATE {table} SET actor = 'mallory'")  # noqa: S608
                refused = "accepted (!)"
            except asyncpg.InsufficientPrivilegeError:
                refused = "refused (append-only)"
            tour.say(f"postgresql audit: {count} entries, chain verified, UPDATE {refused}")
        finally:
            await sink.drop_schema()
