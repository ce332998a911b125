"""Load the OpenFeature Gherkin suite's ``test-flags.json`` into buttress flag definitions.

Each flag's ``variants`` map becomes zero-weight variants carrying typed values (they are chosen by
name, never by a split), ``defaultVariant`` stays the default, ``disabled`` turns the kill switch off
and ``flagMetadata`` becomes metadata. A ``contextEvaluator`` of the suite's small expression language
(``a && !b && c == 'x' && d > 10 ? 'variant' : ''``) becomes one strategy whose constraints must all
hold and whose single variant is the target.
"""

from __future__ import annotations

import re
from typing import Any

from buttress.feature_flags import (
    Constraint,
    FlagDefinition,
    FlagSet,
    Operator,
    Strategy,
    Variant,
)

__all__ = ["CONTEXT_AWARE", "load_test_flags"]

# The deprecated evaluation.feature uses a flag that the current test-flags.json no longer holds.
CONTEXT_AWARE: dict[str, Any] = {
    "variants": {"internal": "INTERNAL", "external": "EXTERNAL"},
    "defaultVariant": "external",
    "contextEvaluator": (
        "fn == 'Sulisław' && ln == 'Świętopełk' && age == 29 && customer == false ? 'internal' : ''"
    ),
}

_TERNARY = re.compile(r"^(?P<condition>.+)\?\s*'(?P<variant>[^']*)'\s*:\s*'[^']*'\s*$")
_COMPARISON = re.compile(r"^(?P<name>\w+)\s*(?P<op>==|>|<|>=|<=)\s*(?P<value>'[^']*'|[\w.]+)$")
_NUMERIC = {
    ">": Operator.NUM_GT,
    "<": Operator.NUM_LT,
    ">=": Operator.NUM_GTE,
    "<=": Operator.NUM_LTE,
    "==": Operator.NUM_EQ,
}


def _constraint(term: str) -> Constraint:
    term = term.strip()
    if term.startswith("!"):
        return Constraint(term[1:].strip(), Operator.NOT_IN, ("true",))
    match = _COMPARISON.match(term)
    if match is None:
        raise ValueError(f"cannot read the condition {term!r}")
    name, op, value = match["name"], match["op"], match["value"]
    if value.startswith("'"):
        return Constraint(name, Operator.IN, (value[1:-1],))
    if value in ("true", "false"):
        return Constraint(name, Operator.IN, (value,))
    return Constraint(name, _NUMERIC[op], value=value)


def _flag(key: str, data: dict[str, Any]) -> FlagDefinition:
    values: dict[str, Any] = data["variants"]
    variants = tuple(Variant(name, 0, value=value) for name, value in values.items())
    strategies: tuple[Strategy, ...] = ()
    evaluator = data.get("contextEvaluator")
    if evaluator:
        match = _TERNARY.match(evaluator)
        if match is None:
            raise ValueError(f"cannot read the evaluator of {key!r}")
        target = match["variant"]
        constraints = tuple(_constraint(term) for term in match["condition"].split("&&"))
        strategies = (
            Strategy(
                "default", constraints=constraints, variants=(Variant(target, 1, value=values[target]),)
            ),
        )
    return FlagDefinition(
        key,
        enabled=not data.get("disabled", False),
        strategies=strategies,
        variants=variants,
        default_variant=data.get("defaultVariant"),
        metadata=data.get("flagMetadata") or {},
    )


def load_test_flags(data: dict[str, Any]) -> FlagSet:
    """Convert the suite's flags (plus the deprecated ``context-aware`` flag) into a `FlagSet`."""
    flags = {key: _flag(key, value) for key, value in {**data, "context-aware": CONTEXT_AWARE}.items()}
    return FlagSet(flags=flags)
