"""Specifications: predicates over entities that evaluate in Python and compile to the same SQL.

Both sides follow SQL's three-valued logic. A comparison with a NULL (``None``) field is *unknown*,
not false; ``~unknown`` is unknown; ``false & unknown`` is false and ``true | unknown`` is true (Kleene
logic, as SQL's ``AND``/``OR``/``NOT``). `Specification.is_satisfied_by` is true only for *true*, as a
``WHERE`` clause selects only rows whose condition is true. So ``~FieldSpecification("x", "gt", 5)``
does not select an entity whose ``x`` is ``None``, in Python as in SQL; ask ``is_null`` for those.

A dotted path through a relationship (``"author.name"``, ``"tags.label"``) is an ``EXISTS`` in SQL:
true when some related row satisfies the comparison, false otherwise (never unknown), and so in
Python: a missing related object or an empty collection makes it false. Each field specification is
its own ``EXISTS``: ``tags.label == "a" & tags.rank > 3`` asks for *some* tag labelled "a" and *some*
tag ranked above 3, not necessarily the same one.

A naive datetime (no UTC offset) means UTC, on both sides: Python compares it with an aware one as
the UTC instant, and SQL sends a value in the column's own kind (an aware one for a
``DateTime(timezone=True)`` column, a naive UTC one otherwise), so a filter and a row may differ in
kind without an error or a different answer.
"""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

from sqlalchemy import ColumnElement, DateTime, and_, inspect, not_, or_
from sqlalchemy.orm import Mapper, RelationshipProperty

from ._values import check_field, check_scalar, like_regex
from .exceptions import PersistenceConfigurationError, PersistenceTypeError, UnknownFieldError

__all__ = [
    "AndSpecification",
    "FieldSpecification",
    "NotSpecification",
    "Operator",
    "OrSpecification",
    "Specification",
    "SpecificationBuilder",
]

type Operator = Literal["eq", "ne", "gt", "lt", "ge", "le", "in", "like", "between", "is_null"]
type Truth = bool | None
"""True, false, or ``None`` for SQL's *unknown*."""

OPERATORS: Final[tuple[Operator, ...]] = get_args(Operator.__value__)
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "lt": operator.lt,
    "ge": operator.ge,
    "le": operator.le,
}
_MISSING: Final = object()


class Specification[T](ABC):
    """A predicate over entities of type ``T``: `is_satisfied_by` in Python, `to_sql_condition` in SQL.

    Compose with ``&``, ``|`` and ``~``. Both evaluations select the same entities (the module's
    docstring states the NULL rules); the property tests check it on PostgreSQL.
    """

    __slots__ = ()

    @abstractmethod
    def evaluate(self, candidate: T) -> Truth:
        """The three-valued truth of the predicate for ``candidate``: ``True``, ``False`` or ``None``.

        Raises:
            UnknownFieldError: ``candidate`` has no such field.
            PersistenceTypeError: A field's value cannot be compared with the specification's value.
        """

    @abstractmethod
    def to_sql_condition(self, model: type[Any]) -> ColumnElement[bool]:
        """The SQLAlchemy condition for ``model`` (a mapped class), to pass to ``select(...).where()``.

        Raises:
            PersistenceTypeError: ``model`` is not a mapped class, or a value does not suit its column.
            UnknownFieldError: A field is not a column or a relationship path of ``model``.
        """

    @abstractmethod
    def fields(self) -> frozenset[str]:
        """Every field path the specification reads."""

    def is_satisfied_by(self, candidate: T) -> bool:
        """Whether ``candidate`` satisfies the predicate (``evaluate`` is ``True``, not unknown)."""
        return self.evaluate(candidate) is True

    def __and__(self, other: Specification[T]) -> Specification[T]:
        return AndSpecification((self, _spec("other", other)))

    def __or__(self, other: Specification[T]) -> Specification[T]:
        return OrSpecification((self, _spec("other", other)))

    def __invert__(self) -> Specification[T]:
        return NotSpecification(self)


def _spec[T](parameter: str, value: object) -> Specification[T]:
    if not isinstance(value, Specification):
        raise PersistenceTypeError(parameter, "a Specification", value)
    return cast("Specification[T]", value)


