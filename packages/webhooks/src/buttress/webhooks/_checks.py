"""Argument checks of this package, on buttress-core's: each raises a `WebhooksConfigurationError`.

Durations, counts and text go through core's `check_seconds`, `check_count` and `check_text`, so
``10**400``, NaN, NUL and lone surrogates get the same typed error here as everywhere in the suite;
this module adds what is particular to webhooks (printable ASCII ids, clocks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from buttress.core import MAX_SECONDS, Clock, SystemClock, check_count, check_seconds, check_text

from .exceptions import WebhooksConfigurationError, WebhooksTypeError

__all__ = [
    "MAX_INT",
    "MAX_SECONDS",
    "aware_datetime",
    "clock_or_system",
    "number",
    "positive_int",
    "positive_number",
    "printable_ascii",
    "text",
]

# PostgreSQL's integer columns and LIMIT take 32-bit values; no count here needs more.
MAX_INT: Final = 2**31 - 1


def positive_number(name: str, value: object, *, maximum: float = MAX_SECONDS, zero: bool = False) -> float:
    """Return ``value`` as seconds if it is a number in ``(0, maximum]`` (``[0, maximum]`` with ``zero``)."""
    return check_seconds(name, value, allow_zero=zero, maximum=maximum, error=WebhooksConfigurationError)


def number(name: str, value: object, *, low: float, high: float) -> float:
    """Return ``value`` as a float if it is a number (not a duration) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise WebhooksConfigurationError(name, value, f"must be a number from {low:g} to {high:g}")
    return float(value)


def positive_int(name: str, value: object, *, maximum: int = MAX_INT, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (not a bool) in ``[minimum, maximum]``."""
    return check_count(name, value, minimum=minimum, maximum=maximum, error=WebhooksConfigurationError)


def text(name: str, value: object, *, max_length: int = 256, empty: bool = False) -> str:
    """Return ``value`` if it is a str every backend can store (no NUL, no lone surrogate), bounded."""
    checked = check_text(name, value, allow_empty=empty, error=WebhooksConfigurationError)
    if len(checked) > max_length:
        raise WebhooksConfigurationError(name, value, f"must be at most {max_length} characters")
    return checked


def printable_ascii(name: str, value: object, *, max_length: int = 256) -> str:
    """Return ``value`` if it is a str of 1 to ``max_length`` printable ASCII characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_length
        or not value.isascii()
        or not value.isprintable()
    ):
        raise WebhooksConfigurationError(name, value, f"must be 1 to {max_length} printable ASCII characters")
    return value


def aware_datetime(name: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise WebhooksConfigurationError(name, value, "must be a timezone-aware datetime")
    return value


def clock_or_system(value: object) -> Clock:
    """Return ``value`` if it is a `Clock` (``now`` and ``monotonic``), or a `SystemClock` for ``None``."""
    if value is None:
        return SystemClock()
    if not isinstance(value, Clock):
        raise WebhooksTypeError("clock", "a Clock (now and monotonic)", value)
    return value
