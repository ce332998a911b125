"""`DatabaseSession`: an async engine, validated, and transactions that roll back before re-raising."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, Self

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from buttress.core import AsyncResource, Owned, check_count, check_seconds, check_text, redact_url

from ._errors import translated
from ._metrics import TELEMETRY, TRANSACTION_DURATION
from .exceptions import (
    MissingExtraError,
    PersistenceConfigurationError,
    PersistenceError,
    PersistenceTypeError,
)

__all__ = ["DatabaseSession"]

logger = logging.getLogger(__name__)

# Plain scheme -> the async driver this package installs through an extra, and that extra.
_ASYNC_DRIVERS: Final = {
    "postgresql": ("postgresql+asyncpg", "postgres"),
    "postgres": ("postgresql+asyncpg", "postgres"),
    "postgresql+asyncpg": ("postgresql+asyncpg", "postgres"),
    "sqlite": ("sqlite+aiosqlite", "sqlite"),
    "sqlite+aiosqlite": ("sqlite+aiosqlite", "sqlite"),
}
_COMMIT: Final = {"persistence.outcome": "commit"}
_ROLLBACK: Final = {"persistence.outcome": "rollback"}


def _parse_url(url: object) -> tuple[URL, str | None]:
    """The SQLAlchemy URL with its async driver, and the extra that installs the driver (if ours)."""
    text = check_text("url", url, show_value=False, error=PersistenceConfigurationError)
    if not text.strip():
        raise PersistenceConfigurationError("url", text, "must not be blank", show_value=False)
    try:
        parsed = make_url(text)
    except (sa_exc.ArgumentError, ValueError) as exc:
        reason = "is not a database URL such as postgresql://user@host/db or sqlite:///path.db"
        raise PersistenceConfigurationError("url", text, reason, show_value=False) from exc
    driver, extra = _ASYNC_DRIVERS.get(parsed.drivername, (parsed.drivername, None))
    return parsed.set(drivername=driver), extra


def _address(url: URL) -> str:
    """The URL as it may be shown: no password, no secret in its query string."""
    shown = url.render_as_string(hide_password=True)
    return redact_url(shown) if url.query else shown


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401 - the DB-API connection
    # LIKE is case-sensitive on PostgreSQL; SQLite's is not unless asked, and specifications must
    # select the same rows on both. Foreign keys are off in SQLite unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA case_sensitive_like = ON")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


class DatabaseSession(AsyncResource):
    """An async SQLAlchemy engine and the transactions run on it.

    Build it around an engine the application owns (never disposed here), or let `connect` open one
    from a URL (disposed by `aclose`)::

        db = await DatabaseSession.connect("postgresql://app@db/app", pool_size=10, max_overflow=5)
        async with db.session() as session:
            session.add(Order(id=1, total=10))
        # committed here; had the block raised, the transaction would have been rolled back first

    Args:
        engine: An ``AsyncEngine`` the application owns.
        expire_on_commit: Whether ORM objects are expired at commit (SQLAlchemy's default is ``True``;
            here ``False``, so entities stay readable after their session ends).

    Raises:
        PersistenceTypeError: ``engine`` is not an ``AsyncEngine`` or ``expire_on_commit`` not a bool.
    """

    __slots__ = ("_address", "_engine", "_factory")

    def __init__(self, engine: AsyncEngine, *, expire_on_commit: bool = False) -> None:
        if not isinstance(engine, AsyncEngine):
            raise PersistenceTypeError("engine", "an sqlalchemy AsyncEngine", engine)
        if not isinstance(expire_on_commit, bool):
            raise PersistenceTypeError("expire_on_commit", "a bool", expire_on_commit)
        super().__init__()
        self._engine: Owned[AsyncEngine] = Owned(engine)
        self._address = _address(engine.url)
        self._factory = async_sessionmaker(engine, expire_on_commit=expire_on_commit)
        # At start-up rather than on the first request: the instruments, and the tracer of the
        # repositories' spans (as the suite's PostgreSQL backends do through PostgresBackend).
        TELEMETRY.bind(spans=True)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        expire_on_commit: bool = False,
    ) -> Self:
        """Open an engine on ``url``, check that the database answers, and own the engine.

        ``postgresql://`` (and ``postgres://``) URLs use asyncpg (extra ``postgres``) and ``sqlite://``
        URLs aiosqlite (extra ``sqlite``); a URL naming another async driver is passed to SQLAlchemy
        as it is. SQLite connections have ``case_sensitive_like`` and ``foreign_keys`` on.

        Args:
            url: The database URL; its password never reaches a log line or an error.
            pool_size: Connections kept open (at least 1).
            max_overflow: Connections opened beyond ``pool_size`` under load (0 or more).
            pool_timeout: Seconds to wait for a free connection before giving up.
            expire_on_commit: As for the constructor.

        Raises:
            PersistenceConfigurationError: A blank or malformed URL, a sync driver, or a size out of
                range.
            PersistenceTypeError: An argument of the wrong type.
            MissingExtraError: The URL's driver is not installed.
            PersistenceUnavailableError: The database cannot be reached.
        """
        parsed, extra = _parse_url(url)
        sizes = {
            "pool_size": check_count("pool_size", pool_size, minimum=1, error=PersistenceConfigurationError),
            "max_overflow": check_count("max_overflow", max_overflow, error=PersistenceConfigurationError),
            "pool_timeout": check_seconds("pool_timeout", pool_timeout, error=PersistenceConfigurationError),
        }
        if not isinstance(expire_on_commit, bool):
            raise PersistenceTypeError("expire_on_commit", "a bool", expire_on_commit)
        options: dict[str, Any] = {"poolclass": StaticPool} if _is_sqlite_memory(parsed) else sizes
        try:
            engine = create_async_engine(parsed, **options)
        except ImportError as exc:
            if extra is None:
                reason = f"its driver is not installed ({exc.name or exc})"
                raise PersistenceConfigurationError("url", url, reason, show_value=False) from exc
            raise MissingExtraError("DatabaseSession", extra) from exc
        except (sa_exc.ArgumentError, sa_exc.InvalidRequestError, TypeError) as exc:
            reason = f"SQLAlchemy cannot open it with an async driver ({type(exc).__name__})"
            raise PersistenceConfigurationError("url", url, reason, show_value=False) from exc
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        database = cls(engine, expire_on_commit=expire_on_commit)
        database._engine = Owned(engine, engine.dispose)
        try:
            with translated(database._address):
                async with engine.connect():
                    pass
        except BaseException:
            await engine.dispose()
            raise
        logger.info(
            "connected to %s",
            database._address,
            extra={"database": database._address, "pool_size": sizes["pool_size"]},
        )
        return database

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for Core statements and ``run_sync`` DDL)."""
        return self._engine.value

    @property
    def address(self) -> str:
        """The database URL with its password replaced by ``***``."""
        return self._address

    @property
    def dialect(self) -> str:
        """The dialect's name: ``"postgresql"``, ``"sqlite"``, ..."""
        return self._engine.value.dialect.name

    def _check_open(self) -> None:
        if self.closed:
            raise PersistenceConfigurationError("database", self._address, "is closed")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed when the block ends, rolled back if it raises.

        The rollback happens before the exception leaves the block. The caller's own exceptions come
        out unchanged; SQLAlchemy and driver errors become `PersistenceUnavailableError` (the database
        cannot be reached) or `DatabaseError`, with the original chained as ``__cause__``.

        Raises:
            PersistenceConfigurationError: The `DatabaseSession` is closed.
        """
        self._check_open()
        session = self._factory()
        start = time.perf_counter()
        outcome = _COMMIT
        try:
            with translated(self._address):
                try:
                    yield session
                    await session.commit()
                except BaseException as exc:
                    outcome = _ROLLBACK
                    await self._rollback(session, exc)
                    raise
        finally:
            try:
                await session.close()
            except Exception:
                logger.debug("closing a session failed", exc_info=True)
            TRANSACTION_DURATION.record(time.perf_counter() - start, outcome)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in one transaction that is rolled back when the block ends: for reads.

        No ORM session is made, so this is the cheaper way to run ``select`` statements of columns;
        write through `session`. Errors are translated as in `session`, after the rollback.

        Raises:
            PersistenceConfigurationError: The `DatabaseSession` is closed.
        """
        self._check_open()
        with translated(self._address):
            async with self._engine.value.connect() as connection:
                yield connection

    async def _rollback(self, session: AsyncSession, error: BaseException) -> None:
        kind = type(error).__name__
        try:
            await session.rollback()
        except Exception as failure:  # noqa: BLE001 - the original error is the one to raise
            logger.warning(
                "rolling back after %s failed: %s",
                kind,
                type(failure).__name__,
                extra={"database": self._address, "error": kind},
            )
            return
        level = logging.DEBUG if isinstance(error, PersistenceError | GeneratorExit) else logging.INFO
        logger.log(
            level, "transaction rolled back after %s", kind, extra={"database": self._address, "error": kind}
        )

    async def create_all(self, metadata: object) -> None:
        """Create the tables of ``metadata`` (an SQLAlchemy ``MetaData``) that do not exist yet.

        Raises:
            PersistenceTypeError: ``metadata`` is not a ``MetaData``.
        """
        from sqlalchemy import MetaData  # noqa: PLC0415 - the type check only

        if not isinstance(metadata, MetaData):
            raise PersistenceTypeError("metadata", "an sqlalchemy MetaData", metadata)
        self._check_open()
        with translated(self._address):
            async with self._engine.value.begin() as connection:
                await connection.run_sync(metadata.create_all)

    async def _aclose(self) -> None:
        await self._engine.release()
        logger.info("closed %s", self._address, extra={"database": self._address})

    def __repr__(self) -> str:
        return f"DatabaseSession({self._address!r})"
