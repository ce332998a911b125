"""Flags written out in Unleash's rule language, exactly as Unleash's engine writes them.

Yggdrasil (the engine inside every current Unleash SDK) turns a flag's strategies into text such as
``(true and (user_id in ["7"]))``, one strategy per ``or``, and then parses that text (`_rules`).
Operands are pasted in as they are, and only list items are escaped, so what this module writes is
what the engine would parse, quirks included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._model import Constraint, Operator, Segment, Strategy
from ._values import parse_usize, rust_trim

__all__ = [
    "KNOWN_STRATEGIES",
    "RuleError",
    "context_name",
    "render_constraint",
    "render_flag",
    "render_strategy",
]

KNOWN_STRATEGIES = frozenset(
    {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutRandom",
        "applicationHostname",
        "gradualRolloutSessionId",
        "remoteAddress",
        "flexibleRollout",
    }
)


class RuleError(Exception):
    """A strategy cannot be compiled: the engine turns the flag off (internal)."""


_DEFAULT_STICKINESS = "user_id | session_id | random[10000]"
_RANDOM_STICKINESS = "random[10000]"
_CONTEXT_NAMES = {
    "userId": "user_id",
    "sessionId": "session_id",
    "currentTime": "current_time",
    "environment": "environment",
    "appName": "app_name",
    "remoteAddress": "remote_address",
}
_STRINGY = frozenset(
    {
        Operator.NOT_IN,
        Operator.IN,
        Operator.STR_ENDS_WITH,
        Operator.STR_STARTS_WITH,
        Operator.STR_CONTAINS,
        Operator.IN_CIDR,
    }
)
_SEMVER = frozenset(
    {Operator.SEMVER_EQ, Operator.SEMVER_LT, Operator.SEMVER_GT, Operator.SEMVER_LTE, Operator.SEMVER_GTE}
)
_OPERATOR_TEXT = {
    Operator.IN: "in",
    Operator.NOT_IN: "not_in",
    Operator.NUM_EQ: "==",
    Operator.NUM_GT: ">",
    Operator.NUM_GTE: ">=",
    Operator.NUM_LT: "<",
    Operator.NUM_LTE: "<=",
    Operator.DATE_AFTER: ">",
    Operator.DATE_BEFORE: "<",
    Operator.SEMVER_EQ: "==",
    Operator.SEMVER_LT: "<",
    Operator.SEMVER_GT: ">",
    Operator.SEMVER_LTE: "<=",
    Operator.SEMVER_GTE: ">=",
    Operator.IN_CIDR: "in_cidr",
}
_STRING_OPERATORS = {
    Operator.STR_ENDS_WITH: "ends_with_any",
    Operator.STR_STARTS_WITH: "starts_with_any",
    Operator.STR_CONTAINS: "contains_any",
    Operator.REGEX: "matches_regex",
}


def context_name(name: str) -> str:
    """The rule-language name of a context field: ``userId`` → ``user_id``, others ``context["x"]``."""
    return _CONTEXT_NAMES.get(name) or f'context["{name}"]'


def _escape(text: str) -> str:
    return text.replace('"', '\\"')


def render_flag(strategies: Sequence[Strategy], segments: Mapping[int, Segment]) -> str:
    """The rule text of a flag: its strategies joined with ``or`` (``true`` when it has none).

    Raises:
        RuleError: A constraint has an unknown operator or no operand, or a segment is missing.
    """
    if not strategies:
        return "true"
    custom = 0
    rules = []
    for strategy in strategies:
        if strategy.name not in KNOWN_STRATEGIES:
            custom += 1
        rules.append(render_strategy(strategy, segments, custom))
    return " or ".join(rules)


def render_strategy(strategy: Strategy, segments: Mapping[int, Segment], custom_index: int = 1) -> str:
    """The rule text of one strategy, its constraints and its segments' constraints.

    Raises:
        RuleError: A constraint has an unknown operator or no operand, or a segment is missing.
    """
    rule = _strategy_rule(strategy, custom_index)
    constraints = list(strategy.constraints)
    for segment_id in strategy.segments:
        segment = segments.get(segment_id)
        if segment is None:
            raise RuleError(f"segment {segment_id} does not exist")
        constraints.extend(segment.constraints)
    if not constraints:
        return rule
    return f"({rule} and ({' and '.join(render_constraint(item) for item in constraints)}))"


def _strategy_rule(strategy: Strategy, custom_index: int) -> str:  # noqa: PLR0911 - one per strategy
    name, parameters = strategy.name, strategy.parameters
    if name == "default":
        return "true"
    if name == "flexibleRollout":
        rollout = _rollout(parameters, "rollout")
        if rollout is None:
            return "false"
        rule = f"{rollout}% sticky on {_stickiness(parameters.get('stickiness'))}"
        group = parameters.get("groupId")
        return rule if group is None else f'{rule} with group_id of "{group}"'
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        percentage, group = _rollout(parameters, "percentage"), parameters.get("groupId")
        if percentage is None or group is None:
            return "false"
        field = "user_id" if name == "gradualRolloutUserId" else "session_id"
        return f'{percentage}% sticky on {field} with group_id of "{group}"'
    if name == "gradualRolloutRandom":
        percentage = _rollout(parameters, "percentage")
        return "false" if percentage is None else f"random < {percentage}"
    if name == "userWithId":
        ids = parameters.get("userIds")
        if ids is None:
            return "false"
        return f"user_id in [{','.join(f'"{_escape(rust_trim(item))}"' for item in ids.split(','))}]"
    if name == "remoteAddress":
        ips = parameters.get("IPs")
        if ips is None:
            return "false"
        return f"remote_address in_cidr [{', '.join(f'"{rust_trim(item)}"' for item in ips.split(','))}]"
    if name == "applicationHostname":
        hosts = parameters.get("hostNames", "")
        return f"hostname in [{', '.join(f'"{rust_trim(item)}"' for item in hosts.split(','))}]"
    return f'external_value["customStrategy{custom_index}"]'  # a custom strategy: off here


def _rollout(parameters: Mapping[str, str], name: str) -> int | None:
    text = parameters.get(name)
    return None if text is None else parse_usize(text)


def _stickiness(parameter: str | None) -> str:
    if parameter is None or parameter == "default":
        return _DEFAULT_STICKINESS
    if parameter == "random":
        return _RANDOM_STICKINESS
    return context_name(parameter)


def render_constraint(constraint: Constraint) -> str:
    """The rule text of one constraint.

    Raises:
        RuleError: The operator is unknown, or the operand it needs is missing.
    """
    operator = constraint.operator
    if operator is Operator.UNKNOWN:
        raise RuleError("unknown operator")
    if operator in _STRING_OPERATORS:
        text = _STRING_OPERATORS[operator]
        if constraint.case_insensitive:
            text += "_ignoring_case" if operator is Operator.REGEX else "_ignore_case"
    else:
        text = _OPERATOR_TEXT[operator]
    if operator in _STRINGY:
        operand = f"[{', '.join(f'"{_escape(item)}"' for item in constraint.values)}]"
    elif operator is Operator.REGEX:
        operand = f'"{_escape(constraint.value or "")}"'
    else:
        if constraint.value is None:
            raise RuleError(f"{operator.value} needs a value")
        if operator in _SEMVER and constraint.value.startswith("v"):
            return "false"  # Unleash refuses "v1.2.3" this way, inversion and all
        operand = constraint.value
    inversion = "!" if constraint.inverted else ""
    return f"{inversion}{context_name(constraint.context_name)} {text} {operand}"
