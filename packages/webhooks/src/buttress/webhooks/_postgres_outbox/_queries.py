"""`PostgresOutbox`'s read side: a message, its deliveries and attempts, and counts by status."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

from .._delivery import Attempt, Delivery, DeliveryStatus, Message
from .._outbox import message_key
from ._base import OutboxBase, asyncpg

__all__ = ["Queries"]


class Queries(OutboxBase):
    """`message`, `deliveries`, `attempts` and `counts`."""

    async def message(self, message_id: str) -> Message:
        """Return a stored message.

        Raises:
            MessageNotFoundError: There is none with this id.
        """
        async with self._connection() as connection:
            return await self._message(connection, message_id)

    async def deliveries(self, message_id: str) -> list[Delivery]:
        """Return the deliveries of one message, ordered by endpoint id."""
        key = message_key(message_id)
        if key is None:
            return []
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT * FROM {self._tables.deliveries} WHERE message_id = $1 "
                'ORDER BY endpoint_id COLLATE "C"',
                key,
            )
        return [_delivery(row) for row in rows]

    async def attempts(self, message_id: str) -> list[Attempt]:
        """Return every attempt logged for one message, oldest first."""
        key = message_key(message_id)
        if key is None:
            return []
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT * FROM {self._tables.attempts} WHERE message_id = $1 ORDER BY id", key
            )
        return [
            Attempt(
                delivery_id=r["delivery_id"],
                message_id=r["message_id"],
                endpoint_id=r["endpoint_id"],
                attempt=r["attempt"],
                started_at=r["started_at"],
                status_code=r["status_code"],
                latency=r["latency"],
                response_body=r["response_body"],
                error=r["error"],
                outcome=r["outcome"],
            )
            for r in rows
        ]

    async def counts(self) -> dict[DeliveryStatus, int]:
        """Return how many deliveries are in each status."""
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT status, count(*) AS n FROM {self._tables.deliveries} GROUP BY status"
            )
        found = {DeliveryStatus(r["status"]): int(r["n"]) for r in rows}
        return {status: found.get(status, 0) for status in DeliveryStatus}


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"],
        message_id=row["message_id"],
        endpoint_id=row["endpoint_id"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )
