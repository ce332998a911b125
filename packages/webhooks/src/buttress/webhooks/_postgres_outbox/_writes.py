"""`PostgresOutbox.send`: a message and its deliveries, in the caller's transaction when given one."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

from datetime import timedelta
from typing import Final

from .._delivery import Message
from .._outbox import check_send
from ..exceptions import WebhooksTypeError
from ._base import Connection, OutboxBase, asyncpg

__all__ = ["Writes"]

_CONNECTIONS: Final = (asyncpg.Connection, asyncpg.pool.PoolConnectionProxy)


class Writes(OutboxBase):
    """`send`."""

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

    async def send(
        self,
        event_type: str,
        payload: object,
        *,
        connection: Connection | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Record a message and a delivery to every enabled endpoint subscribed to ``event_type``.

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
        # One statement, so one round trip and atomic without BEGIN/COMMIT of our own: the message,
        # then a delivery per target only when the message row was new (a repeated id adds nothing).
        async with self._transaction(connection, own=False) as conn:
            inserted = await conn.fetchval(self._send_sql, msg_id, event_type, body, now, targets, due)
            if not inserted:
                return await self._message(conn, msg_id)
        if connection is None and targets:
            # Committed (the statement was its own transaction): this process's workers claim it now.
            # In the caller's transaction it is not visible before the caller commits: the poll finds it.
            self._sends.notify()
        return Message(msg_id, event_type, body, now)
