"""`PostgresOutbox`'s tables and indexes: created and dropped."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.

from __future__ import annotations

from ._base import OutboxBase

__all__ = ["Schema"]


class Schema(OutboxBase):
    """`create_schema` and `drop_schema`."""

    async def create_schema(self) -> None:
        """Create the tables and indexes if they do not exist (idempotent)."""
        t = self._tables
        async with self._connection() as connection:
            await connection.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {t.messages} (
                    id text PRIMARY KEY,
                    event_type text NOT NULL,
                    body bytea NOT NULL,
                    created_at timestamptz NOT NULL
                );
                CREATE TABLE IF NOT EXISTS {t.deliveries} (
                    id bigserial PRIMARY KEY,
                    message_id text NOT NULL REFERENCES {t.messages} (id) ON DELETE CASCADE,
                    endpoint_id text NOT NULL,
                    status text NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at timestamptz,
                    lease_token text,
                    last_attempt_at timestamptz,
                    last_status_code integer,
                    last_error text,
                    created_at timestamptz NOT NULL,
                    finished_at timestamptz,
                    UNIQUE (message_id, endpoint_id)
                );
                CREATE INDEX IF NOT EXISTS {t.index}_deliveries_due
                    ON {t.deliveries} (next_attempt_at) WHERE status = 'pending';
                CREATE INDEX IF NOT EXISTS {t.index}_deliveries_finished
                    ON {t.deliveries} (finished_at) WHERE status IN ('dead', 'cancelled');
                CREATE TABLE IF NOT EXISTS {t.attempts} (
                    id bigserial PRIMARY KEY,
                    delivery_id bigint NOT NULL REFERENCES {t.deliveries} (id) ON DELETE CASCADE,
                    message_id text NOT NULL,
                    endpoint_id text NOT NULL,
                    attempt integer NOT NULL,
                    started_at timestamptz NOT NULL,
                    status_code integer,
                    latency double precision NOT NULL,
                    response_body text NOT NULL,
                    error text,
                    outcome text NOT NULL
                );
                CREATE INDEX IF NOT EXISTS {t.index}_attempts_message ON {t.attempts} (message_id);
                CREATE TABLE IF NOT EXISTS {t.health} (
                    endpoint_id text PRIMARY KEY,
                    failing_since timestamptz
                );
                """
            )

    async def drop_schema(self) -> None:
        """Drop the tables (and every message, delivery and attempt in them)."""
        t = self._tables
        async with self._connection() as connection:
            await connection.execute(
                f"DROP TABLE IF EXISTS {t.attempts}, {t.deliveries}, {t.messages}, {t.health} CASCADE"
            )
