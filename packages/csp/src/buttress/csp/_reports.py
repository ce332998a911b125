"""Reading CSP violation reports: a parser, and receivers for ASGI and WSGI."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from buttress.core import (
    ArgumentTypeError,
    ClientDisconnectedError,
    Receive,
    Scope,
    Send,
    StartResponse,
    UnreadableBodyError,
    WSGIEnviron,
    declared_length,
    read_body,
    read_wsgi_body,
    respond,
    wsgi_respond,
)

from ._metrics import ReportOutcome, count_report, count_violation, report_type
from .exceptions import (
    CSPConfigurationError,
    CSPTypeError,
    ReportError,
    ReportTooLargeError,
    UnsupportedReportTypeError,
)

__all__ = [
    "DEFAULT_MAX_REPORT_BYTES",
    "CSPReport",
    "ReportHandler",
    "ReportReceiver",
    "SyncReportHandler",
    "WSGIReportReceiver",
    "parse_reports",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_REPORT_BYTES: Final = 64 * 1024
"""The default size limit of a report body: far above a real report, far below a memory problem."""

_LEGACY: Final = "application/csp-report"
_REPORTING: Final = "application/reports+json"
_JSON: Final = "application/json"

# Legacy (report-uri) field -> Reporting API (report-to) field.
_FIELDS: Final = {
    "document-uri": "documentURL",
    "referrer": "referrer",
    "blocked-uri": "blockedURL",
    "effective-directive": "effectiveDirective",
    "violated-directive": "violatedDirective",
    "original-policy": "originalPolicy",
    "disposition": "disposition",
    "source-file": "sourceFile",
    "script-sample": "sample",
    "line-number": "lineNumber",
    "column-number": "columnNumber",
    "status-code": "statusCode",
}


@dataclass(frozen=True, slots=True)
class CSPReport:
    """One CSP violation, read from either report format.

    Attributes:
        document_uri: The page whose policy was violated.
        effective_directive: The directive that blocked (or would have blocked) the resource.
        blocked_uri: What was blocked: a URL, or ``inline``, ``eval``, ``wasm-eval`` ...
        disposition: ``"enforce"`` or ``"report"`` (report-only), as the browser said.
        original_policy: The policy as the browser received it.
        referrer: The page's referrer, if any.
        source_file: The script or document where the violation happened, if known.
        line_number: Its line, if known.
        column_number: Its column, if known.
        status_code: The HTTP status of the page.
        sample: The first characters of the blocked inline code, when ``'report-sample'`` asks for it.
        user_agent: The browser's user agent (Reporting API reports only).
        age: Milliseconds between the violation and the report being sent (Reporting API only).
        format: ``"csp-report"`` (``report-uri``) or ``"reports+json"`` (``report-to``).
    """

    document_uri: str
    effective_directive: str
    blocked_uri: str = ""
    disposition: str = "enforce"
    original_policy: str = ""
    referrer: str | None = None
    source_file: str | None = None
    line_number: int | None = None
    column_number: int | None = None
    status_code: int | None = None
    sample: str | None = None
    user_agent: str | None = None
    age: int | None = None
    format: Literal["csp-report", "reports+json"] = "csp-report"


def _media_type(content_type: object) -> str:
    if not isinstance(content_type, str):
        raise CSPTypeError("content_type", "a str", content_type)
    return content_type.split(";", 1)[0].strip().lower()


def parse_reports(
    body: bytes, content_type: str, *, max_bytes: int = DEFAULT_MAX_REPORT_BYTES
) -> list[CSPReport]:
    """Read the CSP violations from a report request's body.

    Accepts ``application/csp-report`` (sent for ``report-uri``), ``application/reports+json``
    (sent for ``report-to``; reports of other types in the batch are skipped) and
    ``application/json`` holding either.

    Args:
        body: The request body.
        content_type: The request's ``Content-Type`` header (parameters are ignored).
        max_bytes: The largest body accepted.

    Raises:
        ReportTooLargeError: ``body`` is longer than ``max_bytes``.
        UnsupportedReportTypeError: The content type is not one of the three.
        ReportError: The body is not JSON, or not shaped like a CSP report.
        CSPTypeError: ``body`` is not bytes.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise CSPTypeError("body", "bytes", body)
    _check_limit(max_bytes)
    kind = report_type(content_type)
    try:
        reports = _parse(body, content_type, max_bytes)
    except ReportError as error:
        count_report(kind, _outcome_of(error))
        raise
    count_report(kind, "accepted")
    for report in reports:
        count_violation(report.effective_directive)
    return reports


