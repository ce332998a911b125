"""PostgreSQL: `PostgresPreferenceStore` and `PostgresOutbox`, ``SKIP LOCKED`` claims (extra ``postgres``)."""

# Table names are interpolated into SQL; they come from a prefix checked against [a-z_][a-z0-9_]*.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Final, Self

from buttress.core import Clock, SystemClock, check_text

from ._model import Job, NotificationStatus, Rendered, check_id, check_instant, check_mapping, check_protocol
from ._outbox import Claim, check_claim, check_jobs, check_settle
from ._preferences import Preferences
from .exceptions import (
    MissingExtraError,
    NotificationConfigurationError,
    NotificationNotFoundError,
    StoreUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("PostgresOutbox / PostgresPreferenceStore", "postgres") from exc

__all__ = ["PostgresOutbox", "PostgresPreferenceStore"]

_Config = NotificationConfigurationError

_PREFIX: Final = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.InterfaceError,  # also ConnectionDoesNotExistError: the connection is gone
    asyncpg.exceptions.PostgresConnectionError,  # class 08
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,  # another backend crashed: every connection is reset
    asyncpg.exceptions.TooManyConnectionsError,
)
_S = NotificationStatus
_COLUMNS: Final = (
    "id, notification_id, recipient_id, channel, address, category, subject, text_body, html_body, "
    "created_at, available_at, status, critical, dedupe_key, attempts, reason, digest_group, digest_key, "
    "digest_template, fallback_channel, fallback_address, lease_until"
)

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise _Config("table_prefix", prefix, "must match [a-z_][a-z0-9_]* (max 41 chars)")
    return prefix


async def _create_pool(dsn: str, server_settings: Mapping[str, str] | None) -> asyncpg.Pool[Any]:
    check_text("dsn", dsn, max_bytes=4096, show_value=False, error=_Config)
    settings = check_mapping("server_settings", server_settings)
    for name, value in settings.items():
        check_text("server_settings", name, max_bytes=200, error=_Config)
        check_text("server_settings", value, allow_empty=True, max_bytes=4096, error=_Config)
    try:
        pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
            dsn, min_size=1, max_size=10, server_settings=settings
        )
    except _UNAVAILABLE as exc:
        raise StoreUnavailableError("postgresql", "the configured server", type(exc).__name__) from None
    except (ValueError, TypeError, asyncpg.exceptions.ClientConfigurationError) as exc:
        raise _Config(
            "dsn",
            "<dsn>",
            f"is not a PostgreSQL DSN asyncpg accepts ({type(exc).__name__})",
            show_value=False,
        ) from None
    except asyncpg.exceptions.PostgresError as exc:  # the server refused a setting, a database, a role
        raise _Config(
            "server_settings", "<settings>", f"the server refused them ({exc.sqlstate})", show_value=False
        ) from None
    return pool


async def _owning[T](pool: asyncpg.Pool[Any], make: Callable[[], T]) -> T:
    """``make()``, closing ``pool`` if it raises, so a refused argument never leaks connections."""
    try:
        return make()
    except BaseException:
        await pool.close()
        raise


