"""`PostgresOutbox`'s operator actions: send a message again, recover what died or was cancelled."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from .._checks import aware_datetime
from .._endpoints import endpoint_key
from ._base import OutboxBase, affected

__all__ = ["Operator"]


class Operator(OutboxBase):
    """`requeue` and `recover`: the only acts that start a delivery's attempt count again."""

    async def requeue(self, message_id: str, *, endpoint_id: str | None = None) -> int:
        """Send a message again: its finished deliveries (or the one to ``endpoint_id``) restart now.

        With ``endpoint_id``, the message is queued for that endpoint even if it never had a delivery
        there (an endpoint created after the message). Pending deliveries are left alone. A restarted
        delivery gets the whole schedule again, from attempt one.

        Returns:
            The number of deliveries queued.

        Raises:
            MessageNotFoundError: There is no such message.
            EndpointNotFoundError: ``endpoint_id`` names no endpoint.
        """
        now = self.clock.now()
        deliveries = self._tables.deliveries
        async with self._transaction(None) as connection:
            await self._message(connection, message_id)
            if endpoint_id is None:
                result = await connection.execute(
                    f"UPDATE {deliveries} SET status = 'pending', attempts = 0, next_attempt_at = $2, "
                    "lease_token = NULL, finished_at = NULL WHERE message_id = $1 AND status <> 'pending'",
                    message_id,
                    now,
                )
                return affected(result)
            await self.endpoints.get(endpoint_id)
            result = await connection.execute(
                f"INSERT INTO {deliveries} AS d "
                "(message_id, endpoint_id, status, next_attempt_at, created_at) "
                "VALUES ($1, $2, 'pending', $3, $3) ON CONFLICT (message_id, endpoint_id) DO UPDATE SET "
                "status = 'pending', attempts = 0, next_attempt_at = $3, lease_token = NULL, "
                "finished_at = NULL WHERE d.status <> 'pending'",
                message_id,
                endpoint_id,
                now,
            )
            return affected(result)

    async def recover(self, since: datetime, *, endpoint_id: str | None = None) -> int:
        """Restart every delivery that died or was cancelled at or after ``since`` (or one endpoint's).

        Returns the number of deliveries queued again. Re-enable the endpoint first if it was disabled,
        or the worker cancels them again.
        """
        aware_datetime("since", since)
        if endpoint_id is not None and endpoint_key(endpoint_id) is None:
            return 0  # no endpoint has that id
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._tables.deliveries} SET status = 'pending', attempts = 0, "
                "next_attempt_at = $1, lease_token = NULL, finished_at = NULL "
                "WHERE status IN ('dead', 'cancelled') AND finished_at >= $2 "
                "AND ($3::text IS NULL OR endpoint_id = $3)",
                self.clock.now(),
                since,
                endpoint_id,
            )
        return affected(result)