def _parse(body: bytes, content_type: str, max_bytes: int) -> list[CSPReport]:
    if len(body) > max_bytes:
        raise ReportTooLargeError(len(body), max_bytes)
    media_type = _media_type(content_type)
    if media_type not in {_LEGACY, _REPORTING, _JSON}:
        raise UnsupportedReportTypeError(media_type)
    try:
        document = json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise ReportError("the body is not valid JSON") from None
    if isinstance(document, Mapping) and media_type in {_LEGACY, _JSON}:
        return [_legacy(document)]
    if isinstance(document, list) and media_type in {_REPORTING, _JSON}:
        return [r for r in (_reporting(item) for item in document) if r is not None]
    expected = "an object with a 'csp-report' member" if media_type == _LEGACY else "an array of reports"
    raise ReportError(f"a {media_type} body must be {expected}")


def _outcome_of(error: ReportError) -> ReportOutcome:
    if isinstance(error, ReportTooLargeError):
        return "too_large"
    if isinstance(error, UnsupportedReportTypeError):
        return "unsupported"
    return "malformed"


def _check_limit(max_bytes: object) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise CSPTypeError("max_bytes", "an int", max_bytes)
    if max_bytes < 1:
        raise CSPConfigurationError("max_bytes", max_bytes, "must be at least 1")
    return max_bytes


def _legacy(document: Mapping[str, object]) -> CSPReport:
    inner = document.get("csp-report")
    if not isinstance(inner, Mapping):
        raise ReportError("an application/csp-report body must have a 'csp-report' object")
    fields = {_FIELDS[k]: v for k, v in inner.items() if k in _FIELDS}
    return _report(fields, user_agent=None, age=None, format="csp-report")


def _reporting(item: object) -> CSPReport | None:
    if not isinstance(item, Mapping):
        raise ReportError("each entry of a reports+json array must be an object")
    if item.get("type") != "csp-violation":
        return None
    body = item.get("body")
    if not isinstance(body, Mapping):
        raise ReportError("a csp-violation report must have a 'body' object")
    user_agent = _optional_str(item, "user_agent")
    age = _optional_int(item, "age")
    fields = {str(k): v for k, v in body.items()}
    if "documentURL" not in fields and isinstance(item.get("url"), str):
        fields["documentURL"] = item["url"]
    return _report(fields, user_agent=user_agent, age=age, format="reports+json")


def _report(
    fields: Mapping[str, object],
    *,
    user_agent: str | None,
    age: int | None,
    format: Literal["csp-report", "reports+json"],
) -> CSPReport:
    document_uri = _optional_str(fields, "documentURL")
    directive = _optional_str(fields, "effectiveDirective") or _optional_str(fields, "violatedDirective")
    if document_uri is None or directive is None:
        raise ReportError("a CSP report must name the document and the directive it violated")
    return CSPReport(
        document_uri=document_uri,
        effective_directive=directive.split(" ", 1)[0],
        blocked_uri=_optional_str(fields, "blockedURL") or "",
        disposition=_optional_str(fields, "disposition") or "enforce",
        original_policy=_optional_str(fields, "originalPolicy") or "",
        referrer=_optional_str(fields, "referrer") or None,
        source_file=_optional_str(fields, "sourceFile") or None,
        line_number=_optional_int(fields, "lineNumber"),
        column_number=_optional_int(fields, "columnNumber"),
        status_code=_optional_int(fields, "statusCode"),
        sample=_optional_str(fields, "sample") or None,
        user_agent=user_agent,
        age=age,
        format=format,
    )


def _optional_str(fields: Mapping[str, object], key: str) -> str | None:
    value = fields.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ReportError(f"the field {key!r} must be a string")


def _optional_int(fields: Mapping[str, object], key: str) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(f"the field {key!r} must be an integer")
    return value


class ReportHandler(Protocol):
    """**Protocol**: what `ReportReceiver` hands the reports of each request to.

    Methods:
        __call__: Receive the violations read from one request (possibly none). Store them, count
            them or log them; an exception fails the request with a 500.
    """

    async def __call__(self, reports: Sequence[CSPReport], /) -> None:
        """Handle the reports of one request."""
        ...


class SyncReportHandler(Protocol):
    """**Protocol**: what `WSGIReportReceiver` hands the reports of each request to.

    Methods:
        __call__: Receive the violations read from one request (possibly none).
    """

    def __call__(self, reports: Sequence[CSPReport], /) -> None:
        """Handle the reports of one request."""
        ...


_STATUSES: Final[dict[ReportOutcome, int]] = {"too_large": 413, "unsupported": 415, "malformed": 400}


