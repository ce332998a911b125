"""`PostgresOutbox`: messages, their deliveries and the attempt log in PostgreSQL (extra ``postgres``).

The worker's side of the table is a small state machine: a delivery is ``pending`` until an attempt
succeeds (``delivered``), its endpoint goes away (``cancelled``) or it has no attempt left (``dead``).
Leases are expressed through ``next_attempt_at``: a claimed delivery is due again only when its lease
has run out. Every path back to the queue -- a lease that ran out, a failed attempt, a release, a
postponement -- keeps ``attempts <= schedule.attempts``; only `PostgresOutbox.replay` and
`PostgresOutbox.recover`, an operator's deliberate acts, start a delivery's count again.
"""

# Table names are interpolated into SQL; they are built from a prefix checked against [a-z_][a-z0-9_]*.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from buttress.core import Clock

from ._checks import aware_datetime, clock_or_system, positive_int, positive_number, printable_ascii, text
from ._delivery import Attempt, DeadDelivery, Delivery, DeliveryStatus, Message
from ._endpoints import EndpointStore, endpoint_key
from ._postgres import Connection, PoolOwner, check_prefix, create_pool
from ._schedule import RetrySchedule
from ._standard import new_message_id
from .exceptions import MessageNotFoundError, WebhookConfigurationError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("PostgresOutbox", "postgres") from exc

__all__ = ["Claim", "Outcome", "PostgresOutbox"]

_CONNECTIONS: Final = (asyncpg.Connection, asyncpg.pool.PoolConnectionProxy)
# The most deliveries one claim or one result batch may carry.
_MAX_BATCH: Final = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result, for `PostgresOutbox.complete_many`.

    Attributes:
        claim: The claim the attempt was made under.
        status: The delivery's new status.
        next_attempt_at: When a ``PENDING`` delivery is due again (required then; ignored otherwise).
        attempt: The attempt to log, or ``None`` when nothing was sent (a cancelled delivery).

    Raises:
        WebhookConfigurationError: A field has the wrong type, or a pending outcome has no due time.
    """

    claim: Claim
    status: DeliveryStatus
    next_attempt_at: datetime | None
    attempt: Attempt | None

    def __post_init__(self) -> None:
        if not isinstance(self.claim, Claim):
            raise WebhookConfigurationError("claim", type(self.claim).__name__, "must be a Claim")
        if not isinstance(self.status, DeliveryStatus):
            raise WebhookConfigurationError("status", self.status, "must be a DeliveryStatus")
        if self.next_attempt_at is not None:
            _aware("next_attempt_at", self.next_attempt_at)
        elif self.status is DeliveryStatus.PENDING:
            raise WebhookConfigurationError(
                "next_attempt_at", None, "a PENDING outcome needs the time its next attempt is due"
            )
        if self.attempt is not None and not isinstance(self.attempt, Attempt):
            raise WebhookConfigurationError(
                "attempt", type(self.attempt).__name__, "must be an Attempt or None"
            )


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery a worker holds a lease on: what to send and the token that proves the lease."""

    delivery_id: int
    message_id: str
    endpoint_id: str
    attempt: int
    event_type: str
    body: bytes
    token: str


