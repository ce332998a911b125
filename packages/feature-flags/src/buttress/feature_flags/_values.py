"""How the Unleash engine reads operands and context values: numbers, date-times, versions, IPs.

Unleash's reference engine (yggdrasil, behind every current Unleash SDK) is written in Rust and
parses with Rust's own rules, which differ from Python's in the corners: ``float(" 21")`` and
``float("1_000")`` are numbers in Python and not in Rust, ``"inf"`` is one in Rust; a date-time needs
an offset; a version follows the ``semver`` crate. Each function here follows the Rust parser it
names, so a context matches exactly when it matches in every Unleash SDK.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "F64_EPSILON",
    "Instant",
    "VersionKey",
    "compare_versions",
    "parse_f64",
    "parse_instant",
    "parse_ip",
    "parse_network",
    "parse_usize",
    "parse_version",
    "rust_trim",
]

F64_EPSILON = 2.220446049250313e-16
"""Rust's ``f64::EPSILON``: the engine's ``NUM_EQ`` is ``|a - b| < EPSILON``."""

# Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` strips. Python's
# `str.strip()` also strips U+001C..U+001F, which Rust keeps.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def rust_trim(text: str) -> str:
    """Rust's ``str::trim``: strip Unicode White_Space from both ends."""
    return text.strip(_WHITE_SPACE)


# Rust's `f64::from_str`: an optional sign, then inf/infinity/nan (any case) or decimal digits with
# an optional point and exponent. No whitespace, no underscores, no hex: `" 21"` is not a number.
_F64 = re.compile(r"[+-]?(?:(?i:inf|infinity|nan)|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def parse_f64(text: str) -> float | None:
    """Parse ``text`` as Rust's ``str::parse::<f64>`` does, or return ``None``.

    Out-of-range literals become infinities (``"1e400"``), as in Rust.

    Examples:
        >>> parse_f64("1e3"), parse_f64(" 21"), parse_f64("1_000"), parse_f64("inf")
        (1000.0, None, None, inf)
    """
    if _F64.fullmatch(text) is None:
        return None
    return float(text)


_USIZE = re.compile(r"\+?[0-9]+")
_U64_MAX = 2**64 - 1


def parse_usize(text: str, maximum: int = _U64_MAX) -> int | None:
    """Parse an unsigned integer as Rust's ``str::parse::<usize>`` (or ``u8`` with ``maximum=255``)."""
    if _USIZE.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


type Instant = tuple[int, int]
"""A moment as (seconds since the Unix epoch, nanoseconds), ordered as chrono orders ``DateTime<Utc>``.

A leap second (``:60``) is second 59 with nanoseconds from 1,000,000,000, as chrono stores it.
"""

_DIGITS = frozenset("0123456789")
_MIN_YEAR, _MAX_YEAR = -262_143, 262_142  # chrono's NaiveDate range
_I64_MAX = 2**63 - 1
_I32 = (-(2**31), 2**31 - 1)


class _BadTimeError(Exception):
    """The text is not a date-time chrono accepts (internal)."""


def _number(text: str, minimum: int, maximum: int) -> tuple[int, str]:
    """Chrono's ``scan::number``: ``minimum`` to ``maximum`` ASCII digits."""
    count = 0
    for char in text[:maximum]:
        if char not in _DIGITS:
            break
        count += 1
    if count < minimum:
        raise _BadTimeError
    value = int(text[:count])
    if value > _I64_MAX:
        raise _BadTimeError
    return value, text[count:]


def _numeric(text: str, low: int, high: int) -> tuple[int, str]:
    value, rest = _number(text.lstrip(_WHITE_SPACE), 1, 2)
    if not low <= value <= high:
        raise _BadTimeError
    return value, rest


def _literal(text: str, literal: str) -> str:
    text = text.lstrip(_WHITE_SPACE)  # an `Item::Space("")` precedes every literal
    if not text.startswith(literal):
        raise _BadTimeError
    return text[len(literal) :]


def _year(text: str) -> tuple[int, str]:
    text = text.lstrip(_WHITE_SPACE)
    if text.startswith("-"):
        value, rest = _number(text[1:], 1, len(text))
        value = -value
    elif text.startswith("+"):
        value, rest = _number(text[1:], 1, len(text))
    else:
        value, rest = _number(text, 1, 4)  # without a sign, at most four digits
    if not _I32[0] <= value <= _I32[1]:
        raise _BadTimeError
    return value, rest


def _offset(text: str) -> tuple[int, str]:
    """Chrono's ``scan::timezone_offset`` with Z, U+2212 and a mandatory minutes part; seconds east."""
    if len(text) >= 3 and text[:3].isascii() and text[:3].lower() == "utc":
        return 0, text[3:]
    if text[:1] in ("Z", "z"):
        return 0, text[1:]
    sign = text[:1]
    if sign not in ("+", "-", "\u2212"):
        raise _BadTimeError
    text = text[1:]
    if len(text) < 2 or text[0] not in _DIGITS or text[1] not in _DIGITS:
        raise _BadTimeError
    hours = int(text[:2])
    text = text[2:].lstrip(_WHITE_SPACE + ":")
    if len(text) < 2 or text[0] not in "012345" or text[1] not in _DIGITS:
        raise _BadTimeError
    seconds = hours * 3600 + int(text[:2]) * 60
    return (seconds if sign == "+" else -seconds), text[2:]


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


_MIN_SECONDS = _days_from_civil(_MIN_YEAR, 1, 1) * 86_400
_MAX_SECONDS = _days_from_civil(_MAX_YEAR, 12, 31) * 86_400 + 86_399


def parse_instant(text: str) -> Instant | None:
    """Parse ``text`` as chrono's ``str::parse::<DateTime<Utc>>`` does, or return ``None``.

    That is RFC 3339, relaxed the way chrono relaxes it: ``T``, ``t`` or a space between date and
    time, spaces between components, unpadded numbers, a fraction of any length, ``Z``, ``UTC`` or an
    offset whose colon may be missing. A date alone, a time without an offset (a naive time) or
    anything else is not a date-time: a ``DATE_*`` constraint on it fails, as in every Unleash SDK.

    Examples:
        >>> parse_instant("1970-01-01T00:00:01.5Z")
        (1, 500000000)
        >>> parse_instant("2024-01-01") is None, parse_instant("2024-01-01T00:00:00") is None
        (True, True)
    """
    try:
        return _parse_instant(text)
    except (_BadTimeError, ValueError):
        return None


def _parse_instant(text: str) -> Instant:
    year, text = _year(text)
    text = _literal(text, "-")
    month, text = _numeric(text, 1, 12)
    text = _literal(text, "-")
    day, text = _numeric(text, 1, 31)
    if text[:1] not in ("T", "t", " ") or not text:
        raise _BadTimeError
    hour, text = _numeric(text[1:], 0, 23)
    text = _literal(text, ":")
    minute, text = _numeric(text, 0, 59)
    text = _literal(text, ":")
    second, text = _numeric(text, 0, 60)
    nanos = 0
    if text.startswith("."):
        before = text[1:]
        fraction, text = _number(before, 1, 9)
        nanos = fraction * 10 ** (9 - (len(before) - len(text)))
        text = text.lstrip("0123456789")  # digits past the ninth are read and ignored
    offset, text = _offset(text.lstrip(_WHITE_SPACE))
    if text.lstrip(_WHITE_SPACE):
        raise _BadTimeError
    if not _MIN_YEAR <= year <= _MAX_YEAR or day > _days_in_month(year, month) or abs(offset) >= 86_400:
        raise _BadTimeError
    if second == 60:  # chrono's leap second: second 59, one more second of nanoseconds
        second, nanos = 59, nanos + 1_000_000_000
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise _BadTimeError
    return seconds, nanos


# The `semver` crate's `Version::from_str`: numbers without leading zeros that fit a u64, dot-separated
# pre-release identifiers (numeric ones without leading zeros) and build metadata.
_VERSION = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)

