"""The package's OpenTelemetry instruments (bound lazily by core's `Telemetry`; free without the API).

Attributes are bounded: a provider kind, an operation, a breaker state, a reason. Never a query's
text, a document id or a field value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from buttress.core import Histogram, Telemetry

from ._version import __version__

__all__ = [
    "BREAKER_REJECTIONS",
    "BREAKER_TRANSITIONS",
    "DOCUMENTS_INDEXED",
    "FALLBACK_ANSWERS",
    "INDEX_DURATION",
    "QUERIES",
    "QUERY_DURATION",
    "TELEMETRY",
    "UNAVAILABLE",
    "timed",
]

TELEMETRY: Final = Telemetry("buttress.search", __version__)

QUERIES: Final = TELEMETRY.counter(
    "buttress.search.queries",
    unit="{query}",
    description="Queries run by a provider (a count() with a query is a query too).",
)
QUERY_DURATION: Final = TELEMETRY.histogram(
    "buttress.search.query.duration",
    unit="s",
    description="Duration of one query, failed ones included.",
)
DOCUMENTS_INDEXED: Final = TELEMETRY.counter(
    "buttress.search.documents.indexed",
    unit="{document}",
    description="Documents added or replaced by index() calls that succeeded.",
)
INDEX_DURATION: Final = TELEMETRY.histogram(
    "buttress.search.index.duration",
    unit="s",
    description="Duration of one write (index or delete), failed ones included.",
)
BREAKER_TRANSITIONS: Final = TELEMETRY.counter(
    "buttress.search.breaker.transitions",
    unit="{transition}",
    description="Circuit breaker state changes, by the state entered.",
)
BREAKER_REJECTIONS: Final = TELEMETRY.counter(
    "buttress.search.breaker.rejections",
    unit="{query}",
    description="Queries an open circuit breaker kept from the primary.",
)
FALLBACK_ANSWERS: Final = TELEMETRY.counter(
    "buttress.search.fallback.answers",
    unit="{query}",
    description="Queries answered by the fallback (degraded), by why the primary was not used.",
)
UNAVAILABLE: Final = TELEMETRY.counter(
    "buttress.search.unavailable",
    unit="{error}",
    description="Operations that failed because the search backend could not be reached.",
)


@contextmanager
def timed(histogram: Histogram, attributes: Mapping[str, str]) -> Iterator[None]:
    """Record how long the block took in ``histogram``, whether or not it raised."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.record(time.perf_counter() - start, attributes)
