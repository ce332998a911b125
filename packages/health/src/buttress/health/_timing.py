"""What the server checks share: time one round trip and turn an outage into a failed result."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ._status import CheckResult, Status
from .exceptions import HealthUnavailableError


async def round_trip(call: Callable[[], Awaitable[object]], *, component_type: str) -> CheckResult:
    """Run ``call`` once; pass with its duration in seconds (``responseTime``), or fail with why.

    An outage (the package's unavailable error, its address redacted) is a failure whose output is
    the error's message; any other exception is left to the registry, which reports it the same way.
    """
    started = time.perf_counter()
    try:
        await call()
    except HealthUnavailableError as exc:
        return CheckResult(Status.FAIL, output=str(exc), component_type=component_type)
    elapsed = round(time.perf_counter() - started, 6)
    return CheckResult(Status.PASS, observed_value=elapsed, observed_unit="s", component_type=component_type)
