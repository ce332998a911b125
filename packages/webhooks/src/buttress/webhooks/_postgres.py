"""PostgreSQL: `PostgresEndpointStore` and what the outbox shares with it (extra ``postgres``).

The pool (owned or borrowed), the table names and the outages are core's `PostgresBackend` and
`TableName`, given the package's error classes (`ERRORS`).
"""

# Table names are interpolated into SQL; they are checked by core's TableName.parse first.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, TableName

from ._endpoints import Endpoint, check_list_filters, endpoint_key
from ._metrics import TELEMETRY
from .exceptions import (
    EndpointConflictError,
    EndpointNotFoundError,
    MissingExtraError,
    WebhooksConfigurationError,
    WebhooksTypeError,
    WebhooksUnavailableError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresOutbox / PostgresEndpointStore", "postgres") from exc

__all__ = ["ERRORS", "Connection", "PostgresEndpointStore"]

#: The package's error classes, for core's PostgreSQL plumbing.
ERRORS: Final = BackendErrors(WebhooksConfigurationError, WebhooksTypeError, WebhooksUnavailableError)

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresEndpointStore(PostgresBackend, AsyncResource):
    """An `EndpointStore` in one PostgreSQL table (``webhook_endpoints`` by default).

    Secrets are stored as given; encrypt the column (or the disk) if your threat model needs it.

    Args:
        pool: An asyncpg pool the application owns (the store never closes it).
        table: The table's name, optionally ``schema.table`` (else it lives in the connection's
            ``search_path``).

    Examples:
        ``store = await PostgresEndpointStore.connect(dsn, table="webhook_endpoints")`` opens a pool
        the store owns and closes in `aclose`.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = ERRORS

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str = "webhook_endpoints") -> None:
        self.table = TableName.parse(table, errors=ERRORS).sql
        super().__init__(pool)
        self._table = self.table

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "webhook_endpoints",
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresEndpointStore:
        """Open a pool for ``dsn`` and return a store that owns it (closed by `aclose`).

        Raises:
            WebhooksConfigurationError: A bad DSN, table name, pool size or setting (checked before
                any connection is made), or a database, role, password or setting the server refuses.
            WebhooksUnavailableError: The server cannot be reached.
        """
        # Checked before a pool is opened, so a bad argument leaks nothing.
        TableName.parse(table, errors=ERRORS)
        return await cls._open(
            dsn,
            lambda pool: cls(pool, table=table),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )

    async def create_schema(self) -> None:
        """Create the table if it does not exist."""
        async with self._connection() as connection:
            await connection.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {self._table} (
                    id text PRIMARY KEY,
                    url text NOT NULL,
                    secrets text[] NOT NULL,
                    event_types text[],
                    enabled boolean NOT NULL,
                    disabled_reason text,
                    rate_limit integer,
                    headers jsonb NOT NULL,
                    description text NOT NULL,
                    previous_secrets_expire_at timestamptz,
                    created_at timestamptz,
                    updated_at timestamptz
                )
                """
            )

    async def drop_schema(self) -> None:
        """Drop the table (and every endpoint in it)."""
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self._table}")

    async def create(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint."""
        _require(endpoint)
        async with self._connection() as connection:
            inserted = await connection.fetchval(
                f"INSERT INTO {self._table} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                *_endpoint_row(endpoint),
            )
        if inserted is None:
            raise EndpointConflictError(endpoint.id)
        return endpoint

    async def get(self, endpoint_id: str) -> Endpoint:
        """Return the endpoint with this id."""
        key = endpoint_key(endpoint_id)
        row = None
        if key is not None:
            async with self._connection() as connection:
                row = await connection.fetchrow(f"SELECT * FROM {self._table} WHERE id = $1", key)
        if row is None:
            raise EndpointNotFoundError(str(endpoint_id))
        return _endpoint(row)

    async def update(self, endpoint: Endpoint) -> Endpoint:
        """Replace the endpoint with ``endpoint.id``."""
        _require(endpoint)
        async with self._connection() as connection:
            updated = await connection.fetchval(
                f"UPDATE {self._table} SET url=$2, secrets=$3, event_types=$4, enabled=$5, "
                "disabled_reason=$6, "
                "rate_limit=$7, headers=$8, description=$9, previous_secrets_expire_at=$10, created_at=$11, "
                "updated_at=$12 WHERE id = $1 RETURNING id",
                *_endpoint_row(endpoint),
            )
        if updated is None:
            raise EndpointNotFoundError(endpoint.id)
        return endpoint

    async def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; ``True`` if it existed."""
        key = endpoint_key(endpoint_id)
        if key is None:
            return False
        async with self._connection() as connection:
            deleted = await connection.fetchval(f"DELETE FROM {self._table} WHERE id = $1 RETURNING id", key)
        return deleted is not None

    async def list(self, *, event_type: str | None = None, enabled: bool | None = None) -> list[Endpoint]:
        """Return matching endpoints, ordered by id."""
        check_list_filters(event_type, enabled)
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT * FROM {self._table} WHERE ($1::text IS NULL OR event_types IS NULL "
                'OR $1 = ANY(event_types)) AND ($2::boolean IS NULL OR enabled = $2) ORDER BY id COLLATE "C"',
                event_type,
                enabled,
            )
        return [_endpoint(row) for row in rows]


def _require(endpoint: object) -> None:
    if not isinstance(endpoint, Endpoint):
        raise WebhooksTypeError("endpoint", "an Endpoint", endpoint)


def _endpoint_row(e: Endpoint) -> tuple[object, ...]:
    return (
        e.id,
        e.url,
        list(e.secrets),
        None if e.event_types is None else sorted(e.event_types),
        e.enabled,
        e.disabled_reason,
        e.rate_limit,
        json.dumps(dict(e.headers)),
        e.description,
        e.previous_secrets_expire_at,
        e.created_at,
        e.updated_at,
    )


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        id=row["id"],
        url=row["url"],
        secrets=tuple(row["secrets"]),
        event_types=None if row["event_types"] is None else frozenset(row["event_types"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        rate_limit=row["rate_limit"],
        headers=json.loads(row["headers"]),
        description=row["description"],
        previous_secrets_expire_at=row["previous_secrets_expire_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
