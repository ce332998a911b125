"""What every PostgreSQL backend of the suite shares: table names, the pool (owned or borrowed), outages.

A backend is built around a pool the application owns (``X(pool, table=...)``, never closed by the
backend) or opens its own (``await X.connect(dsn, table=..., min_size=..., max_size=...)``, closed
by ``aclose``). `PostgresBackend` is that base; each package gives it its own error classes through
`BackendErrors`, so a bad argument is the package's configuration or type error and a server that
cannot be reached is its unavailable error::

    class _Backend(PostgresBackend):
        errors = BackendErrors(StoreConfigurationError, StoreTypeError, StoreUnavailableError)


    class PostgresStore(_Backend):
        def __init__(self, pool: asyncpg.Pool, *, table: str = "store") -> None:
            super().__init__(pool)
            self.table = TableName.parse(table, errors=self.errors)

        @classmethod
        async def connect(cls, dsn: str, *, table: str = "store", max_size: int = 10) -> Self:
            TableName.parse(table, errors=cls.errors)  # checked before any connection is made
            return await cls._open(dsn, lambda pool: cls(pool, table=table), max_size=max_size)

asyncpg is imported only when a pool is opened or checked, so core keeps no runtime dependency: a
package's backend module imports asyncpg itself (behind its ``postgres`` extra) before it gets here.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, Self

from ._backends import CORE_ERRORS, BackendErrors, check_address, check_errors
from ._checks import check_count, check_seconds, check_text
from ._resources import AsyncResource, Owned
from ._telemetry import Telemetry
from ._unavailable import connection_errors, unavailable_on
from .exceptions import ConfigurationError, redact_url

__all__ = ["BackendErrors", "PostgresBackend", "ResetPolicy", "TableName", "check_pool_size", "open_pool"]

_NAME: Final = r"[a-z_][a-z0-9_]*"
_TABLE: Final = re.compile(rf"(?:({_NAME})\.)?({_NAME})")
#: PostgreSQL truncates identifiers past 63 bytes; a table name leaves room for a ``_<suffix>``.
MAX_TABLE_NAME: Final = 48
MAX_IDENTIFIER: Final = 63
MAX_POOL_SIZE: Final = 1_000
_MAX_DSN: Final = 4_096  # server_settings' values: as long as a DSN
_BORROWED: Final = "the application's pool"

#: What a pool does to a connection given back to it: ``"full"`` (asyncpg's reset query),
#: ``"rollback"`` (no query), or ``async def reset(connection)``; see `open_pool`.
type ResetPolicy = Literal["full", "rollback"] | Callable[[Any], Awaitable[None]]


def _asyncpg() -> Any:  # noqa: ANN401 - the asyncpg module, imported only where it is used
    return importlib.import_module("asyncpg")


@dataclass(frozen=True, slots=True)
class TableName:
    """A checked table name, ``"name"`` or ``"schema.name"``, and the names derived from it.

    Attributes:
        schema: The schema, or ``None`` for the connection's ``search_path``.
        name: The table's name.
    """

    schema: str | None
    name: str

    @classmethod
    def parse(
        cls, table: object, *, errors: BackendErrors = CORE_ERRORS, max_length: int = MAX_TABLE_NAME
    ) -> TableName:
        """Check ``table``: lower-case SQL identifiers (``[a-z_][a-z0-9_]*``), optionally qualified.

        The name is at most 48 characters, so ``<name>_<suffix>`` stays within PostgreSQL's 63; the
        schema at most 63. Checked names are safe to interpolate into SQL unquoted.

        Args:
            table: The name to check.
            errors: The package's error classes.
            max_length: A shorter limit for the name (1 to 48), for a backend whose longest derived
                name (a constraint ``<name>_stream_version_key``, say) needs a longer suffix.

        Raises:
            ArgumentTypeError: ``table`` is not a str (as ``errors.type_error``).
            ConfigurationError: It is not such a name (as ``errors.configuration``).
        """
        errors = check_errors(errors)
        limit = check_count("max_length", max_length, minimum=1, maximum=MAX_TABLE_NAME)
        text = check_text(
            "table",
            table,
            max_bytes=2 * MAX_IDENTIFIER + 1,
            error=errors.configuration,
            type_error=errors.type_error,
        )
        match = _TABLE.fullmatch(text)
        if match is None or len(match.group(2)) > limit or len(match.group(1) or "") > MAX_IDENTIFIER:
            raise errors.configuration(
                "table",
                table,
                f"must be [schema.]name in lower-case SQL identifiers ([a-z_][a-z0-9_]*), the name at "
                f"most {limit} characters",
            )
        return cls(match.group(1), match.group(2))

    def derived(self, suffix: str) -> TableName:
        """The table ``<name>_<suffix>`` in the same schema (``suffix`` is the package's own constant)."""
        return TableName(self.schema, f"{self.name}_{suffix}")

    @property
    def sql(self) -> str:
        """The name to interpolate into SQL (checked, so it needs no quoting)."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    def __str__(self) -> str:
        return self.sql


def check_pool_size(
    min_size: object, max_size: object, *, errors: BackendErrors = CORE_ERRORS
) -> tuple[int, int]:
    """``(min_size, max_size)``, checked: 0 <= min_size <= max_size, 1 <= max_size <= 1000.

    Raises:
        ConfigurationError: Out of range, or ``min_size`` above ``max_size`` (as ``errors.configuration``).
    """
    errors = check_errors(errors)
    low = check_count("min_size", min_size, maximum=MAX_POOL_SIZE, error=errors.configuration)
    high = check_count("max_size", max_size, minimum=1, maximum=MAX_POOL_SIZE, error=errors.configuration)
    if low > high:
        raise errors.configuration("min_size", low, f"must not exceed max_size ({high})")
    return low, high


def _check_dsn(dsn: object, errors: BackendErrors) -> str:
    text = check_address("dsn", dsn, errors)
    if not text.startswith(("postgresql://", "postgres://")):
        raise errors.configuration("dsn", redact_url(text), "must be a postgresql:// URL", show_value=False)
    return text


def _check_settings(settings: object, errors: BackendErrors) -> dict[str, str]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise errors.type_error("server_settings", "a mapping of str to str, or None", settings)
    checked: dict[str, str] = {}
    for name, value in settings.items():
        key = check_text(
            "server_settings", name, max_bytes=200, error=errors.configuration, type_error=errors.type_error
        )
        checked[key] = check_text(
            "server_settings",
            value,
            allow_empty=True,
            max_bytes=_MAX_DSN,
            error=errors.configuration,
            type_error=errors.type_error,
        )
    return checked


def _bad_dsn_errors(asyncpg: Any) -> tuple[type[BaseException], ...]:  # noqa: ANN401 - the module
    # What asyncpg raises for a DSN it cannot use (a bad scheme, sslmode, or a port out of range,
    # an OverflowError from the socket): at connect, or on a pool of min_size=0's first acquire.
    return (asyncpg.exceptions.ClientConfigurationError, ValueError, TypeError, OverflowError)


def _bad_dsn(exc: BaseException, dsn: str, errors: BackendErrors) -> ConfigurationError:
    return errors.configuration(
        "dsn", redact_url(dsn), f"is not a PostgreSQL DSN asyncpg accepts ({type(exc).__name__})"
    )


def _refused(exc: Any, dsn: str, errors: BackendErrors) -> ConfigurationError:  # noqa: ANN401 - asyncpg's error
    return errors.configuration(
        "dsn",
        redact_url(dsn),
        f"the server refused the connection (SQLSTATE {getattr(exc, 'sqlstate', '?')}): check the "
        "database, role, password and server_settings",
    )


async def _rollback_only(connection: Any) -> None:  # noqa: ANN401 - an asyncpg connection
    """``reset="rollback"``: nothing beyond asyncpg's own rollback of an open transaction."""


async def _full_reset(connection: Any) -> None:  # noqa: ANN401 - an asyncpg connection
    """Run asyncpg's reset query (what ``Connection.reset`` runs after its rollback)."""
    query = connection.get_reset_query()
    if query:
        await connection.execute(query)


def _check_reset(reset: object, errors: BackendErrors) -> Callable[[Any], Awaitable[None]] | None:
    """``reset`` as asyncpg's ``create_pool`` takes it: ``None`` for its own full reset."""
    if reset == "full":
        return None
    if reset == "rollback":
        return _rollback_only
    if isinstance(reset, str):
        raise errors.configuration("reset", reset, 'must be "full", "rollback" or an async callable')
    if not callable(reset):
        raise errors.type_error("reset", '"full", "rollback" or an async callable', reset)
    return reset  # a callable; asyncpg awaits what it returns


class _CleanReleases:
    """The reset of a pool owned by a session-neutral backend: none after the backend's own use.

    The backend marks a connection (by its server pid) around its own release; a marked
    connection gets only asyncpg's rollback, any other (taken from ``backend.pool`` by the
    application) asyncpg's full reset query.
    """

    __slots__ = ("_clean",)

    def __init__(self) -> None:
        self._clean: set[int] = set()

    @contextmanager
    def releasing(self, connection: Any) -> Iterator[None]:  # noqa: ANN401 - an asyncpg connection
        pid: int = connection.get_server_pid()
        self._clean.add(pid)
        try:
            yield
        finally:
            self._clean.discard(pid)  # also when the release closed the connection unreset

    async def __call__(self, connection: Any) -> None:  # noqa: ANN401 - an asyncpg connection
        if connection.get_server_pid() not in self._clean:
            await _full_reset(connection)


async def open_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    server_settings: Mapping[str, str] | None = None,
    command_timeout: float | None = None,
    reset: ResetPolicy = "full",
    init: Callable[[Any], Awaitable[None]] | None = None,
    errors: BackendErrors = CORE_ERRORS,
) -> Any:  # noqa: ANN401 - an asyncpg.Pool; core does not depend on asyncpg
    """Open an asyncpg pool of ``min_size`` to ``max_size`` connections on ``dsn``.

    Everything is checked before a connection is made. A server that cannot be reached is
    ``errors.unavailable``; a DSN asyncpg cannot use, or a database, role, password or setting the
    server refuses, is ``errors.configuration`` (the application's input, never an outage). The
    DSN's password reaches no message. ``command_timeout`` (seconds, or ``None`` for none) bounds
    every statement run on the pool's connections.

    ``reset`` says what a release does to the connection before the next user gets it. Whatever
    it says, asyncpg first rolls back a transaction left open and drops the connection's listener
    callbacks (``add_listener``), with no round trip when there is neither.

    - ``"full"`` (the default): asyncpg's reset query as well, one more round trip per release
      (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): session settings,
      advisory locks, cursors and ``LISTEN`` registrations end with the release.
    - ``"rollback"``: no query. A ``SET``, ``LISTEN``, session advisory lock or ``WITH HOLD``
      cursor outlives the release and is the next user's: only for a pool whose every user runs
      plain statements (and ``SET LOCAL`` inside transactions).
    - ``async def reset(connection)``: called after asyncpg's rollback; an exception terminates
      the connection (the pool opens a new one).

    ``init``, an ``async def init(connection)``, runs once on each connection the pool opens,
    before its first use (asyncpg's ``init``): a backend prepares its hot statements there, so the
    server's planning and the driver's type look-ups fall on opening, not on the first request. An
    exception it lets out fails that open (``open_pool`` itself, or the acquire that grew the pool).

    Raises:
        ConfigurationError: As above (``errors.configuration``), or ``reset`` is another string.
        ArgumentTypeError: An argument of the wrong type (``errors.type_error``).
        BackendUnavailableError: The server cannot be reached (``errors.unavailable``).
    """
    errors = check_errors(errors)
    text = _check_dsn(dsn, errors)
    low, high = check_pool_size(min_size, max_size, errors=errors)
    settings = _check_settings(server_settings, errors)
    timeout = (
        None
        if command_timeout is None
        else check_seconds("command_timeout", command_timeout, error=errors.configuration)
    )
    on_release = _check_reset(reset, errors)
    if init is not None and not callable(init):
        raise errors.type_error("init", "an async callable or None", init)
    asyncpg = _asyncpg()
    bad_dsn = _bad_dsn_errors(asyncpg)
    try:
        with unavailable_on(
            connection_errors("asyncpg"), errors.unavailable, backend="postgresql", address=text
        ):
            try:
                return await asyncpg.create_pool(
                    text,
                    min_size=low,
                    max_size=high,
                    server_settings=settings,
                    command_timeout=timeout,
                    reset=on_release,
                    init=init,
                )
            except bad_dsn as exc:  # first: ClientConfigurationError is an InterfaceError as well
                raise _bad_dsn(exc, text, errors) from None
    except asyncpg.exceptions.PostgresError as exc:
        raise _refused(exc, text, errors) from None


