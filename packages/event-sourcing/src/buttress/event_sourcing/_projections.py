"""Exactly-once projections into PostgreSQL: the projection's writes and its checkpoint commit together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from buttress.core import AsyncResource

from ._follow import Follower
from ._metrics import EVENTS_HANDLED
from ._postgres import PostgresEventStore, save_checkpoint
from ._records import RecordedEvent, check_interval, check_name, check_position
from .exceptions import EventSourcingTypeError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["PostgresProjectionRunner", "Projection"]

_COLUMNS = "event_id, stream_id, version, position, event_type, data, metadata, schema_version, timestamp"


@runtime_checkable
class Projection(Protocol):
    """**Protocol**: a read model kept in PostgreSQL tables, fed by `PostgresProjectionRunner`.

    Every method gets a connection that is inside the runner's transaction: write through it, never
    through another connection, or the exactly-once guarantee is lost.

    Attributes:
        name: The projection's checkpoint name; unique per store.

    Methods:
        setup: Create the projection's tables (idempotently).
        apply: Apply one event to the tables.
        reset: Empty the tables, before a rebuild from position 0.
    """

    name: str

    async def setup(self, conn: PoolConnectionProxy[Any]) -> None:
        """Create the projection's tables if they do not exist."""
        ...

    async def apply(self, conn: PoolConnectionProxy[Any], event: RecordedEvent) -> None:
        """Apply ``event``; ignore event types the projection does not care about."""
        ...

    async def reset(self, conn: PoolConnectionProxy[Any]) -> None:
        """Remove everything the projection wrote."""
        ...


class PostgresProjectionRunner(Follower, AsyncResource):
    """Runs a `Projection` over a `PostgresEventStore`'s log, exactly once per event.

    Each page of events is applied in one transaction that also moves the checkpoint, after locking the
    checkpoint's row (``SELECT ... FOR UPDATE``). A crash, a cancelled task or a lost connection before
    the commit rolls back both the writes and the checkpoint, so the page is applied again, once; and two
    runners of the same projection take turns instead of applying a page twice.

    `start` follows the log in a supervised background task (core's `BackgroundTask`): an exception
    from the projection is logged and the page is tried again after a pause (1 s, doubling up to
    30 s). `aclose` (or leaving ``async with``) stops it; the store, and its pool, stay open.

    Args:
        store: The store whose log is projected; the projection's tables live in its database.
        projection: What to apply.
        batch_size: Events per transaction.
        poll_interval: Longest wait for a notification before looking again.
    """

    _kind = "projection runner"
    _parameter = "runner"
    _task_prefix = "projection"

    def __init__(
        self,
        store: PostgresEventStore,
        projection: Projection,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        if not isinstance(store, PostgresEventStore):
            raise EventSourcingTypeError("store", "a PostgresEventStore", store)
        if not isinstance(projection, Projection):
            raise EventSourcingTypeError(
                "projection", "a Projection (name, setup(), apply() and reset())", projection
            )
        check_name(projection.name, "projection.name")
        check_position(batch_size, "batch_size", 1)
        super().__init__()
        self.store = store
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval = check_interval(poll_interval, "poll_interval")
        self._attributes = {"subscription.name": projection.name, "subscription.kind": "projection"}
        self._task = None

    async def setup(self) -> None:
        """Create the projection's tables (the store's schema must exist)."""
        async with self.store.transaction() as conn:
            await self.projection.setup(conn)

    async def position(self) -> int:
        """Return the projection's committed checkpoint."""
        return await self.store.load_checkpoint(self.projection.name)

    async def step(self) -> int:
        """Apply the next page of events in one transaction; return how many were applied."""
        table = self.store.checkpoints_table
        name = self.projection.name
        async with self.store.transaction() as conn:
            await conn.execute(
                f"INSERT INTO {table} (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",  # noqa: S608
                name,
            )
            position = await conn.fetchval(f"SELECT position FROM {table} WHERE name = $1 FOR UPDATE", name)  # noqa: S608
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM {self.store.events_table} "  # noqa: S608
                "WHERE position > $1 ORDER BY position LIMIT $2",
                position,
                self.batch_size,
            )
            if not rows:
                return 0
            for row in rows:
                await self.projection.apply(conn, RecordedEvent(*row))
            await save_checkpoint(conn, table, name, rows[-1]["position"])
        EVENTS_HANDLED.add(len(rows), self._attributes)
        return len(rows)

    async def catch_up(self) -> int:
        """Apply every event stored now past the checkpoint; return how many were applied."""
        total = 0
        while count := await self.step():
            total += count
        return total

    async def rebuild(self) -> int:
        """Empty the projection and apply the whole log again; return how many events were applied.

        The reset and the checkpoint's return to 0 commit together, so a crash mid-rebuild resumes it.
        """
        async with self.store.transaction() as conn:
            await self.projection.reset(conn)
            await save_checkpoint(conn, self.store.checkpoints_table, self.projection.name, 0)
        return await self.catch_up()

    @property
    def _label(self) -> str:
        return self.projection.name

    async def _wait(self) -> None:
        await self.store.wait_for_events(await self.position(), self.poll_interval)
