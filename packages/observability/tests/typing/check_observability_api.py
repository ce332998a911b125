"""Static checks of buttress-observability's public types. Run by mypy, never by pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, assert_type

import asyncpg

from buttress.core import Receive, Scope, Send, StartResponse, WSGIEnviron
from buttress.observability import (
    AuditEntry,
    AuditFilter,
    AuditSink,
    DjangoRouteMiddleware,
    ExcludedPaths,
    FunctionKind,
    MemoryAuditSink,
    PostgresAuditSink,
    Redactor,
    RequestIdMiddleware,
    TelemetrySetup,
    TracingMiddleware,
    WSGIRequestIdMiddleware,
    WSGITracingMiddleware,
    chain_hash,
    check_level,
    configure_logging,
    current_request_id,
    current_setup,
    error_type,
    framework_route,
    function_kind,
    is_safe_request_id,
    new_request_id,
    redact_pii,
    redact_text,
    setup_telemetry,
    shutdown,
    traced,
    verify_chain,
)


@traced
def add(a: int, b: int = 1) -> int:
    return a + b


@traced(name="charge", arguments={"order_id": "app.order.id"}, attributes={"app.kind": "card"})
async def charge(order_id: str, *, amount: int) -> str:
    return order_id


@traced
async def rows(n: int) -> AsyncIterator[int]:
    yield n


@traced
def lines(n: int) -> Iterator[str]:
    yield str(n)


class Orders:
    @traced
    async def place(self, order_id: str) -> bool:
        return True


one_argument: Callable[[int], int] = add  # the default of b survives
assert_type(add(1, b=2), int)
assert_type(rows(1), AsyncIterator[int])
assert_type(lines(1), Iterator[str])


async def awaited() -> None:
    assert_type(await charge("o", amount=3), str)
    assert_type(await Orders().place("o"), bool)
    coroutine: Coroutine[Any, Any, str] = charge("o", amount=1)
    await coroutine


assert_type(function_kind(add), FunctionKind)
assert_type(error_type(ValueError()), str)

setup = setup_telemetry("svc", "1.0", environment="prod", otlp_endpoint="http://collector:4318")
assert_type(setup, TelemetrySetup)
assert_type(current_setup(), TelemetrySetup | None)
assert_type(shutdown(), bool)
assert_type(setup.shutdown(5.0), bool)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def wsgi(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
    return [b""]


assert_type(TracingMiddleware(app, excluded_paths=["/health"], ok_status=True), TracingMiddleware)
assert_type(WSGITracingMiddleware(wsgi), WSGITracingMiddleware)
assert_type(RequestIdMiddleware(TracingMiddleware(app)), RequestIdMiddleware)
assert_type(WSGIRequestIdMiddleware(wsgi, header="X-Correlation-ID"), WSGIRequestIdMiddleware)
assert_type(framework_route({}), str | None)
assert_type("/x" in ExcludedPaths(["/x"]), bool)
assert_type(current_request_id(), str | None)
assert_type(new_request_id(), str)
assert_type(is_safe_request_id("abc"), bool)
assert_type(DjangoRouteMiddleware(lambda request: request), DjangoRouteMiddleware)


async def audit(pool: asyncpg.Pool) -> None:
    entry = AuditEntry.create("user:1", "order.refund", "order:7", details={"amount": 5})
    assert_type(entry, AuditEntry)
    assert_type(AuditEntry.from_dict(entry.to_dict()), AuditEntry)
    assert_type(entry.to_dict(), dict[str, Any])
    memory: AuditSink = MemoryAuditSink(max_entries=100, chain=True)
    assert_type(await memory.append(entry), AuditEntry)
    assert_type(await memory.query(AuditFilter(actor="user:1")), Sequence[AuditEntry])
    postgres = await PostgresAuditSink.connect("postgresql://db/app", table="audit_log", chain=True)
    as_sink: AuditSink = postgres
    assert_type(await postgres.query(), list[AuditEntry])
    assert_type(await postgres.verify(), int)
    assert_type(PostgresAuditSink(pool, table="audit"), PostgresAuditSink)
    assert_type(verify_chain([entry]), int)
    assert_type(chain_hash(entry), str)
    assert_type(as_sink, AuditSink)


assert_type(redact_pii.redact({"a": 1}), object)
assert_type(redact_text("a@b.co"), str)
assert_type(Redactor(extra_keys=["tax_id"]).sensitive("tax_id"), bool)
assert_type(configure_logging(level="INFO", format="json"), Redactor | None)
assert_type(check_level("debug"), int)
