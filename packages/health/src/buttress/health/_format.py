"""The ``application/health+json`` format: rendering a `HealthReport`, reading an upstream's status.

Rendering follows the IETF draft "Health Check Response Format for HTTP APIs": ``status`` always;
``version``, ``releaseId``, ``serviceId`` and ``description`` when the application gives them; and,
only for callers allowed details, ``output`` and ``checks``: each check under its key, as a
one-element array of ``componentType``, ``observedValue``, ``observedUnit``, ``status``, ``time``
and ``output`` (omitted for a passing check, as the draft asks). Without details nothing but the
aggregate status leaves the process: no check names, hostnames or error texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from buttress.core import check_text

from ._status import CheckReport, HealthReport, Status
from .exceptions import HealthConfigurationError, HealthResponseError, HealthTypeError

__all__ = ["CONTENT_TYPE", "ServiceInfo", "parse_status", "render_health"]

CONTENT_TYPE: Final = "application/health+json"

# The draft's aliases: Node's Terminus says ok/error, Spring Boot up/down; case does not matter.
_ALIASES: Final = {
    "pass": Status.PASS,
    "ok": Status.PASS,
    "up": Status.PASS,
    "warn": Status.WARN,
    "fail": Status.FAIL,
    "error": Status.FAIL,
    "down": Status.FAIL,
}
MAX_DOCUMENT: Final = 1_048_576


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """The service-level fields of a health+json document (the draft's ``version``, ``releaseId``...).

    Args:
        version: The service's public version.
        release_id: The release (build) running.
        service_id: A unique identifier of the service.
        description: A human-friendly description.

    Raises:
        HealthConfigurationError: A field holds NUL or a lone surrogate, or is over 200 bytes.
        HealthTypeError: A field is not a str or ``None``.
    """

    version: str | None = None
    release_id: str | None = None
    service_id: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        for name in ("version", "release_id", "service_id", "description"):
            value = getattr(self, name)
            if value is not None:
                check_text(
                    name, value, max_bytes=200, error=HealthConfigurationError, type_error=HealthTypeError
                )

    def fields(self) -> dict[str, str]:
        """The fields that are set, under the draft's names."""
        pairs = (
            ("version", self.version),
            ("releaseId", self.release_id),
            ("serviceId", self.service_id),
            ("description", self.description),
        )
        return {key: value for key, value in pairs if value is not None}


_NO_SERVICE: Final = ServiceInfo()


def _entry(report: CheckReport) -> dict[str, Any]:
    result = report.result
    entry: dict[str, Any] = {}
    if result.component_type is not None:
        entry["componentType"] = result.component_type
    if result.observed_value is not None:
        entry["observedValue"] = result.observed_value
    if result.observed_unit is not None:
        entry["observedUnit"] = result.observed_unit
    entry["status"] = result.status.value
    entry["time"] = report.time.isoformat().replace("+00:00", "Z")
    if result.output is not None and result.status is not Status.PASS:
        entry["output"] = result.output
    if not report.critical:
        entry["critical"] = False  # an additional key, as the draft allows: why a failure only warns
    return entry


def render_health(
    report: HealthReport, *, details: bool = False, service: ServiceInfo | None = None
) -> bytes:
    """Render ``report`` as an ``application/health+json`` body (UTF-8).

    Args:
        report: What a probe found.
        details: Whether to include ``checks`` and ``output``; leave it off for the public.
        service: The service-level fields to include.

    Raises:
        HealthTypeError: ``report`` is not a `HealthReport`, ``details`` not a bool or ``service``
            not a `ServiceInfo`.

    Examples:
        >>> render_health(HealthReport("ready", Status.PASS))
        b'{"status":"pass"}'
    """
    if not isinstance(report, HealthReport):
        raise HealthTypeError("report", "a HealthReport", report)
    if not isinstance(details, bool):
        raise HealthTypeError("details", "a bool", details)
    if service is not None and not isinstance(service, ServiceInfo):
        raise HealthTypeError("service", "a ServiceInfo or None", service)
    document: dict[str, Any] = {"status": report.status.value, **(service or _NO_SERVICE).fields()}
    if details:
        if report.output is not None and report.status is not Status.PASS:
            document["output"] = report.output
        if report.checks:
            document["checks"] = {check.name: [_entry(check)] for check in report.checks}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_status(body: bytes | str) -> Status:
    """Read the top-level ``status`` of a health+json document (an upstream service's answer).

    The draft's aliases are accepted (``ok``/``up`` for pass, ``error``/``down`` for fail), in any
    case.

    Raises:
        HealthResponseError: Not a JSON object with a known ``status``, or over 1 MiB.
        HealthTypeError: ``body`` is not bytes or str.

    Examples:
        >>> parse_status(b'{"status": "UP"}')
        <Status.PASS: 'pass'>
    """
    if not isinstance(body, bytes | bytearray | str):
        raise HealthTypeError("body", "bytes or a str", body)
    if len(body) > MAX_DOCUMENT:
        raise HealthResponseError(f"the document is over {MAX_DOCUMENT} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HealthResponseError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise HealthResponseError(f"the document is a JSON {type(document).__name__}, not an object")
    status = document.get("status")
    if not isinstance(status, str) or status.lower() not in _ALIASES:
        raise HealthResponseError("the document has no status of pass, warn or fail (or their aliases)")
    return _ALIASES[status.lower()]
