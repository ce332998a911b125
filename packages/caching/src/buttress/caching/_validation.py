"""Checks of the arguments every cache takes, each raising an error that names the argument."""

from __future__ import annotations

import math
from datetime import timedelta

from .exceptions import CacheConfigurationError, InvalidKeyError

DEFAULT_MAX_KEY_BYTES = 1024

type TTL = float | timedelta


def ttl_seconds(value: TTL | None, *, name: str = "ttl") -> float | None:
    """Return ``value`` in seconds, or ``None``; reject zero, negative, infinite and non-numeric TTLs."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise CacheConfigurationError(name, value, "must be a number of seconds or a timedelta")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise CacheConfigurationError(name, value, "must be a positive, finite number of seconds (or None)")
    return seconds


def check_key(key: object, max_bytes: int) -> str:
    """Return ``key`` if it is a non-empty ``str`` of at most ``max_bytes`` UTF-8 bytes."""
    if not isinstance(key, str):
        raise InvalidKeyError("key", key, f"must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidKeyError("key", key, "must not be empty")
    # A code point takes at most 4 bytes in UTF-8: short keys need no encoding to be measured.
    if len(key) * 4 <= max_bytes:
        return key
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidKeyError(
            "key",
            key[:40] + "...",
            f"is {size} bytes; the limit is {max_bytes} (hash long keys, or raise max_key_bytes)",
        )
    return key


def check_jitter(value: tuple[float, float] | float | None) -> tuple[float, float]:
    """Return the jitter band ``(low, high)``; a single number means ``(0, value)``, ``None`` means none."""
    if value is None:
        return (0.0, 0.0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = 0.0, float(value)
    elif (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        low, high = float(value[0]), float(value[1])
    else:
        raise CacheConfigurationError(
            "jitter", value, "must be a fraction, a (low, high) pair of fractions, or None"
        )
    if not (0.0 <= low <= high < 1.0):
        raise CacheConfigurationError("jitter", value, "fractions must satisfy 0 <= low <= high < 1")
    return (low, high)


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CacheConfigurationError(name, value, f"must be an integer >= {minimum}")
    return value


def check_non_negative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise CacheConfigurationError(name, value, "must be a finite number >= 0")
    return float(value)


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0."""
    if check_non_negative(name, value) == 0:
        raise CacheConfigurationError(name, value, "must be greater than 0")
    return float(value)  # type: ignore[arg-type]


def check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty ``str``."""
    if not isinstance(value, str) or not value:
        raise CacheConfigurationError(name, value, "must be a non-empty string")
    return value
