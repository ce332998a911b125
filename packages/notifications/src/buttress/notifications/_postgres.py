"""PostgreSQL: `PostgresPreferenceStore` and `PostgresOutbox`, ``SKIP LOCKED`` claims (extra ``postgres``)."""

# Table names are interpolated into SQL; they are checked against [schema.]name by TableName.parse.
# ruff: noqa: S608

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, Self

from buttress.core import (
    AsyncResource,
    BackendErrors,
    Clock,
    PostgresBackend,
    SystemClock,
    TableName,
    check_text,
)

from ._metrics import TELEMETRY
from ._model import Job, NotificationStatus, Rendered, check_id, check_instant, check_protocol
from ._outbox import Claim, check_claim, check_jobs, check_settle
from ._preferences import Preferences
from .exceptions import (
    MissingExtraError,
    NotificationNotFoundError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    NotificationsUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError(
        "PostgresOutbox / PostgresPreferenceStore / PostgresPushSubscriptionStore", "postgres"
    ) from exc

__all__ = ["ERRORS", "Connection", "PostgresOutbox", "PostgresPreferenceStore", "TableStore"]

_Config = NotificationsConfigurationError
#: The package's error classes, for core's PostgreSQL plumbing.
ERRORS: Final = BackendErrors(_Config, NotificationsTypeError, NotificationsUnavailableError)
# The longest derived name is the index <name>_jobs_notification: 18 characters past the name.
_OUTBOX_TABLE: Final = 63 - len("_jobs_notification")

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]

_S = NotificationStatus
_COLUMNS: Final = (
    "id, notification_id, recipient_id, channel, address, category, subject, text_body, html_body, "
    "created_at, available_at, status, critical, dedupe_key, attempts, reason, digest_group, digest_key, "
    "digest_template, fallback_channel, fallback_address, lease_until"
)


class TableStore(PostgresBackend, AsyncResource):
    """What the package's one-table stores share: the checked table, opening a pool, dropping the table."""

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str) -> None:
        super().__init__(pool)
        self._table_name = TableName.parse(table, errors=ERRORS)
        self._table = self._table_name.sql

    @classmethod
    async def _connect(
        cls, dsn: str, table: str, min_size: int, max_size: int, server_settings: Mapping[str, str] | None
    ) -> Self:
        TableName.parse(table, errors=ERRORS)  # checked before any connection is made
        return await cls._open(
            dsn,
            lambda pool: cls(pool, table=table),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )

    async def drop_schema(self) -> None:
        """Drop the table (tests, tours, uninstalling)."""
        async with self._connection() as c:
            await c.execute(f"DROP TABLE IF EXISTS {self._table}")


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresPreferenceStore(TableStore, AsyncResource):
    """A `PreferenceStore` in one table (user id, JSON document).

    Args:
        pool: An asyncpg pool the application owns (never closed by the store); `connect` opens
            one that `aclose` closes.
        table: The table's name, optionally ``"schema.table"``.
    """

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str = "notify_preferences") -> None:
        super().__init__(pool, table=table)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "notify_preferences",
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresPreferenceStore:
        """Open a pool of ``min_size`` to ``max_size`` connections to ``dsn`` for preferences in ``table``.

        The store owns the pool: `aclose` closes it.

        Raises:
            NotificationsConfigurationError: A bad DSN, table, size or setting.
            NotificationsUnavailableError: The server cannot be reached.
        """
        return await cls._connect(dsn, table, min_size, max_size, server_settings)

    async def create_schema(self) -> None:
        """Create the table if it does not exist."""
        async with self._connection() as c:
            await c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (user_id text PRIMARY KEY, data jsonb NOT NULL)"
            )

    async def get(self, user_id: str) -> Preferences | None:
        """Return the user's preferences, or ``None``."""
        check_id("user_id", user_id)
        async with self._connection() as c:
            raw = await c.fetchval(f"SELECT data::text FROM {self._table} WHERE user_id = $1", user_id)
        return None if raw is None else Preferences.from_dict(json.loads(raw))

    async def put(self, preferences: Preferences) -> None:
        """Store ``preferences`` (an upsert)."""
        if not isinstance(preferences, Preferences):
            raise NotificationsTypeError("preferences", "a Preferences", preferences)
        data = json.dumps(preferences.to_dict())
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO {self._table} (user_id, data) VALUES ($1, $2::jsonb) "
                "ON CONFLICT (user_id) DO UPDATE SET data = EXCLUDED.data",
                preferences.user_id,
                data,
            )

    async def delete(self, user_id: str) -> bool:
        """Remove the user's preferences."""
        check_id("user_id", user_id)
        async with self._connection() as c:
            gone = await c.fetchval(f"DELETE FROM {self._table} WHERE user_id = $1 RETURNING 1", user_id)
        return gone is not None


