"""`PostgresAuditSink`: the audit log in an append-only PostgreSQL table (the ``postgres`` extra).

The table refuses UPDATE and DELETE through a trigger (TRUNCATE too), so the application's own
role cannot rewrite history by accident; indexes serve the filters by actor, action and resource
within a time window. With ``chain=True`` appends are serialised by a transaction-scoped advisory
lock, each entry is linked to the last one stored, and `verify` re-reads the whole table to find an
entry edited, deleted or inserted behind the sink's back (by a superuser disabling the trigger, or
a restore of an old backup).
"""

# ruff: noqa: S608 - table names are TableName-checked identifiers; every value is a bind parameter

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar, Final, Self

from buttress.core import BackendErrors, PostgresBackend, TableName, check_count

from ._audit import AuditEntry, AuditFilter, link, verify_chain
from ._metrics import AUDIT_ENTRIES, TELEMETRY
from .exceptions import (
    AuditIntegrityError,
    MissingExtraError,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    ObservabilityUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("PostgresAuditSink", "postgres") from exc

__all__ = ["PostgresAuditSink"]

_COLUMNS: Final = (
    "id, timestamp, actor, action, resource, outcome, details, request_id, sequence, previous_hash, hash"
)
_VERIFY_BATCH: Final = 1000


def _entry(row: Any) -> AuditEntry:  # noqa: ANN401 - an asyncpg Record
    return AuditEntry(
        id=row["id"],
        timestamp=row["timestamp"],
        actor=row["actor"],
        action=row["action"],
        resource=row["resource"],
        outcome=row["outcome"],
        details=json.loads(row["details"]),
        request_id=row["request_id"],
        sequence=row["sequence"],
        previous_hash=row["previous_hash"],
        hash=row["hash"],
    )


class PostgresAuditSink(PostgresBackend):
    """An `AuditSink` over an append-only PostgreSQL table.

    Args:
        pool: The application's ``asyncpg.Pool`` (never closed by the sink); or use `connect`.
        table: The table, ``"name"`` or ``"schema.name"``.
        chain: Hash-chain the entries (`verify` then checks them).

    Raises:
        ObservabilityTypeError: ``pool`` is not an ``asyncpg.Pool``, or ``chain`` not a bool.
        ObservabilityConfigurationError: A bad table name.

    Example::

        sink = await PostgresAuditSink.connect(dsn, table="audit_log", chain=True)
        await sink.create_schema()
        await sink.append(AuditEntry.create("user:7", "order.refund", "order:o-1"))
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = BackendErrors(
        ObservabilityConfigurationError, ObservabilityTypeError, ObservabilityUnavailableError
    )

    def __init__(self, pool: asyncpg.Pool, *, table: str = "audit_log", chain: bool = False) -> None:
        super().__init__(pool)
        self.table = TableName.parse(table, errors=self.errors)
        if chain is not True and chain is not False:
            raise ObservabilityTypeError("chain", "a bool", chain)
        self.chain = chain

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "audit_log",
        chain: bool = False,
        min_size: int = 1,
        max_size: int = 10,
    ) -> Self:
        """Open a pool on ``dsn`` that the sink owns (closed by ``aclose``).

        Raises:
            ObservabilityConfigurationError: A bad DSN, table or pool size.
            ObservabilityUnavailableError: The server cannot be reached.
        """
        TableName.parse(table, errors=cls.errors)
        if chain is not True and chain is not False:
            raise ObservabilityTypeError("chain", "a bool", chain)
        return await cls._open(
            dsn, lambda pool: cls(pool, table=table, chain=chain), min_size=min_size, max_size=max_size
        )

    async def create_schema(self) -> None:
        """Create the table, its indexes and the triggers refusing UPDATE, DELETE, TRUNCATE (idempotent)."""
        name = self.table.sql
        guard = self.table.derived("append_only").name
        statements = [
            f"""CREATE TABLE IF NOT EXISTS {name} (
                position bigserial PRIMARY KEY,
                id text NOT NULL UNIQUE,
                timestamp timestamptz NOT NULL,
                actor text NOT NULL,
                action text NOT NULL,
                resource text NOT NULL,
                outcome text NOT NULL,
                details jsonb NOT NULL,
                request_id text,
                sequence bigint UNIQUE,
                previous_hash text,
                hash text
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.table.name}_actor_time ON {name} (actor, timestamp)",
            f"CREATE INDEX IF NOT EXISTS {self.table.name}_action_time ON {name} (action, timestamp)",
            f"CREATE INDEX IF NOT EXISTS {self.table.name}_resource_time ON {name} (resource, timestamp)",
            f"CREATE INDEX IF NOT EXISTS {self.table.name}_time ON {name} (timestamp)",
            f"""CREATE OR REPLACE FUNCTION {self._schema_prefix()}{guard}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
                END
                $$""",
            f"DROP TRIGGER IF EXISTS {guard} ON {name}",
            f"""CREATE TRIGGER {guard} BEFORE UPDATE OR DELETE ON {name}
                FOR EACH ROW EXECUTE FUNCTION {self._schema_prefix()}{guard}()""",
            f"DROP TRIGGER IF EXISTS {guard}_truncate ON {name}",
            f"""CREATE TRIGGER {guard}_truncate BEFORE TRUNCATE ON {name}
                FOR EACH STATEMENT EXECUTE FUNCTION {self._schema_prefix()}{guard}()""",
        ]
        async with self._connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"ddl:{name}")
            for statement in statements:
                await connection.execute(statement)

    async def drop_schema(self) -> None:
        """Drop the table and its trigger function (for tests and teardown)."""
        guard = self.table.derived("append_only").name
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self.table.sql}")
            await connection.execute(f"DROP FUNCTION IF EXISTS {self._schema_prefix()}{guard}()")

    def _schema_prefix(self) -> str:
        return "" if self.table.schema is None else f"{self.table.schema}."

    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Insert ``entry`` (linked to the last one when chained); return it as stored.

        Raises:
            ObservabilityTypeError: ``entry`` is not an `AuditEntry`.
            ObservabilityConfigurationError: An entry with the id of one already stored.
            ObservabilityUnavailableError: The server cannot be reached.
        """
        if not isinstance(entry, AuditEntry):
            raise ObservabilityTypeError("entry", "an AuditEntry", entry)
        name = self.table.sql
        async with self._connection() as connection, connection.transaction():
            if self.chain:
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"chain:{name}")
                row = await connection.fetchrow(
                    f"SELECT {_COLUMNS} FROM {name} WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"
                )
                entry = link(entry, None if row is None else _entry(row))
            try:
                await connection.execute(
                    f"INSERT INTO {name} ({_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)",
                    entry.id,
                    entry.timestamp,
                    entry.actor,
                    entry.action,
                    entry.resource,
                    entry.outcome,
                    json.dumps(entry.details),
                    entry.request_id,
                    entry.sequence,
                    entry.previous_hash,
                    entry.hash,
                )
            except asyncpg.UniqueViolationError:
                raise ObservabilityConfigurationError(
                    "entry", entry.id, "an entry with this id is already stored"
                ) from None
        AUDIT_ENTRIES.add(1, {"audit.sink": "postgresql"})
        return entry

    async def query(self, where: AuditFilter | None = None) -> list[AuditEntry]:
        """The entries ``where`` selects, oldest first (by timestamp, then by arrival).

        Raises:
            ObservabilityTypeError: ``where`` is not an `AuditFilter` or ``None``.
            ObservabilityUnavailableError: The server cannot be reached.
        """
        if where is None:
            where = AuditFilter()
        if not isinstance(where, AuditFilter):
            raise ObservabilityTypeError("where", "an AuditFilter or None", where)
        conditions: list[str] = []
        values: list[object] = []
        for column in ("actor", "action", "resource"):
            value = getattr(where, column)
            if value is not None:
                values.append(value)
                conditions.append(f"{column} = ${len(values)}")
        if where.since is not None:
            values.append(where.since)
            conditions.append(f"timestamp >= ${len(values)}")
        if where.until is not None:
            values.append(where.until)
            conditions.append(f"timestamp < ${len(values)}")
        values.append(where.limit)
        clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            f"SELECT {_COLUMNS} FROM {self.table.sql} {clause} "
            f"ORDER BY timestamp, position LIMIT ${len(values)}"
        )
        async with self._connection() as connection:
            rows = await connection.fetch(sql, *values)
        return [_entry(row) for row in rows]

    async def verify(self, *, batch: int = _VERIFY_BATCH) -> int:
        """Re-read the whole chain in sequence order and check it; return how many entries it holds.

        Raises:
            AuditIntegrityError: An entry was edited, deleted or inserted; or entries are unchained.
            ObservabilityUnavailableError: The server cannot be reached.
        """
        size = check_count("batch", batch, minimum=1, maximum=100_000, error=ObservabilityConfigurationError)
        previous: AuditEntry | None = None
        count = 0
        async with self._connection() as connection:
            unchained = await connection.fetchval(
                f"SELECT count(*) FROM {self.table.sql} WHERE sequence IS NULL"
            )
            if unchained:
                raise AuditIntegrityError(
                    0, f"{unchained} entries carry no chain (written without chain=True)"
                )
            after = 0
            while True:
                rows = await connection.fetch(
                    f"SELECT {_COLUMNS} FROM {self.table.sql} WHERE sequence > $1 ORDER BY sequence LIMIT $2",
                    after,
                    size,
                )
                if not rows:
                    return count
                entries: Sequence[AuditEntry] = [_entry(row) for row in rows]
                if previous is None and entries[0].sequence != 1:
                    raise AuditIntegrityError(
                        entries[0].sequence or 0, "the chain does not start at 1 (entries deleted)"
                    )
                count += verify_chain(entries, previous=previous)
                previous = entries[-1]
                after = previous.sequence or 0
