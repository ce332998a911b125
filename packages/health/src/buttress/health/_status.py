"""What a check says and what a probe reports: `Status`, `CheckResult`, `CheckReport`, `HealthReport`.

The vocabulary is the IETF draft "Health Check Response Format for HTTP APIs": a status is ``pass``,
``warn`` or ``fail``; a check is reported under a key ``component:measurement`` with its
``componentType``, ``observedValue``, ``observedUnit``, ``time`` and ``output``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from buttress.core import check_text

from .exceptions import HealthConfigurationError, HealthTypeError

__all__ = ["CheckReport", "CheckResult", "HealthReport", "Status", "aggregate"]

MAX_OUTPUT: Final = 1_000
"""Characters of a check's output kept (an exception's message can be long)."""


class Status(enum.StrEnum):
    """A health status, as the draft spells it. Ordered by severity: ``PASS < WARN < FAIL``."""

    PASS = "pass"  # noqa: S105 - a health status, not a password
    """Healthy."""
    WARN = "warn"
    """Healthy, with some concerns: probes still succeed (2xx)."""
    FAIL = "fail"
    """Unhealthy: probes fail (503)."""

    @property
    def severity(self) -> int:
        """0 for pass, 1 for warn, 2 for fail."""
        return _SEVERITY[self]

    @property
    def http_status(self) -> int:
        """The probe's HTTP status: 200 for pass and warn, 503 for fail (the draft's 2xx / 5xx)."""
        return 503 if self is Status.FAIL else 200

    @classmethod
    def _missing_(cls, value: object) -> Status:
        raise HealthConfigurationError("status", value, "must be 'pass', 'warn' or 'fail'")


_SEVERITY: Final = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}

type ObservedValue = int | float | str | bool | None


def _check_observed(value: object) -> None:
    if value is None or isinstance(value, str | bool | int):
        if isinstance(value, str):
            check_text(
                "observed_value",
                value,
                allow_empty=True,
                max_bytes=MAX_OUTPUT,
                error=HealthConfigurationError,
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise HealthConfigurationError(
                "observed_value", value, "must be a finite number (JSON has no NaN)"
            )
        return
    raise HealthTypeError("observed_value", "an int, a float, a str, a bool or None", value)


def _optional_text(parameter: str, value: object, max_bytes: int) -> str | None:
    if value is None:
        return None
    return check_text(
        parameter,
        value,
        allow_empty=True,
        max_bytes=max_bytes,
        error=HealthConfigurationError,
        type_error=HealthTypeError,
    )


def shorten(text: str) -> str:
    """``text`` cut to `MAX_OUTPUT` characters, with lone surrogates replaced so it encodes."""
    safe = text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text
    return safe if len(safe) <= MAX_OUTPUT else f"{safe[: MAX_OUTPUT - 3]}..."


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one run of a check found.

    Args:
        status: Pass, warn or fail.
        observed_value: The measurement (a response time, a utilization), a JSON scalar.
        observed_unit: Its unit (``"s"``, ``"percent"``, ``"{connection}"``).
        output: Why it warns or fails (an error's message). Shown only to callers allowed details.
        component_type: ``"datastore"``, ``"component"`` or ``"system"``, as the draft names them.

    Raises:
        HealthConfigurationError: A status that is not pass/warn/fail, a non-finite number, or text
            that holds NUL or a lone surrogate or is too long.
        HealthTypeError: A value of the wrong type.

    Examples:
        >>> result = CheckResult(Status.WARN, observed_value=91.5, observed_unit="percent")
        >>> result.status.http_status
        200
    """

    status: Status
    observed_value: ObservedValue = None
    observed_unit: str | None = None
    output: str | None = None
    component_type: str | None = None

    def __post_init__(self) -> None:
        given: object = self.status
        if not isinstance(given, Status):
            if not isinstance(given, str):
                raise HealthTypeError("status", "a Status", given)
            object.__setattr__(self, "status", Status(given))
        _check_observed(self.observed_value)
        _optional_text("observed_unit", self.observed_unit, 64)
        _optional_text("component_type", self.component_type, 64)
        if self.output is not None:
            if not isinstance(self.output, str):
                raise HealthTypeError("output", "a str or None", self.output)
            object.__setattr__(self, "output", shorten(self.output.replace("\x00", "")))


@dataclass(frozen=True, slots=True)
class CheckReport:
    """One check's result as a probe reports it.

    Attributes:
        name: The check's key, ``component`` or ``component:measurement``.
        result: What the check found (or a failure for a timeout or an exception).
        critical: Whether a failure fails the probe (a non-critical failure only warns).
        time: When the result was measured (UTC).
        duration: Seconds the check took.
        cached: Whether the result came from the registry's cache rather than a fresh run.
    """

    name: str
    result: CheckResult
    critical: bool
    time: datetime
    duration: float
    cached: bool = False

    @property
    def status(self) -> Status:
        """The check's own status."""
        return self.result.status

    @property
    def effect(self) -> Status:
        """What this check contributes to the probe: a non-critical failure is only a warning."""
        return contribution(self.result.status, critical=self.critical)


def contribution(status: Status, *, critical: bool) -> Status:
    """What a check of ``status`` contributes to the aggregate: a non-critical fail is a warn."""
    return Status.WARN if status is Status.FAIL and not critical else status


def aggregate(reports: Iterable[tuple[Status, bool]]) -> Status:
    """The probe's status for checks given as ``(status, critical)``: the worst contribution.

    No checks pass. A critical failure fails; a non-critical failure or any warning warns.

    Examples:
        >>> aggregate([(Status.PASS, True), (Status.FAIL, False)])
        <Status.WARN: 'warn'>
        >>> aggregate([])
        <Status.PASS: 'pass'>
    """
    given: object = reports
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise HealthTypeError("reports", "an iterable of (Status, bool) pairs", given)
    worst = Status.PASS
    for pair in given:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise HealthTypeError("reports", "an iterable of (Status, bool) pairs", pair)
        status, critical = pair
        if not isinstance(status, Status) or not isinstance(critical, bool):
            raise HealthTypeError("reports", "an iterable of (Status, bool) pairs", pair)
        effect = contribution(status, critical=critical)
        if effect.severity > worst.severity:
            worst = effect
            if worst is Status.FAIL:
                break
    return worst


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What a probe found: the aggregate status and each check's report.

    Attributes:
        group: The group that was run (``"live"``, ``"ready"``, ``"startup"`` or your own).
        status: The aggregate, from `aggregate` (or ``fail`` while the registry drains).
        checks: Each check's report, in registration order.
        output: Why the probe fails without running its checks (``"shutting down"``), if it does.
    """

    group: str
    status: Status
    checks: tuple[CheckReport, ...] = field(default=())
    output: str | None = None

    @property
    def http_status(self) -> int:
        """200 for pass and warn, 503 for fail."""
        return self.status.http_status
