"""`PostgresEventStore`: the event store on PostgreSQL through asyncpg (extra ``postgres``).

Gap safety. Global positions are assigned inside the append's transaction after it takes a
transaction-scoped advisory lock (one lock per events table), and the lock is released only when the
transaction has committed and become visible. So positions are handed out in commit order: a reader that
sees position ``p`` can never later find a smaller position committing, and ``read_all`` followers
never skip an event. Positions are ``max(position) + 1`` under that lock, so they are dense (1, 2, 3, ...
with no holes, not even after a rolled-back append).

The price: appends to *different* streams serialize for the few statements between the lock and the
commit (the stream's version check, the batched insert and the commit's WAL flush). Everything before it
(building and sending the batch) runs in parallel, and each append is a single round trip, so the lock
is held for well under a millisecond on a local server. The alternative (xid8 + ``pg_snapshot_xmin``
visibility filtering on read) keeps writers parallel but makes every reader wait out the oldest running
transaction, including unrelated long ones; the lock keeps readers simple and the log dense.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, TableName

from . import _rules as rules
from ._metrics import TELEMETRY, UNAVAILABLE, record_append
from ._records import ANY, NO_STREAM, AppendResult, EventData, ExpectedVersion, RecordedEvent
from ._snapshots import HASH_TAG, check_snapshot
from ._store import SnapshotRecord, StoredLocation, Wakeup, resolve_replay
from .exceptions import (
    ConcurrencyError,
    DuplicateEventError,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    EventSourcingUnavailableError,
    MissingExtraError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare install check
    raise MissingExtraError("PostgresEventStore", "postgres") from exc

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["PostgresEventStore"]

_ERRORS: Final = BackendErrors(
    EventSourcingConfigurationError, EventSourcingTypeError, EventSourcingUnavailableError
)
#: ``<table>_stream_version_key`` must fit PostgreSQL's 63 bytes.
_MAX_TABLE: Final = 40

_COLUMNS = "event_id, stream_id, version, position, event_type, data, metadata, schema_version, timestamp"


@contextlib.contextmanager
def _counted() -> Iterator[None]:
    """Count each `EventSourcingUnavailableError` leaving the block as an outage."""
    try:
        yield
    except EventSourcingUnavailableError:
        UNAVAILABLE.add(1, {"backend": "postgresql"})
        raise


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresEventStore(PostgresBackend, AsyncResource):
    """An `EventStore` on PostgreSQL, with snapshots, checkpoints and LISTEN/NOTIFY wake-ups.

    Give it an asyncpg pool you own (``PostgresEventStore(pool=pool)``), or let
    `PostgresEventStore.connect` open one, which `aclose` then closes. Call `create_schema` once (it
    is idempotent) to create its tables::

        store = await PostgresEventStore.connect("postgresql://app@db/app", table="orders_events")
        await store.create_schema()
        await store.append("account-1", codec.encode_all(events), NO_STREAM)

    Every append is one round trip: a stored function checks the stream's version and inserts the
    whole batch (``unnest`` over arrays) in one statement, which commits on its own. See the module
    docs for how positions stay gap-safe.

    Args:
        pool: The asyncpg pool to use; the store never closes it.
        table: The events table, optionally schema-qualified (``"app.orders_events"``); without a
            schema it lives on the connection's ``search_path``. The store's other objects are named
            after it: ``<table>_snapshots``, ``<table>_checkpoints`` and the function ``<table>_append``.
            Lowercase letters, digits and ``_``; at most 40 characters (63 for the schema).
        notify: Send a NOTIFY with the last position on every append, so `wait_for_events` wakes at once.

    Raises:
        EventSourcingTypeError: ``pool`` is not an asyncpg pool, or ``notify`` not a bool.
        EventSourcingConfigurationError: ``table`` is not a valid name.
    """

    errors: ClassVar[BackendErrors] = _ERRORS
    # What a lost or dying server looks like from asyncpg beyond core's list: a pooled connection
    # that received the server's shutdown notice while idle reports "another operation is in
    # progress" on its next use (the store never shares a connection between operations, so nothing
    # else causes it), and the pool then replaces that connection.
    outages: ClassVar[tuple[type[BaseException], ...]] = (asyncpg.InternalClientError,)
    # Bound when the store is made, so the first append does not import and make the instruments.
    telemetry = TELEMETRY

    def __init__(self, pool: asyncpg.Pool, *, table: str = "es_events", notify: bool = True) -> None:
        parsed = TableName.parse(table, errors=_ERRORS, max_length=_MAX_TABLE)
        _check_notify(notify)
        super().__init__(pool)
        schema, name = parsed.schema, parsed.name

        def qualify(name: str) -> str:
            return _qualify(schema, name)

        self.table = table
        self._schema = schema
        self._name = name
        self.events_table = qualify(name)
        self.snapshots_table = qualify(f"{name}_snapshots")
        self.checkpoints_table = qualify(f"{name}_checkpoints")
        self._append_function = qualify(f"{name}_append")
        qualified = f"{schema or ''}.{name}"
        self._lock_key = zlib.crc32(f"buttress.event_sourcing:{qualified}".encode())
        self.channel: str | None = f"{name}_{zlib.crc32(qualified.encode()):08x}" if notify else None
        self._append_sql = _append_sql(self._append_function)
        # The snapshot comes first, as a row in the events' shape with a NULL position (an event's
        # position is never NULL), then the events from its version on. The server computes the
        # snapshot's hash too, only to choose the events: after a damaged snapshot it sends the whole
        # stream, so the fallback costs no second round trip. The repository's own check decides. No
        # ORDER BY over the union: sorting the 1,001 rows of a fallback was most of the server's extra
        # time (about 0.3 ms); the branches come one after the other and `_in_order` checks that they did.
        self._snapshot_and_tail_sql = (
            "WITH snap AS (SELECT version, state, state_hash, aggregate_type, timestamp, "  # noqa: S608
            f"schema_version, last_event_id, {_hash_sql('$1::text', '')} = state_hash AS intact "
            f"FROM {self.snapshots_table} WHERE stream_id = $1) "
            "SELECT last_event_id AS event_id, $1::text AS stream_id, version, NULL::bigint AS position, "
            "aggregate_type AS event_type, state AS data, convert_to(state_hash, 'UTF8') AS metadata, "
            "schema_version, timestamp FROM snap "
            f"UNION ALL (SELECT {_COLUMNS} FROM {self.events_table} "
            "WHERE stream_id = $1 AND version >= coalesce((SELECT version FROM snap WHERE intact), 1) "
            "ORDER BY version)"
        )
        self._listener: PoolConnectionProxy[Any] | None = None
        self._listener_lock = asyncio.Lock()
        self._listener_lost = False
        self._notified = 0
        self._notifications = Wakeup()

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "es_events",
        notify: bool = True,
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool on ``dsn`` and return a store that owns it (`aclose` closes it).

        Args:
            dsn: The PostgreSQL DSN; its password never reaches an error message.
            table: As for the constructor.
            notify: As for the constructor.
            min_size: Connections the pool keeps open.
            max_size: The most connections the pool opens.
            server_settings: Settings for every connection (``{"search_path": "app"}``).

        Each connection the pool opens prepares the append statement before its first use, so the
        server's parsing and catalog look-ups and the driver's type look-ups fall on opening, not on
        the first append (nothing runs: a prepare writes, locks and plans nothing the append relies
        on; before `create_schema` there is nothing to prepare and the connection opens as is). A
        store made around the application's pool never does this on the application's connections.

        Raises:
            EventSourcingUnavailableError: The server cannot be reached.
            EventSourcingConfigurationError: A bad DSN, table name or pool size.
            EventSourcingTypeError: An argument of the wrong type.
        """
        parsed = TableName.parse(table, errors=_ERRORS, max_length=_MAX_TABLE)  # checked before connecting
        _check_notify(notify)
        with _counted():
            return await cls._open(
                dsn,
                lambda pool: cls(pool, table=table, notify=notify),
                min_size=min_size,
                max_size=max_size,
                server_settings=server_settings,
                init=_preparer(_append_sql(_qualify(parsed.schema, f"{parsed.name}_append"))),
            )

    if TYPE_CHECKING:

        @property
        def pool(self) -> asyncpg.Pool:
            """The asyncpg pool the store uses (the application's, or the one `connect` opened)."""

    async def _aclose(self) -> None:
        """Stop listening and, if `connect` opened the pool, close it."""
        await self._stop_listener()
        await super()._aclose()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy[Any]]:
        with _counted():
            async with super()._connection() as conn:
                yield conn

    async def create_schema(self) -> None:
        """Create the tables and the append function if they do not exist (safe to call every start).

        On a pool `connect` opened, the connection it used then prepares the append statement, as
        every later connection of that pool does when it opens.
        """
        sql = _schema_sql(self)
        async with self._connection() as conn:
            async with conn.transaction():
                # Two processes creating the schema at once would race on the catalog; serialize them.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                await conn.execute(sql)
            if self.owns_pool:  # opened before the function existed: prepare what its init could not
                await conn.prepare(self._append_sql)

    async def drop_schema(self) -> None:
        """Drop the tables and the function (every event, snapshot and checkpoint is lost)."""
        async with self._connection() as conn:
            await conn.execute(
                f"DROP FUNCTION IF EXISTS {self._append_function}; DROP TABLE IF EXISTS {self.events_table}, "
                f"{self.snapshots_table}, {self.checkpoints_table}"
            )

    async def append(
        self, stream_id: str, events: Sequence[EventData], expected_version: ExpectedVersion
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` in one round trip; see `EventStore.append` for the rules."""
        stream_id, events, expected = rules.append(stream_id, events, expected_version)
        started = time.perf_counter()
        try:
            result, written = await self._append(stream_id, events, expected)
        except ConcurrencyError:
            record_append("postgresql", started, "conflict", 0)
            raise
        except DuplicateEventError:
            record_append("postgresql", started, "duplicate", 0)
            raise
        except EventSourcingUnavailableError:
            record_append("postgresql", started, "unavailable", 0)
            raise
        except Exception:
            record_append("postgresql", started, "error", 0)
            raise
        record_append("postgresql", started, "appended" if written else "replayed", written)
        return result

    async def _append(
        self, stream_id: str, events: Sequence[EventData], expected: ExpectedVersion
    ) -> tuple[AppendResult, int]:
        """The append itself; also says how many events it wrote (0 for an idempotent re-append)."""
        wanted = -1 if expected is ANY else 0 if expected is NO_STREAM else expected
        args = (
            stream_id,
            wanted,
            [e.event_id for e in events],
            [e.event_type for e in events],
            [e.schema_version for e in events],
            [e.data for e in events],
            [e.metadata for e in events],
            [e.timestamp for e in events],
            self._lock_key,
            self.channel,
        )
        async with self._connection() as conn:
            try:
                row = await conn.fetchrow(self._append_sql, *args)
            except asyncpg.UniqueViolationError:
                # Only a reused event id gets here: versions and positions are assigned under the lock.
                return await self._replay_or_raise(conn, stream_id, events, expected, None), 0
            if row is None:  # pragma: no cover - the function always returns one row
                raise EventSourcingUnavailableError("postgresql", self._address, "the append returned no row")
            if not row["ok"]:
                replayed = await self._replay_or_raise(
                    conn, stream_id, events, expected, row["stream_version"]
                )
                return replayed, 0
        return AppendResult(stream_id, row["stream_version"], row["last_position"]), len(events)

    async def _replay_or_raise(
        self,
        conn: PoolConnectionProxy[Any],
        stream_id: str,
        events: Sequence[EventData],
        expected: ExpectedVersion,
        actual: int | None,
    ) -> AppendResult:
        rows = await conn.fetch(
            f"SELECT event_id, stream_id, version, position FROM {self.events_table} "  # noqa: S608
            "WHERE event_id = ANY($1::uuid[])",
            [e.event_id for e in events],
        )
        stored = {r["event_id"]: StoredLocation(r["stream_id"], r["version"], r["position"]) for r in rows}
        replay = resolve_replay(stream_id, events, expected, stored)
        if replay is not None:
            return replay
        if actual is None:
            actual = await conn.fetchval(
                f"SELECT coalesce(max(version), 0) FROM {self.events_table} WHERE stream_id = $1",  # noqa: S608
                stream_id,
            )
        raise ConcurrencyError(stream_id, expected, int(actual or 0))

    async def read(
        self, stream_id: str, *, from_version: int = 1, to_version: int | None = None
    ) -> Sequence[RecordedEvent]:
        """Return the stream's events with ``from_version <= version <= to_version``."""
        stream_id, from_version, to_version = rules.read(stream_id, from_version, to_version)
        upper = 2**62 if to_version is None else to_version
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM {self.events_table} "  # noqa: S608
                "WHERE stream_id = $1 AND version >= $2 AND version <= $3 ORDER BY version",
                stream_id,
                from_version,
                upper,
            )
        return [RecordedEvent(*row) for row in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[RecordedEvent]:
        """Return at most ``limit`` events with positions above ``after_position``, in position order."""
        after_position, limit = rules.read_all(after_position, limit)
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM {self.events_table} WHERE position > $1 ORDER BY position LIMIT $2",  # noqa: S608
                after_position,
                limit,
            )
        return [RecordedEvent(*row) for row in rows]

    async def last_position(self) -> int:
        """Return the global position of the newest event, 0 when the store is empty."""
        async with self._connection() as conn:
            value = await conn.fetchval(f"SELECT coalesce(max(position), 0) FROM {self.events_table}")  # noqa: S608
        return int(value or 0)

    # LISTEN/NOTIFY -------------------------------------------------------------------------------

    async def wait_for_events(self, after_position: int, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for a NOTIFY of an append past ``after_position``.

        The first call starts listening on one pooled connection (held until `aclose`); if that
        connection is lost, the call returns ``True`` and the next one listens again. Without
        ``notify=True`` it simply sleeps for ``timeout`` and returns ``True``.
        """
        after_position, timeout = rules.wait_for_events(after_position, timeout)
        if self.channel is None:
            await asyncio.sleep(timeout)
            return True
        if self._listener is None or self._listener_lost:
            await self._start_listener()
            return True  # appends before LISTEN took effect are found by the caller's next read
        if self._notified > after_position:
            return True
        return await self._notifications.wait(timeout)

    async def _start_listener(self) -> None:
        async with self._listener_lock:
            if self._listener is not None and not self._listener_lost:
                return
            await self._stop_listener()
            channel = self.channel or ""
            with _counted():
                conn = await self._acquire()
            try:
                await conn.add_listener(channel, self._on_notify)
            except BaseException:
                await self.pool.release(conn)
                raise
            conn.add_termination_listener(self._on_listener_lost)
            self._listener = conn
            self._listener_lost = False

    async def _stop_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        quiet: tuple[type[BaseException], ...] = (*self._outages(), asyncpg.PostgresError)
        if self._listener_lost:
            # A lost connection cannot be reset for reuse: close it so the pool replaces it.
            with contextlib.suppress(*quiet):
                conn.terminate()
        else:
            with contextlib.suppress(*quiet):
                if self.channel is not None:
                    await conn.remove_listener(self.channel, self._on_notify)
        with contextlib.suppress(*quiet):
            await self.pool.release(conn)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError, TypeError):
            self._notified = max(self._notified, int(str(payload)))
        self._notifications.wake()

    def _on_listener_lost(self, _conn: object) -> None:
        self._listener_lost = True
        self._notifications.wake()

    # Snapshots and checkpoints -------------------------------------------------------------------

    async def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store ``snapshot`` unless an intact snapshot of a later version is stored."""
        check_snapshot(snapshot)
        async with self._connection() as conn:
            await conn.execute(
                f"INSERT INTO {self.snapshots_table} AS s "  # noqa: S608
                "(stream_id, version, state, state_hash, aggregate_type, timestamp, schema_version, "
                "last_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (stream_id) DO UPDATE SET "
                "version = EXCLUDED.version, state = EXCLUDED.state, state_hash = EXCLUDED.state_hash, "
                "aggregate_type = EXCLUDED.aggregate_type, timestamp = EXCLUDED.timestamp, "
                "schema_version = EXCLUDED.schema_version, last_event_id = EXCLUDED.last_event_id "
                # A damaged row (an edited version, say) must never block a good snapshot.
                f"WHERE s.version <= EXCLUDED.version OR {_hash_sql('s.stream_id', 's.')} "
                "IS DISTINCT FROM s.state_hash",
                snapshot.stream_id,
                snapshot.version,
                snapshot.state,
                snapshot.state_hash,
                snapshot.aggregate_type,
                snapshot.timestamp,
                snapshot.schema_version,
                snapshot.last_event_id,
            )

    async def load_snapshot(self, stream_id: str) -> SnapshotRecord | None:
        """Return the latest snapshot of ``stream_id``, or ``None``."""
        rules.stream_id(stream_id)
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT stream_id, version, state, state_hash, aggregate_type, timestamp, "  # noqa: S608
                f"schema_version, last_event_id FROM {self.snapshots_table} WHERE stream_id = $1",
                stream_id,
            )
        return None if row is None else SnapshotRecord(*row)

    async def read_with_snapshot(
        self, stream_id: str
    ) -> tuple[SnapshotRecord | None, Sequence[RecordedEvent]]:
        """Return the latest snapshot of ``stream_id`` (or ``None``) and the events from its version on.

        One query. When the snapshot does not match its hash, the events are the whole stream.
        """
        rules.stream_id(stream_id)
        async with self._connection() as conn:
            rows = await conn.fetch(self._snapshot_and_tail_sql, stream_id)
        rows = _in_order(rows)
        snapshot: SnapshotRecord | None = None
        if rows and rows[0][3] is None:
            event_id, _, version, _, aggregate_type, state, digest, schema_version, timestamp = rows[0]
            snapshot = SnapshotRecord(
                stream_id,
                version,
                state,
                digest.decode(),
                aggregate_type,
                timestamp,
                schema_version,
                event_id,
            )
            del rows[0]
        return snapshot, [RecordedEvent(*row) for row in rows]

    async def load_checkpoint(self, name: str) -> int:
        """Return the position saved for subscription ``name``, or 0."""
        async with self._connection() as conn:
            return await load_checkpoint(conn, self.checkpoints_table, name)

    async def save_checkpoint(self, name: str, position: int) -> None:
        """Save ``position`` for subscription ``name``."""
        async with self._connection() as conn:
            await save_checkpoint(conn, self.checkpoints_table, name, position)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """A pooled connection inside a transaction: what projections write through."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    def __repr__(self) -> str:
        return f"PostgresEventStore(table={self.table!r})"


async def load_checkpoint(conn: PoolConnectionProxy[Any], table: str, name: str) -> int:
    """Read a checkpoint on ``conn`` (inside the caller's transaction, if any)."""
    value = await conn.fetchval(f"SELECT position FROM {table} WHERE name = $1", rules.checkpoint_name(name))  # noqa: S608
    return int(value or 0)


async def save_checkpoint(conn: PoolConnectionProxy[Any], table: str, name: str, position: int) -> None:
    """Write a checkpoint on ``conn`` (inside the caller's transaction, if any)."""
    await conn.execute(
        f"INSERT INTO {table} (name, position) VALUES ($1, $2) "  # noqa: S608
        "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
        *rules.save_checkpoint(name, position),
    )


def _qualify(schema: str | None, name: str) -> str:
    return f'"{schema}"."{name}"' if schema else f'"{name}"'


def _append_sql(function: str) -> str:
    """The append: one call of the store's function (``function``, qualified) with the batch as arrays."""
    return (
        f"SELECT ok, stream_version, last_position FROM {function}"  # noqa: S608
        "($1, $2, $3::uuid[], $4::text[], $5::int[], $6::bytea[], $7::bytea[], $8::timestamptz[], "
        "$9, $10)"
    )


def _preparer(sql: str) -> Callable[[Any], Awaitable[None]]:
    """An ``init`` for `connect`'s pool: prepare ``sql`` on each new connection, if it can be yet.

    Before `create_schema` the function (or its schema) does not exist: the connection opens as it
    would have, and the first append on it prepares as before. A prepare plans the outer ``SELECT``
    and looks up the argument types; it runs nothing, takes no lock and changes no session state.
    """

    async def prepare(connection: Any) -> None:  # noqa: ANN401 - an asyncpg connection
        with contextlib.suppress(asyncpg.UndefinedFunctionError, asyncpg.InvalidSchemaNameError):
            await connection.prepare(sql)

    return prepare


def _in_order(rows: list[Any]) -> list[Any]:
    """``rows`` of `read_with_snapshot`: the snapshot row (NULL position) first, then the events by version.

    PostgreSQL returns a UNION ALL's branches one after the other, so this is the common case and costs
    one pass; rows in any other order are sorted here, as an ORDER BY would have.
    """
    start = 1 if rows and rows[0][3] is None else 0
    versions = [row[2] for row in rows[start:]]
    if not versions:
        return rows
    # Consecutive versions also rule out the snapshot row anywhere but first, unless it is last.
    if versions == list(range(versions[0], versions[0] + len(versions))) and rows[-1][3] is not None:
        return rows
    return sorted(rows, key=lambda row: (row[3] is not None, row[2]))


def _check_notify(notify: object) -> None:
    if not isinstance(notify, bool):
        raise EventSourcingTypeError("notify", "a bool", notify)


def _hash_sql(stream_id: str, row: str) -> str:
    """SQL computing `state_hash` of a snapshot row, byte for byte as `state_hash` does in Python.

    ``stream_id`` is the SQL expression of the stream the row is read as; ``row`` prefixes the columns.
    """
    tag = HASH_TAG.hex()
    return (
        f"encode(sha256('\\x{tag}'::bytea "
        f"|| int4send(octet_length(convert_to({stream_id}, 'UTF8'))) || convert_to({stream_id}, 'UTF8') "
        f"|| int8send({row}version) "
        f"|| int4send(octet_length(convert_to({row}aggregate_type, 'UTF8'))) "
        f"|| convert_to({row}aggregate_type, 'UTF8') "
        f"|| int4send({row}schema_version) || uuid_send({row}last_event_id) || {row}state), 'hex')"
    )


def _schema_sql(store: PostgresEventStore) -> str:
    events = store.events_table
    p = store._name
    schema_stmt = f'CREATE SCHEMA IF NOT EXISTS "{store._schema}";\n' if store._schema else ""
    # Every identifier interpolated here was validated against a strict pattern at construction.
    return f"""{schema_stmt}
CREATE TABLE IF NOT EXISTS {events} (
    position bigint PRIMARY KEY,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data bytea NOT NULL,
    metadata bytea NOT NULL,
    timestamp timestamptz NOT NULL,
    CONSTRAINT {p}_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT {p}_event_id_key UNIQUE (event_id)
);
CREATE TABLE IF NOT EXISTS {store.snapshots_table} (
    stream_id text PRIMARY KEY,
    version bigint NOT NULL,
    state bytea NOT NULL,
    state_hash text NOT NULL,
    aggregate_type text NOT NULL,
    timestamp timestamptz NOT NULL,
    schema_version integer NOT NULL DEFAULT 1,
    last_event_id uuid
);
-- Tables made by 0.1.0 previews lack the two bound columns; their rows then fail the hash and are replaced.
ALTER TABLE {store.snapshots_table}
    ADD COLUMN IF NOT EXISTS schema_version integer NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS last_event_id uuid;
CREATE TABLE IF NOT EXISTS {store.checkpoints_table} (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
CREATE OR REPLACE FUNCTION {store._append_function}(
    p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_schema int[], p_data bytea[],
    p_meta bytea[], p_ts timestamptz[], p_lock bigint, p_channel text
) RETURNS TABLE (ok boolean, stream_version bigint, last_position bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_current bigint;
    v_base bigint;
    v_count bigint := cardinality(p_ids);
BEGIN
    -- Held until commit: positions are assigned, and become visible, in commit order.
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT coalesce(max(e.version), 0) INTO v_current FROM {events} e WHERE e.stream_id = p_stream;
    IF p_expected >= 0 AND v_current <> p_expected THEN
        RETURN QUERY SELECT false, v_current, 0::bigint;
        RETURN;
    END IF;
    SELECT coalesce(max(e.position), 0) INTO v_base FROM {events} e;
    INSERT INTO {events}
        (position, stream_id, version, event_id, event_type, schema_version, data, metadata, timestamp)
    SELECT v_base + u.ord, p_stream, v_current + u.ord, u.id, u.typ, u.sv, u.d, u.m, u.ts
    FROM unnest(p_ids, p_types, p_schema, p_data, p_meta, p_ts)
        WITH ORDINALITY AS u(id, typ, sv, d, m, ts, ord);
    IF p_channel IS NOT NULL THEN
        PERFORM pg_notify(p_channel, (v_base + v_count)::text);
    END IF;
    RETURN QUERY SELECT true, v_current + v_count, v_base + v_count;
END
$fn$;
"""  # noqa: S608 - every identifier above was validated at construction
