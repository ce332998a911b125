"""API query parsing for any framework: filters and sorts against an allow-list, and a page.

A client sends, as query parameters::

    ?filter={"status": "paid", "total": {"ge": 100}, "author.name": {"like": "A%"}}
    &sort=-total,id&page=3&per_page=50          (offset pagination)
    &sort=-total&per_page=50&cursor=eyJr...     (cursor pagination)

`QuerySchema.parse` turns that into a `ListQuery` (a `Specification`, a sort and a page) or raises an
`InvalidQueryError` whose message is safe to show the client: it names what the client sent, never
a field the resource keeps out of its allow-list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from urllib.parse import parse_qsl
from uuid import UUID

from buttress.core import check_count, safe_repr

from ._pagination import MAX_PER_PAGE
from ._sort import SortField
from ._specification import OPERATORS, FieldSpecification, Operator, Specification
from ._values import check_field
from .exceptions import (
    FieldNotAllowedError,
    InvalidQueryError,
    MalformedFilterError,
    PersistenceConfigurationError,
    PersistenceError,
    PersistenceTypeError,
)

__all__ = ["FIELD_OPERATORS", "ListQuery", "QuerySchema"]

_ORDERED: Final[tuple[Operator, ...]] = ("eq", "ne", "gt", "lt", "ge", "le", "in", "between", "is_null")
FIELD_OPERATORS: Final[Mapping[type, tuple[Operator, ...]]] = {
    str: ("eq", "ne", "in", "like", "is_null"),
    bool: ("eq", "ne", "is_null"),
    int: _ORDERED,
    float: _ORDERED,
    Decimal: _ORDERED,
    date: _ORDERED,
    datetime: _ORDERED,
    UUID: ("eq", "ne", "in", "is_null"),
}
"""The operators a client may use on a field, by the field's Python type."""

