"""buttress-observability: OpenTelemetry by the semantic conventions, cheaply.

Set up the SDK once, trace functions and HTTP requests by the stable HTTP server conventions::

    from buttress.observability import TracingMiddleware, setup_telemetry, shutdown, traced

    setup_telemetry("orders-api", "1.4.2", otlp_endpoint="http://collector:4318")  # the sdk extra
    app = TracingMiddleware(app, excluded_paths=["/health/*"])

    @traced(arguments={"order_id": "app.order.id"})
    async def charge(order_id: str, amount: int) -> None: ...

    shutdown()  # at exit: flushes the exporters

A library that only makes spans needs opentelemetry-api alone; `setup_telemetry` needs the ``sdk``
extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._asgi import TracingMiddleware
from ._audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditFilter,
    AuditSink,
    MemoryAuditSink,
    chain_hash,
    verify_chain,
)
from ._http import DURATION_BUCKETS, KNOWN_METHODS, ExcludedPaths, RouteResolver
from ._logging import LEVELS, add_trace_context, check_level, configure_logging
from ._redact import DEFAULT_SENSITIVE_KEYS, REDACTED, Redactor, redact_pii, redact_text
from ._request_id import (
    DEFAULT_HEADER,
    RequestIdMiddleware,
    WSGIRequestIdMiddleware,
    current_request_id,
    is_safe_request_id,
    new_request_id,
)
from ._routes import ROUTE_KEY, DjangoRouteMiddleware, framework_route
from ._setup import TelemetrySetup, current_setup, setup_telemetry, shutdown
from ._traced import FunctionKind, error_type, function_kind, traced
from ._version import __version__
from ._wsgi import WSGITracingMiddleware

if TYPE_CHECKING:
    from ._postgres import PostgresAuditSink
from .exceptions import (
    AuditEntryError,
    AuditIntegrityError,
    LogLevelError,
    MissingExtraError,
    ObservabilityConfigurationError,
    ObservabilityError,
    ObservabilityTypeError,
    ObservabilityUnavailableError,
    TelemetryAlreadySetError,
)

__all__ = [
    "DEFAULT_HEADER",
    "DEFAULT_SENSITIVE_KEYS",
    "DURATION_BUCKETS",
    "GENESIS_HASH",
    "KNOWN_METHODS",
    "LEVELS",
    "REDACTED",
    "ROUTE_KEY",
    "AuditEntry",
    "AuditEntryError",
    "AuditFilter",
    "AuditIntegrityError",
    "AuditSink",
    "DjangoRouteMiddleware",
    "ExcludedPaths",
    "FunctionKind",
    "LogLevelError",
    "MemoryAuditSink",
    "MissingExtraError",
    "ObservabilityConfigurationError",
    "ObservabilityError",
    "ObservabilityTypeError",
    "ObservabilityUnavailableError",
    "PostgresAuditSink",
    "Redactor",
    "RequestIdMiddleware",
    "RouteResolver",
    "TelemetryAlreadySetError",
    "TelemetrySetup",
    "TracingMiddleware",
    "WSGIRequestIdMiddleware",
    "WSGITracingMiddleware",
    "__version__",
    "add_trace_context",
    "chain_hash",
    "check_level",
    "configure_logging",
    "current_request_id",
    "current_setup",
    "error_type",
    "framework_route",
    "function_kind",
    "is_safe_request_id",
    "new_request_id",
    "redact_pii",
    "redact_text",
    "setup_telemetry",
    "shutdown",
    "traced",
    "verify_chain",
]

__getattr__ = lazy_exports(__name__, {"PostgresAuditSink": "_postgres"})
