"""Static checks of buttress-observability's public types. Run by mypy, never by pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, assert_type

from buttress.core import Receive, Scope, Send, StartResponse, WSGIEnviron
from buttress.observability import (
    DjangoRouteMiddleware,
    ExcludedPaths,
    FunctionKind,
    RequestIdMiddleware,
    TelemetrySetup,
    TracingMiddleware,
    WSGIRequestIdMiddleware,
    WSGITracingMiddleware,
    current_request_id,
    current_setup,
    error_type,
    framework_route,
    function_kind,
    is_safe_request_id,
    new_request_id,
    setup_telemetry,
    shutdown,
    traced,
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
