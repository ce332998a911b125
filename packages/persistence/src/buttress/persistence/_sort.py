"""Sort keys: a field and a direction, parsed from ``"-total"`` and resolved to a column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression
from sqlalchemy.orm import Mapper

from ._values import check_field
from .exceptions import PersistenceTypeError, UnknownFieldError

__all__ = ["SortField", "column_of", "nullable", "sort_columns"]


@dataclass(frozen=True, slots=True)
class SortField:
    """One sort key: a column's name and whether it sorts from high to low.

    NULLs sort after every value going up and before every value going down (PostgreSQL's default,
    made explicit so SQLite and cursors agree).

    Examples:
        >>> SortField.parse("-total")
        SortField(field='total', descending=True)
    """

    field: str
    descending: bool = False

    def __post_init__(self) -> None:
        check_field(self.field)
        if not isinstance(self.descending, bool):
            raise PersistenceTypeError("descending", "a bool", self.descending)

    @classmethod
    def parse(cls, text: str) -> SortField:
        """``"total"`` sorts up, ``"-total"`` down.

        Raises:
            PersistenceTypeError: ``text`` is not a str.
            PersistenceConfigurationError: It is not a field name with an optional leading ``-``.
        """
        if not isinstance(text, str):
            raise PersistenceTypeError("sort", "a str", text)
        descending = text.startswith("-")
        return cls(text[1:] if descending else text, descending)

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def column_of(mapper: Mapper[Any], field: str) -> Any:  # noqa: ANN401 - the mapped column attribute
    """The mapped column attribute named ``field`` (no relationship paths in a sort)."""
    if field not in mapper.column_attrs:
        raise UnknownFieldError(field, mapper.class_.__name__)
    return getattr(mapper.class_, field)


def nullable(mapper: Mapper[Any], field: str) -> bool:
    """Whether the column under ``field`` may hold NULL."""
    return bool(mapper.column_attrs[field].columns[0].nullable)


def sort_columns(
    mapper: Mapper[Any], sort: tuple[SortField, ...]
) -> list[UnaryExpression[Any] | ColumnElement[Any]]:
    """ORDER BY clauses for ``sort``, NULLs placed as `SortField` documents."""
    clauses: list[UnaryExpression[Any] | ColumnElement[Any]] = []
    for key in sort:
        column = column_of(mapper, key.field)
        if key.descending:
            clause = column.desc().nulls_first() if nullable(mapper, key.field) else column.desc()
        else:
            clause = column.asc().nulls_last() if nullable(mapper, key.field) else column.asc()
        clauses.append(clause)
    return clauses
