"""PostgreSQL backends (extra ``postgres``): `PostgresFlagSource` (LISTEN/NOTIFY) and `PostgresAuditSink`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import ClassVar, Self

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, TableName, check_seconds

from ._audit import AuditAction, FlagAuditEvent, check_event, check_limit
from ._metrics import TELEMETRY
from ._model import FlagDefinition, FlagSet, Segment
from ._parse import flag_from_dict, load_json, segment_from_dict
from ._sources import MAX_WAIT
from ._write import check_key, flag_to_json, segment_to_json
from .exceptions import (
    FeatureFlagsConfigurationError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    MissingExtraError,
)

try:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresFlagSource", "postgres") from exc

__all__ = ["PostgresAuditSink", "PostgresFlagSource"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,50}")
_ERRORS = BackendErrors(FeatureFlagsConfigurationError, FeatureFlagsTypeError, FeatureFlagsUnavailableError)
_MAX_CHANNEL = 63  # PostgreSQL's identifiers (and NOTIFY channels) are at most 63 bytes


def _table(value: object) -> str:
    return TableName.parse(value, errors=_ERRORS).sql


def _channel(value: object, table: str) -> str:
    if value is None:
        base = table.replace(".", "_")
        if len(base) + len("_changes") > _MAX_CHANNEL:  # a schema-qualified name can be too long
            digest = hashlib.blake2s(base.encode(), digest_size=4).hexdigest()
            base = f"{base[: _MAX_CHANNEL - len('_changes') - 9]}_{digest}"
        return f"{base}_changes"
    if not isinstance(value, str):
        raise FeatureFlagsTypeError("channel", "a str or None", value)
    if not _IDENTIFIER.fullmatch(value):
        raise FeatureFlagsConfigurationError(
            "channel", value, "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)"
        )
    return value


class _PostgresBase(PostgresBackend):
    errors: ClassVar[BackendErrors] = _ERRORS
    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._ready = False
        self._schema_lock = asyncio.Lock()

    def _schema_ready(self) -> bool:
        return self._ready

    async def _ensure(self, statements: Sequence[str]) -> None:
        if self._ready:
            return
        async with self._schema_lock:
            if self._schema_ready():  # another task created it while this one waited
                return
            async with self._connection() as connection, connection.transaction():
                # Serialize concurrent CREATE ... IF NOT EXISTS from several processes.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext('buttress_feature_flags'))")
                for statement in statements:
                    await connection.execute(statement)
            self._ready = True


# AsyncResource is named again (the base has it already) so the face shows at the class itself.
class PostgresFlagSource(_PostgresBase, AsyncResource):
    """A writable, watchable `FlagSource` on PostgreSQL.

    Flags live as JSONB (Unleash format) in ``table``, segments in ``{table}_segments``; the tables
    are created on first use. Every write sends ``NOTIFY {channel}`` in its transaction, so clients
    listening reload as soon as it commits. ``load`` reads both tables in one ``REPEATABLE READ``
    transaction: a consistent set.

    Flag keys, and all text in a definition, must be free of NUL and lone surrogates (``text`` and
    ``jsonb`` cannot hold them); a key or definition that is not is refused with a typed error before
    the query, and never counts as the database being unavailable.

    Args:
        pool: An ``asyncpg.Pool`` the application owns and closes (or use `connect`).
        table: The flags table's name (``"schema.table"`` to name its schema).
        channel: The NOTIFY channel; ``{table}_changes`` by default (a dot becomes ``_``, and a name
            past PostgreSQL's 63 bytes is shortened with a hash of it).

    Raises:
        FeatureFlagsTypeError: ``pool`` is not an ``asyncpg.Pool``, or ``table`` or ``channel`` not a str.
        FeatureFlagsConfigurationError: ``table`` or ``channel`` is not a lower-case SQL identifier.

    Examples:
        >>> source = PostgresFlagSource(pool=pool, table="feature_flags")  # doctest: +SKIP
        >>> source = await PostgresFlagSource.connect(dsn, table="feature_flags")  # doctest: +SKIP
    """

    def __init__(
        self, pool: asyncpg.Pool, *, table: str = "feature_flags", channel: str | None = None
    ) -> None:
        super().__init__(pool)
        self.table = _table(table)
        self.channel = _channel(channel, self.table)
        self._segments = f"{self.table}_segments"
        self._listener: PoolConnectionProxy[asyncpg.Record] | None = None
        self._changed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "feature_flags",
        channel: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool of ``min_size`` to ``max_size`` connections on ``dsn``; `aclose` closes it.

        While a client watches the source, one of the connections listens for notifications.

        Raises:
            FeatureFlagsConfigurationError: An argument is wrong, or the server refused the DSN's
                database or role or one of ``server_settings``; nothing is left open.
            FeatureFlagsTypeError: An argument has the wrong type.
            FeatureFlagsUnavailableError: The server cannot be reached.
        """
        _channel(channel, _table(table))  # checked before any connection is made
        return await cls._open(
            dsn,
            lambda pool: cls(pool, table=table, channel=channel),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )

    def __repr__(self) -> str:
        return f"PostgresFlagSource({self._address!r}, table={self.table!r})"

    async def _aclose(self) -> None:
        """Stop listening, and close the pool when `connect` opened it."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(*self._outages()):
                await listener.remove_listener(self.channel, self._notified)
            with contextlib.suppress(*self._outages()):
                await self.pool.release(listener)
        await super()._aclose()

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
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self.table}, {self._segments}")
        self._ready = False

    async def load(self) -> FlagSet:
        """Read every flag and segment in one snapshot transaction."""
        await self.create_schema()
        async with (
            self._connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            flag_rows = await connection.fetch(f"SELECT definition FROM {self.table}")  # noqa: S608
            segment_rows = await connection.fetch(f"SELECT definition FROM {self._segments}")  # noqa: S608
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
            FeatureFlagsConfigurationError: ``key`` is empty, or holds NUL or a lone surrogate.
            FeatureFlagsTypeError: ``key`` is not a str.
        """
        check_key(key)
        await self.create_schema()
        async with self._connection() as connection:
            raw = await connection.fetchval(f"SELECT definition FROM {self.table} WHERE key = $1", key)  # noqa: S608
        return None if raw is None else flag_from_dict(load_json(raw, "postgresql", "a stored definition"))

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store a flag, notify, and return the previous definition (read under a row lock).

        Raises:
            FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
            FlagDefinitionError: A field has the wrong type, or holds NUL or a lone surrogate.
        """
        payload = flag_to_json(flag)
        await self.create_schema()
        async with self._connection() as connection, connection.transaction():
            # Lock the key (even when absent) so two writers cannot both see the same "before".
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self.table}:{flag.key}")
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
        return None if old is None else flag_from_dict(load_json(old, "postgresql", "a stored definition"))

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag, notify, and return what was removed.

        Raises:
            FeatureFlagsConfigurationError: ``key`` is empty, or holds NUL or a lone surrogate.
            FeatureFlagsTypeError: ``key`` is not a str.
        """
        check_key(key)
        await self.create_schema()
        async with self._connection() as connection, connection.transaction():
            old = await connection.fetchval(
                f"DELETE FROM {self.table} WHERE key = $1 RETURNING definition",  # noqa: S608
                key,
            )
            if old is not None:
                await connection.execute("SELECT pg_notify($1, $2)", self.channel, key)
        return None if old is None else flag_from_dict(load_json(old, "postgresql", "a stored definition"))

    async def put_segment(self, segment: Segment) -> None:
        """Store (create or replace) a segment and notify.

        Raises:
            FeatureFlagsTypeError: ``segment`` is not a `Segment`.
            FlagDefinitionError: A field has the wrong type or holds NUL or a lone surrogate, or the id
                is negative or past ``2**63 - 1`` (a ``bigint``).
        """
        payload = segment_to_json(segment)
        await self.create_schema()
        async with self._connection() as connection, connection.transaction():
            await connection.execute(
                f"INSERT INTO {self._segments} (id, definition) VALUES ($1, $2::jsonb)"  # noqa: S608
                " ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition",
                segment.id,
                payload,
            )
            await connection.execute("SELECT pg_notify($1, $2)", self.channel, f"segment:{segment.id}")

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a NOTIFY on the channel.

        Raises:
            FeatureFlagsConfigurationError: ``timeout`` is not a number of seconds from 0 to a day.
            FeatureFlagsUnavailableError: The listening connection cannot be opened, or was lost.
        """
        timeout = check_seconds(
            "timeout", timeout, allow_zero=True, maximum=MAX_WAIT, error=FeatureFlagsConfigurationError
        )
        listener = self._listener
        if listener is not None and _lost(listener):
            self._listener = None
            with contextlib.suppress(*self._outages()):
                await self.pool.release(listener)
            raise FeatureFlagsUnavailableError("postgresql", self._address, "the LISTEN connection was lost")
        if listener is None:
            listener = await self._acquire()
            try:
                with self._unavailable():
                    await listener.add_listener(self.channel, self._notified)
            except BaseException:
                with contextlib.suppress(*self._outages()):
                    await self.pool.release(listener)
                raise
            self._listener = listener
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    def _notified(self, *_args: object) -> None:
        self._changed.set()


class PostgresAuditSink(_PostgresBase, AsyncResource):
    """An `AuditSink` on PostgreSQL: one row per event, indexed for per-flag history.

    Args:
        pool: An ``asyncpg.Pool`` the application owns and closes (or use `connect`).
        table: The table's name (``"schema.table"`` to name its schema); created on first use.

    Raises:
        FeatureFlagsTypeError: ``pool`` is not an ``asyncpg.Pool``, or ``table`` not a str.
        FeatureFlagsConfigurationError: ``table`` is not a lower-case SQL identifier.
    """

    def __init__(self, pool: asyncpg.Pool, *, table: str = "feature_flag_audit") -> None:
        super().__init__(pool)
        self.table = _table(table)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "feature_flag_audit",
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool of ``min_size`` to ``max_size`` connections on ``dsn``; `aclose` closes it.

        Raises:
            FeatureFlagsConfigurationError: An argument is wrong, or the server refused the DSN's
                database or role or one of ``server_settings``; nothing is left open.
            FeatureFlagsTypeError: An argument has the wrong type.
            FeatureFlagsUnavailableError: The server cannot be reached.
        """
        _table(table)  # checked before any connection is made
        return await cls._open(
            dsn,
            lambda pool: cls(pool, table=table),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )

    def __repr__(self) -> str:
        return f"PostgresAuditSink({self._address!r}, table={self.table!r})"

    async def create_schema(self) -> None:
        """Create the table and its index if missing (done on first use anyway)."""
        await self._ensure(
            (
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " id bigserial PRIMARY KEY, flag_key text NOT NULL, action text NOT NULL,"
                " actor text NOT NULL, before jsonb, after jsonb, at timestamptz NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS {self.table.rpartition('.')[2]}_flag_idx"
                f" ON {self.table} (flag_key, id)",
            )
        )

    async def drop_schema(self) -> None:
        """Drop the audit table with every event in it (for tests and teardown)."""
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self.table}")
        self._ready = False

    async def record(self, event: FlagAuditEvent) -> None:
        """Insert the event.

        Raises:
            FeatureFlagsTypeError: ``event`` is not a `FlagAuditEvent`, or a field has the wrong type.
            FeatureFlagsConfigurationError: A field of ``event`` is wrong (see `FlagAuditEvent`).
            FlagDefinitionError: ``before`` or ``after`` cannot be stored (see `PostgresFlagSource.put`).
        """
        check_event(event)
        before, after = _dump(event.before), _dump(event.after)
        await self.create_schema()
        async with self._connection() as connection:
            await connection.execute(
                f"INSERT INTO {self.table} (flag_key, action, actor, before, after, at)"  # noqa: S608
                " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)",
                event.flag_key,
                event.action.value,
                event.actor,
                before,
                after,
                event.timestamp,
            )

    async def history(self, flag_key: str, *, limit: int | None = None) -> Sequence[FlagAuditEvent]:
        """Return the flag's events, oldest first; ``limit`` keeps the newest.

        Raises:
            FeatureFlagsConfigurationError: ``flag_key`` is not a non-empty str free of NUL and lone
                surrogates, or ``limit`` not ``None`` or an int from 1 to ``2**63 - 1``.
        """
        check_key(flag_key, "flag_key")
        check_limit(limit)
        await self.create_schema()
        query = (
            f"SELECT * FROM (SELECT id, flag_key, action, actor, before, after, at FROM {self.table}"  # noqa: S608
            " WHERE flag_key = $1 ORDER BY id DESC LIMIT $2) AS recent ORDER BY id"
        )
        async with self._connection() as connection:
            rows = await connection.fetch(query, flag_key, limit)
        return tuple(_event(row) for row in rows)


def _lost(connection: PoolConnectionProxy[asyncpg.Record]) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:  # the pool took a terminated connection back already
        return True


def _dump(flag: FlagDefinition | None) -> str | None:
    return None if flag is None else flag_to_json(flag)


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
