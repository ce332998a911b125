"""What every part of `PostgresOutbox` shares: the pool, the table names, the clock and schedule."""

# Table names are interpolated into SQL; they are checked by core's TableName.parse first.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from buttress.core import AsyncResource, BackendErrors, Clock, PostgresBackend, TableName

from .._delivery import Message
from .._endpoints import EndpointStore
from .._metrics import TELEMETRY
from .._outbox import SendSignal, check_outbox_parts, message_key
from .._postgres import ERRORS, Connection
from .._schedule import RetrySchedule
from ..exceptions import MessageNotFoundError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from ..exceptions import MissingExtraError

    raise MissingExtraError("PostgresOutbox", "postgres") from exc

__all__ = ["Connection", "OutboxBase", "Tables", "affected", "asyncpg"]

# The longest name derived from the stem is the index <stem>_deliveries_finished (PostgreSQL: 63).
_MAX_STEM: Final = 63 - len("_deliveries_finished")


@dataclass(frozen=True, slots=True)
class Tables:
    """The outbox's table names: ``<table>_messages``, ``_deliveries``, ``_attempts``, ``_endpoint_health``.

    ``stem`` is the checked ``table``; ``index`` the unqualified stem that index names start with
    (an index lives in its table's schema).
    """

    stem: str
    messages: str
    deliveries: str
    attempts: str
    health: str
    index: str

    @classmethod
    def named(cls, table: object) -> Tables:
        """The names for ``table``, checked (``[schema.]stem``, the stem at most 43 characters)."""
        base = TableName.parse(table, errors=ERRORS, max_length=_MAX_STEM)
        return cls(
            stem=base.sql,
            messages=base.derived("messages").sql,
            deliveries=base.derived("deliveries").sql,
            attempts=base.derived("attempts").sql,
            health=base.derived("endpoint_health").sql,
            index=base.name,
        )


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class OutboxBase(PostgresBackend, AsyncResource):
    """The pool, table names, endpoint store, schedule and clock of a `PostgresOutbox`."""

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS
    # Plain statements only, each alone or in a transaction the outbox commits or rolls back (no SET,
    # LISTEN, session advisory lock or cursor): the pool `connect` opens needs no reset query after them.
    session_neutral: ClassVar[bool] = True

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        endpoints: EndpointStore,
        *,
        table: str = "webhook",
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
    ) -> None:
        tables = Tables.named(table)
        parts = check_outbox_parts(endpoints, schedule, clock)
        super().__init__(pool)
        self.table = tables.stem
        self._tables = tables
        self._endpoints, self._schedule, self._clock = parts
        self._sends = SendSignal()

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
    async def _transaction(self, given: Connection | None, *, own: bool = True) -> AsyncIterator[Connection]:
        """The caller's connection (its transaction), else a pooled one in a transaction of ours.

        With ``own=False`` no transaction is opened on the pooled connection: for a single statement,
        which PostgreSQL runs atomically on its own.
        """
        if given is not None:
            # The caller's transaction: commit and rollback are theirs; outages are still mapped.
            with self._unavailable():
                yield given
            return
        if not own:
            async with self._connection() as connection:
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