@dataclass(frozen=True, slots=True)
class FieldSpecification(Specification[Any]):
    r"""A comparison of one field (or a relationship path) with a value.

    ======== ============================== =============================================
    ``op``   ``value``                      SQL
    ======== ============================== =============================================
    eq, ne   a scalar                       ``field = value``, ``field <> value``
    gt, lt,  a scalar                       ``>``, ``<``, ``>=``, ``<=``
    ge, le
    in       a non-empty list of scalars    ``field IN (...)``
    like     a pattern (``%``, ``_``, ``\``) ``field LIKE pattern ESCAPE '\'`` (case-sensitive)
    between  ``(low, high)``                ``field >= low AND field <= high`` (BETWEEN)
    is_null  ``True`` or ``False``          ``IS NULL`` / ``IS NOT NULL``
    ======== ============================== =============================================

    Scalars are str, int, float, bool, Decimal, date, datetime, time, timedelta and UUID; never
    ``None`` (ask ``is_null``) and never NaN. Use `escape_like` to match user text literally.

    Args:
        field: The attribute's name, or a dotted path through relationships (``"author.name"``).
        op: The operator.
        value: What to compare with, as in the table.

    Raises:
        PersistenceConfigurationError: An unknown operator, a malformed path, or a value the operator
            cannot take.
        PersistenceTypeError: A value of a type no database compares.

    Examples:
        >>> spec = FieldSpecification("total", "gt", 10) & ~FieldSpecification("status", "eq", "void")
        >>> spec.is_satisfied_by({"total": 12, "status": "paid"})
        True
    """

    field: str
    op: Operator
    value: object = None
    _match: Callable[[object], Truth] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_field(self.field)
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise PersistenceConfigurationError("op", self.op, f"must be one of {', '.join(OPERATORS)}")
        value, match = _prepare(self.op, self.value)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_match", match)

    def evaluate(self, candidate: Any) -> Truth:  # noqa: ANN401 - any entity, mapping or object
        """The three-valued truth for ``candidate``; relationship paths are true or false, never unknown."""
        return _evaluate_path(candidate, self.field.split("."), self._match, self.field)

    def to_sql_condition(self, model: type[Any]) -> ColumnElement[bool]:
        """The condition on ``model``; a relationship path becomes ``EXISTS`` (``has``/``any``)."""
        return _compile_path(_mapper(model), self.field.split("."), self, self.field)

    def fields(self) -> frozenset[str]:
        """The one field this specification reads."""
        return frozenset((self.field,))


class _Junction[T](Specification[T]):
    """``AND`` or ``OR`` of parts under Kleene logic: ``_dominant`` decides, unknown beats the other."""

    __slots__ = ()
    parts: tuple[Specification[T], ...]
    _dominant: bool
    _join: Callable[..., ColumnElement[bool]]

    def __post_init__(self) -> None:
        _check_parts(self.parts)

    def evaluate(self, candidate: T) -> Truth:
        """Kleene conjunction (AND) or disjunction (OR) of the parts."""
        result: Truth = not self._dominant
        for part in self.parts:
            truth = part.evaluate(candidate)
            if truth is self._dominant:
                return truth
            if truth is None:
                result = None
        return result

    def to_sql_condition(self, model: type[Any]) -> ColumnElement[bool]:
        """``(a AND b AND ...)`` or ``(a OR b OR ...)``."""
        return type(self)._join(*(part.to_sql_condition(model) for part in self.parts))

    def fields(self) -> frozenset[str]:
        """The fields of every part."""
        return frozenset().union(*(part.fields() for part in self.parts))


@dataclass(frozen=True, slots=True)
class AndSpecification[T](_Junction[T]):
    """All of ``parts`` (SQL ``AND``: false wins over unknown, unknown over true)."""

    parts: tuple[Specification[T], ...]
    _dominant = False
    _join = and_


@dataclass(frozen=True, slots=True)
class OrSpecification[T](_Junction[T]):
    """Any of ``parts`` (SQL ``OR``: true wins over unknown, unknown over false)."""

    parts: tuple[Specification[T], ...]
    _dominant = True
    _join = or_


@dataclass(frozen=True, slots=True)
class NotSpecification[T](Specification[T]):
    """The negation of ``inner`` (SQL ``NOT``: unknown stays unknown)."""

    inner: Specification[T]

    def __post_init__(self) -> None:
        _spec("inner", self.inner)

    def evaluate(self, candidate: T) -> Truth:
        """``not`` of the inner truth; unknown stays unknown."""
        truth = self.inner.evaluate(candidate)
        return None if truth is None else not truth

    def to_sql_condition(self, model: type[Any]) -> ColumnElement[bool]:
        """``NOT (inner)``."""
        return not_(self.inner.to_sql_condition(model))

    def fields(self) -> frozenset[str]:
        """The inner specification's fields."""
        return self.inner.fields()


def _check_parts(parts: object) -> None:
    if not isinstance(parts, tuple) or not parts:
        raise PersistenceTypeError("parts", "a non-empty tuple of Specifications", parts)
    for part in parts:
        _spec("parts", part)


