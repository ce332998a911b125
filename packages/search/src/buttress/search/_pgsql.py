"""SQL for `PostgresSearch`'s queries: the text, the filters, the order and the cursor's keyset.

SQL text is built from validated, quoted identifiers and field-name literals only; every value
(query tokens, filter values, cursors) is a bind parameter.
"""

# ruff: noqa: S608

from __future__ import annotations

import json
from typing import Any

from ._filters import And, Exists, Filter, Not, Or, Range, Sort, Term, Terms
from ._pgtext import all_query, any_query, group_query, phrase_pattern
from ._plan import TextPlan
from ._schema import Schema
from .exceptions import SearchTypeError

__all__ = ["Params", "after_condition", "filter_condition", "literal", "order_by", "text_conditions"]


def literal(text: str) -> str:
    """A SQL string literal for a schema value (a field name): quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


class Params:
    """Collects query parameters and hands out their ``$n`` placeholders."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values: list[Any] = list(values or [])

    def __call__(self, value: Any, cast: str = "") -> str:  # noqa: ANN401 - any bindable value
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def text_conditions(plan: TextPlan, param: Params) -> tuple[list[str], str | None]:
    """WHERE conditions for the text, and the ``tsquery`` expression ranking uses (None: no text).

    A term is a lexeme of the row's ``search`` vector; a phrase is a row holding its lexemes (the GIN
    index finds those) whose ``tokens`` text holds the phrase's tokens side by side within a field.
    """
    conditions: list[str] = []
    rank = None
    groups = plan.positive
    if plan.has_text and not groups:
        conditions.append("false")
    elif groups:
        patterns = [phrase_pattern(group) for group in groups]
        if plan.required >= len(groups):
            rank = param(all_query(groups), "::tsquery")
            conditions.append(f"search @@ {rank}")
            conditions += [f"strpos(tokens, {param(pattern)}) > 0" for pattern in patterns if pattern]
        else:
            rank = param(any_query(groups), "::tsquery")
            conditions.append(f"search @@ {rank}")
            if plan.required > 1 or any(patterns):
                held = _held(groups, patterns, param)
                conditions.append(f"(SELECT count(*) FROM {held}) >= {param(plan.required, '::int')}")
    if plan.excluded:
        patterns = [phrase_pattern(group) for group in plan.excluded]
        conditions.append(f"NOT EXISTS (SELECT 1 FROM {_held(plan.excluded, patterns, param)})")
    return conditions, rank


def _held(groups: tuple[tuple[str, ...], ...], patterns: list[str | None], param: Params) -> str:
    """A FROM clause of the ``groups`` the row holds (one parameter each for queries and patterns)."""
    queries = param([group_query(group) for group in groups], "::text[]")
    texts = param(patterns, "::text[]")
    return (
        f"unnest({queries}, {texts}) AS held(query, pattern) "
        "WHERE search @@ held.query::tsquery AND (held.pattern IS NULL OR strpos(tokens, held.pattern) > 0)"
    )


def filter_condition(item: Filter, param: Params) -> str:  # noqa: PLR0911 - one return per filter kind
    """The SQL condition of a filter over the ``document`` column."""
    match item:
        case Term(field=name, value=value):
            placeholder = param(json.dumps(value), "::jsonb")
            return f"COALESCE((document -> {literal(name)}) @> {placeholder}, false)"
        case Terms(field=name, values=values):
            if not values:
                return "false"
            placeholder = param([json.dumps(value) for value in values], "::text[]::jsonb[]")
            return f"COALESCE((document -> {literal(name)}) @> ANY({placeholder}), false)"
        case Range(field=name):
            number = f"(document ->> {literal(name)})::float8"
            bounds = [
                f"{number} {operator} {param(float(bound), '::float8')}"
                for operator, bound in ((">=", item.gte), (">", item.gt), ("<=", item.lte), ("<", item.lt))
                if bound is not None
            ]
            return f"COALESCE({' AND '.join(bounds)}, false)"
        case Exists(field=name):
            return f"COALESCE((document -> {literal(name)}) NOT IN ('null'::jsonb, '[]'::jsonb), false)"
        case And(filters=items):
            return "(" + " AND ".join([filter_condition(sub, param) for sub in items] or ["true"]) + ")"
        case Or(filters=items):
            return "(" + " OR ".join([filter_condition(sub, param) for sub in items] or ["false"]) + ")"
        case Not(filter=sub):
            return f"(NOT {filter_condition(sub, param)})"
    raise SearchTypeError("filter", "a filter", item)  # pragma: no cover - checked by the query


def _sort_value(schema: Schema, sort: Sort) -> str:
    kind = schema.fields[sort.field]
    raw = f"(document ->> {literal(sort.field)})"
    if kind == "number":
        return f"{raw}::float8"
    if kind == "boolean":
        return f"{raw}::boolean"
    return f'{raw} COLLATE "C"'


def order_by(schema: Schema, sort: tuple[Sort, ...]) -> str:
    """The ORDER BY list: the sort fields (missing values last), or the score; then the id."""
    parts = []
    for item in sort:
        value = _sort_value(schema, item)
        parts += [f"({value} IS NULL) ASC", f"{value} {'DESC' if item.descending else 'ASC'}"]
    if not parts:
        parts.append("score DESC")
    return ", ".join([*parts, "id ASC"])


def after_condition(schema: Schema, sort: tuple[Sort, ...], key: list[Any], param: Params) -> str:
    """The keyset condition: rows strictly after a cursor's (already checked) key in the order."""
    comparisons: list[tuple[str, str]] = []  # (equal, after)
    for item, value in zip(sort, key, strict=False):
        expression = _sort_value(schema, item)
        if value is None:
            comparisons.append((f"({expression} IS NULL)", "false"))
            continue
        kind = schema.fields[item.field]
        cast = {"number": "::float8", "boolean": "::boolean"}.get(kind, "")
        placeholder = param(float(value) if kind == "number" else value, cast)
        if kind == "keyword":
            placeholder += ' COLLATE "C"'
        comparisons.append((f"({expression} IS NOT NULL)", f"({expression} IS NULL)"))
        operator = "<" if item.descending else ">"
        comparisons.append((f"{expression} = {placeholder}", f"{expression} {operator} {placeholder}"))
    if not sort:
        score = param(float(key[-2]), "::float8")
        comparisons.append((f"score = {score}", f"score < {score}"))
    comparisons.append(("false", f"id > {param(key[-1])}"))
    alternatives = []
    for index, (_, after) in enumerate(comparisons):
        equal = [comparisons[j][0] for j in range(index)]
        alternatives.append("(" + " AND ".join([*equal, after]) + ")")
    return "(" + " OR ".join(alternatives) + ")"
