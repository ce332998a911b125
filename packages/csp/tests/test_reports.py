"""parse_reports and the ASGI / WSGI report receivers."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.csp import (
    CSPConfigurationError,
    CSPReport,
    CSPTypeError,
    ReportError,
    ReportReceiver,
    ReportTooLargeError,
    UnsupportedReportTypeError,
    WSGIReportReceiver,
    parse_reports,
)

LEGACY = {
    "csp-report": {
        "document-uri": "https://example.com/page",
        "referrer": "",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "script-src 'nonce-abc' 'strict-dynamic'; report-uri /csp",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "column-number": 5,
        "source-file": "https://example.com/page",
        "status-code": 200,
        "script-sample": "",
    }
}
REPORTING = [
    {
        "type": "csp-violation",
        "age": 10,
        "url": "https://example.com/page",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://example.com/page",
            "blockedURL": "https://evil.example/x.js",
            "effectiveDirective": "script-src-elem",
            "originalPolicy": "script-src 'nonce-abc'",
            "disposition": "report",
            "statusCode": 200,
            "sample": "alert(1)",
            "lineNumber": 3,
        },
    },
    {"type": "deprecation", "age": 1, "url": "https://example.com/", "body": {"id": "x"}},
]


def test_parse_a_legacy_report() -> None:
    (report,) = parse_reports(json.dumps(LEGACY).encode(), "application/csp-report")
    assert report == CSPReport(
        document_uri="https://example.com/page",
        effective_directive="script-src-elem",
        blocked_uri="inline",
        disposition="enforce",
        original_policy="script-src 'nonce-abc' 'strict-dynamic'; report-uri /csp",
        referrer=None,
        source_file="https://example.com/page",
        line_number=12,
        column_number=5,
        status_code=200,
        sample=None,
        format="csp-report",
    )


def test_parse_a_reporting_api_batch_skipping_other_types() -> None:
    (report,) = parse_reports(json.dumps(REPORTING).encode(), "application/reports+json; charset=utf-8")
    assert report.blocked_uri == "https://evil.example/x.js"
    assert report.disposition == "report"
    assert report.sample == "alert(1)"
    assert report.user_agent == "Mozilla/5.0"
    assert report.age == 10
    assert report.format == "reports+json"


def test_application_json_holds_either_format() -> None:
    assert parse_reports(json.dumps(LEGACY).encode(), "application/json")[0].format == "csp-report"
    assert parse_reports(json.dumps(REPORTING).encode(), "Application/JSON")[0].format == "reports+json"
    assert parse_reports(b"[]", "application/reports+json") == []


def test_old_browsers_send_only_violated_directive_and_url_fallback() -> None:
    body = {"csp-report": {"document-uri": "https://a.example/", "violated-directive": "img-src 'self'"}}
    (report,) = parse_reports(json.dumps(body).encode(), "application/csp-report")
    assert report.effective_directive == "img-src"
    batch = [
        {"type": "csp-violation", "url": "https://a.example/", "body": {"effectiveDirective": "img-src"}}
    ]
    assert (
        parse_reports(json.dumps(batch).encode(), "application/reports+json")[0].document_uri
        == "https://a.example/"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        (b"{", "application/csp-report", ReportError, "not valid JSON"),
        (b"\xff\xfe", "application/csp-report", ReportError, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", ReportTooLargeError, "limit"),
        (b"[]", "application/csp-report", ReportError, "'csp-report' member"),
        (b"{}", "application/reports+json", ReportError, "an array of reports"),
        (b"{}", "application/csp-report", ReportError, "'csp-report' object"),
        (
            b'{"csp-report": {"document-uri": 1, "effective-directive": "x"}}',
            "application/csp-report",
            ReportError,
            "'documentURL' must be a string",
        ),
        (
            b'{"csp-report": {"document-uri": "a", "effective-directive": "x", "line-number": "1"}}',
            "application/csp-report",
            ReportError,
            "must be an integer",
        ),
        (
            b'{"csp-report": {"document-uri": "a", "effective-directive": "x", "status-code": true}}',
            "application/csp-report",
            ReportError,
            "must be an integer",
        ),
        (b'{"csp-report": {"blocked-uri": "x"}}', "application/csp-report", ReportError, "name the document"),
        (b"[1]", "application/reports+json", ReportError, "must be an object"),
        (b'[{"type": "csp-violation"}]', "application/reports+json", ReportError, "'body' object"),
        (
            b'[{"type": "csp-violation", "age": "x", "body": {}}]',
            "application/reports+json",
            ReportError,
            "integer",
        ),
        (b"{}", "text/plain", UnsupportedReportTypeError, "not a CSP report type"),
        (b"{}", "", UnsupportedReportTypeError, "not a CSP report type"),
    ],
)
def test_malformed_bodies_raise_typed_errors(
    body: bytes, content_type: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        parse_reports(body, content_type)
    assert isinstance(caught.value, ValueError)
    assert "evil" not in str(caught.value)


def test_size_limit_and_bad_arguments() -> None:
    body = json.dumps(LEGACY).encode()
    with pytest.raises(ReportTooLargeError) as caught:
        parse_reports(body, "application/csp-report", max_bytes=100)
    assert (caught.value.size, caught.value.limit) == (len(body), 100)
    with pytest.raises(CSPTypeError):
        parse_reports("{}", "application/json")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        parse_reports(b"{}", None)  # type: ignore[arg-type]
    with pytest.raises(CSPConfigurationError):
        parse_reports(b"{}", "application/json", max_bytes=0)
    with pytest.raises(CSPTypeError):
        parse_reports(b"{}", "application/json", max_bytes=1.5)  # type: ignore[arg-type]


@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/csp-report", "application/reports+json", "application/json", "text/html"]
    ),
)
def test_any_body_gives_reports_or_a_report_error(body: bytes, content_type: str) -> None:
    """Property: report parsing is total — any bytes give a list of reports or a ReportError, nothing else."""
    try:
        reports = parse_reports(body, content_type, max_bytes=200)
    except ReportError:
        return
    assert all(isinstance(r, CSPReport) for r in reports)


@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "csp-report",
                        "type",
                        "body",
                        "document-uri",
                        "documentURL",
                        "effectiveDirective",
                        "effective-directive",
                        "x",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=10,
    )
)
def test_any_json_gives_reports_or_a_report_error(document: object) -> None:
    """Property: report parsing is total over JSON documents of any shape."""
    with contextlib.suppress(ReportError):
        parse_reports(json.dumps(document).encode(), "application/json")


class Collector:
    def __init__(self) -> None:
        self.batches: list[Sequence[CSPReport]] = []

    async def __call__(self, reports: Sequence[CSPReport], /) -> None:
        self.batches.append(reports)

    def sync(self, reports: Sequence[CSPReport], /) -> None:
        self.batches.append(reports)


async def asgi_post(
    app: Any,
    body: bytes,
    content_type: bytes,
    *,
    method: str = "POST",
    chunks: int = 1,
    declared: int | None = None,
    cut_short: bool = False,
) -> int:
    headers = [(b"content-type", content_type)]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    size = max(1, len(body) // chunks + 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]
    if cut_short:  # the client leaves before the body's last chunk
        messages[-1]["more_body"] = True
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "headers": headers}, receive, send)
    return int(sent[0]["status"])


async def test_asgi_receiver_statuses() -> None:
    collector = Collector()
    app = ReportReceiver(collector, max_bytes=2048)
    body = json.dumps(LEGACY).encode()
    assert await asgi_post(app, body, b"application/csp-report", chunks=3) == 204
    assert await asgi_post(app, json.dumps(REPORTING).encode(), b"application/reports+json") == 204
    assert [len(b) for b in collector.batches] == [1, 1]
    assert await asgi_post(app, b"{", b"application/csp-report") == 400
    assert await asgi_post(app, body, b"text/plain") == 415
    assert await asgi_post(app, body, b"application/csp-report", method="GET") == 405
    assert await asgi_post(app, b"x" * 5000, b"application/csp-report", chunks=4) == 413
    assert await asgi_post(app, body, b"application/csp-report", declared=10**9) == 413
    assert len(collector.batches) == 2
    await app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]


async def test_a_body_cut_short_is_a_bad_request_not_a_report() -> None:
    """A client that leaves mid-body sent no report: 400, and the handler never sees half of one."""
    collector = Collector()
    app = ReportReceiver(collector, max_bytes=2048)
    body = json.dumps(LEGACY).encode()
    assert await asgi_post(app, body, b"application/csp-report", chunks=3, cut_short=True) == 400
    assert collector.batches == []


def wsgi_post(app: Any, environ: dict[str, Any]) -> str:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    assert list(app(environ, start_response)) == []
    return statuses[0]


def test_wsgi_receiver_statuses() -> None:
    collector = Collector()
    app = WSGIReportReceiver(collector.sync, max_bytes=2048)
    body = json.dumps(LEGACY).encode()

    def env(data: bytes, content_type: str = "application/csp-report", **extra: Any) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
            **extra,
        }

    assert wsgi_post(app, env(body)).startswith("204")
    assert wsgi_post(app, env(b"{")).startswith("400")
    assert wsgi_post(app, env(body, "text/plain")).startswith("415")
    assert wsgi_post(app, env(b"x" * 5000)).startswith("413")
    assert wsgi_post(app, env(body, REQUEST_METHOD="GET")).startswith("405")
    assert wsgi_post(app, env(body, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")).startswith("411")
    assert wsgi_post(app, env(body, CONTENT_LENGTH="")).startswith("400")  # no length, no body: not a report
    assert wsgi_post(app, env(body, CONTENT_LENGTH="", **{"wsgi.input_terminated": True})).startswith("204")
    assert wsgi_post(app, env(b"x" * 5000, CONTENT_LENGTH="", **{"wsgi.input_terminated": True})).startswith(
        "413"
    )
    assert wsgi_post(app, env(body, CONTENT_LENGTH="abc")).startswith("400")
    assert wsgi_post(app, env(body, CONTENT_LENGTH="-1")).startswith("400")
    assert len(collector.batches) == 2


def test_receivers_reject_bad_arguments() -> None:
    with pytest.raises(CSPTypeError):
        ReportReceiver(None)  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        WSGIReportReceiver(None)  # type: ignore[arg-type]
    with pytest.raises(CSPConfigurationError):
        ReportReceiver(Collector(), max_bytes=-1)
