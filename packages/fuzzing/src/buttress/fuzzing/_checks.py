"""Argument checks shared by the public constructors of buttress-fuzzing; each raises a typed error.

Numbers go through buttress-core's checks (so ``10**400`` or NaN is a `FuzzingConfigurationError`,
never an ``OverflowError``), paths are refused before the file system sees a NUL or an unencodable
name, and every collection is checked item by item.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path

from buttress.core import check_count, check_seconds

from .exceptions import FuzzingConfigurationError, FuzzingTypeError

__all__ = [
    "directory",
    "exception_types",
    "path_or_none",
    "positive_float",
    "positive_int",
    "random_source",
    "strings",
    "tokens",
]


def positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """An ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FuzzingTypeError(name, "an int", value)
    return check_count(name, value, minimum=minimum, error=FuzzingConfigurationError)


def positive_float(name: str, value: object) -> float:
    """A finite number of seconds above zero (at most 100 years)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FuzzingTypeError(name, "a number of seconds", value)
    return check_seconds(name, value, error=FuzzingConfigurationError)


def path_or_none(name: str, value: object) -> Path | None:
    """A path the file system can be asked about: str or path-like, no NUL, encodable; or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise FuzzingTypeError(name, "a path (str or os.PathLike) or None", value)
    text = os.fspath(value)
    if not isinstance(text, str):
        raise FuzzingTypeError(name, "a path (str or os.PathLike) or None", value)
    if not text or "\x00" in text:
        raise FuzzingConfigurationError(name, text, "must be a non-empty path without NUL")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise FuzzingConfigurationError(
            name, text, "holds characters the file system cannot encode"
        ) from None
    return Path(text)


def directory(name: str, value: object) -> Path | None:
    """A directory, created if missing; ``None`` stays ``None``."""
    path = path_or_none(name, value)
    if path is None:
        return None
    try:
        if path.exists() and not path.is_dir():
            raise FuzzingConfigurationError(name, str(path), "exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FuzzingConfigurationError(name, str(path), f"cannot be created: {exc.strerror}") from exc
    return path


def tokens(value: object) -> tuple[bytes, ...]:
    """Dictionary tokens: an iterable of non-empty bytes or str, deduplicated in order."""
    if isinstance(value, bytes | str) or not isinstance(value, Iterable):
        raise FuzzingTypeError("dictionary", "an iterable of bytes or str tokens", value)
    found: list[bytes] = []
    for item in value:
        if isinstance(item, str):
            try:
                token: object = item.encode()
            except UnicodeEncodeError:
                raise FuzzingConfigurationError("dictionary", item, "tokens must be valid Unicode") from None
        else:
            token = item
        if not isinstance(token, bytes | bytearray):
            raise FuzzingTypeError("dictionary", "an iterable of bytes or str tokens", token)
        if not token:
            raise FuzzingConfigurationError("dictionary", item, "tokens must not be empty")
        found.append(bytes(token))
    return tuple(dict.fromkeys(found))


def exception_types(value: object) -> tuple[type[BaseException], ...]:
    """Exception classes a target documents; refuses ``Exception`` and ``BaseException``."""
    if isinstance(value, type):
        value = (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FuzzingTypeError("expected_exceptions", "an iterable of exception classes", value)
    found: list[type[BaseException]] = []
    for item in value:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise FuzzingTypeError("expected_exceptions", "an iterable of exception classes", item)
        if item in (BaseException, Exception):
            raise FuzzingConfigurationError(
                "expected_exceptions",
                item.__name__,
                "would hide every crash; list the exception types your target documents",
            )
        found.append(item)
    return tuple(found)


def strings(name: str, value: object) -> tuple[str, ...]:
    """A tuple of non-empty str (or path-like) values without NUL, from any iterable but a lone str."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FuzzingTypeError(name, "an iterable of str", value)
    found: list[str] = []
    for item in value:
        text = os.fspath(item) if isinstance(item, str | os.PathLike) else None
        if not isinstance(text, str):
            raise FuzzingTypeError(name, "an iterable of non-empty str", item)
        if not text or "\x00" in text:
            raise FuzzingConfigurationError(name, text, "items must be non-empty str without NUL")
        found.append(text)
    return tuple(found)


def random_source(value: object) -> random.Random:
    """A `random.Random` (the mutator draws every choice from it)."""
    if not isinstance(value, random.Random):
        raise FuzzingTypeError("rng", "a random.Random", value)
    return value
