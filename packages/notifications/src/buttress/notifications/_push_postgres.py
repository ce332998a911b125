"""`PostgresPushSubscriptionStore`: push subscriptions in PostgreSQL (extras ``webpush``, ``postgres``)."""

# The table name is interpolated into SQL; it comes from a prefix checked against [a-z_][a-z0-9_]*.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from buttress.core import check_text

from ._model import check_id
from ._postgres import _check_prefix, _create_pool, _owning, _PoolOwner
from ._webpush import PushSubscription
from .exceptions import NotificationConfigurationError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresPushSubscriptionStore"]


class PostgresPushSubscriptionStore(_PoolOwner):
    """A `PushSubscriptionStore` in one table (``<prefix>push_subscriptions``, keyed by endpoint).

    Args:
        pool: An asyncpg pool (closed by `aclose` only when `connect` made it).
        table_prefix: Prepended to the table name.
    """

    def __init__(
        self, pool: asyncpg.Pool[Any], *, table_prefix: str = "notify_", _owned: bool = False
    ) -> None:
        super().__init__(pool, owned=_owned)
        self._table = _check_prefix(table_prefix) + "push_subscriptions"

    @classmethod
    async def connect(
        cls, dsn: str, *, table_prefix: str = "notify_", server_settings: Mapping[str, str] | None = None
    ) -> PostgresPushSubscriptionStore:
        """Open a pool for ``dsn`` and return a store that owns it."""
        _check_prefix(table_prefix)
        pool = await _create_pool(dsn, server_settings)
        return await _owning(pool, lambda: cls(pool, table_prefix=table_prefix, _owned=True))

    async def create_schema(self) -> None:
        """Create the table if it does not exist."""
        async with self._connection() as c:
            await c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (endpoint text PRIMARY KEY, "
                "user_id text NOT NULL, p256dh text NOT NULL, auth text NOT NULL); "
                f"CREATE INDEX IF NOT EXISTS {self._table}_user ON {self._table} (user_id)"
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
            raise NotificationConfigurationError(
                "subscription", type(subscription).__name__, "must be a PushSubscription"
            )
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
        check_text("endpoint", endpoint, max_bytes=4096, error=NotificationConfigurationError)
        async with self._connection() as c:
            gone = await c.fetchval(f"DELETE FROM {self._table} WHERE endpoint = $1 RETURNING 1", endpoint)
        return gone is not None
