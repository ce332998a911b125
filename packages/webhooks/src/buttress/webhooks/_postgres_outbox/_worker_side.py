"""`PostgresOutbox`'s worker side: the `Outbox` Protocol's claim, settle, release and cancel_endpoint.

Leases are expressed through ``next_attempt_at``: a claimed delivery is due again only when its lease
has run out, so a dead worker's delivery is picked up then.
"""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .._checks import aware_datetime
from .._delivery import DeadDelivery, DeliveryStatus
from .._endpoints import endpoint_key
from .._outbox import Claim, Outcome, check_claim, check_claims, check_outcomes
from ._base import OutboxBase, affected

__all__ = ["WorkerSide"]


class WorkerSide(OutboxBase):
    """What `DeliveryWorker` calls."""

    async def claim(self, *, limit: int, lease: float, token: str) -> tuple[list[Claim], list[DeadDelivery]]:
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
            token: Proves the lease to `settle` and `release`.

        Returns:
            The claims, and the deliveries this call found dead.

        Raises:
            WebhooksConfigurationError: An argument is invalid.
            WebhooksUnavailableError: The database cannot be reached.
        """
        limit, seconds, token = check_claim(limit, lease, token)
        now = self.clock.now()
        t = self._tables
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"""
                WITH due AS (
                    SELECT id, attempts, lease_token FROM {t.deliveries}
                    WHERE status = 'pending' AND next_attempt_at <= $1
                    ORDER BY next_attempt_at
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE {t.deliveries} AS d
                    SET next_attempt_at = $3, lease_token = $4, attempts = d.attempts + 1,
                        last_attempt_at = $1
                    FROM due
                    WHERE d.id = due.id AND due.attempts < $5
                    RETURNING d.id, d.message_id, d.endpoint_id, d.attempts, NULL::integer AS code,
                              NULL::text AS error
                ), buried AS (
                    UPDATE {t.deliveries} AS d
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
                FROM claimed AS c JOIN {t.messages} AS m ON m.id = c.message_id
                UNION ALL
                SELECT 'dead', b.*, m.event_type, NULL
                FROM buried AS b JOIN {t.messages} AS m ON m.id = b.message_id
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

    async def settle(self, outcomes: Sequence[Outcome]) -> tuple[set[int], dict[str, datetime]]:
        """Record a batch of results in one statement; used by `DeliveryWorker`.

        A result is applied only where its claim's token still holds the lease; every attempt is
        logged either way. A pending outcome for a delivery with no attempt left makes it dead.
        Endpoints with a success in the batch are healthy again; the others, with failed attempts,
        keep (or start) their failing period.

        Returns:
            The delivery ids whose lease was still held, and for each endpoint that only failed in
            this batch, since when it has been failing.
        """
        outcomes = check_outcomes(outcomes)
        if not outcomes:
            return set(), {}
        now = self.clock.now()
        logged = [o for o in outcomes if o.attempt is not None]
        healthy = {o.claim.endpoint_id for o in outcomes if o.status is DeliveryStatus.DELIVERED}
        failing = sorted({o.claim.endpoint_id for o in logged} - healthy)
        t = self._tables
        query = f"""
            WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[],
                                     $5::timestamptz[], $6::integer[], $7::text[])
                    AS i (id, token, status, next_at, finished, code, error)
            ), upd AS (
                UPDATE {t.deliveries} AS d
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
                INSERT INTO {t.attempts} (delivery_id, message_id, endpoint_id, attempt, started_at,
                                              status_code, latency, response_body, error, outcome)
                SELECT * FROM unnest($8::bigint[], $9::text[], $10::text[], $11::integer[],
                                     $12::timestamptz[], $13::integer[], $14::double precision[],
                                     $15::text[], $16::text[], $17::text[])
            ), healed AS (
                UPDATE {t.health} SET failing_since = NULL
                WHERE endpoint_id = ANY($18::text[]) AND failing_since IS NOT NULL
            ), sick AS (
                INSERT INTO {t.health} AS h (endpoint_id, failing_since)
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

    async def release(self, claims: Sequence[Claim], *, until: datetime | None = None) -> int:
        """Give claimed deliveries back without counting their attempt: they were never sent.

        `DeliveryWorker` calls it when it is cancelled with claims it had not started sending, and
        when a rate limit postpones one (with ``until``). Only claims whose lease is still held are
        given back; their attempt count goes down by the one their claim added, so a release never
        lets a delivery exceed its schedule. An attempt that was sent (or may have been) must not be
        released: let its lease run out instead, and it counts.

        Args:
            claims: Claims from `claim`.
            until: When they are due again; now by default.

        Returns:
            How many deliveries were given back.
        """
        items = check_claims(claims)
        due = self.clock.now() if until is None else aware_datetime("until", until)
        if not items:
            return 0
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._tables.deliveries} AS d SET next_attempt_at = $3, lease_token = NULL, "
                "attempts = GREATEST(d.attempts - 1, 0) "
                "FROM unnest($1::bigint[], $2::text[]) AS r (id, token) "
                "WHERE d.id = r.id AND d.lease_token = r.token AND d.status = 'pending'",
                [c.delivery_id for c in items],
                [c.token for c in items],
                due,
            )
        return affected(result)

    async def cancel_endpoint(self, endpoint_id: str) -> int:
        """Cancel every pending delivery to ``endpoint_id`` (after it was disabled); return how many."""
        if endpoint_key(endpoint_id) is None:
            return 0  # no endpoint has that id
        async with self._connection() as connection:
            result = await connection.execute(
                f"UPDATE {self._tables.deliveries} SET status = 'cancelled', finished_at = $2, "
                "lease_token = NULL, next_attempt_at = NULL WHERE endpoint_id = $1 AND status = 'pending'",
                endpoint_id,
                self.clock.now(),
            )
        return affected(result)
