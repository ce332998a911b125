"""Entities read on a Core connection: the repository's read path, without a session per call.

A repository returns detached entities with every column loaded. For a plain mapping (one table, no
inheritance, no deferred or computed column attributes, no ``load``/``refresh`` listeners such as a
``@reconstructor``) that is what the ORM's loading produces from a row, so the repository selects
the table's columns on a connection and builds each entity from its row: a new instance, its
attributes set, its identity key given. That skips the session, its identity map and the ORM's
compile step for every read; other mappings keep the ORM's own loading (`Loader.orm` is ``False``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import Column, Select, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.orm.attributes import instance_state

__all__ = ["Loader"]


def _plain_columns(mapper: Mapper[Any]) -> tuple[tuple[str, Column[Any]], ...] | None:
    """(attribute, column) per column attribute, or ``None`` when only the ORM loads this mapping."""
    if mapper.inherits is not None or mapper.polymorphic_on is not None or mapper.with_polymorphic:
        return None
    dispatch = mapper.class_manager.dispatch
    if dispatch.load or dispatch.refresh:
        return None
    pairs: list[tuple[str, Column[Any]]] = []
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or prop.deferred or len(prop.columns) != 1:
            return None
        column = prop.columns[0]
        if not isinstance(column, Column) or column.table is not mapper.local_table:
            return None
        pairs.append((prop.key, column))
    return tuple(pairs)


class Loader[T]:
    """How one mapped class's entities are selected and built from rows.

    Args:
        mapper: The class's mapper.
        pk: The primary key's attribute name.
    """

    __slots__ = ("_dict", "_identity", "_keys", "_new", "_pk_index", "columns", "orm")

    def __init__(self, mapper: Mapper[T], pk: str) -> None:
        pairs = _plain_columns(mapper)
        self.orm: Final = pairs is None
        self.columns: Final[tuple[Column[Any], ...]] = tuple(column for _, column in pairs or ())
        self._keys = tuple(key for key, _ in pairs or ())
        self._pk_index = self._keys.index(pk) if pairs else -1
        self._new = mapper.class_manager.new_instance
        self._dict = mapper.class_manager.dict_getter()
        self._identity = mapper.identity_key_from_primary_key

    def select(self, model: type[T]) -> Select[Any]:
        """A SELECT of the entity: its columns on the fast path, the ORM entity otherwise."""
        return select(*self.columns) if not self.orm else select(model)

    def entity(self, row: Row[Any]) -> T:
        """The detached entity of ``row`` (a row of `select`'s columns)."""
        instance = self._new()
        self._dict(instance).update(zip(self._keys, row, strict=True))
        instance_state(instance).key = self._identity((row[self._pk_index],))
        return instance

    def entities(self, rows: Iterable[Row[Any]]) -> list[T]:
        """The detached entities of ``rows``."""
        return [self.entity(row) for row in rows]
