"""Strict validation: what a person writing a flag should be told before it is stored."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ._constraints import _to_datetime, _to_number, parse_semver, portable_regex
from ._model import Constraint, FlagDefinition, Operator
from .exceptions import FlagDefinitionError

__all__ = ["KNOWN_STRATEGIES", "validate_flag"]

KNOWN_STRATEGIES = frozenset(
    {
        "default",
        "flexibleRollout",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "remoteAddress",
        "applicationHostname",
    }
)
_NUMBER = {Operator.NUM_EQ, Operator.NUM_GT, Operator.NUM_GTE, Operator.NUM_LT, Operator.NUM_LTE}
_DATE = {Operator.DATE_AFTER, Operator.DATE_BEFORE}
_SEMVER = {
    Operator.SEMVER_EQ,
    Operator.SEMVER_GT,
    Operator.SEMVER_GTE,
    Operator.SEMVER_LT,
    Operator.SEMVER_LTE,
}


def validate_flag(flag: FlagDefinition) -> None:
    """Reject what evaluation would silently treat as "never matches".

    Reading definitions (`flag_from_dict`) is lenient on purpose, like every Unleash SDK: an operator
    or strategy this version does not know, or an operand it cannot parse, never matches, so a newer
    server never breaks an older client. Writing them through `FlagManager` is strict: this check
    names the flag and the field of an unknown operator or strategy, an operand that does not parse
    (number, date, semantic version, regular expression, CIDR), a list operator without values, a
    dependency on the flag itself, and variants whose weights are all zero.

    Raises:
        FlagDefinitionError: The first problem found.
    """
    key = flag.key
    for index, strategy in enumerate(flag.strategies):
        path = f"strategies[{index}]"
        if strategy.name not in KNOWN_STRATEGIES:
            raise FlagDefinitionError(key, f"{path}.name", f"is not a known strategy: {strategy.name!r}")
        if strategy.name == "flexibleRollout" and "rollout" not in strategy.parameters:
            raise FlagDefinitionError(key, f"{path}.parameters.rollout", "is required by flexibleRollout")
        _constraints(key, strategy.constraints, f"{path}.constraints")
        _weights(key, [variant.weight for variant in strategy.variants], f"{path}.variants")
    _weights(key, [variant.weight for variant in flag.variants if flag.default_variant is None], "variants")
    for index, dependency in enumerate(flag.dependencies):
        if dependency.feature == key:
            raise FlagDefinitionError(key, f"dependencies[{index}].feature", "names the flag itself")


def _weights(key: str, weights: list[int], path: str) -> None:
    if weights and not any(weights):
        raise FlagDefinitionError(key, path, "all have weight 0, so none can ever be served")


def _constraints(key: str, constraints: Iterable[Constraint], path: str) -> None:
    for index, constraint in enumerate(constraints):
        _constraint(key, constraint, f"{path}[{index}]")


def _constraint(key: str, constraint: Constraint, path: str) -> None:
    operator = constraint.operator
    if operator is Operator.UNKNOWN:
        raise FlagDefinitionError(key, f"{path}.operator", "is not a known operator")
    if operator in (
        Operator.IN,
        Operator.NOT_IN,
        Operator.STR_CONTAINS,
        Operator.STR_STARTS_WITH,
        Operator.STR_ENDS_WITH,
        Operator.IN_CIDR,
    ):
        if not constraint.values:
            raise FlagDefinitionError(key, f"{path}.values", f"must not be empty for {operator.value}")
        if operator is Operator.IN_CIDR:
            for position, entry in enumerate(constraint.values):
                try:
                    ipaddress.ip_network(entry.strip(), strict=False)
                except ValueError:
                    raise FlagDefinitionError(
                        key, f"{path}.values[{position}]", f"is not an IP address or CIDR: {entry!r}"
                    ) from None
        return
    value = constraint.value
    if value is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is required by {operator.value}")
    if operator in _NUMBER and _to_number(value) is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is not a number: {value!r}")
    if operator in _DATE and _to_datetime(value) is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is not an ISO 8601 date-time: {value!r}")
    if operator in _SEMVER and parse_semver(value) is None:
        raise FlagDefinitionError(key, f"{path}.value", f"is not a semantic version: {value!r}")
    if (
        operator is Operator.REGEX
        and portable_regex(value, case_insensitive=constraint.case_insensitive) is None
    ):
        raise FlagDefinitionError(
            key, f"{path}.value", "is not a portable regular expression (no look-around or back-references)"
        )
