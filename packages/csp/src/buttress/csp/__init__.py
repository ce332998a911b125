"""buttress-csp: strict Content-Security-Policy with per-request nonces, for any ASGI or WSGI app.

Build an immutable, validated `Policy` (or take the `strict` preset), wrap your application in the
middleware, and put the request's nonce on your inline scripts::

    from buttress.csp import CSPMiddleware, strict

    app = CSPMiddleware(app, strict(report_to=("csp", "/csp-reports")))
    # in a handler: scope["state"]["csp_nonce"]; in Jinja2 (install_jinja2): {{ csp_nonce() }}

Policies serialize deterministically and `parse` reads a header back; `parse_reports`,
`ReportReceiver` and `WSGIReportReceiver` read the violation reports browsers send.
"""

from __future__ import annotations

from ._directives import NONCE, Directive, Keyword, NoncePlaceholder, Source
from ._middleware import (
    NONCE_ENVIRON_KEY,
    NONCE_STATE_KEY,
    CSPMiddleware,
    CSPWSGIMiddleware,
    current_nonce,
    install_jinja2,
)
from ._nonce import MAX_NONCE_BYTES, MIN_NONCE_BYTES, HashAlgorithm, generate_nonce, hash_source
from ._policy import (
    ENFORCE_HEADER,
    REPORT_ONLY_HEADER,
    REPORTING_ENDPOINTS_HEADER,
    CompiledPolicy,
    Policy,
    parse,
)
from ._presets import compatible, strict
from ._reports import (
    DEFAULT_MAX_REPORT_BYTES,
    CSPReport,
    ReportHandler,
    ReportReceiver,
    SyncReportHandler,
    WSGIReportReceiver,
    parse_reports,
)
from ._version import __version__
from .exceptions import (
    CSPConfigurationError,
    CSPError,
    CSPTypeError,
    MissingExtraError,
    NonceUnavailableError,
    PolicyError,
    PolicySyntaxError,
    ReportError,
    ReportTooLargeError,
    UnsupportedReportTypeError,
)

__all__ = [
    "DEFAULT_MAX_REPORT_BYTES",
    "ENFORCE_HEADER",
    "MAX_NONCE_BYTES",
    "MIN_NONCE_BYTES",
    "NONCE",
    "NONCE_ENVIRON_KEY",
    "NONCE_STATE_KEY",
    "REPORTING_ENDPOINTS_HEADER",
    "REPORT_ONLY_HEADER",
    "CSPConfigurationError",
    "CSPError",
    "CSPMiddleware",
    "CSPReport",
    "CSPTypeError",
    "CSPWSGIMiddleware",
    "CompiledPolicy",
    "Directive",
    "HashAlgorithm",
    "Keyword",
    "MissingExtraError",
    "NoncePlaceholder",
    "NonceUnavailableError",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "ReportError",
    "ReportHandler",
    "ReportReceiver",
    "ReportTooLargeError",
    "Source",
    "SyncReportHandler",
    "UnsupportedReportTypeError",
    "WSGIReportReceiver",
    "__version__",
    "compatible",
    "current_nonce",
    "generate_nonce",
    "hash_source",
    "install_jinja2",
    "parse",
    "parse_reports",
    "strict",
]