class PostgresOutbox(PostgresBackend, AsyncResource):
    """An `Outbox` in PostgreSQL that any number of workers, in any number of processes, share.

    Single jobs are claimed with ``FOR UPDATE SKIP LOCKED``. A digest group is claimed under a
    transaction-scoped advisory lock on its id, and the group is recorded as closed in the same
    transaction: exactly one worker sends each window's digest, and a notification arriving for a
    closed window (only possible when servers' clocks disagree) is sent on its own instead of lost.
    Times come from ``clock``; keep the workers' clocks in sync (NTP).

    Args:
        pool: An asyncpg pool the application owns (never closed by the outbox); `connect` opens
            one that `aclose` closes.
        table: The base name of the tables, optionally ``"schema.name"``: jobs live in
            ``<table>_jobs``, closed digest windows in ``<table>_digests``.
        clock: The time source.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str = "notify", clock: Clock | None = None) -> None:
        super().__init__(pool)
        base = TableName.parse(table, errors=ERRORS, max_length=_OUTBOX_TABLE)
        if clock is not None:
            check_protocol("clock", clock, ("now", "monotonic"), "Clock")
        jobs = base.derived("jobs")
        self._jobs = jobs.sql
        self._index = jobs.name  # index names are never schema-qualified
        self._closed = base.derived("digests").sql
        self._clock = clock if clock is not None else SystemClock()

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "notify",
        min_size: int = 1,
        max_size: int = 10,
        clock: Clock | None = None,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresOutbox:
        """Open a pool of ``min_size`` to ``max_size`` connections to ``dsn``; `aclose` closes it.

        Raises:
            NotificationsConfigurationError: A bad DSN, table, size or setting.
            NotificationsUnavailableError: The server cannot be reached.
        """
        TableName.parse(table, errors=ERRORS, max_length=_OUTBOX_TABLE)  # checked before connecting
        if clock is not None:
            check_protocol("clock", clock, ("now", "monotonic"), "Clock")
        return await cls._open(
            dsn,
            lambda pool: cls(pool, table=table, clock=clock),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )

    @property
    def clock(self) -> Clock:
        """The outbox's time source."""
        return self._clock

    async def create_schema(self) -> None:
        """Create the tables and indexes if they do not exist."""
        async with self._connection() as c:
            await c.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {self._jobs} (
                    id text PRIMARY KEY, notification_id text NOT NULL, recipient_id text NOT NULL,
                    channel text NOT NULL, address text NOT NULL, category text NOT NULL,
                    subject text NOT NULL, text_body text NOT NULL, html_body text,
                    created_at timestamptz NOT NULL, available_at timestamptz NOT NULL, status text NOT NULL,
                    critical boolean NOT NULL, dedupe_key text, attempts integer NOT NULL, reason text,
                    digest_group text, digest_key text, digest_template text,
                    fallback_channel text, fallback_address text,
                    lease_until timestamptz, lease_token text
                );
                CREATE UNIQUE INDEX IF NOT EXISTS {self._index}_dedupe
                    ON {self._jobs} (dedupe_key, channel) WHERE dedupe_key IS NOT NULL;
                CREATE INDEX IF NOT EXISTS {self._index}_due ON {self._jobs} (status, available_at);
                CREATE INDEX IF NOT EXISTS {self._index}_group ON {self._jobs} (digest_group)
                    WHERE digest_group IS NOT NULL;
                CREATE INDEX IF NOT EXISTS {self._index}_notification ON {self._jobs} (notification_id);
                CREATE TABLE IF NOT EXISTS {self._closed} (
                    grp text PRIMARY KEY, closed_at timestamptz NOT NULL
                );
                """
            )

    async def drop_schema(self) -> None:
        """Drop the tables (tests, tours, uninstalling)."""
        async with self._connection() as c:
            await c.execute(f"DROP TABLE IF EXISTS {self._jobs}, {self._closed}")

    async def enqueue(self, jobs: Sequence[Job]) -> list[Job]:
        """Store ``jobs``; return what is stored for each (the earlier job for a duplicate)."""
        jobs = check_jobs("jobs", jobs)
        stored: list[Job] = []
        async with self._connection() as c, c.transaction():
            stored.extend([await self._insert(c, job) for job in jobs])
        return stored

    async def _insert(self, c: Connection, job: Job) -> Job:
        if job.digest_group is not None and job.status is _S.BATCHED:
            await c.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", job.digest_group)
            closed = await c.fetchval(f"SELECT 1 FROM {self._closed} WHERE grp = $1", job.digest_group)
            if closed is not None:
                job = job.but(
                    status=_S.PENDING, digest_group=None, reason="arrived after its digest was sent"
                )
        inserted = await c.fetchrow(
            f"INSERT INTO {self._jobs} ({_COLUMNS}, lease_token) VALUES "
            "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,NULL) "
            "ON CONFLICT (dedupe_key, channel) WHERE dedupe_key IS NOT NULL DO NOTHING "
            f"RETURNING {_COLUMNS}",
            *_row(job),
        )
        if inserted is not None:
            return _job(inserted)
        existing = await c.fetchrow(
            f"SELECT {_COLUMNS} FROM {self._jobs} WHERE dedupe_key = $1 AND channel = $2",
            job.dedupe_key,
            job.channel,
        )
        if existing is None:  # pragma: no cover - the conflicting row was deleted meanwhile
            raise NotificationNotFoundError(str(job.dedupe_key))
        return _job(existing)

    async def claim(self, *, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` due single jobs (``SKIP LOCKED``) and up to ``limit`` due digest groups."""
        limit, lease = check_claim(limit, lease)
        now = self._clock.now()
        until = now + timedelta(seconds=lease)
        token = secrets.token_hex(8)
        async with self._connection() as c:
            rows = await c.fetch(
                f"UPDATE {self._jobs} SET status = 'sending', lease_until = $2, lease_token = $3, "
                "attempts = attempts + 1 WHERE id IN ("
                f"  SELECT id FROM {self._jobs} WHERE digest_group IS NULL AND ("
                "    (status = 'pending' AND available_at <= $1)"
                "    OR (status = 'sending' AND lease_until <= $1))"
                "  ORDER BY available_at LIMIT $4 FOR UPDATE SKIP LOCKED"
                f") RETURNING {_COLUMNS}",
                now,
                until,
                token,
                limit,
            )
            claims = [Claim(token, (_job(row),)) for row in rows]
            groups = await c.fetch(
                f"SELECT DISTINCT digest_group FROM {self._jobs} WHERE digest_group IS NOT NULL AND ("
                "(status = 'batched' AND available_at <= $1) OR (status = 'sending' AND lease_until <= $1)) "
                "LIMIT $2",
                now,
                limit,
            )
            for group in groups:
                claim = await self._claim_group(c, group["digest_group"], now, until)
                if claim is not None:
                    claims.append(claim)
        return claims

    async def _claim_group(self, c: Connection, group: str, now: datetime, until: datetime) -> Claim | None:
        token = secrets.token_hex(8)
        async with c.transaction():
            locked = await c.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", group)
            if not locked:
                return None
            # Re-checked under the lock: another worker may have claimed the group since the SELECT.
            rows = await c.fetch(
                f"UPDATE {self._jobs} SET status = 'sending', lease_until = $3, lease_token = $4, "
                "attempts = attempts + 1 WHERE digest_group = $1 AND "
                "(status = 'batched' OR (status = 'sending' AND lease_until <= $2)) AND EXISTS ("
                f"  SELECT 1 FROM {self._jobs} WHERE digest_group = $1 AND ("
                "    (status = 'batched' AND available_at <= $2)"
                "    OR (status = 'sending' AND lease_until <= $2)))"
                f" RETURNING {_COLUMNS}",
                group,
                now,
                until,
                token,
            )
            if not rows:
                return None
            await c.execute(
                f"INSERT INTO {self._closed} (grp, closed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                group,
                now,
            )
        jobs = sorted((_job(r) for r in rows), key=lambda j: (j.created_at, j.id))
        return Claim(token, tuple(jobs))

    async def settle(self, claim: Claim, outcome: Sequence[Job], new: Sequence[Job] = ()) -> None:
        """Write the claim's outcome (ignored for jobs whose lease was lost); enqueue ``new``."""
        outcome, new = check_settle(claim, outcome, new)
        async with self._connection() as c, c.transaction():
            await c.executemany(
                f"UPDATE {self._jobs} SET status = $3, reason = $4, available_at = $5, attempts = $6, "
                "lease_until = NULL, lease_token = NULL WHERE id = $1 AND lease_token = $2",
                [(j.id, claim.token, j.status.value, j.reason, j.available_at, j.attempts) for j in outcome],
            )
            for job in new:
                await self._insert(c, job)

    async def jobs(self, notification_id: str) -> list[Job]:
        """Every job of one notification, by channel."""
        check_text("notification_id", notification_id, error=_Config, type_error=NotificationsTypeError)
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT {_COLUMNS} FROM {self._jobs} WHERE notification_id = $1 "
                "ORDER BY channel, created_at",
                notification_id,
            )
        return [_job(r) for r in rows]

    async def get(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            NotificationNotFoundError: No such job.
        """
        check_text("job_id", job_id, error=_Config, type_error=NotificationsTypeError)
        async with self._connection() as c:
            row = await c.fetchrow(f"SELECT {_COLUMNS} FROM {self._jobs} WHERE id = $1", job_id)
        if row is None:
            raise NotificationNotFoundError(job_id)
        return _job(row)

    async def requeue(self, job_id: str) -> Job:
        """Move a dead or failed job back to pending, due now, with its attempts reset."""
        check_text("job_id", job_id, error=_Config, type_error=NotificationsTypeError)
        async with self._connection() as c:
            row = await c.fetchrow(
                f"UPDATE {self._jobs} SET status = 'pending', attempts = 0, available_at = $2, "
                "reason = NULL, "
                f"digest_group = NULL WHERE id = $1 AND status IN ('dead', 'failed') RETURNING {_COLUMNS}",
                job_id,
                self._clock.now(),
            )
        if row is None:
            job = await self.get(job_id)
            raise _Config("job_id", job_id, f"is {job.status}, not dead or failed")
        return _job(row)

    async def purge(self, before: datetime) -> int:
        """Delete final jobs (sent, failed, suppressed, dead) created before ``before``; return how many.

        Their dedupe keys are released with them; closed digest records older than ``before`` go too.
        """
        check_instant("before", before)
        async with self._connection() as c, c.transaction():
            deleted = await c.fetch(
                f"DELETE FROM {self._jobs} WHERE created_at < $1 "
                "AND status IN ('sent', 'failed', 'suppressed', 'dead') RETURNING 1",
                before,
            )
            await c.execute(f"DELETE FROM {self._closed} WHERE closed_at < $1", before)
        return len(deleted)

    async def counts(self) -> dict[NotificationStatus, int]:
        """How many jobs are in each state."""
        async with self._connection() as c:
            rows = await c.fetch(f"SELECT status, count(*) AS n FROM {self._jobs} GROUP BY status")
        return {_S(r["status"]): int(r["n"]) for r in rows}


def _row(j: Job) -> tuple[object, ...]:
    return (
        j.id, j.notification_id, j.recipient_id, j.channel, j.address, j.category,
        j.content.subject, j.content.text, j.content.html, j.created_at, j.available_at, j.status.value,
        j.critical, j.dedupe_key, j.attempts, j.reason, j.digest_group, j.digest_key, j.digest_template,
        j.fallback_channel, j.fallback_address, j.lease_until,
    )  # fmt: skip


def _job(r: Mapping[str, Any]) -> Job:
    return Job(
        id=r["id"],
        notification_id=r["notification_id"],
        recipient_id=r["recipient_id"],
        channel=r["channel"],
        address=r["address"],
        category=r["category"],
        content=Rendered(r["subject"], r["text_body"], r["html_body"]),
        created_at=r["created_at"],
        available_at=r["available_at"],
        status=_S(r["status"]),
        critical=r["critical"],
        dedupe_key=r["dedupe_key"],
        attempts=r["attempts"],
        reason=r["reason"],
        digest_group=r["digest_group"],
        digest_key=r["digest_key"],
        digest_template=r["digest_template"],
        fallback_channel=r["fallback_channel"],
        fallback_address=r["fallback_address"],
        lease_until=r["lease_until"],
    )
