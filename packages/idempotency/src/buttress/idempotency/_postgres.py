"""`PostgresStore`: idempotency records in a PostgreSQL table (extra ``postgres``, asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any, Final, Self
from urllib.parse import urlsplit

from buttress.core import AsyncResource, Owned, check_count, connection_errors, redact_url

from ._metrics import store_call
from ._types import Claim, ClaimOutcome, StoredResponse, decode_response, encode_response
from ._validation import check_held, check_positive, check_positive_int, check_store_text, check_text
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

_UNAVAILABLE: Final = connection_errors("asyncpg")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
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


def _quote(table: str) -> str:
    parts = check_text("table", table).split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise IdempotencyConfigurationError(
            "table", table, "must be a table name, optionally schema-qualified (letters, digits, _)"
        )
    return ".".join(f'"{part}"' for part in parts)


def schema_sql(table: str = "idempotency_keys") -> str:
    """Return the DDL that creates the table and its expiry index (idempotent; run it in a migration).

    A row is in flight while ``token`` is set (``expires_at`` is the end of its lease) and completed
    once ``response`` is set (``expires_at`` is the end of its retention). Rows past ``expires_at``
    count as absent and are deleted by `PostgresStore.reap`.
    """
    name = _quote(table)
    index = f'"{table.rsplit(".", 1)[-1]}_expires_at_idx"'
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


class PostgresStore(AsyncResource):
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

    def __init__(self, pool: asyncpg.Pool, *, table: str = "idempotency_keys") -> None:
        super().__init__()
        if not isinstance(pool, asyncpg.Pool):
            raise IdempotencyTypeError("pool", "an asyncpg.Pool (or use PostgresStore.connect)", pool)
        self.table = check_text("table", table)
        name = _quote(table)
        self._pool: Owned[asyncpg.Pool] = Owned(pool)
        self._address = "postgresql"
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
            IdempotencyConfigurationError: The DSN is not a ``postgresql://`` URL with a numeric port,
                or the server refuses it (a wrong password, an unknown database or setting; the DSN
                is never shown in the message); ``table`` is not a table name; ``min_size`` is not an
                int from 0 to ``max_size``, ``max_size`` not from 1 to 10,000, ``command_timeout``
                not a finite number of seconds above zero, or ``server_settings`` not a mapping of
                str to str.
            IdempotencyUnavailableError: The server cannot be reached (the DSN's password redacted).
        """
        text = check_text("dsn", dsn)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in {"postgresql", "postgres"}:
            raise IdempotencyConfigurationError(
                "dsn", dsn, "must be a postgresql:// DSN with a numeric port", show_value=False
            )
        _quote(check_text("table", table))
        high = check_positive_int("max_size", max_size, maximum=10_000)
        low = check_count("min_size", min_size, error=IdempotencyConfigurationError)
        if low > high:
            raise IdempotencyConfigurationError("min_size", min_size, f"must be at most max_size ({high})")
        timeout = check_positive("command_timeout", command_timeout)
        settings = _settings(server_settings)
        address = redact_url(text)
        try:
            with store_call(_UNAVAILABLE, store="postgresql", operation="connect", address=address):
                pool = await asyncpg.create_pool(
                    dsn=text,
                    min_size=low,
                    max_size=high,
                    command_timeout=timeout,
                    server_settings=settings,
                )
        except (ValueError, TypeError, asyncpg.PostgresError) as exc:
            # What asyncpg reads from the DSN when it connects, and what the server refuses at login.
            raise IdempotencyConfigurationError(
                "dsn", address, f"the server refused it: {type(exc).__name__}", show_value=False
            ) from None
        store = cls(pool, table=table)
        store._pool = Owned(pool, pool.close)
        store._address = address
        return store

    async def _call(self, operation: str, method: str, sql: str, *args: Any) -> Any:  # noqa: ANN401
        with store_call(_UNAVAILABLE, store="postgresql", operation=operation, address=self._address):
            async with self._pool.value.acquire() as conn:
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
        token = secrets.token_urlsafe(12)
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
        await self._pool.release()

    def __repr__(self) -> str:
        return f"PostgresStore(table={self.table!r}, address={self._address!r})"


def _settings(server_settings: object) -> dict[str, str]:
    if server_settings is None:
        return {}
    if not isinstance(server_settings, Mapping):
        raise IdempotencyConfigurationError(
            "server_settings", type(server_settings).__name__, "must be a mapping of str to str"
        )
    return {
        check_text("server_settings", name): check_text("server_settings", value)
        for name, value in server_settings.items()
    }


def _claim_from(row: Any, token: str) -> Claim:  # noqa: ANN401 - an asyncpg Record
    code = row["code"]
    if code == 1:
        return Claim(ClaimOutcome.CLAIMED, token=token)
    if code == 3:
        return Claim(ClaimOutcome.COMPLETED, response=decode_response(row["response"]))
    if code == 4:
        return Claim(ClaimOutcome.IN_FLIGHT, retry_after=max(float(row["remaining"]), 0.0))
    return Claim(ClaimOutcome.MISMATCH)
