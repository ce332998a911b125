"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are bounded: an outcome, a store kind, an operation name. Never a key or a fingerprint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

from buttress.core import Telemetry, unavailable_on

from ._version import __version__
from .exceptions import IdempotencyUnavailableError

__all__ = [
    "LEASE_LOSSES",
    "REQUESTS",
    "STORE_DURATION",
    "STORE_UNAVAILABLE",
    "TELEMETRY",
    "Outcome",
    "store_call",
]

TELEMETRY: Final = Telemetry("buttress.idempotency", __version__)

type Outcome = Literal["executed", "replayed", "in_flight", "fingerprint_mismatch", "unguarded"]

REQUESTS: Final = TELEMETRY.counter(
    "buttress.idempotency.requests",
    unit="{request}",
    description="Guarded operations by outcome: executed, replayed, in_flight (409), "
    "fingerprint_mismatch (422), unguarded (store down and fail_open).",
)
STORE_DURATION: Final = TELEMETRY.histogram(
    "buttress.idempotency.store.duration",
    unit="s",
    description="Duration of one store operation (claim, complete, release, renew, reap).",
)
LEASE_LOSSES: Final = TELEMETRY.counter(
    "buttress.idempotency.lease.losses",
    unit="{lease}",
    description="Leases found gone by a renewal or a complete: the outcome was not stored.",
)
STORE_UNAVAILABLE: Final = TELEMETRY.counter(
    "buttress.idempotency.store.unavailable",
    unit="{error}",
    description="Store operations that failed because the store's server could not be reached.",
)


@contextmanager
def store_call(
    errors: tuple[type[BaseException], ...], *, store: str, operation: str, address: str
) -> Iterator[None]:
    """Time one store operation and turn the driver's connection errors into the package's own."""
    attributes = {"idempotency.store": store, "idempotency.operation": operation}
    start = time.perf_counter()
    try:
        with unavailable_on(errors, IdempotencyUnavailableError, backend=store, address=address):
            yield
    except IdempotencyUnavailableError:
        STORE_UNAVAILABLE.add(1, attributes)
        raise
    finally:
        STORE_DURATION.record(time.perf_counter() - start, attributes)
