"""buttress-observability in every example: request ids over HTTP, one server span per request.

The request-id middleware is the outermost layer of each app, so every answer carries an
``X-Request-ID``. Where the test process holds the app (every server but granian), the spans it
records show one server span per request, named ``{method} {route}`` by the framework's own route
template, and the probes left untraced.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from buttress.testing import RecordedSpans, SpanRecord
from frameworks.shop import HEALTH
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import IN_PROCESS, TARGETS, Target

ROUTES = {
    "starlette": "/products/{product_id}",
    "fastapi": "/products/{product_id}",
    "litestar": "/products/{product_id}",
    "quart": "/products/<product_id>",
    "flask": "/products/<product_id>",
    "django": "/products/<str:product_id>",
}
"""The route template each framework matched for ``/products/<id>``: the span's name, not the path."""


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_request_id_is_echoed_generated_or_replaced(target: Target, servers: Servers) -> None:
    with httpx.Client(base_url=servers(target), timeout=30) as client:
        echoed = client.get("/products/1", headers={"X-Request-ID": "req-7f3a:retry.2"})
        generated = [client.get("/products/1") for _ in range(2)]
        hostile = client.get("/products/1", headers={"X-Request-ID": "<script>alert(1)</script>"})
        too_long = client.get("/products/1", headers={"X-Request-ID": "a" * 129})
        refused = client.get("/me")  # answered by the auth layer: the id is there all the same
    assert echoed.headers["x-request-id"] == "req-7f3a:retry.2"
    fresh = [r.headers["x-request-id"] for r in (*generated, hostile, too_long, refused)]
    assert all(str(uuid.UUID(value)) == value for value in fresh), fresh
    assert len(set(fresh)) == len(fresh), "each request its own id"
    for answer in (echoed, *generated, hostile, too_long):
        assert answer.status_code == 200
    assert refused.status_code == 401


def server_spans(recorder: RecordedSpans, traces: list[str]) -> list[SpanRecord]:
    """The server spans of ``traces``, once each has one (a span ends after the answer is sent).

    Filtered by trace, so a span of the previous test ending late is not counted.
    """
    wanted = {int(trace, 16) for trace in traces}
    deadline = time.monotonic() + 30
    while True:
        spans = [s for s in recorder.spans() if s.kind == "SERVER" and s.trace_id in wanted]
        if {s.trace_id for s in spans} == wanted or time.monotonic() > deadline:
            return sorted(spans, key=lambda s: traces.index(f"{s.trace_id:032x}"))
        time.sleep(0.01)


def traceparent(trace: str, span: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace}-{span}-01"}


@pytest.mark.parametrize("target", IN_PROCESS, ids=str)
def test_one_server_span_per_request_named_by_the_route(
    target: Target, servers: Servers, span_recorder: RecordedSpans
) -> None:
    base = servers(target)
    traces = [uuid.uuid4().hex for _ in range(3)]
    parent = uuid.uuid4().hex[:16]
    with httpx.Client(base_url=base, timeout=30) as client:
        probe = client.get(f"{HEALTH}/live", headers=traceparent(traces[2], parent))
        product = client.get("/products/42", headers=traceparent(traces[0], parent))
        missing = client.get("/me", headers=traceparent(traces[1], parent))
    assert (product.status_code, missing.status_code, probe.status_code) == (200, 401, 200)
    spans = server_spans(span_recorder, traces[:2])
    route = ROUTES[target.framework]
    assert [s.name for s in spans] == [f"GET {route}", "GET /me"], "one server span per request"
    # the probe was answered before the two traced requests were sent, its span would have ended
    assert int(traces[2], 16) not in {s.trace_id for s in span_recorder.spans()}, "probes are excluded"
    first, second = spans
    assert first.attributes["http.route"] == route
    assert first.attributes["url.path"] == "/products/42"
    assert first.attributes["http.response.status_code"] == 200
    assert first.parent_id == int(parent, 16), "the client's traceparent is the parent"
    assert second.attributes["http.response.status_code"] == 401
    assert second.status == "UNSET", "a 4xx is the client's: the span's status stays unset"
