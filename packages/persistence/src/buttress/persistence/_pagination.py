"""Pages of entities: by offset, or after a cursor (keyset pagination) whose cost does not grow.

A keyset page asks for the rows strictly after the last row of the previous page in the sort order,
with the primary key as the final key so that rows with equal sort values are neither skipped nor
repeated (a cursor on a non-unique column alone does both). With an index on the sort columns, page
10,000 costs what page 1 costs; an offset page reads and throws away every row before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, false, or_, tuple_
from sqlalchemy.orm import Mapper

from ._sort import SortField, column_of, nullable

__all__ = ["MAX_OFFSET", "MAX_PER_PAGE", "Page", "keyset_condition"]

MAX_PER_PAGE: Final = 100
"""The most items one page may hold."""

MAX_OFFSET: Final = 2**63 - 1
"""The largest offset a database takes (a signed 64-bit integer); pages past it are empty."""


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of entities.

    Attributes:
        items: The entities, in the query's order.
        per_page: The most items a page holds.
        page: The page's number (from 1) for an offset page; ``None`` for a cursor page.
        has_next: Whether another page follows.
        next_cursor: The cursor of the next page (cursor pages with a next page only).
    """

    items: Sequence[T]
    per_page: int
    page: int | None = None
    has_next: bool = False
    next_cursor: str | None = None


def _after(column: Any, descending: bool, value: object, may_be_null: bool) -> ColumnElement[bool]:  # noqa: ANN401
    """Rows strictly after ``value`` in this column's order (NULLs last going up, first going down)."""
    condition: ColumnElement[bool]
    if not descending:
        if value is None:
            condition = false()
        else:
            condition = or_(column > value, column.is_(None)) if may_be_null else column > value
    else:
        condition = column.is_not(None) if value is None else column < value
    return condition


def _same(column: Any, value: object) -> ColumnElement[bool]:  # noqa: ANN401
    condition: ColumnElement[bool] = column.is_(None) if value is None else column == value
    return condition


def keyset_condition(
    mapper: Mapper[Any], keys: tuple[SortField, ...], values: tuple[object, ...]
) -> ColumnElement[bool]:
    """The rows after ``values`` (one per key) in the order of ``keys``.

    When every key goes the same way and no key column is nullable, this is one row-value comparison
    (``(a, b, id) > (:a, :b, :id)``), which an index on the keys answers directly.
    """
    columns = [column_of(mapper, key.field) for key in keys]
    nulls = [nullable(mapper, key.field) for key in keys]
    directions = {key.descending for key in keys}
    if len(directions) == 1 and not any(nulls) and None not in values:
        row, bound = tuple_(*columns), tuple_(*values)
        return row < bound if keys[0].descending else row > bound
    branches: list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal = [_same(columns[j], values[j]) for j in range(index)]
        branches.append(and_(*equal, _after(columns[index], key.descending, values[index], nulls[index])))
    return or_(*branches)
