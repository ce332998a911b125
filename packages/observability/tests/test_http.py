"""The tracing middleware on real Starlette, FastAPI, Litestar and Django apps under real servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path as django_path
from fastapi import FastAPI
from litestar import Litestar, Request, Response, get
from litestar.params import FromPath
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from buttress.observability import (
    DURATION_BUCKETS,
    ROUTE_KEY,
    DjangoRouteMiddleware,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    TracingMiddleware,
    WSGITracingMiddleware,
)
from buttress.testing import (
    RecordedMetrics,
    RecordedSpans,
    django_urls,
    install_metric_reader,
    serve_asgi,
    serve_wsgi,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


async def item(request: Any) -> PlainTextResponse:
    status = int(request.query_params.get("status", "200"))
    if status == 599:
        raise RuntimeError("boom")
    return PlainTextResponse("ok", status_code=status)


def starlette_app() -> Starlette:
    inner = [Route("/detail/{item_id}", item)]
    return Starlette(routes=[Route("/items/{item_id}", item), Mount("/shop", routes=inner)])


def fastapi_app() -> FastAPI:
    # FastAPI traces requests itself when opentelemetry-api is installed: off, so only ours are seen.
    app = FastAPI(telemetry={"tracing": False, "metrics": False})

    @app.get("/items/{item_id}")
    async def read(item_id: int, status: int = 200) -> Any:
        if status == 599:
            raise RuntimeError("boom")
        return PlainTextResponse("ok", status_code=status)

    return app


def litestar_app() -> Litestar:
    @get("/items/{item_id:int}", sync_to_thread=False)
    def read(item_id: FromPath[int], request: Request[Any, Any, Any]) -> Response[str]:
        status = int(request.query_params.get("status", "200"))
        if status == 599:
            raise RuntimeError("boom")
        return Response("ok", status_code=status)

    return Litestar([read])


def django_view(request: Any, item_id: int) -> HttpResponse:
    status = int(request.GET.get("status", "200"))
    if status == 599:
        raise RuntimeError("boom")
    return HttpResponse("ok", status=status)


FRAMEWORKS: dict[str, tuple[Callable[[], Any], str]] = {
    "starlette": (starlette_app, "/items/{item_id}"),
    "fastapi": (fastapi_app, "/items/{item_id}"),
    "litestar": (litestar_app, "/items/{item_id}"),
}


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_spans_are_named_by_route_never_by_path(
    framework: str, span_recorder: RecordedSpans, metric_reader: RecordedMetrics
) -> None:
    make, route = FRAMEWORKS[framework]
    app = TracingMiddleware(make())
    with serve_asgi(app) as base:
        assert httpx.get(f"{base}/items/7", headers={"traceparent": TRACEPARENT}).status_code == 200
        assert httpx.get(f"{base}/items/8?status=404").status_code == 404
        assert httpx.get(f"{base}/items/9?status=503").status_code == 503
        assert httpx.get(f"{base}/nowhere").status_code == 404
    spans = [s for s in span_recorder.spans() if s.kind == "SERVER"]
    assert [s.name for s in spans] == [f"GET {route}"] * 3 + ["GET"]
    ok, client_error, server_error, unrouted = spans
    assert ok.trace_id == TRACE_ID
    assert ok.parent_id == 0xB7AD6B7169203331
    assert ok.attributes["http.route"] == route
    assert ok.attributes["url.path"] == "/items/7"
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.status == "UNSET"
    assert client_error.status == "UNSET"
    assert "error.type" not in client_error.attributes
    assert server_error.status == "ERROR"
    assert server_error.attributes["error.type"] == "503"
    assert "http.route" not in unrouted.attributes
    assert metric_reader.count("http.server.request.duration", {"http.route": route}) == 3
    assert (
        metric_reader.count("http.server.request.duration", {"http.route": route, "error.type": "503"}) == 1
    )
    paths = {p.attributes.get("http.route") for p in metric_reader.points("http.server.request.duration")}
    assert "/items/7" not in paths


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_an_exception_is_error_with_its_type(framework: str, span_recorder: RecordedSpans) -> None:
    make, route = FRAMEWORKS[framework]
    with serve_asgi(TracingMiddleware(make())) as base:
        assert httpx.get(f"{base}/items/1?status=599").status_code == 500
    [span] = [s for s in span_recorder.spans() if s.kind == "SERVER"]
    assert span.name == f"GET {route}"
    assert span.status == "ERROR"
    # A framework that turns the exception into a 500 itself reports the status; one that lets it
    # through reports the exception's class.
    assert span.attributes["error.type"] in ("RuntimeError", "500")


def test_a_raw_exception_reaching_the_middleware_is_recorded(span_recorder: RecordedSpans) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError("x")

    with serve_asgi(TracingMiddleware(broken)) as base:
        assert httpx.get(f"{base}/a").status_code == 500
    [span] = span_recorder.spans()
    assert span.attributes["error.type"] == "KeyError"
    assert span.exceptions == ("KeyError",)
    assert "http.response.status_code" not in span.attributes


def test_mounted_starlette_routes_include_the_mount(span_recorder: RecordedSpans) -> None:
    with serve_asgi(TracingMiddleware(starlette_app())) as base:
        assert httpx.get(f"{base}/shop/detail/3").status_code == 200
    [span] = span_recorder.spans()
    assert span.name == "GET /shop/detail/{item_id}"


def test_django_asgi_routes_through_its_middleware(span_recorder: RecordedSpans) -> None:
    middleware = ["buttress.observability.DjangoRouteMiddleware"]
    with (
        django_urls([django_path("items/<int:item_id>", django_view)], MIDDLEWARE=middleware),
        serve_asgi(TracingMiddleware(get_asgi_application())) as base,
    ):
        assert httpx.get(f"{base}/items/5").status_code == 200
        assert httpx.get(f"{base}/items/6?status=500").status_code == 500
    ok, failed = [s for s in span_recorder.spans() if s.kind == "SERVER"]
    assert ok.name == "GET /items/<int:item_id>"
    assert ok.attributes["http.route"] == "/items/<int:item_id>"
    assert failed.status == "ERROR"


def test_django_wsgi_twin(span_recorder: RecordedSpans, metric_reader: RecordedMetrics) -> None:
    middleware = ["buttress.observability.DjangoRouteMiddleware"]
    with (
        django_urls([django_path("items/<int:item_id>", django_view)], MIDDLEWARE=middleware),
        serve_wsgi(WSGITracingMiddleware(get_wsgi_application())) as base,
    ):
        assert httpx.get(f"{base}/items/5", headers={"traceparent": TRACEPARENT}).status_code == 200
        assert httpx.get(f"{base}/items/6?status=503").status_code == 503
        assert httpx.get(f"{base}/nowhere").status_code == 404
    ok, failed, unrouted = [s for s in span_recorder.spans() if s.kind == "SERVER"]
    assert ok.name == "GET /items/<int:item_id>"
    assert ok.trace_id == TRACE_ID
    assert ok.attributes["network.protocol.version"] == "1.1"
    assert failed.status == "ERROR"
    assert failed.attributes["error.type"] == "503"
    assert unrouted.name == "GET"
    assert metric_reader.count("http.server.request.duration", {"http.route": "/items/<int:item_id>"}) == 2


def test_unknown_methods_are_other(span_recorder: RecordedSpans) -> None:
    with serve_asgi(TracingMiddleware(starlette_app())) as base:
        httpx.request("PROPFIND", f"{base}/items/1")
    [span] = span_recorder.spans()
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"
    assert span.name == "HTTP /items/{item_id}"


def test_excluded_paths_are_anchored_globs(span_recorder: RecordedSpans) -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = TracingMiddleware(ok, excluded_paths=["/healthz", "/static/*"])
    with serve_asgi(app) as base:
        for path in ("/healthz", "/static/a.css", "/static/js/b.js", "/healthz-report", "/api/healthz"):
            httpx.get(f"{base}{path}")
    assert [s.attributes["url.path"] for s in span_recorder.spans()] == ["/healthz-report", "/api/healthz"]


def test_ok_status_when_configured(span_recorder: RecordedSpans) -> None:
    with serve_asgi(TracingMiddleware(starlette_app(), ok_status=True)) as base:
        httpx.get(f"{base}/items/1")
        httpx.get(f"{base}/items/1?status=404")
    ok, missing = span_recorder.spans()
    assert (ok.status, missing.status) == ("OK", "UNSET")


def test_the_duration_histogram_has_the_conventional_buckets(metric_reader: RecordedMetrics) -> None:
    with serve_asgi(TracingMiddleware(starlette_app())) as base:
        httpx.get(f"{base}/items/1")
    assert metric_reader.count("http.server.request.duration") == 1
    data = install_metric_reader().get_metrics_data()
    found = [
        (metric.unit, point)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.server.request.duration"
        for point in metric.data.data_points
    ]
    assert found
    for unit, point in found:
        assert unit == "s"
        assert isinstance(point, HistogramDataPoint)
        assert tuple(point.explicit_bounds) == DURATION_BUCKETS


def test_a_custom_resolver_and_the_scope_key(span_recorder: RecordedSpans) -> None:
    async def routed(scope: Any, receive: Any, send: Any) -> None:
        scope[ROUTE_KEY] = "/custom/{id}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def broken_resolver(scope: Any) -> str | None:
        raise RuntimeError

    with serve_asgi(TracingMiddleware(routed)) as base:
        httpx.get(f"{base}/custom/1")
    with serve_asgi(TracingMiddleware(routed, route_resolver=broken_resolver)) as base:
        httpx.get(f"{base}/custom/2")
    with serve_asgi(TracingMiddleware(routed, route_resolver=lambda scope: "raw-path")) as base:
        httpx.get(f"{base}/custom/3")
    assert [s.name for s in span_recorder.spans()] == ["GET /custom/{id}", "GET", "GET"]


def test_websockets_and_lifespan_pass_through_untraced(span_recorder: RecordedSpans) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})

    with serve_asgi(TracingMiddleware(app), lifespan="on"):
        pass
    assert seen == ["lifespan"]
    assert span_recorder.spans() == []


def test_bad_options_are_typed_errors() -> None:
    with pytest.raises(ObservabilityTypeError):
        TracingMiddleware(42)  # type: ignore[arg-type]
    with pytest.raises(ObservabilityConfigurationError):
        TracingMiddleware(starlette_app(), excluded_paths=["healthz"])
    with pytest.raises(ObservabilityTypeError):
        TracingMiddleware(starlette_app(), excluded_paths="/healthz")
    with pytest.raises(ObservabilityTypeError):
        WSGITracingMiddleware(get_wsgi_application, route_resolver=3)  # type: ignore[arg-type]
    with pytest.raises(ObservabilityTypeError):
        TracingMiddleware(starlette_app(), tracer_provider=object())  # type: ignore[arg-type]
    with pytest.raises(ObservabilityTypeError):
        DjangoRouteMiddleware(None)  # type: ignore[arg-type]


def _forget_route(app: Any) -> Any:
    """An app whose scope loses Starlette's ``route`` on the way back (as before Starlette set it)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        scope.pop("route", None)

    return wrapped


def test_the_starlette_router_fallback_matches_routes_and_mounts(span_recorder: RecordedSpans) -> None:
    """Without ``scope["route"]`` (Starlette before 0.48) the routes are matched again as the router
    did: a full match first, else the first partial one, the route that answered 405."""
    with serve_asgi(TracingMiddleware(_forget_route(starlette_app()))) as base:
        httpx.get(f"{base}/items/4")
        httpx.get(f"{base}/shop/detail/3")
        httpx.get(f"{base}/none")
        httpx.request("PROPFIND", f"{base}/items/4")
        httpx.post(f"{base}/shop/detail/3")
    assert [(s.name, s.attributes["http.response.status_code"]) for s in span_recorder.spans()] == [
        ("GET /items/{item_id}", 200),
        ("GET /shop/detail/{item_id}", 200),
        ("GET", 404),
        ("HTTP /items/{item_id}", 405),
        ("POST /shop/detail/{item_id}", 405),
    ]
