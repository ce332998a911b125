"""`PostgresPushSubscriptionStore`: push subscriptions in PostgreSQL (extras ``webpush``, ``postgres``)."""

# The table name is interpolated into SQL; it is checked against [schema.]name by TableName.parse.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from buttress.core import AsyncResource, check_text

from ._model import check_id
from ._postgres import TableStore
from ._webpush import PushSubscription
from .exceptions import NotificationsConfigurationError, NotificationsTypeError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresPushSubscriptionStore"]


# AsyncResource is named again (PostgresBackend has it already) so the face shows at the class itself.
class PostgresPushSubscriptionStore(TableStore, AsyncResource):
    """A `PushSubscriptionStore` in one table, keyed by endpoint.

    Args:
        pool: An asyncpg pool the application owns (never closed by the store); `connect` opens
            one that `aclose` closes.
        table: The table's name, optionally ``"schema.table"``.
    """

    def __init__(self, pool: asyncpg.Pool[Any], *, table: str = "notify_push_subscriptions") -> None:
        super().__init__(pool, table=table)
        self._index = self._table_name.name  # index names are never schema-qualified

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        table: str = "notify_push_subscriptions",
        min_size: int = 1,
        max_size: int = 10,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresPushSubscriptionStore:
        """Open a pool of ``min_size`` to ``max_size`` connections to ``dsn`` for subscriptions in ``table``.

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
                f"CREATE TABLE IF NOT EXISTS {self._table} (endpoint text PRIMARY KEY, "
                "user_id text NOT NULL, p256dh text NOT NULL, auth text NOT NULL); "
                f"CREATE INDEX IF NOT EXISTS {self._index}_user ON {self._table} (user_id)"
            )

    async def subscriptions(self, user_id: str) -> list[PushSubscription]:
        """The user's subscriptions, by endpoint."""
        check_id("user_id", user_id)
        async with self._connection() as c:
            rows = await c.fetch(
                f"SELECT endpoint, p256dh, auth FROM {self._table} WHERE user_id = $1 ORDER BY endpoint",
                user_id,
            )
        return [PushSubscription(r["endpoint"], r["p256dh"], r["auth"]) for r in rows]

    async def add(self, user_id: str, subscription: PushSubscription) -> None:
        """Store a subscription; an endpoint seen before moves to ``user_id`` with its new keys."""
        check_id("user_id", user_id)
        if not isinstance(subscription, PushSubscription):
            raise NotificationsTypeError("subscription", "a PushSubscription", subscription)
        async with self._connection() as c:
            await c.execute(
                f"INSERT INTO {self._table} (endpoint, user_id, p256dh, auth) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, "
                "auth = EXCLUDED.auth",
                subscription.endpoint,
                user_id,
                subscription.p256dh,
                subscription.auth,
            )

    async def remove(self, endpoint: str) -> bool:
        """Drop the subscription with this endpoint."""
        check_text(
            "endpoint",
            endpoint,
            max_bytes=4096,
            error=NotificationsConfigurationError,
            type_error=NotificationsTypeError,
        )
        async with self._connection() as c:
            gone = await c.fetchval(f"DELETE FROM {self._table} WHERE endpoint = $1 RETURNING 1", endpoint)
        return gone is not None
