"""What the ASGI and WSGI tracing middleware share: the stable HTTP server semantic conventions.

Attribute names, the method normalisation (a method outside the registry becomes ``_OTHER``, its
original kept in ``http.request.method_original``), the duration histogram's name, unit and bucket
boundaries, the query redaction the conventions ask for, and the path exclusion by anchored globs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from opentelemetry import metrics, trace

from buttress.core import Scope, check_text

from ._version import __version__
from .exceptions import ObservabilityConfigurationError, ObservabilityTypeError

__all__ = [
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "REQUEST_DURATION",
    "ExcludedPaths",
    "RouteResolver",
    "check_providers",
    "duration_histogram",
    "normalize_method",
    "redact_query",
]

type RouteResolver = Callable[[Scope], str | None]
"""Reads the matched route template (``/items/{id}``) from a request's scope; ``None`` when unknown."""

KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
"""The conventions' known methods: RFC 9110's, PATCH (RFC 5789) and QUERY."""

REQUEST_DURATION: Final = "http.server.request.duration"
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The bucket boundaries, in seconds, the conventions advise for ``http.server.request.duration``."""

# Query parameters whose values the conventions ask to redact (URL signatures and credentials).
_SENSITIVE_QUERY: Final = frozenset({"awsaccesskeyid", "signature", "sig", "x-goog-signature"})
_SCOPE: Final = "buttress.observability"
_MAX_PATTERNS: Final = 1000


def normalize_method(method: str) -> tuple[str, str | None]:
    """The method as the conventions record it, and the original when it had to change.

    ``GET`` stays ``GET``; ``get`` or ``PROPFIND`` become ``_OTHER`` with the original returned.
    """
    if method in KNOWN_METHODS:
        return method, None
    return "_OTHER", method


def redact_query(query: str) -> str:
    """``query`` with the values of signature and credential parameters replaced by ``REDACTED``."""
    if not query:
        return query
    lowered = query.lower()
    if not any(name in lowered for name in _SENSITIVE_QUERY):
        return query
    parts = []
    for part in query.split("&"):
        key, sep, _value = part.partition("=")
        parts.append(f"{key}=REDACTED" if sep and key.lower() in _SENSITIVE_QUERY else part)
    return "&".join(parts)


class ExcludedPaths:
    """Paths the middleware passes through untraced: anchored globs over the whole path.

    ``/health`` matches ``/health`` only; ``/health/*`` matches everything under it; ``/static/*.css``
    matches one directory's stylesheets and deeper ones (``*`` crosses ``/``, as in `fnmatch`). A glob
    never matches a longer path by accident: ``/api/healthz`` does not match ``/api/healthz-report``.

    Args:
        patterns: The globs, each starting with ``/``.

    Raises:
        ObservabilityConfigurationError: A glob that does not start with ``/``, or too many.
        ObservabilityTypeError: ``patterns`` is not an iterable of str.
    """

    __slots__ = ("_match", "patterns")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        if isinstance(patterns, str | bytes) or not isinstance(patterns, Iterable):
            raise ObservabilityTypeError("excluded_paths", "an iterable of glob strings", patterns)
        checked: list[str] = []
        for pattern in patterns:
            check_text(
                "excluded_paths",
                pattern,
                max_bytes=2048,
                error=ObservabilityConfigurationError,
                type_error=ObservabilityTypeError,
            )
            if not pattern.startswith("/"):
                raise ObservabilityConfigurationError("excluded_paths", pattern, "must start with '/'")
            checked.append(pattern)
            if len(checked) > _MAX_PATTERNS:
                raise ObservabilityConfigurationError(
                    "excluded_paths", len(checked), f"at most {_MAX_PATTERNS} globs"
                )
        self.patterns: tuple[str, ...] = tuple(checked)
        if checked:
            # fnmatch.translate anchors each glob at the end; re.match anchors it at the start.
            regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in checked), re.DOTALL)
            self._match: Callable[[str], object] | None = regex.match
        else:
            self._match = None

    def __contains__(self, path: object) -> bool:
        return self._match is not None and isinstance(path, str) and self._match(path) is not None


def check_providers(tracer_provider: object, meter_provider: object) -> tuple[Any, Any]:
    """The tracer and the duration histogram, from the given providers or the global ones."""
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise ObservabilityTypeError(
            "tracer_provider", "an OpenTelemetry TracerProvider or None", tracer_provider
        )
    if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
        raise ObservabilityTypeError(
            "meter_provider", "an OpenTelemetry MeterProvider or None", meter_provider
        )
    tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)  # type: ignore[arg-type]
    meter = metrics.get_meter(_SCOPE, __version__, meter_provider)  # type: ignore[arg-type]
    return tracer, duration_histogram(meter)


def duration_histogram(meter: metrics.Meter) -> metrics.Histogram:
    """``http.server.request.duration`` on ``meter``, in seconds, with the conventional buckets."""
    return meter.create_histogram(
        REQUEST_DURATION,
        unit="s",
        description="Duration of HTTP server requests.",
        explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
    )
