"""Constraints compiled once per snapshot into small closures, so evaluation does no parsing."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter

from ._model import Constraint, Context, Operator

__all__ = ["Check", "Getter", "compile_constraint", "field_getter", "parse_semver", "portable_regex"]

type Check = Callable[[Context], bool]
type Getter = Callable[[Context], str | None]

_STANDARD_FIELDS = {
    "userId": "user_id",
    "sessionId": "session_id",
    "remoteAddress": "remote_address",
    "environment": "environment",
    "appName": "app_name",
}


def field_getter(name: str) -> Getter:
    """Return a function reading the context field ``name`` (standard field or property)."""
    attribute = _STANDARD_FIELDS.get(name)
    if attribute is not None:
        getter: Getter = attrgetter(attribute)
        return getter
    if name == "currentTime":
        return _current_time_text

    def read_property(context: Context) -> str | None:
        return context.properties.get(name)

    return read_property


def _current_time_text(context: Context) -> str | None:
    return None if context.current_time is None else context.current_time.isoformat()


def _never(_context: Context) -> bool:
    return False


def compile_constraint(constraint: Constraint, now: Callable[[], datetime]) -> Check:
    """Compile one constraint; the result takes a `Context` and says whether the constraint holds."""
    test = _compile_test(constraint, now)
    if constraint.operator is Operator.UNKNOWN:
        return _never
    if not constraint.inverted:
        return test

    def inverted(context: Context) -> bool:
        return not test(context)

    return inverted


def _compile_test(constraint: Constraint, now: Callable[[], datetime]) -> Check:  # noqa: PLR0911 - one per family
    operator = constraint.operator
    get = field_getter(constraint.context_name)
    if operator in (Operator.IN, Operator.NOT_IN):
        return _membership(get, frozenset(constraint.values), negate=operator is Operator.NOT_IN)
    if operator in _STRING_TESTS:
        return _string(get, constraint, _STRING_TESTS[operator])
    if operator in _NUMBER_TESTS:
        return _number(get, constraint.value, _NUMBER_TESTS[operator])
    if operator in (Operator.DATE_AFTER, Operator.DATE_BEFORE):
        return _date(constraint, now, after=operator is Operator.DATE_AFTER)
    if operator in _SEMVER_TESTS:
        return _semver(get, constraint.value, _SEMVER_TESTS[operator])
    if operator is Operator.REGEX:
        return _regex(get, constraint)
    if operator is Operator.IN_CIDR:
        return _cidr(get, constraint.values)
    return _never


def _membership(get: Getter, values: frozenset[str], *, negate: bool) -> Check:
    if negate:
        return lambda context: get(context) not in values
    return lambda context: get(context) in values


_STRING_TESTS: dict[Operator, Callable[[str, str], bool]] = {
    Operator.STR_CONTAINS: lambda text, value: value in text,
    Operator.STR_STARTS_WITH: str.startswith,
    Operator.STR_ENDS_WITH: str.endswith,
}


def _string(get: Getter, constraint: Constraint, test: Callable[[str, str], bool]) -> Check:
    insensitive = constraint.case_insensitive
    values = tuple(value.lower() for value in constraint.values) if insensitive else constraint.values

    def check(context: Context) -> bool:
        text = get(context)
        if text is None:
            return False
        if insensitive:
            text = text.lower()
        return any(test(text, value) for value in values)

    return check


def _to_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_NUMBER_TESTS: dict[Operator, Callable[[float, float], bool]] = {
    Operator.NUM_EQ: lambda left, right: left == right,
    Operator.NUM_GT: lambda left, right: left > right,
    Operator.NUM_GTE: lambda left, right: left >= right,
    Operator.NUM_LT: lambda left, right: left < right,
    Operator.NUM_LTE: lambda left, right: left <= right,
}


def _number(get: Getter, raw: str | None, test: Callable[[float, float], bool]) -> Check:
    operand = _to_number(raw)
    if operand is None:
        return _never

    def check(context: Context) -> bool:
        number = _to_number(get(context))
        return number is not None and test(number, operand)

    return check


def _to_datetime(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(constraint: Constraint, now: Callable[[], datetime], *, after: bool) -> Check:
    operand = _to_datetime(constraint.value)
    if operand is None:
        return _never
    name = constraint.context_name
    get = field_getter(name)

    def moment_of(context: Context) -> datetime | None:
        if name == "currentTime":
            moment = context.current_time if context.current_time is not None else now()
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return _to_datetime(get(context))

    def check(context: Context) -> bool:
        moment = moment_of(context)
        if moment is None:
            return False
        return moment > operand if after else moment < operand

    return check


_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)

type SemverKey = tuple[int, int, int, tuple[tuple[int, int, str], ...] | None]


def parse_semver(text: str | None) -> SemverKey | None:
    """Parse a semantic version into a key that sorts by SemVer 2.0 precedence, or ``None``."""
    if text is None:
        return None
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    identifiers = None
    if pre is not None:
        # Numeric identifiers sort before alphanumeric ones, numerically among themselves.
        identifiers = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split("."))
    return int(major), int(minor), int(patch), identifiers


def _compare_semver(left: SemverKey, right: SemverKey) -> int:
    if left[:3] != right[:3]:
        return -1 if left[:3] < right[:3] else 1
    left_pre, right_pre = left[3], right[3]
    if left_pre == right_pre:
        return 0
    if left_pre is None:  # a release ranks above its pre-releases
        return 1
    if right_pre is None:
        return -1
    return -1 if left_pre < right_pre else 1


_SEMVER_TESTS: dict[Operator, Callable[[int], bool]] = {
    Operator.SEMVER_EQ: lambda order: order == 0,
    Operator.SEMVER_GT: lambda order: order > 0,
    Operator.SEMVER_GTE: lambda order: order >= 0,
    Operator.SEMVER_LT: lambda order: order < 0,
    Operator.SEMVER_LTE: lambda order: order <= 0,
}


def _semver(get: Getter, raw: str | None, test: Callable[[int], bool]) -> Check:
    operand = parse_semver(raw)
    if operand is None:
        return _never

    def check(context: Context) -> bool:
        version = parse_semver(get(context))
        return version is not None and test(_compare_semver(version, operand))

    return check


_POSIX_CLASSES = {
    "[:alpha:]": "a-zA-Z",
    "[:digit:]": "0-9",
    "[:alnum:]": "a-zA-Z0-9",
    "[:upper:]": "A-Z",
    "[:lower:]": "a-z",
    "[:space:]": r"\s",
    "[:word:]": r"\w",
    "[:xdigit:]": "0-9A-Fa-f",
    "[:punct:]": r"!-/:-@\[-`{-~",
}
# Look-around and back-references are not part of the portable (RE2-style) regex dialect every
# Unleash engine shares, so such patterns never match, as in the other SDKs.
_UNPORTABLE = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P?=|\\k<")
_INLINE_FLAGS = re.compile(r"\(\?([imsx]+)\)")


def portable_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern[str] | None:
    """Compile a pattern of the portable regex dialect, or return ``None`` when it is not one."""
    if _UNPORTABLE.search(pattern):
        return None
    for posix, python in _POSIX_CLASSES.items():
        pattern = pattern.replace(posix, python)
    # An inline flag group in the middle applies to the rest of the pattern; Python wants it scoped.
    inline = _INLINE_FLAGS.search(pattern)
    if inline is not None and inline.start() > 0:
        pattern = f"{pattern[: inline.start()]}(?{inline.group(1)}:{pattern[inline.end() :]})"
    try:
        return re.compile(pattern, re.IGNORECASE if case_insensitive else 0)
    except re.error:
        return None


def _regex(get: Getter, constraint: Constraint) -> Check:
    raw = constraint.value if constraint.value is not None else next(iter(constraint.values), None)
    if raw is None:
        return _never
    compiled = portable_regex(raw, case_insensitive=constraint.case_insensitive)
    if compiled is None:
        return _never
    search = compiled.search

    def check(context: Context) -> bool:
        text = get(context)
        return text is not None and search(text) is not None

    return check


def _cidr(get: Getter, values: tuple[str, ...]) -> Check:
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue  # an unparsable entry never matches; the others still do
    if not networks:
        return _never
    frozen = tuple(networks)

    def check(context: Context) -> bool:
        text = get(context)
        if text is None:
            return False
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in network for network in frozen)

    return check
