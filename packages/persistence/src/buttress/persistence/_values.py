"""The values a specification may compare against, checked once at construction.

Every value must be one both Python and every database compare the same way: no ``None`` (NULL is
asked with ``is_null``), no NaN (PostgreSQL orders NaN above every number, Python compares it unequal
to everything), no text a database cannot store (NUL, lone surrogates).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from uuid import UUID

from buttress.core import check_text

from .exceptions import PersistenceConfigurationError, PersistenceTypeError

__all__ = ["FIELD_PATH", "SCALARS", "check_field", "check_scalar", "escape_like", "like_regex"]

SCALARS: Final = (str, bool, int, float, Decimal, datetime, date, time, timedelta, UUID)
FIELD_PATH: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(?:\.[A-Za-z_][A-Za-z0-9_]{0,62}){0,7}")
_MAX_INT: Final = 2**63 - 1


def check_field(field: object) -> str:
    """Return ``field`` if it is a dotted path of identifiers (``"author.name"``), at most 8 deep."""
    if not isinstance(field, str):
        raise PersistenceTypeError("field", "a str", field)
    if not FIELD_PATH.fullmatch(field):
        reason = "must be a dotted path of identifiers such as 'total' or 'author.name'"
        raise PersistenceConfigurationError("field", field, reason)
    return field


def check_scalar(parameter: str, value: object) -> object:
    """Return ``value`` if a specification may compare against it; raise a typed error if not."""
    if value is None:
        raise PersistenceConfigurationError(parameter, value, "must not be None: ask for NULL with is_null")
    if not isinstance(value, SCALARS):
        names = "str, int, float, bool, Decimal, date, datetime, time, timedelta or UUID"
        raise PersistenceTypeError(parameter, f"one of {names}", value)
    if isinstance(value, str):
        check_text(parameter, value, allow_empty=True, error=PersistenceConfigurationError)
    elif isinstance(value, int) and not isinstance(value, bool) and not -_MAX_INT - 1 <= value <= _MAX_INT:
        raise PersistenceConfigurationError(parameter, value, "must fit in a signed 64-bit integer")
    elif not _finite(value):
        raise PersistenceConfigurationError(parameter, value, "must be a finite number")
    return value


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value.is_finite() if isinstance(value, Decimal) else True


def like_regex(pattern: str) -> re.Pattern[str]:
    r"""The regular expression that matches what SQL ``LIKE pattern ESCAPE '\'`` matches.

    ``%`` is any run of characters (possibly none), ``_`` exactly one character, and ``\`` makes the
    next character literal (``\%``, ``\_``, ``\\``). Matching is case-sensitive and covers the whole
    value, as in SQL.

    Raises:
        PersistenceConfigurationError: The pattern ends with a lone ``\`` (SQL refuses it too).
    """
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        raise PersistenceConfigurationError(
            "value", pattern, "a LIKE pattern must not end with the escape character \\"
        )
    return re.compile("".join(parts), re.DOTALL)


def escape_like(text: str) -> str:
    r"""Escape ``%``, ``_`` and ``\`` in ``text`` so a LIKE pattern matches it literally.

    Build "contains" and "starts with" patterns from user input with it:
    ``FieldSpecification("name", "like", f"%{escape_like(term)}%")``.

    Raises:
        PersistenceTypeError: ``text`` is not a str.

    Examples:
        >>> escape_like("100%_off")
        '100\\%\\_off'
    """
    if not isinstance(text, str):
        raise PersistenceTypeError("text", "a str", text)
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