class SpecificationBuilder[T]:
    """Builds a specification fluently, left to right.

    ``where`` starts (or, once started, is the same as ``and_where``); ``and_where`` and ``or_where``
    combine what was built so far with one more condition, so
    ``where(a).or_where(b).and_where(c)`` is ``(a | b) & c``. Each takes a field, an operator and a
    value, or a ready `Specification`.

    Examples:
        >>> spec = (
        ...     SpecificationBuilder()
        ...     .where("status", "eq", "paid")
        ...     .or_where("status", "eq", "refunded")
        ...     .and_where("total", "ge", 100)
        ...     .build()
        ... )
        >>> spec.is_satisfied_by({"status": "refunded", "total": 120})
        True
    """

    __slots__ = ("_current",)

    def __init__(self) -> None:
        self._current: Specification[T] | None = None

    def where(
        self, field_or_spec: str | Specification[T], op: Operator | None = None, value: object = None
    ) -> SpecificationBuilder[T]:
        """Start with one condition (``and_where`` once something was built)."""
        return self.and_where(field_or_spec, op, value)

    def and_where(
        self, field_or_spec: str | Specification[T], op: Operator | None = None, value: object = None
    ) -> SpecificationBuilder[T]:
        """AND one more condition with what was built so far."""
        spec: Specification[T] = _condition(field_or_spec, op, value)
        self._current = spec if self._current is None else self._current & spec
        return self

    def or_where(
        self, field_or_spec: str | Specification[T], op: Operator | None = None, value: object = None
    ) -> SpecificationBuilder[T]:
        """OR one more condition with what was built so far."""
        spec: Specification[T] = _condition(field_or_spec, op, value)
        self._current = spec if self._current is None else self._current | spec
        return self

    def build(self) -> Specification[T]:
        """The specification built so far.

        Raises:
            PersistenceConfigurationError: Nothing was added.
        """
        if self._current is None:
            raise PersistenceConfigurationError("builder", None, "has no condition: call where() first")
        return self._current


def _condition[T](field_or_spec: object, op: object, value: object) -> Specification[T]:
    if isinstance(field_or_spec, Specification):
        if op is not None:
            raise PersistenceConfigurationError("op", op, "must be omitted when a Specification is given")
        return cast("Specification[T]", field_or_spec)
    if op is None:
        raise PersistenceConfigurationError("op", op, "is required with a field name")
    return FieldSpecification(cast("str", field_or_spec), cast("Operator", op), value)


# --- values and Python evaluation ------------------------------------------------------------------


def _prepare(op: str, value: object) -> tuple[object, Callable[[object], Truth]]:
    """The normalized value and the three-valued matcher of one field's value."""
    if op == "is_null":
        if not isinstance(value, bool):
            raise PersistenceTypeError("value", "a bool for is_null", value)
        return value, (lambda v: (v is None) is value)
    if op == "in":
        values = _in_values(value)
        instants = tuple(_instant(item) for item in values)
        return values, (lambda v: None if v is None else _in(_instant(v), instants))
    if op == "between":
        low, high = _bounds(value)
        first, last = _instant(low), _instant(high)
        return (low, high), (
            lambda v: (
                None
                if v is None
                else _ordered(first, "le", _instant(v)) and _ordered(_instant(v), "le", last)
            )
        )
    if op == "like":
        if not isinstance(value, str):
            raise PersistenceTypeError("value", "a str pattern for like", value)
        check_scalar("value", value)
        regex = like_regex(value)
        return value, (lambda v: None if v is None else _like(regex, v))
    check_scalar("value", value)
    compare = _COMPARE[op]
    instant = _instant(value)
    if op in ("eq", "ne"):
        return value, (lambda v: None if v is None else bool(compare(_instant(v), instant)))
    return value, (lambda v: None if v is None else _ordered(_instant(v), op, instant))


def _instant(value: object) -> object:
    """A naive datetime as the UTC instant it means; any other value as it is."""
    if isinstance(value, datetime) and value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


def _in_kind(value: object, aware: bool) -> object:
    """A datetime in a column's kind: aware for ``timezone=True``, else naive UTC (as `_instant` reads it)."""
    if not isinstance(value, datetime):
        return value
    if aware:
        return _instant(value)
    return value if value.utcoffset() is None else value.astimezone(UTC).replace(tzinfo=None)


