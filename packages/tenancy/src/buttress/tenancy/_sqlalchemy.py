"""`SqlAlchemyTenancy`: both enforcement layers for SQLAlchemy 2 sessions (extra ``sqlalchemy``).

The application layer hooks the session: ``do_orm_execute`` adds ``with_loader_criteria`` for every
tenant model to each ORM SELECT, UPDATE and DELETE (SQLAlchemy carries it into joined eager loads,
``has()``/``any()`` subqueries, aliases and later lazy loads), tags ORM inserts and refuses the
Core and ``text()`` statements it cannot scope; ``before_flush`` tags new objects and refuses writes
to another tenant's. The database layer sets the tenant for each transaction in ``after_begin``
with ``set_config(..., true)``, for the row-level security policies to read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from ._context import _peek
from ._metrics import refused
from ._rls import (
    DEFAULT_SETTING,
    ROLE_QUERY,
    TABLE_QUERY,
    RoleFacts,
    TableFacts,
    check_column,
    check_setting,
    check_tables,
    judge_connection,
)
from .exceptions import (
    CrossTenantError,
    MissingExtraError,
    NoTenantError,
    TenancyTypeError,
    TenancyUnavailableError,
    UnsafeConnectionError,
    UnscopedStatementError,
)

try:
    from sqlalchemy import Table, event, func, inspect, select, text
    from sqlalchemy import __version__ as _sqlalchemy_version
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from sqlalchemy.orm import (
        DeclarativeBase,
        Mapper,
        ORMExecuteState,
        Session,
        registry,
        with_loader_criteria,
    )
    from sqlalchemy.orm import UOWTransaction as _Flush
    from sqlalchemy.orm import exc as orm_exc
    from sqlalchemy.sql import visitors
    from sqlalchemy.sql.elements import BindParameter, TextClause
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("SqlAlchemyTenancy", "sqlalchemy") from exc


def _supported(version: str) -> bool:
    """Whether SQLAlchemy ``version`` scopes what the application layer needs (2.1 or later).

    On 2.0, ``with_loader_criteria`` does not reach the ``EXISTS`` of a relationship's
    ``any()``/``has()``: a tenant would see another tenant's rows through them. The extra asks for
    2.1; this refuses an older SQLAlchemy installed some other way.
    """
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (2, 1)
    except (IndexError, ValueError):
        return False


if not _supported(_sqlalchemy_version):  # pragma: no cover - the suite runs on a supported one
    raise MissingExtraError("SqlAlchemyTenancy (SQLAlchemy 2.1 or later)", "sqlalchemy")

__all__ = ["SAFE_OPTION", "SqlAlchemyTenancy", "tenant_safe"]

logger = logging.getLogger(__name__)

SAFE_OPTION: Final = "buttress_tenant_safe"
"""The execution option `tenant_safe` sets: the statement was scoped by hand."""


def tenant_safe[S](statement: S) -> S:
    """Mark a Core or ``text()`` statement as scoped by hand, so the application layer lets it through.

    Mark only what filters (or tags) the tenant column itself; row-level security still binds it in
    the database::

        stmt = tenant_safe(text("SELECT count(*) FROM orders WHERE tenant_id = :t").bindparams(t=tenant))

    Raises:
        TenancyTypeError: ``statement`` takes no execution options (it is not a SQLAlchemy statement).
    """
    options = getattr(statement, "execution_options", None)
    if not callable(options):
        raise TenancyTypeError("statement", "a SQLAlchemy statement", statement)
    marked: S = options(**{SAFE_OPTION: True})
    return marked


class SqlAlchemyTenancy:
    """Tenant isolation for SQLAlchemy sessions: the application layer and the database layer.

    Make one per application and use its `session_class` (or `sessionmaker`); the events listen on
    that class only, so other sessions of the process are untouched::

        tenancy = SqlAlchemyTenancy(Base)                # every mapped class with a tenant_id column
        Session = tenancy.sessionmaker(engine)
        await tenancy.check(engine)                      # the startup guard
        async with tenant_scope("acme"), Session() as session, session.begin():
            orders = (await session.scalars(select(Order))).all()   # acme's orders only
            session.add(Order(total=10))                            # tagged tenant_id="acme"

    Args:
        base: The declarative base (or its ``registry``) whose mapped classes hold the tenant models:
            those whose table has ``column``.
        column: The tenant column.
        setting: The PostgreSQL setting the row-level security policies read (`DEFAULT_SETTING`).
        application_layer: Whether to scope ORM statements, tag inserts and refuse what cannot be
            scoped (``True``; turn it off only to measure it).
        database_layer: Whether to set the tenant per transaction for row-level security (``True``;
            turn it off on a database without the policies, SQLite say).

    Raises:
        TenancyTypeError: ``base`` is neither a declarative base nor a registry, or a flag not a bool.
        TenancyConfigurationError: A malformed column or setting name.
    """

    __slots__ = ("_base", "_key", "_models", "_seen", "column", "database_layer", "session_class", "setting")

    def __init__(
        self,
        base: type[DeclarativeBase] | registry,
        *,
        column: str = "tenant_id",
        setting: str = DEFAULT_SETTING,
        application_layer: bool = True,
        database_layer: bool = True,
    ) -> None:
        if isinstance(base, registry):
            self._base = base
        elif isinstance(base, type) and isinstance(getattr(base, "registry", None), registry):
            self._base = base.registry
        else:
            raise TenancyTypeError("base", "a declarative base class or a registry", base)
        self.column = check_column(column)
        self.setting = check_setting(setting)
        for name, flag in (("application_layer", application_layer), ("database_layer", database_layer)):
            if not isinstance(flag, bool):
                raise TenancyTypeError(name, "a bool", flag)
        self.database_layer = database_layer
        self._models: dict[type[Any], str] = {}
        self._seen = -1
        self.session_class: type[Session] = (
            _scoped_session_class(self) if application_layer else type("TenantSession", (Session,), {})
        )
        """A ``Session`` subclass with the layers installed (pass it as ``sync_session_class``)."""
        if database_layer:
            event.listen(self.session_class, "after_begin", self._after_begin)
        if application_layer:
            event.listen(self.session_class, "do_orm_execute", self._do_orm_execute)
            event.listen(self.session_class, "before_flush", self._before_flush)

    def sessionmaker(self, engine: AsyncEngine, **options: Any) -> async_sessionmaker[AsyncSession]:  # noqa: ANN401
        """An ``async_sessionmaker`` on ``engine`` whose sessions run `session_class`.

        Raises:
            TenancyTypeError: ``engine`` is not an ``AsyncEngine``.
        """
        if not isinstance(engine, AsyncEngine):
            raise TenancyTypeError("engine", "an sqlalchemy AsyncEngine", engine)
        return async_sessionmaker(engine, sync_session_class=self.session_class, **options)

    @property
    def models(self) -> Mapping[type[Any], str]:
        """The tenant models, each with the attribute that maps the tenant column."""
        mappers = self._base.mappers
        if len(mappers) != self._seen:
            self._models = {
                mapper.class_: attribute
                for mapper in mappers
                if (attribute := self._attribute(mapper)) is not None
            }
            self._seen = len(mappers)
        return self._models

    def _attribute(self, mapper: Mapper[Any]) -> str | None:
        table = mapper.local_table
        column = table.c.get(self.column) if isinstance(table, Table) else None
        if column is None:
            return None
        return mapper.get_property_by_column(column).key

    def _tenant_tables(self) -> frozenset[Table]:
        tables = (model.__table__ for model in self.models)
        return frozenset(table for table in tables if isinstance(table, Table))

    async def check(self, engine: AsyncEngine) -> None:
        """The startup guard on ``engine``: refuse a role that row-level security would not bind.

        Raises:
            UnsafeConnectionError: As `PostgresTenancy.check`.
            TenancyConfigurationError: A tenant table does not exist, or there is no tenant model.
            TenancyTypeError: ``engine`` is not an ``AsyncEngine``.
            TenancyUnavailableError: The database cannot be reached.
        """
        if not isinstance(engine, AsyncEngine):
            raise TenancyTypeError("engine", "an sqlalchemy AsyncEngine", engine)
        wanted = check_tables(sorted(table.fullname for table in self._tenant_tables()))
        role_query = text(ROLE_QUERY.replace("$1", ":setting"))
        table_query = text(TABLE_QUERY.replace("$1::text[]", "CAST(:tables AS text[])"))
        address = engine.url.render_as_string(hide_password=True)
        try:
            async with engine.connect() as connection:
                role = (await connection.execute(role_query, {"setting": self.setting})).one()
                rows = (await connection.execute(table_query, {"tables": [t.sql for t in wanted]})).all()
        except (OSError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise TenancyUnavailableError("postgresql", address, type(exc).__name__) from exc
        facts = RoleFacts(str(role[0]), bool(role[1]), bool(role[2]), role[3])
        tables = [TableFacts(str(row[0]), bool(row[1]), bool(row[2]), bool(row[3])) for row in rows]
        try:
            judge_connection(facts, tables, wanted, self.setting)
        except UnsafeConnectionError as exc:
            refused("unsafe_connection")
            logger.error("refused the database role: %s", exc.reason, extra={"role": exc.role})  # noqa: TRY400
            raise

    def bind_engine(self, engine: AsyncEngine) -> None:
        """Set the tenant at the start of every transaction on ``engine``, whatever runs it.

        For sessions that are not `session_class` ones (buttress-persistence's ``DatabaseSession``,
        a framework's) and for Core connections. Inside a tenant scope each transaction begins with
        ``set_config(setting, tenant, true)``; outside one nothing is set, so the policies show no
        row and accept none. The application layer still needs `session_class`.

        Raises:
            TenancyTypeError: ``engine`` is not an ``AsyncEngine``.
        """
        if not isinstance(engine, AsyncEngine):
            raise TenancyTypeError("engine", "an sqlalchemy AsyncEngine", engine)
        event.listen(engine.sync_engine, "begin", self._engine_begin)

    def _engine_begin(self, connection: Any) -> None:  # noqa: ANN401 - SQLAlchemy's Connection
        tenant = _peek()
        if tenant is None:
            return
        # The transaction is being opened: statements cannot go through the Connection yet, so the
        # call goes to the driver's cursor, inside the transaction the driver starts for it. Both
        # values are checked (a setting name; a tenant id of letters, digits and ._:@-).
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(f"SELECT set_config('{self.setting}', '{tenant}', true)")
        finally:
            cursor.close()

    # --- the database layer -------------------------------------------------------------------------

    def _after_begin(self, session: Session, transaction: object, connection: Any) -> None:  # noqa: ANN401
        tenant = _require("a database transaction")
        if self._sets_on_begin(connection):
            return  # a TenantConnection sent the setting with its BEGIN
        connection.execute(select(func.set_config(self.setting, tenant, True)))

    def _sets_on_begin(self, connection: Any) -> bool:  # noqa: ANN401 - SQLAlchemy's Connection
        driver = getattr(connection.connection, "driver_connection", None)
        setting = getattr(type(driver), "setting", None)
        return setting == self.setting and hasattr(type(driver), "_buttress_tenant_begin")

    # --- the application layer ----------------------------------------------------------------------

    def _do_orm_execute(self, state: ORMExecuteState) -> Any:  # noqa: ANN401 - what SQLAlchemy takes back
        if state.execution_options.get(SAFE_OPTION) is True:
            return None
        statement = state.statement
        if not state.is_orm_statement or state.is_from_statement:
            self._refuse_unscoped(statement)
            return None
        if state.is_column_load or state.is_relationship_load:
            return None  # the criteria travel with the objects from the statement that loaded them
        models = self.models
        if not models:
            return None
        tenant = _require("an ORM statement on tenant models")
        if state.is_insert:
            return self._insert(state, tenant, models)
        if state.is_update:
            self._check_update_values(state, tenant, models)
        criteria = [
            with_loader_criteria(model, getattr(model, attribute) == tenant, include_aliases=True)
            for model, attribute in models.items()
        ]
        state.statement = statement.options(*criteria)
        return None

    def _visible[O](self, obj: O) -> O | None:
        """``obj`` if it is not a tenant model's or belongs to the current tenant, else ``None``."""
        attribute = self.models.get(type(obj))
        if attribute is None:
            return obj
        tenant = _require("session.get() of a tenant model")
        owner = inspect(obj).dict.get(attribute, _UNLOADED)
        if owner is _UNLOADED:
            try:
                owner = getattr(obj, attribute)  # a refresh, through a scoped statement
            except orm_exc.ObjectDeletedError:
                return None
        return obj if owner == tenant else None

    def _refuse_unscoped(self, statement: object) -> None:
        if isinstance(statement, TextClause):
            refused("unscoped_statement")
            raise UnscopedStatementError("text()")
        tenant_tables = self._tenant_tables()
        named = sorted(
            {
                element.fullname
                for element in visitors.iterate(statement)  # type: ignore[arg-type]
                if isinstance(element, Table) and element in tenant_tables
            }
        )
        if named:
            refused("unscoped_statement")
            raise UnscopedStatementError("Core", tuple(named))

    def _entity(
        self, state: ORMExecuteState, models: Mapping[type[Any], str]
    ) -> tuple[type[Any], str] | None:
        mapper = state.bind_arguments.get("mapper")
        model = getattr(mapper, "class_", None)
        if model is None or model not in models:
            return None
        return model, models[model]

    def _insert(self, state: ORMExecuteState, tenant: str, models: Mapping[type[Any], str]) -> Any:  # noqa: ANN401
        entity = self._entity(state, models)
        if entity is None:
            return None
        model, attribute = entity
        table = model.__table__.fullname
        parameters = state.parameters
        rows = parameters if isinstance(parameters, list) else [parameters] if parameters else []
        for row in rows:
            if isinstance(row, Mapping) and row.get(attribute, tenant) != tenant:
                _cross(tenant, table, "an insert names another tenant")
        statement = state.statement
        values = _statement_values(statement)
        if values is not None:
            bound = values.get(attribute, values.get(self.column))
            if bound is not None and _literal(bound) != tenant:
                _cross(tenant, table, "an insert names another tenant")
            if bound is None and not rows:
                state.statement = statement.values({attribute: tenant})  # type: ignore[attr-defined]
                return None
        if isinstance(parameters, list) and rows:
            return state.invoke_statement(params=[{attribute: tenant} for _ in rows])
        if rows:
            return state.invoke_statement(params={attribute: tenant})
        if values is None and getattr(statement, "_multi_values", False):
            _cross(tenant, table, "a multi-row VALUES insert cannot be tagged: pass the rows as parameters")
        return None

    def _check_update_values(
        self, state: ORMExecuteState, tenant: str, models: Mapping[type[Any], str]
    ) -> None:
        entity = self._entity(state, models)
        if entity is None:
            return
        model, attribute = entity
        table = model.__table__.fullname
        values = _statement_values(state.statement) or {}
        bound = values.get(attribute, values.get(self.column))
        if bound is not None and _literal(bound) != tenant:
            _cross(tenant, table, "an update would move rows to another tenant")
        parameters = state.parameters
        rows = parameters if isinstance(parameters, list) else [parameters] if parameters else []
        for row in rows:
            if isinstance(row, Mapping) and row.get(attribute, tenant) != tenant:
                _cross(tenant, table, "an update would move rows to another tenant")

    def _before_flush(self, session: Session, flush_context: _Flush, instances: object) -> None:
        models = self.models
        touched = [*session.new, *session.dirty, *session.deleted]
        if not any(type(obj) in models for obj in touched):
            return
        tenant = _require("a flush of tenant objects")
        for obj in session.new:
            attribute = models.get(type(obj))
            if attribute is None:
                continue
            owner = getattr(obj, attribute, None)
            if owner is None:
                setattr(obj, attribute, tenant)
            elif owner != tenant:
                _cross(tenant, type(obj).__table__.fullname, "a new object names another tenant")
        for obj in (*session.dirty, *session.deleted):
            attribute = models.get(type(obj))
            if attribute is None:
                continue
            history = _history(obj, attribute)
            owners = {*history.unchanged, *history.deleted, *history.added} - {None}
            if owners - {tenant}:
                _cross(tenant, type(obj).__table__.fullname, "the object belongs to another tenant")


_UNLOADED: Final = object()


def _scoped_session_class(tenancy: SqlAlchemyTenancy) -> type[Session]:
    class TenantSession(Session):
        """A session whose ``get()`` and ``get_one()`` find the current tenant's objects only.

        SQLAlchemy answers them from the identity map without SQL, where no statement criteria
        apply: an object loaded in one tenant scope is not found by id in another.
        """

        def get(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - Session.get's overloads
            found = super().get(*args, **kwargs)
            return None if found is None else tenancy._visible(found)

        def get_one(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - Session.get_one's
            found = self.get(*args, **kwargs)
            if found is None:
                raise sa_exc.NoResultFound("No row was found when one was required")
            return found

    return TenantSession


def _require(action: str) -> str:
    tenant = _peek()
    if tenant is None:
        refused("no_tenant")
        raise NoTenantError(action)
    return tenant


def _cross(tenant: str, table: str, reason: str) -> None:
    refused("cross_tenant")
    raise CrossTenantError(tenant, table, reason)


def _history(obj: object, attribute: str) -> Any:  # noqa: ANN401 - SQLAlchemy's History
    return inspect(obj).attrs[attribute].history


def _statement_values(statement: object) -> dict[str, Any] | None:
    """The ``.values(...)`` of an INSERT or UPDATE, by column key (``None`` when it has none)."""
    values = getattr(statement, "_values", None)
    if not values:
        return None
    found: dict[str, Any] = {}
    for key, value in values.items():
        name = key if isinstance(key, str) else getattr(key, "key", None)
        if isinstance(name, str):
            found[name] = value
    return found


def _literal(value: object) -> object:
    """A bound literal's value; anything else (an expression, a subquery) stands for itself."""
    if isinstance(value, BindParameter):
        return value.effective_value
    return value
