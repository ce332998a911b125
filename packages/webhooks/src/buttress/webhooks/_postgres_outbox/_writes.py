"""`PostgresOutbox.send`: a message and its deliveries, in the caller's transaction when given one.

Without the caller's connection, sends that arrive while an earlier one is being written are written
together, in one statement (a group commit): the first send of a quiet outbox goes at once, alone;
those that queue behind it share the next round trip and commit. Each caller still returns only
once its own message is committed, and a statement that fails for another reason than an outage is
retried message by message, so one caller's bad value never fails another's send.
"""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from .._delivery import Message
from .._outbox import check_send
from ..exceptions import WebhooksTypeError, WebhooksUnavailableError
from ._base import Connection, OutboxBase, asyncpg

__all__ = ["Writes"]

_CONNECTIONS: Final = (asyncpg.Connection, asyncpg.pool.PoolConnectionProxy)
# The most messages one grouped statement writes.
_MAX_GROUP: Final = 500


@dataclass(slots=True)
class _Queued:
    """A send waiting for the next grouped statement; ``stored`` says whether its row was new."""

    msg_id: str
    event_type: str
    body: bytes
    now: datetime
    due: datetime
    targets: list[str]
    stored: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def arguments(self) -> tuple[object, ...]:
        """The arguments of the one-message statement (`Writes._send_sql`)."""
        return (self.msg_id, self.event_type, self.body, self.now, self.targets, self.due)


class Writes(OutboxBase):
    """`send`."""

    _queued: list[_Queued] | None = None
    _writer: asyncio.Task[None] | None = None

    @property
    def _send_sql(self) -> str:
        t = self._tables
        return (
            f"WITH m AS (INSERT INTO {t.messages} (id, event_type, body, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id), "
            f"d AS (INSERT INTO {t.deliveries} "
            "(message_id, endpoint_id, status, next_attempt_at, created_at) "
            "SELECT m.id, target, 'pending', $6, $4 FROM m, unnest($5::text[]) AS target) "
            "SELECT count(*) FROM m"
        )

    @property
    def _group_sql(self) -> str:
        t = self._tables
        # The deliveries come as (message id, endpoint id) pairs: messages have different targets.
        return (
            "WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[], "
            "$5::timestamptz[]) AS i (id, event_type, body, created_at, due)), "
            f"m AS (INSERT INTO {t.messages} (id, event_type, body, created_at) "
            "SELECT id, event_type, body, created_at FROM i ON CONFLICT (id) DO NOTHING RETURNING id), "
            f"d AS (INSERT INTO {t.deliveries} "
            "(message_id, endpoint_id, status, next_attempt_at, created_at) "
            "SELECT m.id, t.endpoint_id, 'pending', i.due, i.created_at "
            "FROM unnest($6::text[], $7::text[]) AS t (message_id, endpoint_id) "
            "JOIN m ON m.id = t.message_id JOIN i ON i.id = t.message_id) "
            "SELECT id FROM m"
        )

    async def send(
        self,
        event_type: str,
        payload: object,
        *,
        connection: Connection | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Record a message and a delivery to every enabled endpoint subscribed to ``event_type``.

        Without ``connection``, sends made while an earlier one is being written share the next
        statement and commit (each returns once its own message is committed).

        Args:
            event_type: The event's type, matched against each endpoint's ``event_types``.
            payload: ``bytes`` sent as they are, or a JSON-serializable value (encoded compactly).
            connection: The caller's asyncpg connection, inside its transaction: the message is
                committed or rolled back with the caller's own writes. Without it the outbox uses its
                pool and its own transaction.
            message_id: An id for idempotency: sending the same id twice records it once and returns
                the message already stored. A fresh ``msg_...`` id by default.

        Returns:
            The stored message.

        Raises:
            WebhooksConfigurationError: ``event_type``, ``payload`` or ``message_id`` is invalid.
            WebhooksTypeError: ``connection`` is not an asyncpg connection.
            WebhooksUnavailableError: The database cannot be reached.
        """
        event_type, body, msg_id = check_send(event_type, payload, message_id)
        if connection is not None and not isinstance(connection, _CONNECTIONS):
            raise WebhooksTypeError("connection", "an asyncpg connection or None", connection)
        targets = [e.id for e in await self.endpoints.list(event_type=event_type, enabled=True)]
        now = self.clock.now()
        due = now + timedelta(seconds=self.schedule.first_delay)
        if connection is None:
            if not await self._grouped(_Queued(msg_id, event_type, body, now, due, targets)):
                async with self._connection() as conn:
                    return await self._message(conn, msg_id)
            return Message(msg_id, event_type, body, now)
        # One statement, so one round trip and atomic: the message, then a delivery per target only
        # when the message row was new (a repeated id adds nothing). Not visible before the caller
        # commits, so no worker is woken: the poll finds it.
        with self._unavailable():
            if await connection.fetchval(self._send_sql, msg_id, event_type, body, now, targets, due):
                return Message(msg_id, event_type, body, now)
            return await self._message(connection, msg_id)

    async def _grouped(self, send: _Queued) -> bool:
        """Queue ``send`` for the writer (started if idle); whether its message row was new."""
        if self._queued is None:
            self._queued = []
        self._queued.append(send)
        if self._writer is None or self._writer.done():
            # Its own task, so a caller cancelled while waiting stops no one else's write.
            self._writer = asyncio.create_task(self._write_queued())
        return await send.stored

    async def _write_queued(self) -> None:
        """Write what is queued, a group per statement, until the queue is empty."""
        while self._queued:
            group: list[_Queued] = []
            later: list[_Queued] = []
            ids: set[str] = set()
            for send in self._queued:
                # A repeated id waits for the next statement: one statement inserts a message once.
                if send.msg_id in ids or len(group) >= _MAX_GROUP:
                    later.append(send)
                else:
                    ids.add(send.msg_id)
                    group.append(send)
            self._queued = later
            try:
                stored = await self._write_group(group)
            except asyncio.CancelledError:
                for send in (*group, *self._queued):
                    send.stored.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the group, unchanged
                for send in group:
                    if not send.stored.done():
                        send.stored.set_exception(exc)
                continue
            for send in group:
                if not send.stored.done():
                    send.stored.set_result(send.msg_id in stored)
            if any(send.targets and send.msg_id in stored for send in group):
                # Committed (the statement was its own transaction): this process's workers claim now.
                self._sends.notify()

    async def _write_group(self, group: list[_Queued]) -> set[str]:
        """The ids whose message rows were new; one statement for the group (then one per message)."""
        try:
            async with self._connection() as connection:
                rows = await connection.fetch(
                    self._group_sql,
                    [s.msg_id for s in group],
                    [s.event_type for s in group],
                    [s.body for s in group],
                    [s.now for s in group],
                    [s.due for s in group],
                    [s.msg_id for s in group for _ in s.targets],
                    [target for s in group for target in s.targets],
                )
            return {row["id"] for row in rows}
        except WebhooksUnavailableError:
            raise
        except Exception:
            if len(group) == 1:
                raise
        # Not an outage: written one by one, so the send that caused it fails alone.
        stored: set[str] = set()
        for send in group:
            try:
                async with self._connection() as connection:
                    if await connection.fetchval(self._send_sql, *send.arguments):
                        stored.add(send.msg_id)
            except WebhooksUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - this send's own failure, handed to its caller
                if not send.stored.done():
                    send.stored.set_exception(exc)
        return stored

    async def _aclose(self) -> None:
        # Sends already queued are written before the pool closes.
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        await super()._aclose()
