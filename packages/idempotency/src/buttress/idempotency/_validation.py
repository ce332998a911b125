"""Argument checks shared by the stores, the core and the middleware.

They wrap `buttress.core`'s checks so every error is this package's own: a duration is a finite number
of seconds above zero and at most 100 years (``10**400`` is an `IdempotencyConfigurationError`, never an
``OverflowError``), and a key, fingerprint or token is text every store can hold.
"""

from __future__ import annotations

import re
from typing import Final

from buttress.core import MAX_COUNT, MAX_SECONDS, check_count, check_seconds
from buttress.core import check_text as core_check_text

from .exceptions import IdempotencyConfigurationError, IdempotencyTypeError

__all__ = [
    "MAX_STORE_KEY_BYTES",
    "check_bool",
    "check_held",
    "check_positive",
    "check_positive_int",
    "check_store_text",
    "check_text",
    "check_token",
]

MAX_STORE_KEY_BYTES: Final = 1024
"""The most UTF-8 bytes in a store key, fingerprint or token: within PostgreSQL's btree row limit."""

# RFC 9110 section 5.6.2: the characters of a token (header names, methods).
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds above zero, at most 100 years."""
    kind = value.__class__
    if (kind is float or kind is int) and 0 < value <= MAX_SECONDS:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type] # the common case, on every request: NaN fails both
    return check_seconds(name, value, error=IdempotencyConfigurationError)


def check_positive_int(name: str, value: object, *, maximum: int = MAX_COUNT) -> int:
    """Return ``value`` if it is an int from 1 to ``maximum``."""
    return check_count(name, value, minimum=1, maximum=maximum, error=IdempotencyConfigurationError)


def check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty str with no NUL and no lone surrogate."""
    return core_check_text(name, value, error=IdempotencyConfigurationError)


def check_store_text(name: str, value: object, *, allow_empty: bool = False) -> str:
    """Return a key, fingerprint or token a store can hold: at most 1,024 UTF-8 bytes, no NUL or surrogate.

    The value is never shown in the message: a key can be a client's.
    """
    if value.__class__ is str and value.isascii():
        # The common case, several times a request (digests, tokens): ASCII holds no lone surrogate
        # and takes one byte a character.
        size = len(value)
        if 0 < size <= MAX_STORE_KEY_BYTES and "\x00" not in value:
            return value
    return core_check_text(
        name,
        value,
        allow_empty=allow_empty,
        max_bytes=MAX_STORE_KEY_BYTES,
        show_value=False,
        error=IdempotencyConfigurationError,
    )


def check_token(name: str, value: object) -> str:
    """Return ``value`` if it is an HTTP token (a header name or a method), such as ``Idempotency-Key``."""
    if not isinstance(value, str):
        raise IdempotencyTypeError(name, "a str", value)
    if _TOKEN.fullmatch(value) is None:
        raise IdempotencyConfigurationError(
            name, value, "must be an HTTP token: letters, digits and !#$%&'*+-.^_`|~"
        )
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise IdempotencyTypeError(name, "a bool", value)
    return value


def check_held(key: object, token: object) -> None:
    """Check the key and token of a `complete`, `release` or `renew`, before any record is touched.

    An empty token is a token, one that holds no lease: the call answers ``False``.
    """
    check_store_text("key", key)
    check_store_text("token", token, allow_empty=True)