_MAX_SORT_KEYS: Final = 5
_MAX_IN: Final = 100
_MAX_DIGITS: Final = 19
_MAX_EXPONENT: Final = 1000
_PARAMETERS: Final = ("filter", "sort", "page", "per_page", "cursor")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A client's list request, checked: what to select, in which order, which page.

    Attributes:
        where: The filter as a specification, or ``None`` for every entity.
        sort: The sort keys, as asked (the repository adds the primary key as the last key).
        per_page: Items per page, at most the schema's ``max_per_page``.
        page: The page number (from 1) for offset pagination; ``None`` in cursor mode.
        cursor: The cursor the client sent (cursor mode), or ``None`` for the first page.
    """

    where: Specification[Any] | None
    sort: tuple[SortField, ...]
    per_page: int
    page: int | None = 1
    cursor: str | None = None


def _invalid(parameter: str, reason: str) -> InvalidQueryError:
    return InvalidQueryError(parameter, None, reason, show_value=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("a key appears twice")
        result[key] = value
    return result


class QuerySchema:
    """What clients may filter and sort a resource by, and how its pages are cut.

    Args:
        filters: Each filterable field (a column, or a relationship path such as ``"author.name"``)
            and its Python type: str, bool, int, float, Decimal, date, datetime or UUID. The type
            decides the operators (`FIELD_OPERATORS`) and how JSON values are read.
        sorts: The fields a client may sort by (columns of the model).
        default_sort: The sort when the client sends none (``"-created_at"`` style).
        per_page: Items per page when the client does not say.
        max_per_page: The most items per page (at most 100); a larger ``per_page`` is cut to it.
        pagination: ``"offset"`` (``page``) or ``"cursor"`` (``cursor``).
        max_filter_bytes: The longest ``filter`` parameter accepted.

    Raises:
        PersistenceTypeError: An argument of the wrong type, or a field type not in the list.
        PersistenceConfigurationError: A malformed field, a default sort outside ``sorts``, or a size
            out of range.
    """

    __slots__ = (
        "_default_sort",
        "_filters",
        "_max_filter_bytes",
        "_max_per_page",
        "_pagination",
        "_per_page",
        "_sorts",
    )

    def __init__(
        self,
        *,
        filters: Mapping[str, type] | None = None,
        sorts: Iterable[str] = (),
        default_sort: Iterable[str] = (),
        per_page: int = 20,
        max_per_page: int = MAX_PER_PAGE,
        pagination: Literal["offset", "cursor"] = "offset",
        max_filter_bytes: int = 4096,
    ) -> None:
        filters = {} if filters is None else filters
        if not isinstance(filters, Mapping):
            raise PersistenceTypeError("filters", "a mapping of field names to types", filters)
        self._filters: dict[str, type] = {}
        for name, kind in filters.items():
            check_field(name)
            if not isinstance(kind, type) or kind not in FIELD_OPERATORS:
                raise PersistenceTypeError(
                    "filters", "str, bool, int, float, Decimal, date, datetime or UUID", kind
                )
            self._filters[name] = kind
        self._sorts = frozenset(check_field(name) for name in _strings("sorts", sorts))
        self._default_sort = tuple(SortField.parse(text) for text in _strings("default_sort", default_sort))
        for key in self._default_sort:
            if key.field not in self._sorts:
                raise PersistenceConfigurationError("default_sort", str(key), "must name a field in sorts")
        error = PersistenceConfigurationError
        self._max_per_page = check_count(
            "max_per_page", max_per_page, minimum=1, maximum=MAX_PER_PAGE, error=error
        )
        self._per_page = check_count("per_page", per_page, minimum=1, maximum=self._max_per_page, error=error)
        if pagination not in ("offset", "cursor"):
            raise PersistenceConfigurationError("pagination", pagination, "must be 'offset' or 'cursor'")
        self._pagination: Literal["offset", "cursor"] = pagination
        self._max_filter_bytes = check_count(
            "max_filter_bytes", max_filter_bytes, minimum=2, maximum=1 << 20, error=error
        )

    @property
    def pagination(self) -> Literal["offset", "cursor"]:
        """``"offset"`` or ``"cursor"``."""
        return self._pagination

    def parse(self, params: Mapping[str, str | Sequence[str]] | str | bytes) -> ListQuery:
        """Check a client's query parameters and return the query they ask for.

        Args:
            params: The query parameters: a mapping (a dict, a framework's query-params object; a
                list value means the parameter was repeated), or the raw query string.

        Raises:
            MalformedFilterError: ``filter`` is not JSON, or not ``{field: value | {op: value}}``.
            FieldNotAllowedError: A filter or sort on a field outside the allow-list.
            InvalidQueryError: Anything else wrong: an operator the field's type does not take, a
                value of the wrong type, a bad page, a repeated parameter.
            PersistenceTypeError: ``params`` is neither a mapping nor a query string (a programming
                error, not the client's).
        """
        values = _parameters(params)
        where = self._filter(values.get("filter"))
        sort = self._sort(values.get("sort"))
        per_page = self._per_page
        if (text := values.get("per_page")) is not None:
            per_page = min(_positive("per_page", text), self._max_per_page)
        page: int | None = None
        cursor: str | None = None
        if self._pagination == "offset":
            if "cursor" in values:
                raise _invalid("cursor", "this resource pages by number: send page, not cursor")
            page = _positive("page", values["page"]) if "page" in values else 1
        else:
            if "page" in values:
                raise _invalid("page", "this resource pages by cursor: send the cursor of the previous page")
            cursor = values.get("cursor") or None
        return ListQuery(where=where, sort=sort, per_page=per_page, page=page, cursor=cursor)

    def _sort(self, text: str | None) -> tuple[SortField, ...]:
        if text is None or text == "":
            return self._default_sort
        parts = text.split(",")
        if len(parts) > _MAX_SORT_KEYS:
            raise _invalid("sort", f"takes at most {_MAX_SORT_KEYS} fields")
        keys: list[SortField] = []
        for part in parts:
            name = part[1:] if part.startswith("-") else part
            if name not in self._sorts:
                raise FieldNotAllowedError(name, "sort")
            if any(key.field == name for key in keys):
                raise _invalid("sort", f"names {safe_repr(name)} twice")
            keys.append(SortField(name, part.startswith("-")))
        return tuple(keys)

    def _filter(self, text: str | None) -> Specification[Any] | None:
        if text is None or text == "":
            return None
        if len(text.encode("utf-8", "surrogatepass")) > self._max_filter_bytes:
            raise MalformedFilterError(
                "filter", None, f"is longer than {self._max_filter_bytes} bytes", show_value=False
            )
        try:
            document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError):
            raise MalformedFilterError(
                "filter",
                None,
                'is not valid JSON: send an object such as {"status": {"eq": "paid"}}',
                show_value=False,
            ) from None
        if not isinstance(document, dict):
            raise MalformedFilterError("filter", None, "must be a JSON object of fields", show_value=False)
        spec: Specification[Any] | None = None
        for name, condition in document.items():
            kind = self._filters.get(name)
            if kind is None:
                raise FieldNotAllowedError(name, "filter")
            conditions = condition if isinstance(condition, dict) else {"eq": condition}
            if not conditions:
                raise MalformedFilterError(
                    "filter", None, f"{safe_repr(name)} has no operator", show_value=False
                )
            for op, value in conditions.items():
                part = _condition(name, kind, op, value)
                spec = part if spec is None else spec & part
        return spec


def _strings(parameter: str, values: object) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise PersistenceTypeError(parameter, "an iterable of str", values)
    found = list(values)
    for value in found:
        if not isinstance(value, str):
            raise PersistenceTypeError(parameter, "an iterable of str", value)
    return found


def _pairs(params: object) -> list[tuple[str, str]]:
    if isinstance(params, bytes):
        try:
            params = params.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("query", "is not UTF-8") from None
    if isinstance(params, str):
        try:
            return parse_qsl(params, keep_blank_values=True, max_num_fields=64, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise _invalid("query", "is malformed or has too many parameters") from None
    if not isinstance(params, Mapping):
        raise PersistenceTypeError("params", "a mapping or a query string", params)
    pairs: list[tuple[str, str]] = []
    for key in _PARAMETERS:
        if key not in params:
            continue
        value = params[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or not all(isinstance(item, str) for item in items):
            raise PersistenceTypeError("params", "a mapping of str to str or list of str", value)
        pairs.extend((key, item) for item in items)
    return pairs


def _parameters(params: object) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in _pairs(params):
        if key not in _PARAMETERS:
            continue
        if key in values:
            raise _invalid(key, "is given more than once")
        if "\x00" in value or not _encodable(value):
            raise _invalid(key, "holds characters that are not allowed")
        values[key] = value
    return values


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _positive(parameter: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS or int(text) < 1:
        raise _invalid(parameter, "must be a whole number from 1")
    return int(text)


def _condition(name: str, kind: type, op: object, value: object) -> Specification[Any]:
    if not isinstance(op, str) or op not in OPERATORS:
        raise _invalid("filter", f"{safe_repr(op)} is not an operator; use one of {', '.join(OPERATORS)}")
    allowed = FIELD_OPERATORS[kind]
    if op not in allowed:
        raise _invalid("filter", f"{name} takes {', '.join(allowed)}, not {op}")
    operator: Operator = op
    try:
        if operator == "is_null":
            if not isinstance(value, bool):
                raise _invalid("filter", f"is_null on {name} takes true or false")
            return FieldSpecification(name, "is_null", value)
        if operator == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= _MAX_IN:
                raise _invalid("filter", f"in on {name} takes a list of 1 to {_MAX_IN} values")
            return FieldSpecification(name, "in", [_coerce(name, kind, item) for item in value])
        if operator == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _invalid("filter", f"between on {name} takes a list of two values")
            return FieldSpecification(
                name, "between", (_coerce(name, kind, value[0]), _coerce(name, kind, value[1]))
            )
        return FieldSpecification(name, operator, _coerce(name, kind, value))
    except InvalidQueryError:
        raise
    except PersistenceError as exc:  # the value passed JSON but not the specification's checks
        reason = (
            exc.reason if isinstance(exc, PersistenceConfigurationError) else "has a value of the wrong type"
        )
        raise _invalid("filter", f"{name}: {reason}") from None


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    # Beyond 1e±1000 no column holds it (PostgreSQL's numeric refuses such exponents): a 400, not a 500.
    return number if number.is_finite() and -_MAX_EXPONENT <= number.adjusted() <= _MAX_EXPONENT else None


def _iso(kind: type, value: object) -> object:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        if kind is datetime:
            return datetime.fromisoformat(value)
        return date.fromisoformat(value) if kind is date else UUID(value)
    except ValueError:
        return None


_READERS: Final[Mapping[type, Callable[[object], object]]] = {
    bool: lambda v: v if isinstance(v, bool) else None,
    str: lambda v: v if isinstance(v, str) else None,
    int: lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None,
    float: lambda v: (
        float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None
    ),
    Decimal: _number,
    date: lambda v: _iso(date, v),
    datetime: lambda v: _iso(datetime, v),
    UUID: lambda v: _iso(UUID, v),
}


def _coerce(name: str, kind: type, value: object) -> object:
    if value is None:
        raise _invalid("filter", f"{name}: use is_null to ask for missing values")
    read = _READERS[kind](value)
    if read is None:
        raise _invalid("filter", f"{name} takes {_describe(kind)} values")
    return read


def _describe(kind: type) -> str:
    return {
        str: "text",
        bool: "true/false",
        int: "whole-number",
        float: "number",
        Decimal: "decimal-number",
    }.get(kind, f"ISO {kind.__name__}" if kind in (date, datetime) else "UUID")
