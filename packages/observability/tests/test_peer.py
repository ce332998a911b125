"""Differential: the same requests through opentelemetry-instrumentation-asgi and through ours.

Reports where the two agree (one server span per request, the W3C parent, the status code) and
where the peer leaves the stable HTTP conventions (the raw path in the span name, no ``error.type``
on an exception, the old attribute names unless opted in).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from buttress.observability import TracingMiddleware
from buttress.testing import RecordedSpans, serve_asgi

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def item(request: Any) -> PlainTextResponse:
    if request.path_params["item_id"] == "boom":
        raise LookupError("boom")
    return PlainTextResponse("ok")


def run(wrap: Any) -> list[Any]:
    recorder = RecordedSpans()
    app = wrap(Starlette(routes=[Route("/items/{item_id}", item)]))
    with serve_asgi(app) as base:
        assert httpx.get(f"{base}/items/7", headers={"traceparent": TRACEPARENT}).status_code == 200
        assert httpx.get(f"{base}/items/boom").status_code == 500
    return [s for s in recorder.spans() if s.kind == "SERVER"]


@pytest.fixture
def no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)


def test_against_opentelemetry_instrumentation_asgi(no_opt_in: None) -> None:
    ours = run(TracingMiddleware)
    theirs = run(lambda app: OpenTelemetryMiddleware(app, exclude_spans=["receive", "send"]))
    # agreement: one server span per request, the propagated parent, the error status
    assert len(ours) == len(theirs) == 2
    assert ours[0].trace_id == theirs[0].trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert ours[0].parent_id == theirs[0].parent_id == 0xB7AD6B7169203331
    assert ours[1].status == theirs[1].status == "ERROR"
    # the peer names spans by the raw path; ours by the route template
    assert [s.name for s in theirs] == ["GET /items/7", "GET /items/boom"]
    assert [s.name for s in ours] == ["GET /items/{item_id}"] * 2
    # the peer gives an exception no error.type
    assert "error.type" not in theirs[1].attributes
    assert ours[1].attributes["error.type"] == "LookupError"
    # without the opt-in the peer emits the old attribute names
    assert "http.method" in theirs[0].attributes
    assert "http.request.method" not in theirs[0].attributes
    assert ours[0].attributes["http.request.method"] == "GET"
