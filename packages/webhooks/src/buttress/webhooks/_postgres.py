"""PostgreSQL: the pool plumbing the outbox shares, and `PostgresEndpointStore` (extra ``postgres``)."""

# Table names are interpolated into SQL; they are built from a prefix checked against [a-z_][a-z0-9_]*.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, Self

from buttress.core import redact_url

from ._checks import string_mapping, text
from ._endpoints import Endpoint, check_list_filters, endpoint_key
from .exceptions import (
    EndpointConflictError,
    EndpointNotFoundError,
    MissingExtraError,
    StoreUnavailableError,
    WebhookConfigurationError,
)

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("PostgresOutbox / PostgresEndpointStore", "postgres") from exc

__all__ = ["Connection", "PoolOwner", "PostgresEndpointStore", "check_prefix", "create_pool"]

_PREFIX: Final = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
# Failures that mean "the database cannot be reached", as opposed to a bad statement.
_UNAVAILABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
)

# An argument asyncpg cannot encode (the client-side DataError is an InterfaceError, so it is caught
# first), or a value the server refuses as data (NUL or an invalid byte sequence in text).
_BAD_INPUT: Final = (asyncpg.exceptions._base.DataError, asyncpg.exceptions.DataError)

type Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise WebhookConfigurationError("table_prefix", prefix, "must match [a-z_][a-z0-9_]* (max 41 chars)")
    return prefix


class PoolOwner:
    """Holds an asyncpg pool, maps connection failures to `StoreUnavailableError`."""

    def __init__(self, pool: asyncpg.Pool[Any], *, owned: bool = False) -> None:
        if not isinstance(pool, asyncpg.Pool):
            raise WebhookConfigurationError("pool", type(pool).__name__, "must be an asyncpg.Pool")
        self._pool = pool
        self._owned = owned

    @asynccontextmanager
    async def _connection(self, given: Connection | None = None) -> AsyncIterator[Connection]:
        try:
            if given is not None:
                yield given
            else:
                async with self._pool.acquire() as connection:
                    yield connection
        except _BAD_INPUT as exc:
            # asyncpg could not encode an argument, or the server refused its value (NUL in text):
            # the caller's input, which no retry fixes. Neither value nor message is repeated.
            raise WebhookConfigurationError(
                "argument", None, f"the database refused a value ({type(exc).__name__})", show_value=False
            ) from None
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError("postgresql", "the pool's server", type(exc).__name__) from exc

    async def aclose(self) -> None:
        """Close the pool if this object opened it (`connect`)."""
        if self._owned:
            await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class PostgresEndpointStore(PoolOwner):
    """An `EndpointStore` in one PostgreSQL table (``<prefix>endpoints``).

    Secrets are stored as given; encrypt the column (or the disk) if your threat model needs it.

    Args:
        pool: An asyncpg pool (the store does not close it unless it came from `connect`).
        table_prefix: Prepended to the table name; tables live in the connection's ``search_path``.
    """

    def __init__(
        self, pool: asyncpg.Pool[Any], *, table_prefix: str = "webhook_", _owned: bool = False
    ) -> None:
        super().__init__(pool, owned=_owned)
        self._table = check_prefix(table_prefix) + "endpoints"

    @classmethod
    async def connect(
        cls, dsn: str, *, table_prefix: str = "webhook_", server_settings: Mapping[str, str] | None = None
    ) -> PostgresEndpointStore:
        """Open a pool for ``dsn`` and return a store that owns it (close it with `aclose`)."""
        check_prefix(table_prefix)  # checked before a pool is opened, so a bad argument leaks nothing
        pool = await create_pool(dsn, server_settings)
        return cls(pool, table_prefix=table_prefix, _owned=True)

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
        raise WebhookConfigurationError("endpoint", type(endpoint).__name__, "must be an Endpoint")


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


async def create_pool(dsn: str, server_settings: Mapping[str, str] | None) -> asyncpg.Pool[Any]:
    """Open a pool for ``dsn``.

    A bad DSN or setting is a `WebhookConfigurationError`, a server that cannot be reached or refuses
    the connection a `StoreUnavailableError`; neither shows the DSN's password.
    """
    settings = string_mapping("server_settings", server_settings)
    text("dsn", dsn, max_length=4096)
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise WebhookConfigurationError("dsn", redact_url(dsn), "must be a postgresql:// URL")
    try:
        return await asyncpg.create_pool(dsn, min_size=1, max_size=10, server_settings=settings)
    except (asyncpg.exceptions.ClientConfigurationError, ValueError) as exc:
        raise WebhookConfigurationError(
            "dsn", redact_url(dsn), f"is not a usable PostgreSQL DSN ({type(exc).__name__})"
        ) from None
    except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
        raise StoreUnavailableError("postgresql", dsn, type(exc).__name__) from exc