type VersionKey = tuple[int, int, int, str]
"""A parsed version for precedence: major, minor, patch and the pre-release text (``""`` for none)."""


def parse_version(text: str) -> VersionKey | None:
    """Parse ``text`` as the ``semver`` crate's ``Version::parse``, or return ``None``."""
    match = _VERSION.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    numbers = (int(major), int(minor), int(patch))
    if max(numbers) > _U64_MAX:
        return None
    if pre is not None:
        for identifier in pre.split("."):
            if len(identifier) > 1 and identifier[0] == "0" and identifier.isdigit():
                return None
    return numbers[0], numbers[1], numbers[2], pre or ""


def _compare_pre(left: str, right: str) -> int:  # noqa: PLR0911 - the crate's cases, one by one
    if left == right:
        return 0
    if not left:  # a release ranks above its pre-releases
        return 1
    if not right:
        return -1
    right_parts = right.split(".")
    for index, part in enumerate(left.split(".")):
        if index >= len(right_parts):
            return 1  # more identifiers rank higher when the others are equal
        other = right_parts[index]
        numeric, other_numeric = part.isdigit(), other.isdigit()
        if numeric and other_numeric:
            order = (len(part), part) > (len(other), other)
            if part != other:
                return 1 if order else -1
        elif numeric:
            return -1
        elif other_numeric:
            return 1
        elif part != other:
            return 1 if part > other else -1
    return -1 if len(right_parts) > len(left.split(".")) else 0


def compare_versions(left: VersionKey, right: VersionKey) -> int:
    """``semver``'s ``cmp_precedence``: -1, 0 or 1; build metadata is ignored."""
    if left[:3] != right[:3]:
        return -1 if left[:3] < right[:3] else 1
    return _compare_pre(left[3], right[3])


type Address = ipaddress.IPv4Address | ipaddress.IPv6Address
type Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_IP_TEXT = re.compile(r"[0-9A-Fa-f.:]+")


def parse_ip(text: str) -> Address | None:
    """Parse ``text`` as Rust's ``IpAddr::from_str``: plain IPv4 or IPv6, no zone, no spaces."""
    if _IP_TEXT.fullmatch(text) is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_network(text: str) -> Network | None:
    """Parse ``text`` as ``ipnetwork``'s ``IpNetwork::from_str`` (host bits may be set), or ``None``.

    An address alone is a /32 (or /128); an IPv4 prefix may also be a netmask (``/255.255.0.0``).
    """
    address_text, slash, prefix_text = text.partition("/")
    if slash and "/" in prefix_text:
        return None
    address = parse_ip(address_text)
    if address is None:
        return None
    if address.version == 4:
        prefix: int | None = 32
        if slash:
            prefix = _netmask_prefix(prefix_text)
            if prefix is None:
                prefix = parse_usize(prefix_text, 255)
    else:
        prefix = parse_usize(prefix_text, 255) if slash else 128
    if prefix is None or prefix > address.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _netmask_prefix(text: str) -> int | None:
    mask = parse_ip(text)
    if mask is None or mask.version != 4:
        return None
    bits = int(mask)
    prefix = 32 - (bits ^ 0xFFFF_FFFF).bit_length()
    return prefix if (bits << prefix) & 0xFFFF_FFFF == 0 else None
