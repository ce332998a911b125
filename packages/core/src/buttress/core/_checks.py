"""Argument checks every package shares, so a hostile value gets the same typed error everywhere.

Each check returns the value it accepted (normalized) and raises the caller's own error class, so a
package's errors stay rooted in its own tree::

    from buttress.core import check_seconds

    self._ttl = check_seconds("ttl", ttl, error=CachingConfigurationError)
"""

from __future__ import annotations

from typing import Final

from .exceptions import ArgumentTypeError, ConfigurationError, safe_repr

__all__ = ["MAX_COUNT", "MAX_SECONDS", "check_count", "check_seconds", "check_text"]

MAX_SECONDS: Final = 3_155_760_000.0
"""The longest duration `check_seconds` accepts by default: 100 years, in seconds.

Longer durations mean "forever"; they are refused rather than passed to a clock, a timer, Redis or
PostgreSQL, each of which overflows somewhere past it.
"""

MAX_COUNT: Final = 2**63 - 1
"""The largest count `check_count` accepts by default: what a signed 64-bit integer holds."""


def check_seconds(
    parameter: str,
    value: object,
    *,
    allow_zero: bool = False,
    maximum: float = MAX_SECONDS,
    error: type[ConfigurationError] = ConfigurationError,
) -> float:
    """Return ``value`` as a float if it is a finite number of seconds within range.

    Accepted: an ``int`` or ``float`` (not a ``bool``) above zero (or at least zero with
    ``allow_zero``) and at most ``maximum``. NaN, infinities, and ints too large for a float (such as
    ``10**400``) are out of range, never an ``OverflowError``.

    Args:
        parameter: The argument's name, as the caller spelled it.
        value: What was given.
        allow_zero: Whether ``0`` is accepted.
        maximum: The longest duration accepted (default `MAX_SECONDS`).
        error: The `ConfigurationError` subclass to raise, so the error belongs to the caller's tree.

    Raises:
        ConfigurationError: (``error``) ``value`` is not a number, or out of range.
        ArgumentTypeError: ``maximum`` is not a number, ``allow_zero`` not a bool or ``error`` not a
            `ConfigurationError` class.

    Examples:
        >>> check_seconds("timeout", 5)
        5.0
        >>> try:
        ...     check_seconds("timeout", 10**400)
        ... except ConfigurationError as exc:
        ...     print(exc.reason)
        must be a finite number of seconds above 0 and at most 3155760000 (100 years)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(error)(parameter, value, f"must be a number of seconds, got {type(value).__name__}")
    if maximum is not MAX_SECONDS and (isinstance(maximum, bool) or not isinstance(maximum, int | float)):
        raise ArgumentTypeError("maximum", "an int or a float", maximum)
    _flag("allow_zero", allow_zero)
    # Compared before float(): an int too large for a float is out of range, not an OverflowError, and
    # NaN fails every comparison.
    if (value >= 0 if allow_zero else value > 0) and value <= maximum:
        try:
            return float(value) + 0.0  # -0.0 becomes 0.0
        except OverflowError:  # within a maximum past what a float holds: out of range all the same
            pass
    low = "0 or more" if allow_zero else "above 0"
    most = (
        (f"{maximum:.0f}" if maximum.is_integer() else f"{maximum:g}")
        if isinstance(maximum, float)
        else safe_repr(maximum)
    )
    years = " (100 years)" if maximum == MAX_SECONDS else ""
    raise _error(error)(
        parameter, value, f"must be a finite number of seconds {low} and at most {most}{years}"
    )


def check_count(
    parameter: str,
    value: object,
    *,
    minimum: int = 0,
    maximum: int = MAX_COUNT,
    error: type[ConfigurationError] = ConfigurationError,
) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) from ``minimum`` to ``maximum``.

    Raises:
        ConfigurationError: (``error``) ``value`` is not an int, or out of range.
        ArgumentTypeError: ``minimum`` or ``maximum`` is not an int, or ``error`` not a
            `ConfigurationError` class.

    Examples:
        >>> check_count("max_size", 10, minimum=1)
        10
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(error)(parameter, value, f"must be an int, got {type(value).__name__}")
    for name, bound in (("minimum", minimum), ("maximum", maximum)):
        if isinstance(bound, bool) or not isinstance(bound, int):
            raise ArgumentTypeError(name, "an int", bound)
    if not minimum <= value <= maximum:
        raise _error(error)(parameter, value, f"must be an int from {minimum} to {maximum}")
    return int(value)


def check_text(
    parameter: str,
    value: object,
    *,
    allow_empty: bool = False,
    max_bytes: int | None = None,
    show_value: bool = True,
    error: type[ConfigurationError] = ConfigurationError,
    type_error: type[ArgumentTypeError] | None = None,
) -> str:
    """Return ``value`` if it is text every backend can carry: a str with no NUL and no lone surrogate.

    PostgreSQL's ``text`` refuses NUL; UTF-8 (Redis clients, PostgreSQL, JSON on the wire) cannot
    encode a lone surrogate. Both are refused here, before the value reaches a driver whose own error
    would not be typed.

    Args:
        parameter: The argument's name, as the caller spelled it.
        value: What was given.
        allow_empty: Whether ``""`` is accepted.
        max_bytes: The most bytes its UTF-8 encoding may take, if bounded.
        show_value: Whether the error message may show the value (``False`` for keys and secrets).
        error: The `ConfigurationError` subclass raised for a bad str.
        type_error: The `ArgumentTypeError` subclass raised for a value that is not a str; ``error``
            when not given.

    Raises:
        ConfigurationError: (``error``) the str is empty, too long, or holds NUL or a lone surrogate.
        ArgumentTypeError: (``type_error``) ``value`` is not a str, when ``type_error`` is given; or
            ``max_bytes``, a flag, ``error`` or ``type_error`` has the wrong type.

    Examples:
        >>> check_text("key", "order-7")
        'order-7'
    """
    _flag("allow_empty", allow_empty)
    hide = _flag("show_value", show_value) is False
    if not isinstance(value, str):
        if type_error is not None:
            if not (isinstance(type_error, type) and issubclass(type_error, ArgumentTypeError)):
                raise ArgumentTypeError("type_error", "an ArgumentTypeError subclass", type_error)
            raise type_error(parameter, "a str", value)
        reason = f"must be a str, got {type(value).__name__}"
        raise _error(error)(parameter, value, reason, show_value=not hide)
    if not value and not allow_empty:
        raise _error(error)(parameter, value, "must not be empty", show_value=not hide)
    if "\x00" in value:
        raise _error(error)(parameter, value, "must not contain NUL", show_value=not hide)
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            reason = "must be valid Unicode (it holds a lone surrogate)"
            raise _error(error)(parameter, value, reason, show_value=not hide) from None
    if max_bytes is None:
        return value
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise ArgumentTypeError("max_bytes", "an int or None", max_bytes)
    if size > max_bytes:
        reason = f"must be at most {max_bytes} bytes in UTF-8, got {size}"
        raise _error(error)(parameter, value, reason, show_value=not hide)
    return value


def _flag(name: str, value: object) -> bool:
    if value is not True and value is not False:
        raise ArgumentTypeError(name, "a bool", value)
    return value


def _error(error: object) -> type[ConfigurationError]:
    """The error class to raise, once it is sure to be one (checked only on the way to raising it)."""
    if isinstance(error, type) and issubclass(error, ConfigurationError):
        return error
    raise ArgumentTypeError("error", "a ConfigurationError subclass", error)
