"""Checks of the arguments every cache takes, each raising an error that names the argument.

Every number a caller passes goes through `_finite`: a bool, a non-number, NaN, an infinity or an
integer too large for a float (``10**400``) is a `CachingConfigurationError`, never an ``OverflowError``
or a ``TypeError`` from arithmetic further in.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from buttress.core import check_count, check_seconds
from buttress.core import check_text as core_check_text

from ._entry import Entry
from .exceptions import CachingConfigurationError, InvalidKeyError

DEFAULT_MAX_KEY_BYTES = 1024

# The longest duration accepted anywhere (TTLs, lock and breaker timings): about 31,700 years. Longer
# is a mistake (milliseconds given as seconds); "forever" is ``None``. Every backend can store it:
# Redis expiries are 64-bit milliseconds, 9.2e18.
MAX_SECONDS = 10**12

type TTL = float | timedelta


def _finite(name: str, value: object, expected: str) -> float:
    """``value`` as a float if it is an int or float (not a bool) with a finite float value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CachingConfigurationError(name, value, f"must be {expected}, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise CachingConfigurationError(name, value, f"must be {expected}, a finite number")
    return number


def ttl_seconds(value: TTL | None, *, name: str = "ttl") -> float | None:
    """Return ``value`` in seconds, or ``None``; reject zero, negative, infinite and non-numeric TTLs."""
    if value is None:
        return None
    # The common cases first (every get_or_compute checks its TTL): NaN fails both comparisons.
    kind = value.__class__
    if kind is float or kind is int:
        number: float = value  # type: ignore[assignment]
        if 0 < number <= MAX_SECONDS:
            return float(number)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        seconds = _finite(name, value, "a number of seconds or a timedelta")
    if not 0 < seconds <= MAX_SECONDS:
        raise CachingConfigurationError(
            name, value, f"must be more than 0 and at most {MAX_SECONDS:.0e} seconds (or None for no expiry)"
        )
    return seconds


def check_key(key: object, max_bytes: int) -> str:
    """Return ``key`` if it is a non-empty ``str`` of at most ``max_bytes`` UTF-8 bytes, without NUL.

    A key must be valid UTF-8 (no lone surrogates) so every backend can store it; NUL is reserved for
    the backends' own bookkeeping keys.
    """
    if not isinstance(key, str):
        raise InvalidKeyError("key", key, f"must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidKeyError("key", key, "must not be empty")
    if key.isascii():  # O(1): CPython keeps the flag
        if len(key) <= max_bytes and "\x00" not in key:
            return key
        if "\x00" in key:
            raise InvalidKeyError("key", _shown(key), "must not contain NUL")
        size = len(key)
    else:
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidKeyError(
                "key", _shown(key), "must be valid UTF-8 (it holds a lone surrogate)"
            ) from None
        if "\x00" in key:
            raise InvalidKeyError("key", _shown(key), "must not contain NUL")
        if size <= max_bytes:
            return key
    raise InvalidKeyError(
        "key",
        _shown(key),
        f"is {size} bytes; the limit is {max_bytes} (hash long keys, or raise max_key_bytes)",
    )


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


def check_jitter(value: object) -> tuple[float, float]:
    """Return the jitter band ``(low, high)``; a single number means ``(0, value)``, ``None`` means none."""
    if value is None:
        return (0.0, 0.0)
    expected = "a fraction in [0, 1), a (low, high) pair of fractions, or None"
    if isinstance(value, tuple) and len(value) == 2:
        low, high = (_finite("jitter", v, expected) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        low, high = 0.0, _finite("jitter", value, expected)
    else:
        raise CachingConfigurationError("jitter", value, f"must be {expected}")
    if not (0.0 <= low <= high < 1.0):
        raise CachingConfigurationError("jitter", value, "fractions must satisfy 0 <= low <= high < 1")
    return (low, high)


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum`` (core's `check_count`)."""
    return check_count(name, value, minimum=minimum, error=CachingConfigurationError)


def check_non_negative(name: str, value: object, *, maximum: float = MAX_SECONDS) -> float:
    """Return ``value`` as a float if it is a finite number of seconds in [0, ``maximum``]."""
    return check_seconds(name, value, allow_zero=True, maximum=maximum, error=CachingConfigurationError)


def check_positive(name: str, value: object, *, maximum: float = MAX_SECONDS) -> float:
    """Return ``value`` as a float if it is a finite number of seconds in (0, ``maximum``]."""
    return check_seconds(name, value, maximum=maximum, error=CachingConfigurationError)


def check_factor(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number in [0, 1e12] (a factor, not a duration)."""
    number = _finite(name, value, "a number >= 0")
    if not 0 <= number <= MAX_SECONDS:
        raise CachingConfigurationError(name, value, f"must be a number >= 0 and <= {MAX_SECONDS:g}")
    return number


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (``0``/``1`` and other truthy values are mistakes here)."""
    if not isinstance(value, bool):
        raise CachingConfigurationError(name, value, f"must be True or False, not {type(value).__name__}")
    return value


def check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty ``str`` without NUL or a lone surrogate (core's `check_text`)."""
    return core_check_text(name, value, error=CachingConfigurationError)


def check_callable(name: str, value: object, *, optional: bool = False) -> None:
    """Reject ``value`` unless it is callable (or ``None``, when ``optional``)."""
    if optional and value is None:
        return
    if not callable(value):
        raise CachingConfigurationError(name, _shown_value(value), "must be callable")


def _shown_value(value: object) -> object:
    return _shown(value) if isinstance(value, str) else value


# --- arguments of a storage's methods (called by a cache with checked values, or by anyone) --------

# A storage accepts keys of any length the cache in front allows; this bounds what one call can hold.
MAX_STORAGE_KEY_BYTES = 1 << 20


def check_storage_key(key: object) -> str:
    """Return ``key`` if a storage can hold it: a non-empty UTF-8 ``str`` without NUL."""
    if isinstance(key, str) and 0 < len(key) <= 256 and key.isascii() and "\x00" not in key:
        return key
    return check_key(key, MAX_STORAGE_KEY_BYTES)


def check_storage_keys(keys: object) -> list[str]:
    """Return ``keys`` as a list if it is a list or tuple of storable keys."""
    if not isinstance(keys, list | tuple):
        raise CachingConfigurationError("keys", keys, "must be a list or tuple of keys")
    return [check_storage_key(key) for key in keys]


def check_tag_list(tags: object) -> tuple[str, ...]:
    """Return ``tags`` as a tuple if it is a list or tuple of non-empty strings."""
    if not isinstance(tags, list | tuple):
        raise CachingConfigurationError("tags", tags, "must be a list or tuple of non-empty strings")
    for tag in tags:
        check_text("tags", tag)
    return tuple(tags)


def check_stored_items(items: object) -> list[tuple[str, Any, float | None]]:
    """Return ``items`` as a list if each is a ``(key, Entry, keep_for)`` triple a storage can keep."""
    if not isinstance(items, list | tuple):
        raise CachingConfigurationError("items", items, "must be a list of (key, entry, keep_for) triples")
    checked = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 3:
            raise CachingConfigurationError(
                "items", item, "each item must be a (key, entry, keep_for) triple"
            )
        key, entry, keep_for = item
        check_storage_key(key)
        if not isinstance(entry, Entry):
            raise CachingConfigurationError("entry", entry, "must be an Entry")
        if keep_for is not None:
            check_positive("keep_for", keep_for, maximum=2 * MAX_SECONDS)
        checked.append(item)
    return checked
