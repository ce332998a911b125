"""Each OpenTelemetry instrument of buttress-csp, read back through the metric_reader fixture."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable
from typing import Any

import pytest

from buttress.csp import (
    CSPMiddleware,
    CSPWSGIMiddleware,
    ReportError,
    ReportReceiver,
    WSGIReportReceiver,
    generate_nonce,
    parse_reports,
    strict,
)
from buttress.testing import RecordedMetrics

RESPONSES = "buttress.csp.responses"
NONCES = "buttress.csp.nonces"
REPORTS = "buttress.csp.reports"
VIOLATIONS = "buttress.csp.violations"

type Message = dict[str, Any]


def legacy(directive: str) -> bytes:
    return json.dumps(
        {"csp-report": {"document-uri": "https://example.com/", "effective-directive": directive}}
    ).encode()


def reporting(*directives: str) -> bytes:
    violations = [
        {"type": "csp-violation", "body": {"documentURL": "https://example.com/", "effectiveDirective": d}}
        for d in directives
    ]
    return json.dumps([*violations, {"type": "deprecation", "body": {}}]).encode()


async def page(scope: Message, receive: Any, send: Any) -> None:
    headers = [(b"content-security-policy", b"default-src 'none'")] if scope["path"] == "/own" else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def get(app: Any, path: str = "/") -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)


def page_sync(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    own = [("Content-Security-Policy", "default-src 'none'")] if environ["PATH_INFO"] == "/own" else []
    start_response("200 OK", own)
    return [b"ok"]


def get_sync(app: Any, path: str = "/") -> None:
    list(app({"REQUEST_METHOD": "GET", "PATH_INFO": path}, lambda status, headers, exc_info=None: None))


async def post(
    app: Any, body: bytes, content_type: bytes, *, length: bytes | None = None, cut: bool = False
) -> int:
    headers = [(b"content-type", content_type), (b"content-length", length or str(len(body)).encode())]
    messages = [{"type": "http.request", "body": body, "more_body": cut}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/csp", "headers": headers}, receive, send)
    return int(sent[0]["status"])


def post_sync(app: Any, body: bytes, content_type: str, **extra: Any) -> str:
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **extra,
    }
    list(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return statuses[0]


async def ignore(reports: Any) -> None:
    pass


async def test_responses_given_a_policy_by_middleware_and_disposition(metric_reader: RecordedMetrics) -> None:
    await get(CSPMiddleware(page, strict()))
    await get(CSPMiddleware(page, strict()))
    await get(CSPMiddleware(page, strict().as_report_only()))
    await get(CSPMiddleware(page, strict()), "/own")  # the page's own policy is kept: not given ours
    get_sync(CSPWSGIMiddleware(page_sync, strict()))
    get_sync(CSPWSGIMiddleware(page_sync, strict()), "/own")
    get_sync(CSPWSGIMiddleware(page_sync, strict(), respect_existing=False), "/own")  # replaced: given ours
    assert metric_reader.value(RESPONSES, {"csp.middleware": "asgi", "csp.disposition": "enforce"}) == 2
    assert metric_reader.value(RESPONSES, {"csp.middleware": "asgi", "csp.disposition": "report"}) == 1
    assert metric_reader.value(RESPONSES, {"csp.middleware": "wsgi", "csp.disposition": "enforce"}) == 2
    assert metric_reader.value(RESPONSES) == 5


def test_a_replaced_wsgi_response_is_one_response(metric_reader: RecordedMetrics) -> None:
    def failing(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        try:
            raise RuntimeError("template failed")
        except RuntimeError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"error"]

    get_sync(CSPWSGIMiddleware(failing, strict()))
    assert metric_reader.value(RESPONSES) == 1


async def test_nonces_are_counted_when_drawn(metric_reader: RecordedMetrics) -> None:
    compiled = strict().compile()  # compiling checks nonce_bytes and draws nothing
    await get(CSPMiddleware(page, compiled))
    get_sync(CSPWSGIMiddleware(page_sync, compiled))
    compiled.issue()
    generate_nonce()
    assert metric_reader.value(NONCES) == 4


async def test_reports_by_type_and_outcome(metric_reader: RecordedMetrics) -> None:
    app = ReportReceiver(ignore, max_bytes=512)
    assert await post(app, legacy("script-src-elem"), b"application/csp-report") == 204
    assert await post(app, reporting("img-src"), b"application/reports+json; charset=utf-8") == 204
    assert await post(app, legacy("style-src"), b"application/json") == 204
    assert await post(app, b"x" * 600, b"application/csp-report") == 413  # declared too large
    assert await post(app, b"x" * 600, b"application/csp-report", length=b"10") == 413  # grew too large
    assert await post(app, legacy("script-src"), b"text/plain") == 415
    assert await post(app, b"{", b"application/csp-report") == 400
    assert await post(app, legacy("script-src"), b"application/csp-report", length=b"-1") == 400
    assert await post(app, legacy("script-src"), b"application/csp-report", cut=True) == 400
    expected = {
        ("csp-report", "accepted"): 1,
        ("reports+json", "accepted"): 1,
        ("json", "accepted"): 1,
        ("csp-report", "too_large"): 2,
        ("other", "unsupported"): 1,
        ("csp-report", "malformed"): 3,
    }
    for (kind, outcome), count in expected.items():
        attributes = {"csp.report.type": kind, "csp.report.outcome": outcome}
        assert metric_reader.value(REPORTS, attributes) == count, (kind, outcome)
    assert metric_reader.value(REPORTS) == sum(expected.values())


def test_wsgi_reports_by_type_and_outcome(metric_reader: RecordedMetrics) -> None:
    app = WSGIReportReceiver(lambda reports: None, max_bytes=512)
    assert post_sync(app, legacy("script-src"), "application/csp-report").startswith("204")
    assert post_sync(app, b"x" * 600, "application/csp-report").startswith("413")
    assert post_sync(
        app,
        legacy("script-src"),
        "application/csp-report",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    ).startswith("411")
    assert post_sync(app, b"[]", "application/csp-report").startswith("400")
    assert post_sync(app, legacy("script-src"), "text/html").startswith("415")
    assert post_sync(app, legacy("script-src"), "application/csp-report", REQUEST_METHOD="GET").startswith(
        "405"
    )
    accepted = {"csp.report.type": "csp-report", "csp.report.outcome": "accepted"}
    assert metric_reader.value(REPORTS, accepted) == 1
    too_large = {"csp.report.type": "csp-report", "csp.report.outcome": "too_large"}
    assert metric_reader.value(REPORTS, too_large) == 1
    malformed = {"csp.report.type": "csp-report", "csp.report.outcome": "malformed"}
    assert metric_reader.value(REPORTS, malformed) == 2
    assert metric_reader.value(REPORTS, {"csp.report.outcome": "unsupported"}) == 1
    assert metric_reader.value(REPORTS) == 5  # a GET is no report


def test_violations_by_directive_bounded_to_csp_names(metric_reader: RecordedMetrics) -> None:
    parse_reports(reporting("script-src-elem", "script-src-elem", "img-src"), "application/reports+json")
    parse_reports(legacy("https://evil.example/?q=secret"), "application/csp-report")
    parse_reports(legacy("Script-Src"), "application/csp-report")
    with pytest.raises(ReportError):
        parse_reports(b"{", "application/csp-report")
    assert metric_reader.value(VIOLATIONS, {"csp.directive": "script-src-elem"}) == 2
    assert metric_reader.value(VIOLATIONS, {"csp.directive": "img-src"}) == 1
    assert metric_reader.value(VIOLATIONS, {"csp.directive": "other"}) == 2
    assert metric_reader.value(VIOLATIONS) == 5
    for point in metric_reader.points(VIOLATIONS):
        assert "evil" not in str(point.attributes)
