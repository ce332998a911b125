"""Strict validation: what a person writing a flag should be told before it is stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from ._model import Constraint, FlagDefinition, Operator, Strategy, Variant
from ._regex import compile_regex
from ._render import KNOWN_STRATEGIES, RuleError, render_constraint, render_strategy
from ._rules import compile_rule
from ._values import parse_instant, parse_network, parse_usize, parse_version
from ._write import normalized
from .exceptions import FlagDefinitionError

__all__ = ["KNOWN_STRATEGIES", "validate_flag"]

_NUMBER = {Operator.NUM_EQ, Operator.NUM_GT, Operator.NUM_GTE, Operator.NUM_LT, Operator.NUM_LTE}
_DATE = {Operator.DATE_AFTER, Operator.DATE_BEFORE}
_SEMVER = {
    Operator.SEMVER_EQ,
    Operator.SEMVER_GT,
    Operator.SEMVER_GTE,
    Operator.SEMVER_LT,
    Operator.SEMVER_LTE,
}
_LISTS = {
    Operator.IN,
    Operator.NOT_IN,
    Operator.STR_CONTAINS,
    Operator.STR_STARTS_WITH,
    Operator.STR_ENDS_WITH,
    Operator.IN_CIDR,
}
# The operand forms Unleash's rule grammar reads for each family (anything else turns the flag off,
# or is read as another family: a NUM_* operand that looks like a date compares as a date).
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
# Text pasted into the rule unescaped (names, group ids, IPs, host names) must not close its quotes.
_UNQUOTABLE = ('"', "\\")
_PERCENT = {
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}


def _lowest(low: int, _high: int) -> int:
    return low  # validation only compiles rules: no draw is ever made


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


def validate_flag(flag: FlagDefinition) -> None:
    """Reject what evaluation would silently treat as "never matches" or "off for everyone".

    Reading definitions (`flag_from_dict`) is lenient on purpose, like every Unleash SDK: an operator
    or strategy this version does not know, or an operand it cannot parse, never matches (or turns
    the flag off, as Unleash's engine does), so a newer server never breaks an older client. Writing
    them through `FlagManager` is strict: this check names the flag and the field of an unknown
    operator or strategy, a percentage that is not a whole number from 0 to 100, an operand that does
    not parse as its operator's kind (number, RFC 3339 date-time with an offset, semantic version,
    regular expression, IP address or CIDR), a list operator without values, a name or parameter that
    would break out of its quotes in Unleash's rule language, a dependency on the flag itself, and
    variants whose weights are all zero. A field of the wrong type (a definition built by hand) is
    named the same way; the definition is checked as a backend stores it and reads it back.

    Raises:
        FlagDefinitionError: The first problem found.
    """
    if not isinstance(flag, FlagDefinition):
        raise FlagDefinitionError("?", "<flag>", f"must be a FlagDefinition, got {type(flag).__name__}")
    # What is checked is what a backend stores and reads back: a definition built by hand with a
    # field of the wrong type fails here, and one that reads as its type (an operator given as text)
    # is checked as it will be read.
    flag = normalized(flag)
    key = flag.key
    for index, strategy in enumerate(flag.strategies):
        path = f"strategies[{index}]"
        _strategy(key, strategy, path)
        _constraints(key, strategy.constraints, f"{path}.constraints")
        _weights(key, strategy.variants, f"{path}.variants")
        try:
            compile_rule(render_strategy(strategy, {}), now=_epoch, rng=_lowest)
        except RuleError as exc:
            if not strategy.segments:  # segments are checked where the flag set is known
                raise FlagDefinitionError(
                    key, path, f"does not compile in Unleash's rule language ({exc})"
                ) from None
    _weights(key, flag.variants if flag.default_variant is None else (), "variants")
    for index, dependency in enumerate(flag.dependencies):
        if dependency.feature == key:
            raise FlagDefinitionError(key, f"dependencies[{index}].feature", "names the flag itself")


def _strategy(key: str, strategy: Strategy, path: str) -> None:  # noqa: PLR0912 - one check per strategy
    name, parameters = strategy.name, strategy.parameters
    if name not in KNOWN_STRATEGIES:
        raise FlagDefinitionError(key, f"{path}.name", f"is not a known strategy: {name!r}")
    percent = _PERCENT.get(name)
    if percent is not None:
        value = parameters.get(percent)
        if value is None:
            raise FlagDefinitionError(key, f"{path}.parameters.{percent}", f"is required by {name}")
        number = parse_usize(value)
        if number is None or number > 100:
            raise FlagDefinitionError(
                key, f"{path}.parameters.{percent}", f"must be a whole number from 0 to 100, got {value!r}"
            )
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId") and "groupId" not in parameters:
        raise FlagDefinitionError(key, f"{path}.parameters.groupId", f"is required by {name}")
    for parameter in ("groupId", "stickiness"):
        _quotable(key, parameters.get(parameter), f"{path}.parameters.{parameter}")
    if name == "remoteAddress":
        for item in parameters.get("IPs", "").split(","):
            _quotable(key, item, f"{path}.parameters.IPs")
            if parse_network(item.strip()) is None:
                raise FlagDefinitionError(
                    key, f"{path}.parameters.IPs", f"is not an IP address or CIDR: {item!r}"
                )
    if name == "applicationHostname":
        for item in parameters.get("hostNames", "").split(","):
            _quotable(key, item, f"{path}.parameters.hostNames")
    if name == "userWithId":
        for item in parameters.get("userIds", "").split(","):
            if item.strip().endswith("\\"):
                raise FlagDefinitionError(
                    key, f"{path}.parameters.userIds", "must not end an id with a backslash"
                )


def _quotable(key: str, text: str | None, path: str) -> None:
    if text is not None and any(mark in text for mark in _UNQUOTABLE):
        raise FlagDefinitionError(key, path, 'must not contain a double quote (") or a backslash')


def _weights(key: str, variants: Iterable[Variant], path: str) -> None:
    weights = [variant.weight for variant in variants]
    if weights and not any(weights):
        raise FlagDefinitionError(key, path, "all have weight 0, so none can ever be served")


def _constraints(key: str, constraints: Iterable[Constraint], path: str) -> None:
    for index, constraint in enumerate(constraints):
        _constraint(key, constraint, f"{path}[{index}]")


def _constraint(key: str, constraint: Constraint, path: str) -> None:  # noqa: PLR0912 - one check per family
    operator = constraint.operator
    if operator is Operator.UNKNOWN:
        raise FlagDefinitionError(key, f"{path}.operator", "is not a known operator")
    _quotable(key, constraint.context_name, f"{path}.contextName")
    if operator in _LISTS:
        if not constraint.values:
            raise FlagDefinitionError(key, f"{path}.values", f"must not be empty for {operator.value}")
        for position, entry in enumerate(constraint.values):
            if entry.endswith("\\"):
                raise FlagDefinitionError(key, f"{path}.values[{position}]", "must not end with a backslash")
            if operator is Operator.IN_CIDR and parse_network(entry) is None:
                raise FlagDefinitionError(
                    key, f"{path}.values[{position}]", f"is not an IP address or CIDR: {entry!r}"
                )
        _compiles(key, constraint, path)
        return
    value = constraint.value
    if value is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is required by {operator.value}")
    if operator in _NUMBER and _NUMBER_TEXT.fullmatch(value.strip(" \t")) is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is not a number: {value!r}")
    if operator in _DATE and (
        _DATE_TEXT.fullmatch(value.strip(" \t")) is None or parse_instant(value) is None
    ):
        raise FlagDefinitionError(
            key, f"{path}.value", f"is not an RFC 3339 date-time such as 2025-01-31T00:00:00Z: {value!r}"
        )
    if operator in _SEMVER and parse_version(value.strip(" \t")) is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is not a semantic version: {value!r}")
    if operator is Operator.REGEX:
        if value.endswith("\\"):
            raise FlagDefinitionError(key, f"{path}.value", "must not end with a backslash")
        if compile_regex(value, case_insensitive=constraint.case_insensitive) is None:
            raise FlagDefinitionError(key, f"{path}.value", "is not a regular expression Unleash can run")
    _compiles(key, constraint, path)


def _compiles(key: str, constraint: Constraint, path: str) -> None:
    try:
        compile_rule(render_constraint(constraint), now=_epoch, rng=_lowest)
    except RuleError as exc:
        raise FlagDefinitionError(key, path, f"does not compile in Unleash's rule language ({exc})") from None
