"""`PostgresOutbox`: messages, their deliveries and the attempt log in PostgreSQL (extra ``postgres``).

One class, written by concern: `_schema` (tables and indexes), `_writes` (``send``), `_queries`
(messages, deliveries, attempts, counts), `_operator` (``requeue``, ``recover``) and `_worker_side`
(the `Outbox` Protocol: ``claim``, ``settle``, ``release``, ``cancel_endpoint``), over `_base` (the
pool, the table names, the clock and the schedule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from buttress.core import AsyncResource, Clock

from .._endpoints import EndpointStore
from .._outbox import check_outbox_parts
from .._schedule import RetrySchedule
from ._base import Tables, asyncpg
from ._operator import Operator
from ._queries import Queries
from ._schema import Schema
from ._worker_side import WorkerSide
from ._writes import Writes

__all__ = ["PostgresOutbox"]


class PostgresOutbox(Schema, Writes, Queries, Operator, WorkerSide, AsyncResource):
    """The durable `Outbox`: messages and their deliveries, in PostgreSQL.

    `send` writes one message row and one delivery row per subscribed, enabled endpoint. Given the
    caller's connection, it writes inside the caller's transaction: the webhook exists if and only if
    the business write committed. `DeliveryWorker` instances (any number, in any process) then claim
    due deliveries with ``FOR UPDATE SKIP LOCKED`` under a lease, so no two send the same delivery and
    a worker that dies mid-delivery only delays it until the lease runs out.

    Every time (due times, leases, attempt times) comes from ``clock``, never from the database's
    ``now()``, so tests move it with a fake clock.

    Args:
        pool: An asyncpg pool the application owns (never closed by the outbox; `connect` opens one
            it owns).
        endpoints: Where subscribers are found (any `EndpointStore`).
        table: The stem of the table names, optionally ``schema.stem``: ``<table>_messages``,
            ``<table>_deliveries``, ``<table>_attempts`` and ``<table>_endpoint_health``.
        schedule: The retry schedule; its first delay sets when a new message is first due.
        clock: The time source.

    Examples:
        ``outbox = await PostgresOutbox.connect(dsn, endpoints, table="webhook", max_size=10)``, then
        ``await outbox.create_schema()``; ``await outbox.aclose()`` closes the pool it opened.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        endpoints: EndpointStore,
        *,
        table: str = "webhook",
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(pool, endpoints, table=table, schedule=schedule, clock=clock)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        endpoints: EndpointStore,
        *,
        table: str = "webhook",
        min_size: int = 1,
        max_size: int = 10,
        schedule: RetrySchedule | None = None,
        clock: Clock | None = None,
        server_settings: Mapping[str, str] | None = None,
    ) -> PostgresOutbox:
        """Open a pool of ``min_size`` to ``max_size`` connections for ``dsn``; the outbox owns it.

        The outbox's own statements leave nothing in the session, so this pool hands a connection
        back after them without asyncpg's reset query (one round trip fewer per send, claim and
        result); a connection the application takes from `pool` is still reset in full on release.

        Raises:
            WebhooksConfigurationError: A bad DSN, table name, pool size or setting (checked before
                any connection is made), or a database, role, password or setting the server refuses.
            WebhooksTypeError: ``endpoints``, ``schedule`` or ``clock`` has the wrong type.
            WebhooksUnavailableError: The server cannot be reached.
        """
        # Checked before a pool is opened, so a bad argument leaks nothing.
        Tables.named(table)
        check_outbox_parts(endpoints, schedule, clock)
        return await cls._open(
            dsn,
            lambda pool: cls(pool, endpoints, table=table, schedule=schedule, clock=clock),
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
        )
