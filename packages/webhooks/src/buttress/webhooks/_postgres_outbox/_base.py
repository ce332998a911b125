"""What every part of `PostgresOutbox` shares: the pool, the table names, the clock and schedule."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from buttress.core import AsyncResource, Clock

from .._delivery import Message
from .._endpoints import EndpointStore
from .._outbox import check_outbox_parts, message_key
from .._postgres import Connection, PoolBacked, check_table
from .._schedule import RetrySchedule
from ..exceptions import MessageNotFoundError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from ..exceptions import MissingExtraError

    raise MissingExtraError("PostgresOutbox", "postgres") from exc

__all__ = ["Connection", "OutboxBase", "Tables", "affected", "asyncpg"]


@dataclass(frozen=True, slots=True)
class Tables:
    """The outbox's table names: ``<table>_messages``, ``_deliveries``, ``_attempts``, ``_endpoint_health``.

    ``index`` is the unqualified stem that index names start with (an index lives in its table's schema).
    """

    messages: str
    deliveries: str
    attempts: str
    health: str
    index: str

    @classmethod
    def named(cls, table: str) -> Tables:
        return cls(
            messages=f"{table}_messages",
            deliveries=f"{table}_deliveries",
            attempts=f"{table}_attempts",
            health=f"{table}_endpoint_health",
            index=table.rpartition(".")[2],
        )


class OutboxBase(PoolBacked, AsyncResource):
    """The pool, table names, endpoint store, schedule and clock of a `PostgresOutbox`."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        endpoints: EndpointStore,
        *,
        table: str = "webhook",
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
    ) -> None:
        checked = check_table(table)
        parts = check_outbox_parts(endpoints, schedule, clock)
        super().__init__(pool)
        self.table = checked
        self._tables = Tables.named(checked)
        self._endpoints, self._schedule, self._clock = parts

    @property
    def clock(self) -> Clock:
        """The time source of every due time, lease and attempt (never the database's ``now()``)."""
        return self._clock

    @property
    def schedule(self) -> RetrySchedule:
        """The retry schedule; its first delay sets when a new message is first due."""
        return self._schedule

    @property
    def endpoints(self) -> EndpointStore:
        """Where subscribers are found."""
        return self._endpoints

    @asynccontextmanager
    async def _transaction(self, given: Connection | None) -> AsyncIterator[Connection]:
        if given is not None:
            # The caller's transaction: commit and rollback are theirs.
            async with self._connection(given) as connection:
                yield connection
            return
        async with self._connection() as connection, connection.transaction():
            yield connection

    async def _message(self, connection: Connection, message_id: str) -> Message:
        key = message_key(message_id)
        row = None
        if key is not None:
            row = await connection.fetchrow(f"SELECT * FROM {self._tables.messages} WHERE id = $1", key)
        if row is None:
            raise MessageNotFoundError(str(message_id))
        return Message(row["id"], row["event_type"], bytes(row["body"]), row["created_at"])


def affected(result: str) -> int:
    """The row count of an asyncpg status string such as ``UPDATE 3``."""
    return int(result.rsplit(" ", 1)[-1])
