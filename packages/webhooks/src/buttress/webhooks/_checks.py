"""Argument checks shared by the outbox, the worker and the transport: each raises a typed error."""

from __future__ import annotations

import math

from .exceptions import WebhookConfigurationError

__all__ = ["positive_int", "positive_number", "printable_ascii"]

# PostgreSQL's integer columns and LIMIT take 32-bit values; nothing here needs more.
MAX_INT: int = 2**31 - 1
# A duration longer than this (about 31 years) is a mistake, and would overflow datetime arithmetic.
MAX_SECONDS: float = 1e9


def positive_number(name: str, value: object, *, maximum: float = MAX_SECONDS) -> float:
    """Return ``value`` as a float if it is a real number in ``(0, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookConfigurationError(name, value, "must be a positive number of seconds")
    if isinstance(value, int) and value > maximum:
        raise WebhookConfigurationError(name, value, f"must be at most {maximum:g}")
    number = float(value)
    if not (math.isfinite(number) and 0 < number <= maximum):
        raise WebhookConfigurationError(name, value, f"must be positive, finite and at most {maximum:g}")
    return number


def positive_int(name: str, value: object, *, maximum: int = MAX_INT) -> int:
    """Return ``value`` if it is an int in ``[1, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise WebhookConfigurationError(name, value, f"must be an int from 1 to {maximum}")
    return value


def printable_ascii(name: str, value: object, *, max_length: int = 256) -> str:
    """Return ``value`` if it is a str of 1 to ``max_length`` printable ASCII characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_length
        or not value.isascii()
        or not value.isprintable()
    ):
        raise WebhookConfigurationError(name, value, f"must be 1 to {max_length} printable ASCII characters")
    return value