def _in_values(value: object) -> tuple[object, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise PersistenceTypeError("value", "a list of values for in", value)
    values = tuple(value)
    if not values:
        raise PersistenceConfigurationError("value", value, "in needs at least one value")
    if len(values) > 10_000:
        raise PersistenceConfigurationError("value", len(values), "in takes at most 10000 values")
    for item in values:
        check_scalar("value", item)
    return values


def _in(v: object, values: tuple[object, ...]) -> bool:
    return any(v == item for item in values)


def _bounds(value: object) -> tuple[object, object]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise PersistenceTypeError("value", "a (low, high) pair for between", value)
    low, high = value
    return check_scalar("value", low), check_scalar("value", high)


def _ordered(left: object, op: str, right: object) -> bool:
    try:
        return bool(_COMPARE[op](left, right))
    except TypeError as exc:
        raise PersistenceTypeError("value", f"comparable with {type(left).__name__}", right) from exc


def _like(regex: re.Pattern[str], v: object) -> bool:
    if not isinstance(v, str):
        raise PersistenceTypeError("field", "a str for like", v)
    return regex.fullmatch(v) is not None


def _attribute(candidate: object, name: str, path: str) -> object:
    if isinstance(candidate, Mapping):
        found = candidate.get(name, _MISSING)
    else:
        found = getattr(candidate, name, _MISSING)
    if found is _MISSING:
        raise UnknownFieldError(path, type(candidate).__name__)
    return found


def _evaluate_path(candidate: object, steps: list[str], match: Callable[[object], Truth], path: str) -> Truth:
    value = _attribute(candidate, steps[0], path)
    if len(steps) == 1:
        return match(value)
    # A relationship: EXISTS semantics, true or false.
    rest = steps[1:]
    if value is None:
        return False
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return any(_evaluate_path(child, rest, match, path) is True for child in value)
    return _evaluate_path(value, rest, match, path) is True


# --- SQL ---------------------------------------------------------------------------------------------


def _mapper(model: object) -> Mapper[Any]:
    mapper: object = inspect(model, raiseerr=False) if isinstance(model, type) else None
    if not isinstance(mapper, Mapper):
        raise PersistenceTypeError("model", "a mapped class", model)
    return mapper


def _compile_path(
    mapper: Mapper[Any], steps: list[str], spec: FieldSpecification, path: str
) -> ColumnElement[bool]:
    name = steps[0]
    if len(steps) == 1:
        if name not in mapper.column_attrs:
            raise UnknownFieldError(path, mapper.class_.__name__)
        column = getattr(mapper.class_, name)
        _check_column_value(mapper.column_attrs[name].columns[0], spec, path)
        return _compare(column, spec)
    relationship = mapper.relationships.get(name) if name in mapper.relationships else None
    if not isinstance(relationship, RelationshipProperty):
        raise UnknownFieldError(path, mapper.class_.__name__)
    inner = _compile_path(relationship.mapper, steps[1:], spec, path)
    attribute = getattr(mapper.class_, name)
    condition: ColumnElement[bool] = attribute.any(inner) if relationship.uselist else attribute.has(inner)
    return condition


def _compare(column: Any, spec: FieldSpecification) -> ColumnElement[bool]:  # noqa: ANN401 - a column attribute
    op, value = spec.op, spec.value
    if isinstance(column.type, DateTime) and op != "is_null":
        aware = bool(column.type.timezone)
        if op in ("in", "between"):
            value = tuple(_in_kind(item, aware) for item in cast("tuple[object, ...]", value))
        else:
            value = _in_kind(value, aware)
    if op == "is_null":
        return cast("ColumnElement[bool]", column.is_(None) if value else column.is_not(None))
    if op == "in":
        return cast("ColumnElement[bool]", column.in_(value))
    if op == "between":
        # BETWEEN is defined as this conjunction; spelled out, since SQLAlchemy renders BETWEEN's
        # bounds with a COLLATE that PostgreSQL's grammar refuses after BETWEEN.
        low, high = cast("tuple[object, object]", value)
        return and_(column >= low, column <= high)
    if op == "like":
        return cast("ColumnElement[bool]", column.like(value, escape="\\"))
    return cast("ColumnElement[bool]", _COMPARE[op](column, value))


def _python_type(column: Any) -> type | None:  # noqa: ANN401 - a Column
    try:
        found = column.type.python_type
    except (NotImplementedError, AttributeError):
        return None
    return found if isinstance(found, type) else None


def _check_column_value(column: Any, spec: FieldSpecification, path: str) -> None:  # noqa: ANN401
    if spec.op == "is_null":
        return
    expected = _python_type(column)
    if expected is None:
        return
    values: tuple[object, ...]
    values = cast("tuple[object, ...]", spec.value) if spec.op in {"in", "between"} else (spec.value,)
    if spec.op == "like" and expected is not str:
        raise PersistenceTypeError("field", f"a text column for like ({path} is not)", spec.value)
    for value in values:
        if not _suits(value, expected):
            raise PersistenceTypeError("value", f"a {expected.__name__} for {path}", value)


def _suits(value: object, expected: type) -> bool:
    from datetime import date  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if expected is int:
        return isinstance(value, int)
    if expected in (float, Decimal):
        return isinstance(value, int | float | Decimal)
    if expected is date:
        return isinstance(value, date) and not isinstance(value, datetime)
    return isinstance(value, expected)