class PostgresOutbox(PoolOwner):
    """The durable outbox: messages and their deliveries, in PostgreSQL.

    `send` writes one message row and one delivery row per subscribed, enabled endpoint. Given the
    caller's connection, it writes inside the caller's transaction: the webhook exists if and only if
    the business write committed. `DeliveryWorker` instances (any number, in any process) then claim
    due deliveries with ``FOR UPDATE SKIP LOCKED`` under a lease, so no two send the same delivery and
    a worker that dies mid-delivery only delays it until the lease runs out.

    Every time (due times, leases, attempt times) comes from ``clock``, never from the database's
    ``now()``, so tests move it with a fake clock.

    Args:
        pool: An asyncpg pool (not closed by the outbox unless it came from `connect`).
        endpoints: Where subscribers are found (any `EndpointStore`).
        schedule: The retry schedule; its first delay sets when a new message is first due.
        clock: The time source.
        table_prefix: Prepended to the table names (``messages``, ``deliveries``, ``attempts``,
            ``endpoint_health``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        endpoints: EndpointStore,
        *,
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
        table_prefix: str = "webhook_",
        _owned: bool = False,
    ) -> None:
        super().__init__(pool, owned=_owned)
        prefix = check_prefix(table_prefix)
        if not isinstance(endpoints, EndpointStore):
            raise WebhookConfigurationError("endpoints", type(endpoints).__name__, "must be an EndpointStore")
        if schedule is not None and not isinstance(schedule, RetrySchedule):
            raise WebhookConfigurationError("schedule", type(schedule).__name__, "must be a RetrySchedule")
        self.table_prefix = prefix
        self.endpoints = endpoints
        self.schedule = schedule if schedule is not None else RetrySchedule()
        self.clock: Clock = clock_or_system(clock)
        self._messages = prefix + "messages"
        self._deliveries = prefix + "deliveries"
        self._attempts = prefix + "attempts"
        self._health = prefix + "endpoint_health"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        endpoints: EndpointStore,
        *,
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
        table_prefix: str = "webhook_",
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresOutbox:
        """Open a pool for ``dsn`` and return an outbox that owns it (close it with `aclose`)."""
        check_prefix(table_prefix)  # checked before a pool is opened, so a bad argument leaks nothing
        pool = await create_pool(dsn, server_settings)
        try:
            return cls(
                pool, endpoints, schedule=schedule, clock=clock, table_prefix=table_prefix, _owned=True
            )
        except BaseException:
            await pool.close()
            raise

    async def create_schema(self) -> None:
        """Create the tables and indexes if they do not exist."""
        async with self._connection() as connection:
            await connection.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {self._messages} (
                    id text PRIMARY KEY,
                    event_type text NOT NULL,
                    body bytea NOT NULL,
                    created_at timestamptz NOT NULL
                );
                CREATE TABLE IF NOT EXISTS {self._deliveries} (
                    id bigserial PRIMARY KEY,
                    message_id text NOT NULL REFERENCES {self._messages} (id) ON DELETE CASCADE,
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
                CREATE INDEX IF NOT EXISTS {self._deliveries}_due
                    ON {self._deliveries} (next_attempt_at) WHERE status = 'pending';
                CREATE INDEX IF NOT EXISTS {self._deliveries}_finished
                    ON {self._deliveries} (finished_at) WHERE status IN ('dead', 'cancelled');
                CREATE TABLE IF NOT EXISTS {self._attempts} (
                    id bigserial PRIMARY KEY,
                    delivery_id bigint NOT NULL REFERENCES {self._deliveries} (id) ON DELETE CASCADE,
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
                CREATE INDEX IF NOT EXISTS {self._attempts}_message ON {self._attempts} (message_id);
                CREATE TABLE IF NOT EXISTS {self._health} (
                    endpoint_id text PRIMARY KEY,
                    failing_since timestamptz
                );
                """
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
            WebhookConfigurationError: ``event_type``, ``payload`` or ``message_id`` is invalid.
            StoreUnavailableError: The database cannot be reached.
        """
        text("event_type", event_type)
        body = _encode(payload)
        msg_id = new_message_id() if message_id is None else printable_ascii("message_id", message_id)
        if connection is not None and not isinstance(connection, _CONNECTIONS):
            raise WebhookConfigurationError(
                "connection", type(connection).__name__, "must be an asyncpg connection or None"
            )
        targets = [e.id for e in await self.endpoints.list(event_type=event_type, enabled=True)]
        now = self.clock.now()
        due = now + timedelta(seconds=self.schedule.first_delay)
        async with self._transaction(connection) as conn:
            inserted = await conn.fetchval(
                f"INSERT INTO {self._messages} (id, event_type, body, created_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                msg_id,
                event_type,
                body,
                now,
            )
            if inserted is None:
                return await self._message(conn, msg_id)
            if targets:
                await conn.execute(
                    f"INSERT INTO {self._deliveries} "
                    "(message_id, endpoint_id, status, next_attempt_at, created_at) "
                    "SELECT $1, unnest($2::text[]), 'pending', $3, $4",
                    msg_id,
                    targets,
                    due,
                    now,
                )
        return Message(msg_id, event_type, body, now)

    @asynccontextmanager
    async def _transaction(self, given: Connection | None) -> AsyncIterator[Connection]:
        if given is not None:
            # The caller's transaction: commit and rollback are theirs.
            async with self._connection(given) as connection:
                yield connection
            return
        async with self._connection() as connection, connection.transaction():
            yield connection

    async def message(self, message_id: str) -> Message:
        """Return a stored message.

        Raises:
            MessageNotFoundError: There is none with this id.
        """
        async with self._connection() as connection:
            return await self._message(connection, message_id)

    async def _message(self, connection: Connection, message_id: str) -> Message:
        key = _message_key(message_id)
        row = None
        if key is not None:
            row = await connection.fetchrow(f"SELECT * FROM {self._messages} WHERE id = $1", key)
        if row is None:
            raise MessageNotFoundError(str(message_id))
        return Message(row["id"], row["event_type"], bytes(row["body"]), row["created_at"])

    async def deliveries(self, message_id: str) -> list[Delivery]:
        """Return the deliveries of one message, ordered by endpoint id."""
        key = _message_key(message_id)
        if key is None:
            return []
        async with self._connection() as connection:
            rows = await connection.fetch(
                f'SELECT * FROM {self._deliveries} WHERE message_id = $1 ORDER BY endpoint_id COLLATE "C"',
                key,
            )
        return [_delivery(row) for row in rows]

    async def attempts(self, message_id: str) -> list[Attempt]:
        """Return every attempt logged for one message, oldest first."""
        key = _message_key(message_id)
        if key is None:
            return []
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT * FROM {self._attempts} WHERE message_id = $1 ORDER BY id", key
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
                f"SELECT status, count(*) AS n FROM {self._deliveries} GROUP BY status"
            )
        found = {DeliveryStatus(r["status"]): int(r["n"]) for r in rows}
        return {status: found.get(status, 0) for status in DeliveryStatus}

    async def replay(self, message_id: str, *, endpoint_id: str | None = None) -> int:
        """Send a message again: its finished deliveries (or the one to ``endpoint_id``) restart now.

        With ``endpoint_id``, the message is queued for that endpoint even if it never had a delivery
        there (an endpoint created after the message). Pending deliveries are left alone. Returns the
        number of deliveries queued.

        Raises:
            MessageNotFoundError: There is no such message.
            EndpointNotFoundError: ``endpoint_id`` names no endpoint.
        """
        now = self.clock.now()
        async with self._transaction(None) as connection:
            await self._message(connection, message_id)
            if endpoint_id is None:
                result = await connection.execute(
                    f"UPDATE {self._deliveries} SET status = 'pending', attempts = 0, next_attempt_at = $2, "
                    "lease_token = NULL, finished_at = NULL WHERE message_id = $1 AND status <> 'pending'",
                    message_id,
                    now,
                )
                return _affected(result)
            await self.endpoints.get(endpoint_id)
            result = await connection.execute(
                f"INSERT INTO {self._deliveries} "
                "(message_id, endpoint_id, status, next_attempt_at, created_at) "
                "VALUES ($1, $2, 'pending', $3, $3) ON CONFLICT (message_id, endpoint_id) DO UPDATE SET "
                "status = 'pending', attempts = 0, next_attempt_at = $3, lease_token = NULL, "
                "finished_at = NULL "
                f"WHERE {self._deliveries}.status <> 'pending'",
                message_id,
                endpoint_id,
                now,
            )
            return _affected(result)

    async def recover(self, since: datetime, *, endpoint_id: str | None = None) -> int:
        """Restart every delivery that died or was cancelled at or after ``since`` (or one endpoint's).

        Returns the number of deliveries queued again. Re-enable the endpoint first if it was disabled,
        or the worker cancels them again.
        """
        _aware("since", since)
        if endpoint_id is not None and endpoint_key(endpoint_id) is None:
            return 0  # no endpoint has that id
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._deliveries} SET status = 'pending', attempts = 0, next_attempt_at = $1, "
                "lease_token = NULL, finished_at = NULL WHERE status IN ('dead', 'cancelled') "
                "AND finished_at >= $2 AND ($3::text IS NULL OR endpoint_id = $3)",
                self.clock.now(),
                since,
                endpoint_id,
            )
        return _affected(result)

    # The worker's side. Leases are expressed through next_attempt_at: a claimed delivery is due
    # again only when its lease has run out, so a dead worker's delivery is picked up then.

    async def claim(self, *, limit: int, lease: float, token: str) -> list[Claim]:
        """Lease up to ``limit`` due deliveries for ``lease`` seconds (see `claim_and_reap`)."""
        claims, _ = await self.claim_and_reap(limit=limit, lease=lease, token=token)
        return claims

    async def claim_and_reap(
        self, *, limit: int, lease: float, token: str
    ) -> tuple[list[Claim], list[DeadDelivery]]:
        """Lease due deliveries for ``lease`` seconds, and bury those with no attempt left; used by workers.

        Up to ``limit`` due deliveries are taken, oldest due first, with ``FOR UPDATE SKIP LOCKED``.
        Each one that still has an attempt left under ``schedule`` is claimed: its attempt count goes
        up by one now (an attempt counts when claimed) and it is not due again until the lease ends.
        One that has used every attempt is never handed out again: it becomes dead, with the reason
        in ``last_error`` -- ``"lease expired on the last attempt ..."`` when the worker that held its
        last attempt never recorded a result (it died, or hung past its lease), so a receiver that
        hangs cannot make a delivery loop forever.

        Args:
            limit: How many due deliveries to take (claimed and buried together).
            lease: Seconds the claims are held; a result recorded later is logged, not applied.
            token: Proves the lease to `complete_many`, `release` and `postpone`.

        Returns:
            The claims, and the deliveries this call found dead.

        Raises:
            WebhookConfigurationError: An argument is invalid.
            StoreUnavailableError: The database cannot be reached.
        """
        limit = positive_int("limit", limit, maximum=_MAX_BATCH)
        seconds = positive_number("lease", lease)
        token = printable_ascii("token", token)
        now = self.clock.now()
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"""
                WITH due AS (
                    SELECT id, attempts, lease_token FROM {self._deliveries}
                    WHERE status = 'pending' AND next_attempt_at <= $1
                    ORDER BY next_attempt_at
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE {self._deliveries} AS d
                    SET next_attempt_at = $3, lease_token = $4, attempts = d.attempts + 1,
                        last_attempt_at = $1
                    FROM due
                    WHERE d.id = due.id AND due.attempts < $5
                    RETURNING d.id, d.message_id, d.endpoint_id, d.attempts, NULL::integer AS code,
                              NULL::text AS error
                ), buried AS (
                    UPDATE {self._deliveries} AS d
                    SET status = 'dead', next_attempt_at = NULL, lease_token = NULL, finished_at = $1,
                        last_status_code = CASE WHEN due.lease_token IS NULL THEN d.last_status_code END,
                        last_error = CASE WHEN due.lease_token IS NULL
                            THEN format('no attempt left under the retry schedule (%s attempts)', $5::integer)
                            ELSE format('lease expired on the last attempt (%s of %s): the worker '
                                        'recorded no result', d.attempts, $5::integer)
                        END
                    FROM due
                    WHERE d.id = due.id AND due.attempts >= $5
                    RETURNING d.id, d.message_id, d.endpoint_id, d.attempts, d.last_status_code AS code,
                              d.last_error AS error
                )
                SELECT 'claimed' AS kind, c.*, m.event_type, m.body
                FROM claimed AS c JOIN {self._messages} AS m ON m.id = c.message_id
                UNION ALL
                SELECT 'dead', b.*, m.event_type, NULL
                FROM buried AS b JOIN {self._messages} AS m ON m.id = b.message_id
                """,
                now,
                limit,
                now + timedelta(seconds=seconds),
                token,
                self.schedule.attempts,
            )
        claims: list[Claim] = []
        dead: list[DeadDelivery] = []
        for r in rows:
            if r["kind"] == "claimed":
                claims.append(
                    Claim(
                        r["id"],
                        r["message_id"],
                        r["endpoint_id"],
                        r["attempts"],
                        r["event_type"],
                        bytes(r["body"]),
                        token,
                    )
                )
            else:
                dead.append(
                    DeadDelivery(
                        delivery_id=r["id"],
                        message_id=r["message_id"],
                        endpoint_id=r["endpoint_id"],
                        event_type=r["event_type"],
                        attempts=r["attempts"],
                        last_status_code=r["code"],
                        last_error=r["error"],
                    )
                )
        claims.sort(key=lambda c: c.delivery_id)
        dead.sort(key=lambda d: d.delivery_id)
        return claims, dead

    async def complete(
        self,
        claim: Claim,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        attempt: Attempt | None,
    ) -> tuple[bool, datetime | None]:
        """Record one attempt's result if ``claim``'s lease is still held (see `complete_many`)."""
        held, failing = await self.complete_many([Outcome(claim, status, next_attempt_at, attempt)])
        return claim.delivery_id in held, failing.get(claim.endpoint_id)

    async def complete_many(self, outcomes: Sequence[Outcome]) -> tuple[set[int], dict[str, datetime]]:
        """Record a batch of results in one statement; used by `DeliveryWorker`.

        A result is applied only where its lease is still held; every attempt is logged either way.
        Endpoints with a success in the batch are healthy again; the others, with failed attempts,
        keep (or start) their failing period.

        Returns:
            The delivery ids whose lease was still held, and for each endpoint that only failed in
            this batch, since when it has been failing.
        """
        outcomes = _outcomes(outcomes)
        if not outcomes:
            return set(), {}
        now = self.clock.now()
        logged = [o for o in outcomes if o.attempt is not None]
        healthy = {o.claim.endpoint_id for o in outcomes if o.status is DeliveryStatus.DELIVERED}
        failing = sorted({o.claim.endpoint_id for o in logged} - healthy)
        query = f"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[],
                                     $5::timestamptz[], $6::integer[], $7::text[])
                    AS i (id, token, status, next_at, finished, code, error)
            ), upd AS (
                UPDATE {self._deliveries} AS d
                -- A delivery with no attempt left is never queued again, whatever the caller asked.
                SET status = CASE WHEN i.status = 'pending' AND d.attempts >= $21 THEN 'dead'
                                  ELSE i.status END,
                    next_attempt_at = CASE WHEN i.status = 'pending' AND d.attempts >= $21 THEN NULL
                                           ELSE i.next_at END,
                    finished_at = CASE WHEN i.status = 'pending' AND d.attempts >= $21 THEN $20
                                       ELSE i.finished END,
                    lease_token = NULL, last_status_code = i.code, last_error = i.error
                FROM input AS i
                WHERE d.id = i.id AND d.lease_token = i.token
                RETURNING d.id
            ), log AS (
                INSERT INTO {self._attempts} (delivery_id, message_id, endpoint_id, attempt, started_at,
                                              status_code, latency, response_body, error, outcome)
                SELECT * FROM unnest($8::bigint[], $9::text[], $10::text[], $11::integer[],
                                     $12::timestamptz[], $13::integer[], $14::double precision[],
                                     $15::text[], $16::text[], $17::text[])
            ), healed AS (
                UPDATE {self._health} SET failing_since = NULL
                WHERE endpoint_id = ANY($18::text[]) AND failing_since IS NOT NULL
            ), sick AS (
                INSERT INTO {self._health} AS h (endpoint_id, failing_since)
                SELECT unnest($19::text[]), $20::timestamptz
                ON CONFLICT (endpoint_id) DO UPDATE SET failing_since = COALESCE(h.failing_since, $20)
                RETURNING h.endpoint_id, h.failing_since
            )
            SELECT 'held' AS kind, id::text AS key, NULL::timestamptz AS since FROM upd
            UNION ALL
            SELECT 'sick', endpoint_id, failing_since FROM sick
        """
        finished = [None if o.status is DeliveryStatus.PENDING else now for o in outcomes]
        args: list[object] = [
            [o.claim.delivery_id for o in outcomes],
            [o.claim.token for o in outcomes],
            [o.status.value for o in outcomes],
            [o.next_attempt_at if o.status is DeliveryStatus.PENDING else None for o in outcomes],
            finished,
            [o.attempt.status_code if o.attempt else None for o in outcomes],
            [o.attempt.error if o.attempt else None for o in outcomes],
            [o.claim.delivery_id for o in logged],
            [o.claim.message_id for o in logged],
            [o.claim.endpoint_id for o in logged],
            [o.attempt.attempt for o in logged if o.attempt],
            [o.attempt.started_at for o in logged if o.attempt],
            [o.attempt.status_code for o in logged if o.attempt],
            [o.attempt.latency for o in logged if o.attempt],
            [o.attempt.response_body for o in logged if o.attempt],
            [o.attempt.error for o in logged if o.attempt],
            [o.attempt.outcome for o in logged if o.attempt],
            sorted(healthy),
            failing,
            now,
            self.schedule.attempts,
        ]
        async with self._connection() as connection:
            rows = await connection.fetch(query, *args)
        held = {int(r["key"]) for r in rows if r["kind"] == "held"}
        since = {r["key"]: r["since"] for r in rows if r["kind"] == "sick"}
        return held, since

    async def postpone(self, claim: Claim, until: datetime) -> None:
        """Give a claimed delivery back, due at ``until``, without counting its attempt (rate limiting)."""
        await self.release([claim], until=until)

    async def release(self, claims: Sequence[Claim], *, until: datetime | None = None) -> int:
        """Give claimed deliveries back without counting their attempt: they were never sent.

        `DeliveryWorker` calls it when it is cancelled with claims it had not started sending, and
        when a rate limit postpones one. Only claims whose lease is still held are given back; their
        attempt count goes down by the one their claim added, so a release never lets a delivery
        exceed its schedule. An attempt that was sent (or may have been) must not be released: let
        its lease run out instead, and it counts.

        Args:
            claims: Claims from `claim_and_reap`.
            until: When they are due again; now by default.

        Returns:
            How many deliveries were given back.
        """
        items = _claims(claims)
        due = self.clock.now() if until is None else _aware("until", until)
        if not items:
            return 0
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._deliveries} AS d SET next_attempt_at = $3, lease_token = NULL, "
                "attempts = GREATEST(d.attempts - 1, 0) "
                "FROM unnest($1::bigint[], $2::text[]) AS r (id, token) "
                "WHERE d.id = r.id AND d.lease_token = r.token AND d.status = 'pending'",
                [c.delivery_id for c in items],
                [c.token for c in items],
                due,
            )
        return _affected(result)

    async def cancel_endpoint(self, endpoint_id: str) -> int:
        """Cancel every pending delivery to ``endpoint_id`` (after it was disabled); return how many."""
        if endpoint_key(endpoint_id) is None:
            return 0  # no endpoint has that id
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._deliveries} SET status = 'cancelled', finished_at = $2, lease_token = NULL, "
                "next_attempt_at = NULL WHERE endpoint_id = $1 AND status = 'pending'",
                endpoint_id,
                self.clock.now(),
            )
        return _affected(result)


