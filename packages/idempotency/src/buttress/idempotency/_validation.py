"""Argument checks shared by the stores, the core and the middleware."""

from __future__ import annotations

import math

from .exceptions import IdempotencyConfigurationError

__all__ = ["check_positive", "check_positive_int", "check_text"]


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number above zero."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdempotencyConfigurationError(name, value, "must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise IdempotencyConfigurationError(name, value, "must be a finite number above zero")
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise IdempotencyConfigurationError(name, value, "must be an int of at least 1")
    return value


def check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty str."""
    if not isinstance(value, str) or not value:
        raise IdempotencyConfigurationError(name, value, "must be a non-empty str")
    return value
