"""Every attribute the middleware sets is a stable HTTP server convention; the differential check
against the conventions' own Python package reports the agreement."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.observability import KNOWN_METHODS, TracingMiddleware, WSGITracingMiddleware
from buttress.observability._http import normalize_method, redact_query
from buttress.testing import RecordedMetrics, RecordedSpans, serve_asgi, serve_wsgi

# The stable HTTP server span attributes, from the OpenTelemetry semantic conventions' HTTP spans page
# (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server, "Stability: Stable"),
# and the attributes of http.server.request.duration from the HTTP metrics page
# (https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration).
STABLE_SERVER_SPAN = frozenset(
    {
        "http.request.method",
        "url.path",
        "url.scheme",
        "error.type",
        "http.request.method_original",
        "http.response.status_code",
        "http.route",
        "network.protocol.name",
        "network.protocol.version",
        "server.port",
        "url.query",
        "client.address",
        "server.address",
        "user_agent.original",
        "client.port",
        "network.local.address",
        "network.local.port",
        "network.peer.address",
        "network.peer.port",
        "network.transport",
        "network.type",
    }
)
STABLE_DURATION_METRIC = frozenset(
    {
        "http.request.method",
        "url.scheme",
        "error.type",
        "http.response.status_code",
        "http.route",
        "network.protocol.name",
        "network.protocol.version",
        "server.address",
        "server.port",
    }
)
# The known methods of http.request.method (the same page's enum).
CONVENTIONS_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
SEEN: set[str] = set()


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] == "/raise":
        raise ValueError("boom")
    status = int(scope["path"].strip("/") or 200)
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/raise":
        raise ValueError("boom")
    status = int(environ["PATH_INFO"].strip("/") or 200)
    start_response(f"{status} X", [("Content-Length", "0")])
    return [b""]


def drive(base: str) -> None:
    headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "User-Agent": "t"}
    httpx.get(f"{base}/200?q=1&sig=secret", headers=headers)
    httpx.request("PROPFIND", f"{base}/404")
    httpx.post(f"{base}/503")
    httpx.get(f"{base}/raise")


@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_every_attribute_is_a_stable_http_server_convention(
    server: str, span_recorder: RecordedSpans, metric_reader: RecordedMetrics
) -> None:
    if server == "asgi":
        with serve_asgi(TracingMiddleware(app)) as base:
            drive(base)
    else:
        with serve_wsgi(WSGITracingMiddleware(wsgi_app)) as base:
            drive(base)
    spans = span_recorder.spans()
    assert len(spans) == 4
    names = {name for span in spans for name in span.attributes}
    assert names <= STABLE_SERVER_SPAN, names - STABLE_SERVER_SPAN
    SEEN.update(names)
    # the attributes the conventions require on every server span are there
    for span in spans:
        assert {"http.request.method", "url.path", "url.scheme"} <= set(span.attributes)
    assert spans[0].attributes["url.query"] == "q=1&sig=REDACTED"
    points = metric_reader.points("http.server.request.duration")
    assert points
    metric_names = {name for point in points for name in point.attributes}
    assert metric_names <= STABLE_DURATION_METRIC, metric_names - STABLE_DURATION_METRIC
    assert all(point.unit == "s" for point in points)


def test_the_list_agrees_with_the_conventions_package() -> None:
    """Differential: our list against opentelemetry-semantic-conventions' stable attribute modules."""
    package = importlib.import_module("opentelemetry.semconv.attributes")
    stable: set[str] = set()
    for module in pkgutil.iter_modules(package.__path__):
        values = vars(importlib.import_module(f"{package.__name__}.{module.name}")).values()
        stable.update(v for v in values if isinstance(v, str) and "." in v)
    assert stable >= STABLE_SERVER_SPAN
    assert stable >= STABLE_DURATION_METRIC
    metrics = importlib.import_module("opentelemetry.semconv.metrics.http_metrics")
    assert metrics.HTTP_SERVER_REQUEST_DURATION == "http.server.request.duration"
    enum = importlib.import_module("opentelemetry.semconv.attributes.http_attributes").HttpRequestMethodValues
    package_methods = {m.value for m in enum} - {"_OTHER"}
    assert set(KNOWN_METHODS) == CONVENTIONS_METHODS
    # The package may lag the conventions by a method (QUERY): report, never hide, the difference.
    assert package_methods <= CONVENTIONS_METHODS


@given(st.text(max_size=12))
def test_methods_outside_the_registry_are_other(method: str) -> None:
    """Any method string maps to a known method or to _OTHER with the original kept."""
    recorded, original = normalize_method(method)
    if method in CONVENTIONS_METHODS:
        assert (recorded, original) == (method, None)
    else:
        assert (recorded, original) == ("_OTHER", method)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "sig", "Signature", "X-Goog-Signature", "AWSAccessKeyId"]),
            st.text("xyz=", max_size=5),
        ),
        max_size=5,
    )
)
def test_signature_values_never_survive_query_redaction(pairs: list[tuple[str, str]]) -> None:
    query = "&".join(f"{k}={v}" for k, v in pairs)
    redacted = redact_query(query)
    for part, (key, _value) in zip(redacted.split("&"), pairs, strict=False):
        if key != "a":
            assert part == f"{key}=REDACTED"