def _affected(result: str) -> int:
    return int(result.rsplit(" ", 1)[-1])


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


def _encode(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError:
        raise WebhookConfigurationError("payload", type(payload).__name__, "nests too deeply") from None
    except (TypeError, ValueError) as exc:
        raise WebhookConfigurationError(
            "payload", type(payload).__name__, f"is not JSON-serializable: {exc}"
        ) from None


_aware = aware_datetime


def _message_key(message_id: object) -> str | None:
    """``message_id`` if a message could have it (1 to 256 printable ASCII), else ``None``."""
    if isinstance(message_id, str) and 0 < len(message_id) <= 256 and message_id.isascii():
        return message_id if message_id.isprintable() else None
    return None


def _claims(claims: object) -> list[Claim]:
    if isinstance(claims, Claim):
        claims = [claims]
    if isinstance(claims, str | bytes) or not isinstance(claims, Sequence):
        raise WebhookConfigurationError("claims", type(claims).__name__, "must be a sequence of Claim")
    if len(claims) > _MAX_BATCH or not all(isinstance(c, Claim) for c in claims):
        raise WebhookConfigurationError(
            "claims", type(claims).__name__, f"must be at most {_MAX_BATCH} Claim objects"
        )
    return list(claims)


def _outcomes(outcomes: object) -> list[Outcome]:
    if isinstance(outcomes, str | bytes) or not isinstance(outcomes, Sequence):
        raise WebhookConfigurationError("outcomes", type(outcomes).__name__, "must be a sequence of Outcome")
    if len(outcomes) > _MAX_BATCH or not all(isinstance(o, Outcome) for o in outcomes):
        raise WebhookConfigurationError(
            "outcomes", type(outcomes).__name__, f"must be at most {_MAX_BATCH} Outcome objects"
        )
    return list(outcomes)
