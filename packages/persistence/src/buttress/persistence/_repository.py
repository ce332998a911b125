"""`SqlAlchemyRepository`: mapped entities with soft delete, optimistic locking and specifications."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.sqltypes import BigInteger, DateTime, Integer

from buttress.core import MAX_COUNT, Clock, SystemClock, check_count

from ._cursor import CursorCodec, CursorPosition, fingerprint
from ._errors import driver_cause, sqlstate
from ._loading import Loader
from ._metrics import CONFLICTS, OPERATION_DURATION, TELEMETRY, Operation
from ._pagination import MAX_OFFSET, MAX_PER_PAGE, Page, keyset_condition
from ._query import ListQuery
from ._session import DatabaseSession
from ._sort import SortField, sort_columns
from ._specification import Specification, _mapper, _python_type
from .exceptions import (
    EntityExistsError,
    EntityNotFoundError,
    InvalidCursorError,
    PersistenceConfigurationError,
    PersistenceTypeError,
    VersionConflictError,
)

__all__ = ["SqlAlchemyRepository"]

_UNIQUE_SQLSTATE: Final = "23505"
_SQLITE_UNIQUE: Final = frozenset({"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})


def _is_duplicate(error: sa_exc.IntegrityError) -> bool:
    if sqlstate(error) == _UNIQUE_SQLSTATE:
        return True
    return getattr(driver_cause(error), "sqlite_errorname", None) in _SQLITE_UNIQUE or (
        "UNIQUE constraint failed" in str(driver_cause(error))
    )


def _check_column(mapper: Mapper[Any], parameter: str, name: object, kind: type) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise PersistenceTypeError(parameter, "a column attribute's name or None", name)
    if name not in mapper.column_attrs:
        raise PersistenceConfigurationError(parameter, name, f"is not a column of {mapper.class_.__name__}")
    column_type = mapper.column_attrs[name].columns[0].type
    if not isinstance(column_type, kind):
        raise PersistenceConfigurationError(parameter, name, f"must be a {kind.__name__} column")
    return name


class SqlAlchemyRepository[T, ID: Hashable]:
    """Entities of one mapped class, stored through a `DatabaseSession`; implements core `AsyncRepository`.

    Each call runs in its own transaction. Entities you pass in are never attached to a session (their
    column values are read and written with Core statements), so the same object can be added,
    updated and compared freely; entities returned are detached copies with every column loaded.
    Reads of a plain mapping (one table, no inheritance, no deferred column, no ``load`` listener)
    run on a Core connection and build those entities from the rows; other mappings are read
    through an ORM session.

    Args:
        database: Where the entities live.
        model: A mapped class with a single-column primary key (its attribute is ``id`` for the core
            `Identifiable` Protocol, or any other name).
        soft_delete: The name of a nullable ``DateTime`` column: `delete` sets it instead of removing
            the row, and deleted entities are hidden from every read unless asked for.
        version: The name of an ``Integer`` column for optimistic locking: `add` sets it to 1, each
            write adds 1, and `update` refuses an entity whose version is not the stored one.
        clock: Where `delete` reads the time for ``soft_delete`` (core `Clock`).

    Raises:
        PersistenceTypeError: ``database`` is not a `DatabaseSession` or ``model`` not a mapped class.
        PersistenceConfigurationError: A composite primary key, or a ``soft_delete``/``version`` name
            that is not a column of the right type.
    """

    __slots__ = (
        "_by_id",
        "_clock",
        "_database",
        "_kind",
        "_listing",
        "_loader",
        "_mapper",
        "_model",
        "_pk",
        "_pk_type",
        "_soft_delete",
        "_table",
        "_version",
    )

    def __init__(
        self,
        database: DatabaseSession,
        model: type[T],
        *,
        soft_delete: str | None = None,
        version: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(database, DatabaseSession):
            raise PersistenceTypeError("database", "a DatabaseSession", database)
        mapper = _mapper(model)
        if len(mapper.primary_key) != 1:
            raise PersistenceConfigurationError(
                "model", mapper.class_.__name__, "must have a single-column primary key"
            )
        self._database = database
        self._model = model
        self._mapper = mapper
        self._table = cast("Table", mapper.local_table)
        self._kind = mapper.class_.__name__
        self._pk: str = mapper.get_property_by_column(mapper.primary_key[0]).key
        self._soft_delete = _check_column(mapper, "soft_delete", soft_delete, DateTime)
        self._version = _check_column(mapper, "version", version, Integer)
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise PersistenceTypeError("clock", "a Clock (an object with now())", clock)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._pk_type = _python_type(mapper.column_attrs[self._pk].columns[0])
        self._loader: Loader[T] = Loader(mapper, self._pk)
        # The statements every get and list sends, built once: only their parameters change.
        by_pk = sort_columns(mapper, (SortField(self._pk),))
        self._by_id = {
            hidden: self._select(self._column(self._pk) == bindparam("id"), hidden)
            for hidden in (False, True)
        }
        self._listing = {
            hidden: self._select(true(), hidden)
            .order_by(*by_pk)
            .limit(bindparam("limit", type_=BigInteger))
            .offset(bindparam("offset", type_=BigInteger))
            for hidden in (False, True)
        }

    @property
    def model(self) -> type[T]:
        """The mapped class."""
        return self._model

    # --- helpers -------------------------------------------------------------------------------------

    @contextmanager
    def _operation(self, name: Operation) -> Iterator[None]:
        attributes = {"persistence.operation": name}
        start = time.perf_counter()
        with TELEMETRY.span(f"persistence {name}", attributes):
            try:
                yield
            finally:
                OPERATION_DURATION.record(time.perf_counter() - start, attributes)

    def _column(self, name: str) -> Any:  # noqa: ANN401 - a mapped column attribute
        return getattr(self._model, name)

    def _live(self, include_deleted: bool = False) -> ColumnElement[bool]:
        if self._soft_delete is None or include_deleted:
            return true()
        return cast("ColumnElement[bool]", self._column(self._soft_delete).is_(None))

    def _entity(self, entity: object) -> T:
        if not isinstance(entity, self._mapper.class_):
            raise PersistenceTypeError("entity", f"a {self._kind}", entity)
        return cast("T", entity)

    def _id(self, value: object) -> ID:
        if value is None or not isinstance(value, Hashable):
            raise PersistenceTypeError("id", "a primary key value", value)
        if isinstance(value, bool) or (isinstance(value, int) and not -MAX_COUNT - 1 <= value <= MAX_COUNT):
            raise PersistenceConfigurationError("id", value, "is not a primary key value this table can hold")
        python_type = self._pk_type
        if python_type is not None and not isinstance(value, python_type):
            raise PersistenceTypeError("id", f"a {python_type.__name__}", value)
        return cast("ID", value)

    def _flag(self, name: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise PersistenceTypeError(name, "a bool", value)
        return value

    def _values(self, entity: object) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for prop in self._mapper.column_attrs:
            value = getattr(entity, prop.key, None)
            column = prop.columns[0]
            if value is None and (column.default is not None or column.server_default is not None):
                continue
            if value is None and prop.key == self._pk:
                continue
            values[column.key] = value
        return values

    def _now(self) -> datetime:
        assert self._soft_delete is not None  # noqa: S101 - only called with soft delete on
        now = self._clock.now()
        column_type = self._mapper.column_attrs[self._soft_delete].columns[0].type
        if not getattr(column_type, "timezone", False):
            return now.astimezone(UTC).replace(tzinfo=None)
        return now

    def _where(self, spec: Specification[T] | None) -> ColumnElement[bool]:
        if spec is None:
            return true()
        if not isinstance(spec, Specification):
            raise PersistenceTypeError("spec", "a Specification or None", spec)
        return spec.to_sql_condition(self._model)

    def _select(self, where: ColumnElement[bool], include_deleted: bool) -> Select[Any]:
        return self._loader.select(self._model).where(where, self._live(include_deleted))

    async def _read(self, statement: Select[Any], parameters: Mapping[str, object] | None = None) -> list[T]:
        """The entities ``statement`` (from `_select`) selects, in one transaction."""
        if self._loader.orm:
            async with self._database.session() as session:
                return list((await session.execute(statement, parameters)).scalars().all())
        async with self._database.connection() as connection:
            rows = (await connection.execute(statement, parameters)).all()
        return self._loader.entities(rows)

    def _sort(self, order_by: Iterable[SortField | str]) -> tuple[SortField, ...]:
        if isinstance(order_by, str) or not isinstance(order_by, Iterable):
            raise PersistenceTypeError("order_by", "a sequence of SortField or 'field'/'-field'", order_by)
        keys = tuple(key if isinstance(key, SortField) else SortField.parse(key) for key in order_by)
        if all(key.field != self._pk for key in keys):
            keys = (*keys, SortField(self._pk))
        return keys

    # --- AsyncRepository -----------------------------------------------------------------------------

    async def get(self, id: ID, *, include_deleted: bool = False) -> T | None:
        """The entity with this id, or ``None`` (also for a soft-deleted one, unless ``include_deleted``)."""
        key = self._id(id)
        self._flag("include_deleted", include_deleted)
        with self._operation("get"):
            found = await self._read(self._by_id[include_deleted], {"id": key})
        return found[0] if found else None

    async def add(self, entity: T) -> None:
        """Store a new entity; its version (if versioned) is set to 1 on the object you passed.

        Raises:
            EntityExistsError: An entity with this id (soft-deleted or not) or another unique value is
                stored already.
        """
        await self.add_many([entity], _operation="add")

    async def add_many(self, entities: Iterable[T], *, _operation: Operation = "add_many") -> None:
        """Store new entities in one statement, all or none.

        Raises:
            EntityExistsError: One of them clashes with a stored entity or another of them.
        """
        if isinstance(entities, str | bytes) or not isinstance(entities, Iterable):
            raise PersistenceTypeError("entities", "an iterable of entities", entities)
        batch = [self._entity(entity) for entity in entities]
        if not batch:
            return
        rows = [self._values(entity) for entity in batch]
        if self._version is not None:
            for row in rows:
                row[self._mapper.column_attrs[self._version].columns[0].key] = 1
        pk_column = self._mapper.column_attrs[self._pk].columns[0]
        with self._operation(_operation):
            async with self._database.session() as session:
                try:
                    if any(pk_column.key not in row for row in rows):
                        for entity, row in zip(batch, rows, strict=True):
                            new_id = (
                                await session.execute(insert(self._table).values(row).returning(pk_column))
                            ).scalar_one()
                            setattr(entity, self._pk, new_id)
                    else:
                        await session.execute(insert(self._table), rows)
                except sa_exc.IntegrityError as exc:
                    if not _is_duplicate(exc):
                        raise
                    CONFLICTS.add(1, {"persistence.conflict": "exists"})
                    key = getattr(batch[0], self._pk) if len(batch) == 1 else "one of the entities"
                    raise EntityExistsError(self._kind, key, "is stored already") from exc
        if self._version is not None:
            for entity in batch:
                setattr(entity, self._version, 1)

    async def update(self, entity: T) -> None:
        """Replace the stored entity that has this entity's id (a live one).

        With a version column, the write happens only if the stored version is the entity's; the
        entity's version is then raised by one.

        Raises:
            EntityNotFoundError: No live entity has this id.
            VersionConflictError: Another writer changed the entity since it was read.
        """
        entity = self._entity(entity)
        key = self._id(getattr(entity, self._pk))
        values = self._values(entity)
        pk_key = self._mapper.column_attrs[self._pk].columns[0].key
        values.pop(pk_key, None)
        if self._soft_delete is not None:
            values.pop(self._mapper.column_attrs[self._soft_delete].columns[0].key, None)
        conditions = [self._column(self._pk) == key, self._live()]
        expected: int | None = None
        if self._version is not None:
            found = getattr(entity, self._version)
            if found is not None and (isinstance(found, bool) or not isinstance(found, int)):
                raise PersistenceTypeError(self._version, "an int or None", found)
            expected = found
            # An entity never read from the store has no version: it can only be refused.
            conditions.append(self._column(self._version) == expected if expected is not None else false())
            values[self._mapper.column_attrs[self._version].columns[0].key] = (expected or 0) + 1
        with self._operation("update"):
            async with self._database.session() as session:
                result = await session.execute(update(self._table).where(*conditions).values(values))
                if _rowcount(result) == 0:
                    await self._refuse(session, key, expected)
        if self._version is not None and expected is not None:
            setattr(entity, self._version, expected + 1)

    async def _refuse(self, session: Any, key: ID, expected: int | None) -> None:  # noqa: ANN401 - AsyncSession
        columns = [self._column(self._pk)]
        if self._version is not None:
            columns.append(self._column(self._version))
        row = (
            await session.execute(select(*columns).where(self._column(self._pk) == key, self._live()))
        ).first()
        if row is None:
            raise EntityNotFoundError(self._kind, key)
        CONFLICTS.add(1, {"persistence.conflict": "version"})
        raise VersionConflictError(self._kind, key, expected=expected, actual=row[1])

    async def delete(self, id: ID, *, hard: bool = False) -> bool:
        """Delete the entity; return whether a live one was there.

        With ``soft_delete`` the row is kept and marked (and its version raised); ``hard=True``
        removes it (a soft-deleted row too).
        """
        key = self._id(id)
        self._flag("hard", hard)
        where = self._column(self._pk) == key
        with self._operation("delete"):
            return await self._delete_rows(where, hard=hard, count_deleted=hard) > 0

    async def restore(self, id: ID) -> bool:
        """Undo a soft delete; return whether a deleted entity was there.

        Raises:
            PersistenceConfigurationError: The repository has no ``soft_delete`` column.
        """
        key = self._id(id)
        if self._soft_delete is None:
            raise PersistenceConfigurationError(
                "soft_delete", None, "is not set: there is nothing to restore"
            )
        values: dict[str, Any] = {self._soft_delete: None}
        if self._version is not None:
            values[self._version] = self._column(self._version) + 1
        with self._operation("restore"):
            async with self._database.session() as session:
                statement = (
                    update(self._model)
                    .where(self._column(self._pk) == key, self._column(self._soft_delete).is_not(None))
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
                return _rowcount(await session.execute(statement)) > 0

    async def list(self, *, limit: int = 100, offset: int = 0, include_deleted: bool = False) -> Sequence[T]:
        """At most ``limit`` entities after skipping ``offset``, by primary key.

        Raises:
            PersistenceConfigurationError: ``limit`` below 1 or ``offset`` below 0.
        """
        return await self.find(
            None, limit=limit, offset=offset, include_deleted=include_deleted, _operation="list"
        )

    # --- specifications --------------------------------------------------------------------------------

    async def find(
        self,
        spec: Specification[T] | None = None,
        *,
        order_by: Iterable[SortField | str] = (),
        limit: int = 100,
        offset: int = 0,
        include_deleted: bool = False,
        _operation: Operation = "find",
    ) -> Sequence[T]:
        """The entities that satisfy ``spec`` (all when ``None``), sorted, the primary key last.

        Raises:
            PersistenceConfigurationError: ``limit`` below 1 or ``offset`` below 0, or a bad sort.
            UnknownFieldError: ``spec`` or ``order_by`` names a field the model lacks.
        """
        limit = check_count("limit", limit, minimum=1, error=PersistenceConfigurationError)
        offset = check_count("offset", offset, error=PersistenceConfigurationError)
        self._flag("include_deleted", include_deleted)
        keys = self._sort(order_by)
        if spec is None and keys == (SortField(self._pk),):
            statement, parameters = self._listing[include_deleted], {"limit": limit, "offset": offset}
        else:
            where = self._where(spec)
            order = sort_columns(self._mapper, keys)
            statement = self._select(where, include_deleted).order_by(*order).limit(limit).offset(offset)
            parameters = None
        with self._operation(_operation):
            return await self._read(statement, parameters)

    async def count(self, spec: Specification[T] | None = None, *, include_deleted: bool = False) -> int:
        """How many entities satisfy ``spec`` (all when ``None``)."""
        self._flag("include_deleted", include_deleted)
        where = self._where(spec)
        with self._operation("count"):
            statement = (
                select(func.count()).select_from(self._model).where(where, self._live(include_deleted))
            )
            async with self._database.session() as session:
                return int((await session.execute(statement)).scalar_one())

    async def delete_where(self, spec: Specification[T], *, hard: bool = False) -> int:
        """Delete every live entity that satisfies ``spec`` (soft unless ``hard``); return how many."""
        self._flag("hard", hard)
        if spec is None:
            raise PersistenceTypeError("spec", "a Specification", spec)
        where = self._where(spec)
        with self._operation("delete_where"):
            return await self._delete_rows(where, hard=hard, count_deleted=False)

    async def _delete_rows(self, where: ColumnElement[bool], *, hard: bool, count_deleted: bool) -> int:
        async with self._database.session() as session:
            if self._soft_delete is None or hard:
                live = true() if count_deleted else self._live()
                statement: Any = delete(self._model).where(where, live)
            else:
                values: dict[str, Any] = {self._soft_delete: self._now()}
                if self._version is not None:
                    values[self._version] = self._column(self._version) + 1
                statement = update(self._model).where(where, self._live()).values(values)
            return _rowcount(await session.execute(statement.execution_options(synchronize_session=False)))

    async def update_where(self, spec: Specification[T], values: Mapping[str, object]) -> int:
        """Set ``values`` (column name -> value) on every live entity that satisfies ``spec``.

        The primary key, the version and the soft-delete column cannot be set this way; versions
        are raised by one.

        Raises:
            PersistenceConfigurationError: ``values`` is empty or names a column that cannot be set.
        """
        if spec is None:
            raise PersistenceTypeError("spec", "a Specification", spec)
        if not isinstance(values, Mapping):
            raise PersistenceTypeError("values", "a mapping of column names to values", values)
        if not values:
            raise PersistenceConfigurationError("values", values, "must name at least one column")
        reserved = {self._pk, self._version, self._soft_delete}
        for name in values:
            if not isinstance(name, str) or name not in self._mapper.column_attrs or name in reserved:
                raise PersistenceConfigurationError(
                    "values", name, f"is not a column of {self._kind} that can be set"
                )
        where = self._where(spec)
        changes: dict[str, Any] = dict(values)
        if self._version is not None:
            changes[self._version] = self._column(self._version) + 1
        with self._operation("update_where"):
            async with self._database.session() as session:
                statement = (
                    update(self._model)
                    .where(where, self._live())
                    .values(changes)
                    .execution_options(synchronize_session=False)
                )
                return _rowcount(await session.execute(statement))

    # --- pages -------------------------------------------------------------------------------------------

    async def page(
        self,
        spec: Specification[T] | None = None,
        *,
        order_by: Iterable[SortField | str] = (),
        per_page: int = 20,
        page: int = 1,
    ) -> Page[T]:
        """Page ``page`` (from 1) of the entities that satisfy ``spec``, by offset.

        A page past the end is empty, however large its number (past ``2**63 - 1`` rows no query is
        sent). Offset pages drift when rows are added or removed between requests; `page_after`
        does not.

        Raises:
            PersistenceConfigurationError: ``per_page`` outside 1..100 or ``page`` below 1.
        """
        per_page = check_count(
            "per_page", per_page, minimum=1, maximum=MAX_PER_PAGE, error=PersistenceConfigurationError
        )
        page = check_count("page", page, minimum=1, error=PersistenceConfigurationError)
        offset = (page - 1) * per_page
        keys = self._sort(order_by)
        where = self._where(spec)
        if offset > MAX_OFFSET:
            return Page(items=[], per_page=per_page, page=page)
        with self._operation("page"):
            statement = (
                self._select(where, False)
                .order_by(*sort_columns(self._mapper, keys))
                .limit(per_page + 1)
                .offset(offset)
            )
            rows = await self._read(statement)
        return Page(items=rows[:per_page], per_page=per_page, page=page, has_next=len(rows) > per_page)

    def query_fingerprint(self, spec: Specification[T] | None, order_by: Iterable[SortField | str]) -> str:
        """The fingerprint cursors of this filter and sort are bound to."""
        keys = self._sort(order_by)
        return fingerprint([self._kind, repr(spec), ",".join(map(str, keys))])

    async def page_after(
        self,
        spec: Specification[T] | None = None,
        *,
        cursors: CursorCodec,
        order_by: Iterable[SortField | str] = (),
        per_page: int = 20,
        cursor: str | CursorPosition | None = None,
    ) -> Page[T]:
        """The page after ``cursor`` (the first page without one), by keyset.

        Rows are ordered by ``order_by`` then the primary key, so no row is skipped or repeated when
        sort values tie, and rows inserted or deleted between requests never shift the rows that
        stay. ``next_cursor`` of the result asks for the following page.

        Raises:
            InvalidCursorError: ``cursor`` is forged, garbled or from another filter or sort.
            PersistenceConfigurationError: ``per_page`` outside 1..100.
        """
        if not isinstance(cursors, CursorCodec):
            raise PersistenceTypeError("cursors", "a CursorCodec", cursors)
        per_page = check_count(
            "per_page", per_page, minimum=1, maximum=MAX_PER_PAGE, error=PersistenceConfigurationError
        )
        keys = self._sort(order_by)
        query = self.query_fingerprint(spec, keys)
        position: CursorPosition | None
        if cursor is None or isinstance(cursor, CursorPosition):
            position = cursor
        else:
            position = cursors.decode(cursor, query=query)
        if position is not None and (position.query != query or len(position.values) != len(keys)):
            raise InvalidCursorError("was made for another filter or sort; start again from the first page")
        where = self._where(spec)
        if position is not None:
            where = where & keyset_condition(self._mapper, keys, position.values)
        with self._operation("page"):
            statement = (
                self._select(where, False).order_by(*sort_columns(self._mapper, keys)).limit(per_page + 1)
            )
            rows = await self._read(statement)
        items = rows[:per_page]
        has_next = len(rows) > per_page
        next_cursor = None
        if has_next:
            last = items[-1]
            values = tuple(getattr(last, key.field) for key in keys)
            next_cursor = cursors.encode(CursorPosition(values, query))
        return Page(items=items, per_page=per_page, has_next=has_next, next_cursor=next_cursor)

    async def fetch(self, query: ListQuery, *, cursors: CursorCodec | None = None) -> Page[T]:
        """The page a client's `ListQuery` asks for: by number, or after its cursor.

        Raises:
            InvalidCursorError: The query's cursor is forged, garbled or from another query.
            PersistenceConfigurationError: A cursor query without ``cursors``.
        """
        if not isinstance(query, ListQuery):
            raise PersistenceTypeError("query", "a ListQuery", query)
        if query.page is not None:
            return await self.page(query.where, order_by=query.sort, per_page=query.per_page, page=query.page)
        if cursors is None:
            raise PersistenceConfigurationError("cursors", None, "is needed to page by cursor")
        return await self.page_after(
            query.where, cursors=cursors, order_by=query.sort, per_page=query.per_page, cursor=query.cursor
        )

    def __repr__(self) -> str:
        return f"SqlAlchemyRepository({self._kind}, {self._database!r})"


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) else 0
