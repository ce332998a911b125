"""`PostgresStore`: idempotency records in a PostgreSQL table (extra ``postgres``, asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, TableName

from ._metrics import TELEMETRY, store_call
from ._tokens import lease_token
from ._types import Claim, ClaimOutcome, StoredResponse, decode_response, encode_response
from ._validation import check_held, check_positive, check_positive_int, check_store_text
from .exceptions import (
    IdempotencyConfigurationError,
    IdempotencyError,
    IdempotencyTypeError,
    IdempotencyUnavailableError,
    MissingExtraError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresStore", "postgres") from exc

__all__ = ["PostgresStore", "schema_sql"]

logger = logging.getLogger(__name__)

_ERRORS = BackendErrors(IdempotencyConfigurationError, IdempotencyTypeError, IdempotencyUnavailableError)
_CLAIM_ATTEMPTS = 8

# {table} is replaced by the validated, quoted table name.
_SQL = {
    "claim": """
WITH claimed AS (
    INSERT INTO {table} AS r (key, fingerprint, token, response, expires_at)
    VALUES ($1, $2, $3, NULL, clock_timestamp() + make_interval(secs => $4))
    ON CONFLICT (key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token, response = NULL,
            expires_at = EXCLUDED.expires_at, created_at = clock_timestamp()
        WHERE r.expires_at <= clock_timestamp()
    RETURNING 1
)
SELECT 1 AS code, NULL::bytea AS response, NULL::float8 AS remaining FROM claimed
UNION ALL
SELECT CASE WHEN r.fingerprint <> $2 THEN 2 WHEN r.token IS NULL THEN 3 ELSE 4 END,
       CASE WHEN r.fingerprint = $2 AND r.token IS NULL THEN r.response END,
       extract(epoch FROM r.expires_at - clock_timestamp())::float8
FROM {table} r
WHERE r.key = $1 AND r.expires_at > clock_timestamp() AND NOT EXISTS (SELECT 1 FROM claimed)
""",
    "complete": (
        "UPDATE {table} SET token = NULL, response = $3, "
        "expires_at = clock_timestamp() + make_interval(secs => $4) "
        "WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()"
    ),
    "release": "DELETE FROM {table} WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()",
    "renew": (
        "UPDATE {table} SET expires_at = clock_timestamp() + make_interval(secs => $3) "
        "WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()"
    ),
    # The outer WHERE re-checks expiry under the row lock, so a row claimed again meanwhile stays.
    "reap": (
        "DELETE FROM {table} WHERE key IN (SELECT key FROM {table} WHERE expires_at <= clock_timestamp() "
        "ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) AND expires_at <= clock_timestamp()"
    ),
}


def _quote(table: TableName) -> str:
    return f'"{table.name}"' if table.schema is None else f'"{table.schema}"."{table.name}"'


def schema_sql(table: str = "idempotency_keys") -> str:
    """Return the DDL that creates the table and its expiry index (idempotent; run it in a migration).

    A row is in flight while ``token`` is set (``expires_at`` is the end of its lease) and completed
    once ``response`` is set (``expires_at`` is the end of its retention). Rows past ``expires_at``
    count as absent and are deleted by `PostgresStore.reap`.
    """
    parsed = TableName.parse(table, errors=_ERRORS)
    name = _quote(parsed)
    index = f'"{parsed.name}_expires_at_idx"'
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n"
        "    key         text PRIMARY KEY,\n"
        "    fingerprint text NOT NULL,\n"
        "    token       text,\n"
        "    response    bytea,\n"
        "    expires_at  timestamptz NOT NULL,\n"
        "    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()\n"
        ");\n"
        f"CREATE INDEX IF NOT EXISTS {index} ON {name} (expires_at);\n"
    )


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresStore(PostgresBackend, AsyncResource):
    """An `IdempotencyStore` in a PostgreSQL table, shared by every process using the same database.

    Each operation is one statement. A claim is ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE
    expires_at <= clock_timestamp()`` (it takes a free or expired key, atomically, under the row lock)
    joined with a read of the live row in the same statement; complete, release and renew are
    ``UPDATE``/``DELETE ... WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()``, so a
    worker whose lease ran out cannot touch a key another worker has claimed since. All times are the
    database server's (``clock_timestamp()``), so application servers' clocks never matter.

    Expired rows count as absent at once and are deleted by `reap` (or the background reaper that
    `start_reaper` runs). Create the table with `create_schema` or put `schema_sql` in a migration.

    Build it around a pool the application owns, or let `connect` open one it owns::

        store = PostgresStore(pool=pool, table="orders_idempotency")  # the pool stays open on aclose
        store = await PostgresStore.connect(dsn, table="orders_idempotency")  # aclose closes it

    Args:
        pool: An ``asyncpg`` pool. The store does not close a pool it was given.
        table: The table name, optionally ``schema.table``.

    Raises:
        IdempotencyTypeError: ``pool`` is not an ``asyncpg.Pool``.
        IdempotencyConfigurationError: ``table`` is not a table name.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = _ERRORS

    def __init__(self, pool: asyncpg.Pool, *, table: str = "idempotency_keys") -> None:
        parsed = TableName.parse(table, errors=_ERRORS)
        super().__init__(pool)
        self.table = parsed.sql
        name = _quote(parsed)
        self._reaper: asyncio.Task[None] | None = None
        sql = {label: template.replace("{table}", name) for label, template in _SQL.items()}
        self._claim_sql = sql["claim"]
        self._complete_sql = sql["complete"]
        self._release_sql = sql["release"]
        self._renew_sql = sql["renew"]
        self._reap_sql = sql["reap"]
        self._schema_sql = schema_sql(table)
        self._drop_sql = f"DROP TABLE IF EXISTS {name}"

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "idempotency_keys",
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 5.0,
        server_settings: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a pool for ``dsn`` and return a store that owns it (`aclose` closes it).

        Everything is checked before the pool is opened.

        Raises:
            IdempotencyConfigurationError: The DSN is not a ``postgresql://`` URL asyncpg can use,
                or the server refuses it (a wrong password, an unknown database or setting; the DSN
                is never shown in the message); ``table`` is not a table name; ``min_size`` is not an
                int from 0 to ``max_size``, ``max_size`` not from 1 to 1,000, ``command_timeout``
                not a finite number of seconds above zero, or ``server_settings`` not a mapping of
                str to str.
            IdempotencyUnavailableError: The server cannot be reached (the DSN's password redacted).
        """
        TableName.parse(table, errors=_ERRORS)  # checked before any connection is made
        timeout = check_positive("command_timeout", command_timeout)
        with store_call((), store="postgresql", operation="connect", address="postgresql"):
            return await cls._open(
                dsn,
                lambda pool: cls(pool, table=table),
                min_size=min_size,
                max_size=max_size,
                command_timeout=timeout,
                server_settings=server_settings,
            )

    async def _call(self, operation: str, method: str, sql: str, *args: Any) -> Any:  # noqa: ANN401
        with store_call((), store="postgresql", operation=operation, address=self._address):
            async with self._connection() as conn:
                return await getattr(conn, method)(sql, *args)

    async def create_schema(self) -> None:
        """Create the table and its index if they do not exist (the DDL is `schema_sql`)."""
        await self._call("create_schema", "execute", self._schema_sql)

    async def drop_schema(self) -> None:
        """Drop the table and every record in it (tests, tours, uninstalling)."""
        await self._call("drop_schema", "execute", self._drop_sql)

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds, or report what holds it (see `IdempotencyStore`)."""
        check_store_text("key", key)
        check_store_text("fingerprint", fingerprint)
        seconds = check_positive("lease", lease)
        token = lease_token()
        for _ in range(_CLAIM_ATTEMPTS):
            row = await self._call("claim", "fetchrow", self._claim_sql, key, fingerprint, token, seconds)
            # No row: a concurrent claim committed after this statement's snapshot; look again.
            if row is not None:
                return _claim_from(row, token)
        raise IdempotencyUnavailableError(
            "postgresql", self._address, "claim: the key kept changing under load"
        )

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` if ``token`` holds a live lease on ``key``; ``False`` if it does not."""
        check_held(key, token)
        seconds = check_positive("retention", retention)
        data = encode_response(response)
        status = await self._call("complete", "execute", self._complete_sql, key, token, data, seconds)
        return bool(status == "UPDATE 1")

    async def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none."""
        check_held(key, token)
        return bool(await self._call("release", "execute", self._release_sql, key, token) == "DELETE 1")

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the live lease ``token`` holds to ``lease`` seconds from now."""
        check_held(key, token)
        seconds = check_positive("lease", lease)
        return bool(await self._call("renew", "execute", self._renew_sql, key, token, seconds) == "UPDATE 1")

    async def reap(self, *, batch_size: int = 1000) -> int:
        """Delete expired rows (abandoned claims and completed records past retention); return how many.

        Deletes in batches of ``batch_size`` so a large backlog never holds many locks at once; rows
        locked by a concurrent claim are skipped.
        """
        check_positive_int("batch_size", batch_size)
        total = 0
        while True:
            status = await self._call("reap", "execute", self._reap_sql, batch_size)
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            if deleted < batch_size:
                return total

    def start_reaper(self, *, interval: float = 60.0, batch_size: int = 1000) -> asyncio.Task[None]:
        """Run `reap` every ``interval`` seconds in a background task until `aclose` (or cancellation).

        Failures (the database briefly down) are logged and retried at the next interval.

        Raises:
            IdempotencyConfigurationError: ``interval`` or ``batch_size`` is out of range, or the
                reaper runs already.
            IdempotencyError: No event loop is running (call it from async code).
        """
        seconds = check_positive("interval", interval)
        check_positive_int("batch_size", batch_size)
        if self._reaper is not None and not self._reaper.done():
            raise IdempotencyConfigurationError("reaper", "running", "start_reaper was called already")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise IdempotencyError(
                "start_reaper needs a running event loop: call it from async code"
            ) from None

        async def reap_forever() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    removed = await self.reap(batch_size=batch_size)
                except IdempotencyUnavailableError as exc:
                    logger.warning("idempotency reaper: %s", exc)
                else:
                    if removed:
                        logger.debug("idempotency reaper removed %d expired records", removed)

        self._reaper = loop.create_task(reap_forever(), name="idempotency-reaper")
        return self._reaper

    async def _aclose(self) -> None:
        """Stop the reaper, then close the pool if the store opened it (`connect`)."""
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        await super()._aclose()

    def __repr__(self) -> str:
        return f"PostgresStore(table={self.table!r}, address={self._address!r})"


def _claim_from(row: Any, token: str) -> Claim:  # noqa: ANN401 - an asyncpg Record
    code = row["code"]
    if code == 1:
        return Claim(ClaimOutcome.CLAIMED, token=token)
    if code == 3:
        return Claim(ClaimOutcome.COMPLETED, response=decode_response(row["response"]))
    if code == 4:
        return Claim(ClaimOutcome.IN_FLIGHT, retry_after=max(float(row["remaining"]), 0.0))
    return Claim(ClaimOutcome.MISMATCH)