def _status_of(error: ReportError) -> int:
    return _STATUSES[_outcome_of(error)]


class ReportReceiver:
    """An ASGI application that receives CSP reports: route it at your ``report-uri`` / endpoint URL.

    It reads no path, so any route that hands it the request works; give it the exact URL the policy
    names (Starlette and FastAPI: ``Route("/csp-reports", receiver, methods=["POST"])``; Litestar:
    ``asgi("/csp-reports", is_mount=True)``). A Starlette ``Mount`` serves only the paths below its
    prefix and answers the URL itself with a redirect, which browsers do not follow for reports.

    It answers ``204`` when the body was read (and passes the reports to ``handler``), ``400`` for a
    malformed body or ``Content-Length``, ``405`` for a method other than POST, ``413`` for a body
    over ``max_bytes`` (refused from ``Content-Length`` before reading, or as soon as the limit is
    passed) and ``415`` for another content type. No request makes it fail: only ``handler`` can
    (its exception is a 500). The ``204`` carries no ``Content-Length`` (RFC 9110 forbids one on a
    204); every other answer has ``Content-Length: 0``.

    Args:
        handler: Called with the reports of every well-formed request.
        max_bytes: The largest body accepted.
    """

    def __init__(self, handler: ReportHandler, *, max_bytes: int = DEFAULT_MAX_REPORT_BYTES) -> None:
        if not callable(handler):
            raise CSPTypeError("handler", "an async callable", handler)
        self.handler = handler
        self.max_bytes = _check_limit(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (other than HTTP, it does nothing)."""
        if scope.get("type") != "http":
            return
        if scope.get("method") != "POST":
            await respond(send, 405, headers=[(b"allow", b"POST")])
            return
        headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers", ())}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        body = await self._read(headers, receive)
        if isinstance(body, str):
            count_report(report_type(content_type), body)
            await respond(send, _STATUSES[body])
            return
        try:
            reports = parse_reports(body, content_type, max_bytes=self.max_bytes)
        except ReportError as exc:
            logger.debug("refused a CSP report: %s", exc.reason)
            await respond(send, _status_of(exc))
            return
        await self.handler(reports)
        await respond(send, 204)

    async def _read(self, headers: Mapping[bytes, bytes], receive: Receive) -> bytes | ReportOutcome:
        """The body, or why it was refused before reading it all."""
        declared = declared_length(headers.get(b"content-length"))
        if declared is None:
            return "malformed"
        if declared > self.max_bytes:
            return "too_large"
        try:
            body = await read_body(receive, limit=self.max_bytes)
        except (ClientDisconnectedError, ArgumentTypeError):  # cut short, or a chunk that is not bytes
            return "malformed"
        return "too_large" if body is None else body


class WSGIReportReceiver:
    """The WSGI twin of `ReportReceiver`, with a synchronous handler.

    The body is read with core's `read_wsgi_body`: never past ``Content-Length``; without one, what
    the server delimited (``wsgi.input_terminated``), or nothing when the request has no
    ``Transfer-Encoding`` either. A body of unknown length the server did not delimit is answered
    ``411`` (reading it could block); a ``Content-Length`` that is not a run of digits, ``400``. The
    ``204`` carries no ``Content-Length``.

    Args:
        handler: Called with the reports of every well-formed request.
        max_bytes: The largest body accepted.
    """

    def __init__(self, handler: SyncReportHandler, *, max_bytes: int = DEFAULT_MAX_REPORT_BYTES) -> None:
        if not callable(handler):
            raise CSPTypeError("handler", "a callable", handler)
        self.handler = handler
        self.max_bytes = _check_limit(max_bytes)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request."""
        if environ.get("REQUEST_METHOD") != "POST":
            return wsgi_respond(start_response, 405, headers=[("Allow", "POST")])
        content_type = str(environ.get("CONTENT_TYPE", ""))
        try:
            body = read_wsgi_body(environ, limit=self.max_bytes)
        except UnreadableBodyError as exc:
            count_report(report_type(content_type), "malformed")
            return wsgi_respond(start_response, exc.status)
        except ClientDisconnectedError:
            count_report(report_type(content_type), "malformed")
            return wsgi_respond(start_response, 400)
        if body is None:
            count_report(report_type(content_type), "too_large")
            return wsgi_respond(start_response, 413)
        try:
            reports = parse_reports(body, content_type, max_bytes=self.max_bytes)
        except ReportError as exc:
            logger.debug("refused a CSP report: %s", exc.reason)
            return wsgi_respond(start_response, _status_of(exc))
        self.handler(reports)
        return wsgi_respond(start_response, 204)
