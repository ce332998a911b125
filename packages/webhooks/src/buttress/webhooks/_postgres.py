"""PostgreSQL: the pool plumbing the outbox shares, and `PostgresEndpointStore` (extra ``postgres``)."""

# Table names are interpolated into SQL; they are checked against [a-z_][a-z0-9_]* first.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

from buttress.core import AsyncResource, Owned, connection_errors, redact_url, unavailable_on

from ._checks import positive_int, string_mapping, text
from ._endpoints import Endpoint, check_list_filters, endpoint_key
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

__all__ = ["Connection", "PoolBacked", "PostgresEndpointStore", "check_table", "open_pool"]

_TABLE: Final = re.compile(r"(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,40}")
# Failures that mean "the database cannot be reached", as opposed to a bad statement.
_DOWN: Final = connection_errors("asyncpg")
# An argument asyncpg cannot encode (the client-side DataError is an InterfaceError, so it is caught
# before the unavailable mapping), or a value the server refuses as data (NUL or an invalid byte
# sequence in text).
_BAD_INPUT: Final = (asyncpg.exceptions._base.DataError, asyncpg.exceptions.DataError)
_BORROWED: Final = "the pool's server"

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


def check_table(table: object) -> str:
    """``table`` if it is a table name (optionally ``schema.table``) that can be put in SQL as is."""
    if not isinstance(table, str):
        raise WebhooksTypeError("table", "a str", table)
    if not _TABLE.fullmatch(table):
        raise WebhooksConfigurationError(
            "table", table, "must be [a-z_][a-z0-9_]* (at most 41 characters), optionally schema-qualified"
        )
    return table


class PoolBacked(AsyncResource):
    """Holds an asyncpg pool (owned or borrowed); maps connection failures to `WebhooksUnavailableError`."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        if not isinstance(pool, asyncpg.Pool):
            raise WebhooksTypeError("pool", "an asyncpg.Pool", pool)
        super().__init__()
        self._pool_ref: Owned[asyncpg.Pool[Any]] = Owned(pool)
        self._address = _BORROWED

    @property
    def _pool(self) -> asyncpg.Pool[Any]:
        return self._pool_ref.value

    def _own(self, pool: asyncpg.Pool[Any], dsn: str) -> None:
        """Take ownership of ``pool`` (opened by `connect`): `aclose` closes it."""
        self._pool_ref = Owned(pool, pool.close)
        self._address = dsn

    @asynccontextmanager
    async def _connection(self, given: Connection | None = None) -> AsyncIterator[Connection]:
        with unavailable_on(_DOWN, WebhooksUnavailableError, backend="postgresql", address=self._address):
            try:
                if given is not None:
                    yield given
                else:
                    async with self._pool.acquire() as connection:
                        yield connection
            except _BAD_INPUT as exc:
                # asyncpg could not encode an argument, or the server refused its value (NUL in
                # text): the caller's input, which no retry fixes. Neither value nor message is shown.
                raise WebhooksConfigurationError(
                    "argument", None, f"the database refused a value ({type(exc).__name__})", show_value=False
                ) from None

    async def _aclose(self) -> None:
        await self._pool_ref.release()


class PostgresEndpointStore(PoolBacked, AsyncResource):
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

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str = "webhook_endpoints") -> None:
        self.table = check_table(table)
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
                any connection is made).
            WebhooksUnavailableError: The server cannot be reached or refuses the connection.
        """
        check_table(table)  # checked before a pool is opened, so a bad argument leaks nothing
        pool = await open_pool(dsn, min_size=min_size, max_size=max_size, server_settings=server_settings)
        store = cls(pool, table=table)
        store._own(pool, dsn)
        return store

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


async def open_pool(
    dsn: object, *, min_size: object, max_size: object, server_settings: object
) -> asyncpg.Pool[Any]:
    """Open a pool for ``dsn`` of ``min_size`` to ``max_size`` connections.

    A bad DSN, size or setting is a `WebhooksConfigurationError` (raised before connecting), a server
    that cannot be reached or refuses the connection a `WebhooksUnavailableError`; neither shows the
    DSN's password.
    """
    settings = string_mapping("server_settings", server_settings)
    dsn = text("dsn", dsn, max_length=4096)
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise WebhooksConfigurationError("dsn", redact_url(dsn), "must be a postgresql:// URL")
    low = positive_int("min_size", min_size, minimum=0, maximum=1000)
    high = positive_int("max_size", max_size, maximum=1000)
    if low > high:
        raise WebhooksConfigurationError("min_size", low, f"must not exceed max_size ({high})")
    down: tuple[type[BaseException], ...] = (*_DOWN, asyncpg.PostgresError)
    with unavailable_on(down, WebhooksUnavailableError, backend="postgresql", address=dsn):
        try:
            return await asyncpg.create_pool(dsn, min_size=low, max_size=high, server_settings=settings)
        except (asyncpg.exceptions.ClientConfigurationError, ValueError) as exc:
            # Before the unavailable mapping: asyncpg's configuration error is an InterfaceError too.
            raise WebhooksConfigurationError(
                "dsn", redact_url(dsn), f"is not a usable PostgreSQL DSN ({type(exc).__name__})"
            ) from None