class _PoolOwner:
    def __init__(self, pool: asyncpg.Pool[Any], *, owned: bool) -> None:
        if not isinstance(pool, asyncpg.Pool):
            raise _Config("pool", type(pool).__name__, "must be an asyncpg.Pool")
        self._pool = pool
        self._owned = owned

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire() as connection:
                yield connection
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError("postgresql", "the pool's server", type(exc).__name__) from None

    async def aclose(self) -> None:
        """Close the pool if this object opened it (``connect``)."""
        if self._owned:
            await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class PostgresPreferenceStore(_PoolOwner):
    """A `PreferenceStore` in one table (``<prefix>preferences``: user id, JSON document).

    Args:
        pool: An asyncpg pool (closed by `aclose` only when `connect` made it).
        table_prefix: Prepended to the table name.
    """

    def __init__(
        self, pool: asyncpg.Pool[Any], *, table_prefix: str = "notify_", _owned: bool = False
    ) -> None:
        super().__init__(pool, owned=_owned)
        self._table = _check_prefix(table_prefix) + "preferences"

    @classmethod
    async def connect(
        cls, dsn: str, *, table_prefix: str = "notify_", server_settings: Mapping[str, str] | None = None
    ) -> PostgresPreferenceStore:
        """Open a pool for ``dsn`` and return a store that owns it."""
        _check_prefix(table_prefix)
        pool = await _create_pool(dsn, server_settings)
        return await _owning(pool, lambda: cls(pool, table_prefix=table_prefix, _owned=True))

    async def create_schema(self) -> None:
        """Create the table if it does not exist."""
        async with self._connection() as c:
            await c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (user_id text PRIMARY KEY, data jsonb NOT NULL)"
            )

    async def drop_schema(self) -> None:
        """Drop the table (tests, tours, uninstalling)."""
        async with self._connection() as c:
            await c.execute(f"DROP TABLE IF EXISTS {self._table}")

    async def get(self, user_id: str) -> Preferences | None:
        """Return the user's preferences, or ``None``."""
        check_id("user_id", user_id)
        async with self._connection() as c:
            raw = await c.fetchval(f"SELECT data::text FROM {self._table} WHERE user_id = $1", user_id)
        return None if raw is None else Preferences.from_dict(json.loads(raw))

    async def put(self, preferences: Preferences) -> None:
        """Store ``preferences`` (an upsert)."""
        if not isinstance(preferences, Preferences):
            raise _Config("preferences", type(preferences).__name__, "must be Preferences")
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


class PostgresOutbox(_PoolOwner):
    """An `Outbox` in PostgreSQL that any number of workers, in any number of processes, share.

    Single jobs are claimed with ``FOR UPDATE SKIP LOCKED``. A digest group is claimed under a
    transaction-scoped advisory lock on its id, and the group is recorded as closed in the same
    transaction: exactly one worker sends each window's digest, and a notification arriving for a
    closed window (only possible when servers' clocks disagree) is sent on its own instead of lost.
    Times come from ``clock``; keep the workers' clocks in sync (NTP).

    Args:
        pool: An asyncpg pool.
        clock: The time source.
        table_prefix: Prepended to the table names (``<prefix>jobs``, ``<prefix>digests``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        clock: Clock | None = None,
        table_prefix: str = "notify_",
        _owned: bool = False,
    ) -> None:
        super().__init__(pool, owned=_owned)
        prefix = _check_prefix(table_prefix)
        if clock is not None:
            check_protocol("clock", clock, ("now", "monotonic"), "Clock")
        self._jobs = prefix + "jobs"
        self._closed = prefix + "digests"
        self._clock = clock if clock is not None else SystemClock()

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        clock: Clock | None = None,
        table_prefix: str = "notify_",
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresOutbox:
        """Open a pool for ``dsn`` and return an outbox that owns it."""
        _check_prefix(table_prefix)
        if clock is not None:
            check_protocol("clock", clock, ("now", "monotonic"), "Clock")
        pool = await _create_pool(dsn, server_settings)
        return await _owning(pool, lambda: cls(pool, clock=clock, table_prefix=table_prefix, _owned=True))

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
                CREATE UNIQUE INDEX IF NOT EXISTS {self._jobs}_dedupe
                    ON {self._jobs} (dedupe_key, channel) WHERE dedupe_key IS NOT NULL;
                CREATE INDEX IF NOT EXISTS {self._jobs}_due ON {self._jobs} (status, available_at);
                CREATE INDEX IF NOT EXISTS {self._jobs}_group ON {self._jobs} (digest_group)
                    WHERE digest_group IS NOT NULL;
                CREATE INDEX IF NOT EXISTS {self._jobs}_notification ON {self._jobs} (notification_id);
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
        check_text("notification_id", notification_id, error=_Config)
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
        check_text("job_id", job_id, error=_Config)
        async with self._connection() as c:
            row = await c.fetchrow(f"SELECT {_COLUMNS} FROM {self._jobs} WHERE id = $1", job_id)
        if row is None:
            raise NotificationNotFoundError(job_id)
        return _job(row)

    async def requeue(self, job_id: str) -> Job:
        """Move a dead or failed job back to pending, due now, with its attempts reset."""
        check_text("job_id", job_id, error=_Config)
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
