"""PostgreSQL backends (extra ``postgres``): `PostgresFlagSource` (LISTEN/NOTIFY) and `PostgresAuditSink`."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Self

from buttress.core import check_seconds, check_text, redact_url

from ._audit import AuditAction, FlagAuditEvent, check_event, check_limit
from ._model import FlagDefinition, FlagSet, Segment
from ._parse import flag_from_dict, load_json, segment_from_dict
from ._sources import MAX_WAIT
from ._write import check_key, flag_to_json, segment_to_json
from .exceptions import FlagConfigurationError, FlagSourceError, MissingExtraError

try:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresFlagSource", "postgres") from exc

__all__ = ["PostgresAuditSink", "PostgresFlagSource"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.InterfaceError,  # a connection that is gone (ClientConfigurationError is one too: see _make_pool)
    # Server states, not the caller's doing: without them a refused connection in _make_pool would read
    # as a refused setting.
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,  # another backend crashed: every connection is reset
    asyncpg.TooManyConnectionsError,
)


def _identifier(name: str, value: object) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise FlagConfigurationError(name, value, "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)")
    return value


class _PostgresBase:
    def __init__(self, pool: asyncpg.Pool, *, address: str = "postgresql") -> None:
        if not isinstance(pool, asyncpg.Pool):
            raise FlagConfigurationError("pool", type(pool).__name__, "must be an asyncpg.Pool")
        self._pool = pool
        self._owned = False
        self._address = redact_url(address)
        self._ready = False
        self._schema_lock = asyncio.Lock()

    @classmethod
    async def _make_pool(cls, dsn: object, server_settings: object) -> asyncpg.Pool:
        url = check_text("dsn", dsn, max_bytes=4096, show_value=False, error=FlagConfigurationError)
        settings = _settings(server_settings)
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                url, min_size=1, max_size=4, server_settings=settings
            )
        except (ValueError, TypeError, asyncpg.ClientConfigurationError) as exc:
            # Before _UNAVAILABLE: ClientConfigurationError is an InterfaceError too. The driver's message
            # may quote the DSN and its password: say what is wrong, not what was given.
            raise FlagConfigurationError(
                "dsn",
                url,
                f"is not a PostgreSQL DSN asyncpg accepts ({type(exc).__name__})",
                show_value=False,
            ) from None
        except _UNAVAILABLE as exc:
            raise FlagSourceError("postgresql", url, _reason(exc)) from exc
        except asyncpg.PostgresError as exc:  # the server refused a setting, the database or the role
            raise FlagConfigurationError(
                "server_settings",
                settings,
                f"or the DSN's database or role were refused by the server ({exc.sqlstate})",
                show_value=False,
            ) from None
        return pool

    def _schema_ready(self) -> bool:
        return self._ready

    def _unavailable(self, exc: BaseException) -> FlagSourceError:
        return FlagSourceError("postgresql", self._address, _reason(exc))

    async def _ensure(self, statements: Sequence[str]) -> None:
        if self._ready:
            return
        async with self._schema_lock:
            if self._schema_ready():  # another task created it while this one waited
                return
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    # Serialize concurrent CREATE ... IF NOT EXISTS from several processes.
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(hashtext('buttress_feature_flags'))"
                    )
                    for statement in statements:
                        await connection.execute(statement)
            except _UNAVAILABLE as exc:
                raise self._unavailable(exc) from exc
            self._ready = True


class PostgresFlagSource(_PostgresBase):
    """A writable, watchable `FlagSource` on PostgreSQL.

    Flags live as JSONB (Unleash format) in ``table``, segments in ``{table}_segments``; the tables
    are created on first use. Every write sends ``NOTIFY {channel}`` in its transaction, so clients
    listening reload as soon as it commits. ``load`` reads both tables in one ``REPEATABLE READ``
    transaction: a consistent set.

    Flag keys, and all text in a definition, must be free of NUL and lone surrogates (``text`` and
    ``jsonb`` cannot hold them); a key or definition that is not is refused with a typed error before
    the query, and never counts as the database being unavailable.

    Args:
        pool: An ``asyncpg.Pool``; the caller closes it (or use `from_dsn`).
        table: The flags table's name.
        channel: The NOTIFY channel; ``{table}_changes`` by default.

    Raises:
        FlagConfigurationError: ``pool`` is not an ``asyncpg.Pool``, or ``table`` or ``channel`` is not
            a lower-case SQL identifier.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, table: str = "feature_flags", channel: str | None = None
    ) -> None:
        super().__init__(pool)
        self.table = _identifier("table", table)
        self.channel = _identifier("channel", channel if channel is not None else f"{table}_changes")
        self._segments = f"{self.table}_segments"
        self._listener: PoolConnectionProxy[asyncpg.Record] | None = None
        self._changed = asyncio.Event()

    @classmethod
    async def from_dsn(
        cls,
        dsn: str,
        *,
        table: str = "feature_flags",
        channel: str | None = None,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool on ``dsn`` (closed by `aclose`).

        Raises:
            FlagConfigurationError: An argument is wrong, or the server refused the DSN's database or
                role or one of ``server_settings``; nothing is left open.
            FlagSourceError: The server cannot be reached.
        """
        _identifier("table", table)
        _identifier("channel", channel if channel is not None else f"{table}_changes")
        pool = await cls._make_pool(dsn, server_settings)
        source = cls(pool, table=table, channel=channel)
        source._owned = True
        source._address = redact_url(dsn)
        return source

    def __repr__(self) -> str:
        return f"PostgresFlagSource({self._address!r}, table={self.table!r})"

    async def aclose(self) -> None:
        """Stop listening, and close the pool when `from_dsn` opened it."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await listener.remove_listener(self.channel, self._notified)
            with contextlib.suppress(*_UNAVAILABLE):
                await self._pool.release(listener)
        if self._owned:
            await self._pool.close()

    async def create_schema(self) -> None:
        """Create the tables if missing (done on first use anyway)."""
        await self._ensure(
            (
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " key text PRIMARY KEY, definition jsonb NOT NULL,"
                " updated_at timestamptz NOT NULL DEFAULT now())",
                f"CREATE TABLE IF NOT EXISTS {self._segments}"
                " (id bigint PRIMARY KEY, definition jsonb NOT NULL)",
            )
        )

    async def drop_schema(self) -> None:
        """Drop the flags and segments tables with everything in them (for tests and teardown)."""
        try:
            await self._pool.execute(f"DROP TABLE IF EXISTS {self.table}, {self._segments}")
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        self._ready = False

    async def load(self) -> FlagSet:
        """Read every flag and segment in one snapshot transaction."""
        await self.create_schema()
        try:
            async with (
                self._pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                flag_rows = await connection.fetch(f"SELECT definition FROM {self.table}")  # noqa: S608
                segment_rows = await connection.fetch(f"SELECT definition FROM {self._segments}")  # noqa: S608
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        segments = {}
        for row in segment_rows:
            segment = segment_from_dict(load_json(row["definition"], "postgresql", "a stored definition"))
            segments[segment.id] = segment
        flags = {}
        for row in flag_rows:
            flag = flag_from_dict(load_json(row["definition"], "postgresql", "a stored definition"))
            flags[flag.key] = flag
        return FlagSet(flags=MappingProxyType(flags), segments=MappingProxyType(segments))

    async def get(self, key: str) -> FlagDefinition | None:
        """Return the stored flag, or ``None``.

        Raises:
            FlagConfigurationError: ``key`` is not a non-empty str free of NUL and lone surrogates.
        """
        check_key(key)
        await self.create_schema()
        try:
            raw = await self._pool.fetchval(f"SELECT definition FROM {self.table} WHERE key = $1", key)  # noqa: S608
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return None if raw is None else flag_from_dict(load_json(raw, "postgresql", "a stored definition"))

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store a flag, notify, and return the previous definition (read under a row lock).

        Raises:
            FlagConfigurationError: ``flag`` is not a `FlagDefinition`.
            FlagDefinitionError: A field has the wrong type, or holds NUL or a lone surrogate.
        """
        payload = flag_to_json(flag)
        await self.create_schema()
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                # Lock the key (even when absent) so two writers cannot both see the same "before".
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.table}:{flag.key}"
                )
                old = await connection.fetchval(
                    f"SELECT definition FROM {self.table} WHERE key = $1",  # noqa: S608
                    flag.key,
                )
                await connection.execute(
                    f"INSERT INTO {self.table} (key, definition, updated_at) VALUES ($1, $2::jsonb, now())"  # noqa: S608
                    " ON CONFLICT (key) DO UPDATE SET definition = EXCLUDED.definition, updated_at = now()",
                    flag.key,
                    payload,
                )
                await connection.execute("SELECT pg_notify($1, $2)", self.channel, flag.key)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return None if old is None else flag_from_dict(load_json(old, "postgresql", "a stored definition"))

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag, notify, and return what was removed.

        Raises:
            FlagConfigurationError: ``key`` is not a non-empty str free of NUL and lone surrogates.
        """
        check_key(key)
        await self.create_schema()
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                old = await connection.fetchval(
                    f"DELETE FROM {self.table} WHERE key = $1 RETURNING definition",  # noqa: S608
                    key,
                )
                if old is not None:
                    await connection.execute("SELECT pg_notify($1, $2)", self.channel, key)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return None if old is None else flag_from_dict(load_json(old, "postgresql", "a stored definition"))

    async def put_segment(self, segment: Segment) -> None:
        """Store (create or replace) a segment and notify.

        Raises:
            FlagConfigurationError: ``segment`` is not a `Segment`.
            FlagDefinitionError: A field has the wrong type or holds NUL or a lone surrogate, or the id
                is negative or past ``2**63 - 1`` (a ``bigint``).
        """
        payload = segment_to_json(segment)
        await self.create_schema()
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    f"INSERT INTO {self._segments} (id, definition) VALUES ($1, $2::jsonb)"  # noqa: S608
                    " ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition",
                    segment.id,
                    payload,
                )
                await connection.execute("SELECT pg_notify($1, $2)", self.channel, f"segment:{segment.id}")
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a NOTIFY on the channel.

        Raises:
            FlagConfigurationError: ``timeout`` is not a number of seconds from 0 to a day.
            FlagSourceError: The listening connection cannot be opened, or was lost.
        """
        timeout = check_seconds(
            "timeout", timeout, allow_zero=True, maximum=MAX_WAIT, error=FlagConfigurationError
        )
        listener = self._listener
        if listener is not None and _lost(listener):
            self._listener = None
            with contextlib.suppress(*_UNAVAILABLE):
                await self._pool.release(listener)
            raise self._unavailable(ConnectionError("the LISTEN connection was lost"))
        if listener is None:
            try:
                listener = await self._pool.acquire()
                await listener.add_listener(self.channel, self._notified)
            except _UNAVAILABLE as exc:
                raise self._unavailable(exc) from exc
            self._listener = listener
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def _notified(self, *_args: object) -> None:
        self._changed.set()


class PostgresAuditSink(_PostgresBase):
    """An `AuditSink` on PostgreSQL: one row per event, indexed for per-flag history.

    Args:
        pool: An ``asyncpg.Pool``; the caller closes it (or use `from_dsn`).
        table: The table's name; created on first use.

    Raises:
        FlagConfigurationError: ``pool`` is not an ``asyncpg.Pool``, or ``table`` is not a lower-case
            SQL identifier.
    """

    def __init__(self, pool: asyncpg.Pool, *, table: str = "feature_flag_audit") -> None:
        super().__init__(pool)
        self.table = _identifier("table", table)

    @classmethod
    async def from_dsn(
        cls, dsn: str, *, table: str = "feature_flag_audit", server_settings: Mapping[str, str] | None = None
    ) -> Self:
        """Open a pool on ``dsn`` (closed by `aclose`).

        Raises:
            FlagConfigurationError: An argument is wrong, or the server refused the DSN's database or
                role or one of ``server_settings``; nothing is left open.
            FlagSourceError: The server cannot be reached.
        """
        _identifier("table", table)
        pool = await cls._make_pool(dsn, server_settings)
        sink = cls(pool, table=table)
        sink._owned = True
        sink._address = redact_url(dsn)
        return sink

    def __repr__(self) -> str:
        return f"PostgresAuditSink({self._address!r}, table={self.table!r})"

    async def aclose(self) -> None:
        """Close the pool when `from_dsn` opened it."""
        if self._owned:
            await self._pool.close()

    async def create_schema(self) -> None:
        """Create the table and its index if missing (done on first use anyway)."""
        await self._ensure(
            (
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " id bigserial PRIMARY KEY, flag_key text NOT NULL, action text NOT NULL,"
                " actor text NOT NULL, before jsonb, after jsonb, at timestamptz NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS {self.table}_flag_idx ON {self.table} (flag_key, id)",
            )
        )

    async def drop_schema(self) -> None:
        """Drop the audit table with every event in it (for tests and teardown)."""
        try:
            await self._pool.execute(f"DROP TABLE IF EXISTS {self.table}")
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        self._ready = False

    async def record(self, event: FlagAuditEvent) -> None:
        """Insert the event.

        Raises:
            FlagConfigurationError: ``event`` is not a `FlagAuditEvent`, or a field of it is wrong (see
                `FlagAuditEvent`).
            FlagDefinitionError: ``before`` or ``after`` cannot be stored (see `PostgresFlagSource.put`).
        """
        check_event(event)
        before, after = _dump(event.before), _dump(event.after)
        await self.create_schema()
        try:
            await self._pool.execute(
                f"INSERT INTO {self.table} (flag_key, action, actor, before, after, at)"  # noqa: S608
                " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)",
                event.flag_key,
                event.action.value,
                event.actor,
                before,
                after,
                event.timestamp,
            )
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def history(self, flag_key: str, *, limit: int | None = None) -> Sequence[FlagAuditEvent]:
        """Return the flag's events, oldest first; ``limit`` keeps the newest.

        Raises:
            FlagConfigurationError: ``flag_key`` is not a non-empty str free of NUL and lone
                surrogates, or ``limit`` not ``None`` or an int from 1 to ``2**63 - 1``.
        """
        check_key(flag_key, "flag_key")
        check_limit(limit)
        await self.create_schema()
        query = (
            f"SELECT * FROM (SELECT id, flag_key, action, actor, before, after, at FROM {self.table}"  # noqa: S608
            " WHERE flag_key = $1 ORDER BY id DESC LIMIT $2) AS recent ORDER BY id"
        )
        try:
            rows = await self._pool.fetch(query, flag_key, limit)
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        return tuple(_event(row) for row in rows)


def _lost(connection: PoolConnectionProxy[asyncpg.Record]) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:  # the pool took a terminated connection back already
        return True


def _dump(flag: FlagDefinition | None) -> str | None:
    return None if flag is None else flag_to_json(flag)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _settings(server_settings: object) -> dict[str, str]:
    if server_settings is None:
        return {}
    if not isinstance(server_settings, Mapping):
        raise FlagConfigurationError(
            "server_settings", type(server_settings).__name__, "must be a mapping of str to str"
        )
    settings: dict[str, str] = {}
    for name, value in server_settings.items():
        key = check_text("server_settings", name, max_bytes=200, error=FlagConfigurationError)
        settings[key] = check_text(
            f"server_settings[{key!r}]",
            value,
            allow_empty=True,
            max_bytes=4096,
            error=FlagConfigurationError,
        )
    return settings


def _load(raw: str | None) -> FlagDefinition | None:
    return None if raw is None else flag_from_dict(load_json(raw, "postgresql", "a stored definition"))


def _event(row: asyncpg.Record) -> FlagAuditEvent:
    return FlagAuditEvent(
        actor=row["actor"],
        action=AuditAction(row["action"]),
        flag_key=row["flag_key"],
        before=_load(row["before"]),
        after=_load(row["after"]),
        timestamp=row["at"],
    )