class PostgresBackend(AsyncResource):
    """Base of the suite's PostgreSQL backends: the pool, owned or borrowed, and outages mapped.

    Subclasses set `errors` to their package's classes, and `outages` to the driver errors beyond
    ``connection_errors("asyncpg")`` that mean the server is lost for them, and `telemetry` to
    their package's `Telemetry` (bound when a backend is made). Built with a pool
    (``X(pool)``), the backend borrows it and never closes it; `_open` (behind each backend's
    ``connect``) opens one the backend owns, closed by `aclose`.

    Args:
        pool: An ``asyncpg.Pool``.

    Raises:
        ArgumentTypeError: ``pool`` is not an ``asyncpg.Pool`` (as ``errors.type_error``).
    """

    errors: ClassVar[BackendErrors] = CORE_ERRORS
    #: asyncpg errors that also mean an outage for this backend (``asyncpg.InternalClientError``, say).
    outages: ClassVar[tuple[type[BaseException], ...]] = ()
    #: ``True`` when nothing the backend runs through `_connection` outlives its statements in the
    #: session (no ``SET``, ``LISTEN``, session advisory lock, held cursor or temporary table; its
    #: transactions committed or rolled back). A pool that `_open` opens then skips asyncpg's
    #: reset query (one round trip) after the backend's own use; a connection the application
    #: takes from `pool` is still reset in full, and an open transaction is always rolled back.
    session_neutral: ClassVar[bool] = False
    #: The package's `Telemetry`, bound (`Telemetry.bind`) when a backend is made, by ``connect`` or
    #: around the application's pool: the application waits at start-up, not on its first request,
    #: for the instruments. ``None``: nothing is bound early.
    telemetry: ClassVar[Telemetry | None] = None

    def __init__(self, pool: Any) -> None:  # noqa: ANN401 - an asyncpg.Pool
        super().__init__()
        if not isinstance(pool, _asyncpg().Pool):
            raise self.errors.type_error("pool", "an asyncpg.Pool", pool)
        if self.telemetry is not None:
            self.telemetry.bind()
        self._owned: Owned[Any] = Owned(pool)
        self._address = _BORROWED
        self._clean_releases: _CleanReleases | None = None

    @property
    def pool(self) -> Any:  # noqa: ANN401 - the asyncpg.Pool
        """The pool in use (the application's, or the one `connect` opened)."""
        return self._owned.value

    @property
    def owns_pool(self) -> bool:
        """Whether `aclose` closes the pool (it was opened by ``connect``)."""
        return self._owned.owned

    @classmethod
    async def _open(
        cls,
        dsn: str,
        build: Callable[[Any], Self],
        *,
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
        command_timeout: float | None = None,
        init: Callable[[Any], Awaitable[None]] | None = None,
    ) -> Self:
        """Open a pool on ``dsn`` and ``build`` the backend around it; the backend owns the pool.

        The pool is closed again if ``build`` raises. Check the backend's own arguments before
        calling this, so that a bad one opens nothing. The pool resets connections in full on
        release, except after the backend's own use when the class is `session_neutral`. ``init``
        runs on each connection the pool opens (see `open_pool`); only a pool the backend owns gets
        one, never the application's.
        """
        clean = _CleanReleases() if cls.session_neutral else None
        pool = await open_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
            command_timeout=command_timeout,
            reset="full" if clean is None else clean,
            init=init,
            errors=cls.errors,
        )
        try:
            backend = build(pool)
        except BaseException:
            await pool.close()
            raise
        backend._owned = Owned(pool, pool.close)
        backend._address = redact_url(dsn)
        backend._clean_releases = clean
        return backend

    def _outages(self) -> tuple[type[BaseException], ...]:
        return (*connection_errors("asyncpg"), *self.outages)

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """Map an outage inside the block to ``errors.unavailable`` (the address redacted)."""
        with unavailable_on(
            self._outages(),
            self.errors.unavailable,
            backend="postgresql",
            address=self._address,
            bad_input=self._bad_value,
        ):
            try:
                yield
            except _asyncpg().exceptions.DataError as exc:  # SQLSTATE class 22: the value, not the server
                raise self._bad_value(exc) from exc

    async def _acquire(self) -> Any:  # noqa: ANN401 - an asyncpg connection
        """A connection the caller holds (a LISTEN, say) and gives back with ``pool.release``.

        An outage is ``errors.unavailable``; a DSN or login the server refuses (a pool of
        ``min_size=0`` connects only now) is ``errors.configuration``.
        """
        asyncpg = _asyncpg()
        down = self._outages()
        with self._unavailable():
            try:
                return await self._owned.value.acquire()
            except _bad_dsn_errors(asyncpg) as exc:
                # First (it is an InterfaceError too): a pool of min_size=0 reads its DSN only now.
                raise _bad_dsn(exc, self._address, self.errors) from None
            except down:
                raise  # an outage: mapped by _unavailable
            except asyncpg.exceptions.PostgresError as exc:  # its first connection was refused
                raise _refused(exc, self._address, self.errors) from None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A connection from the pool; an outage while it is held is ``errors.unavailable``.

        On a `session_neutral` backend's own pool, a block that ended without an exception hands
        the connection back without asyncpg's reset query (see `session_neutral`).
        """
        connection = await self._acquire()
        pool = self._owned.value
        clean = self._clean_releases
        with self._unavailable():
            try:
                yield connection
            except BaseException:
                await pool.release(connection)
                raise
            if clean is None or connection.is_closed():
                await pool.release(connection)
                return
            with clean.releasing(connection):
                await pool.release(connection)

    def _bad_value(self, exc: BaseException) -> ConfigurationError:
        """A value the driver could not send (asyncpg's ``DataError``): the caller's input, not an outage.

        The server's own refusals name their SQLSTATE (never the value, which its message may quote).
        """
        sqlstate = getattr(exc, "sqlstate", None)
        code = f", SQLSTATE {sqlstate}" if isinstance(sqlstate, str) else ""
        return self.errors.configuration(
            "value",
            None,
            f"PostgreSQL cannot take a value it was given ({type(exc).__name__}{code})",
            show_value=False,
        )

    async def _aclose(self) -> None:
        await self._owned.release()
