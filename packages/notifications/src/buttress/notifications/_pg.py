"""What the PostgreSQL backends share: the table name, the pool (owned or borrowed), outages.

Every backend is built around a pool the application owns (``X(pool, table=...)``, never closed by
the backend) or opens its own (``await X.connect(dsn, table=..., min_size=..., max_size=...)``,
closed by ``aclose``). Driver errors that mean "the server cannot be reached" become
`NotificationsUnavailableError` through core's `unavailable_on`; a bad argument never does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from buttress.core import (
    Owned,
    check_count,
    check_text,
    connection_errors,
    redact_url,
    unavailable_on,
)

from ._model import check_mapping
from .exceptions import (
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    NotificationsUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError(
        "PostgresOutbox / PostgresPreferenceStore / PostgresPushSubscriptionStore", "postgres"
    ) from exc

__all__ = ["Connection", "Table", "_PoolHolder", "adopt", "check_pool_size", "create_pool"]

_Config = NotificationsConfigurationError

_DOWN: Final = connection_errors("asyncpg")
_IDENTIFIER: Final = r"[a-z_][a-z0-9_]{0,44}"
_TABLE: Final = re.compile(rf"(?:({_IDENTIFIER})\.)?({_IDENTIFIER})")
_MAX_POOL: Final = 1_000
_BORROWED: Final = "the application's pool"
# What asyncpg raises for a DSN it cannot use (a bad scheme, sslmode or port): bad input, not an
# outage, though ClientConfigurationError is an InterfaceError. A pool with min_size=0 raises it on
# the first acquire.
_BAD_DSN: Final = (asyncpg.exceptions.ClientConfigurationError, ValueError, TypeError, OverflowError)

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


@dataclass(frozen=True, slots=True)
class Table:
    """A checked table name (``"name"`` or ``"schema.name"``) and the names derived from it."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, table: object) -> Table:
        """Check ``table``: lower-case identifiers, at most 41 characters each, optionally qualified."""
        check_text("table", table, max_bytes=91, error=_Config, type_error=NotificationsTypeError)
        match = _TABLE.fullmatch(str(table))
        if match is None:
            raise _Config("table", table, "must be [schema.]name, each matching [a-z_][a-z0-9_]* (max 45)")
        return cls(match.group(1), match.group(2))

    def derived(self, suffix: str) -> Table:
        """The table ``<name>_<suffix>`` in the same schema."""
        return Table(self.schema, f"{self.name}_{suffix}")

    @property
    def sql(self) -> str:
        """The name to interpolate into SQL (checked, so it needs no quoting)."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


def check_pool_size(min_size: object, max_size: object) -> tuple[int, int]:
    """``min_size`` and ``max_size``, checked: 0 <= min_size <= max_size, 1 <= max_size <= 1000."""
    low = check_count("min_size", min_size, maximum=_MAX_POOL, error=_Config)
    high = check_count("max_size", max_size, minimum=1, maximum=_MAX_POOL, error=_Config)
    if low > high:
        raise _Config("min_size", low, f"must not exceed max_size ({high})")
    return low, high


async def create_pool(
    dsn: str, *, min_size: int, max_size: int, server_settings: Mapping[str, str] | None
) -> asyncpg.Pool[Any]:
    """Open an asyncpg pool, mapping the driver's errors to the package's."""
    check_text("dsn", dsn, max_bytes=4096, show_value=False, error=_Config, type_error=NotificationsTypeError)
    settings = check_mapping("server_settings", server_settings)
    for name, value in settings.items():
        check_text("server_settings", name, max_bytes=200, error=_Config, type_error=NotificationsTypeError)
        check_text(
            "server_settings",
            value,
            allow_empty=True,
            max_bytes=4096,
            error=_Config,
            type_error=NotificationsTypeError,
        )
    try:
        with unavailable_on(_DOWN, NotificationsUnavailableError, backend="postgresql", address=dsn):
            try:
                pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
                    dsn, min_size=min_size, max_size=max_size, server_settings=settings
                )
            except _BAD_DSN as exc:  # before unavailable_on: ClientConfigurationError is an InterfaceError
                raise _bad_dsn(exc) from None
    except asyncpg.exceptions.PostgresError as exc:  # the server refused a setting, a database, a role
        raise _refused(exc) from None
    return pool


def _bad_dsn(exc: BaseException) -> NotificationsConfigurationError:
    return _Config(
        "dsn", "<dsn>", f"is not a PostgreSQL DSN asyncpg accepts ({type(exc).__name__})", show_value=False
    )


def _refused(exc: asyncpg.exceptions.PostgresError) -> NotificationsConfigurationError:
    return _Config(
        "dsn",
        "<dsn>",
        f"the server refused the connection (SQLSTATE {exc.sqlstate}): check the database, role, "
        "password and server_settings",
        show_value=False,
    )


class _PoolHolder:
    """What the PostgreSQL backends share: the pool, owned or borrowed, and outages mapped.

    A mixin placed before `AsyncResource` (``class PostgresOutbox(_PoolHolder, AsyncResource)``):
    its ``_aclose`` releases the pool when the backend owns it.
    """

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        super().__init__()
        if not isinstance(pool, asyncpg.Pool):
            raise NotificationsTypeError("pool", "an asyncpg.Pool", pool)
        self._pool: Owned[asyncpg.Pool[Any]] = Owned(pool)
        self._address = _BORROWED

    def _adopt(self, pool: asyncpg.Pool[Any], dsn: str) -> None:
        """Take ownership of ``pool``, which `connect` opened for ``dsn``: `aclose` closes it."""
        self._pool = Owned(pool, pool.close)
        self._address = redact_url(dsn)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pool = self._pool.value
        with unavailable_on(
            _DOWN, NotificationsUnavailableError, backend="postgresql", address=self._address
        ):
            try:
                connection = await pool.acquire()
            except _BAD_DSN as exc:  # a pool of min_size=0 reads its DSN on the first acquire
                raise _bad_dsn(exc) from None
            except _DOWN:
                raise  # an outage, mapped by unavailable_on
            except asyncpg.exceptions.PostgresError as exc:  # its first connection was refused
                raise _refused(exc) from None
            try:
                yield connection
            finally:
                await pool.release(connection)

    async def _aclose(self) -> None:
        await self._pool.release()


async def adopt[B: _PoolHolder](pool: asyncpg.Pool[Any], dsn: str, make: Callable[[], B]) -> B:
    """``make()`` (a backend around ``pool``), owning ``pool``; the pool is closed if it refuses."""
    try:
        backend = make()
    except BaseException:
        await pool.close()
        raise
    backend._adopt(pool, dsn)
    return backend
