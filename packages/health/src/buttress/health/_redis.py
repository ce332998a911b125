"""`RedisCheck`: Redis answers PING (extra ``redis``)."""

from __future__ import annotations

from typing import ClassVar, Final, Self, Unpack

from buttress.core import BackendErrors, RedisBackend, RedisOptions

from ._metrics import TELEMETRY
from ._status import CheckResult
from ._timing import round_trip
from .exceptions import HealthConfigurationError, HealthTypeError, HealthUnavailableError, MissingExtraError

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("RedisCheck", "redis") from exc

__all__ = ["RedisCheck"]

# PING writes no key; core's RedisBackend asks every backend for a prefix all the same.
_PREFIX: Final = "health:"


class RedisCheck(RedisBackend):
    """Redis answers PING: pass with the round trip in seconds, else fail.

    Reported as ``responseTime`` of a ``datastore``. Built on the application's client
    (``RedisCheck(client=client)``, never closed by the check) or on its own
    (``RedisCheck.from_url(url)``, core's tuned client that connects on the first check and is
    closed by `aclose`). A server that is down, or answers with an error (``LOADING``,
    ``CLUSTERDOWN``), fails the check with its address redacted; a password or database it refuses
    fails it as a configuration error. On Redis Cluster (a ``RedisCluster`` client, or
    ``from_url(..., cluster=True)``) the check pings every primary: it passes when every slot's
    primary answers, so it fails while a dead primary's replica has not yet taken over.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` client (``decode_responses=False``,
            redis-py's default).

    Raises:
        HealthTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``.
        HealthConfigurationError: ``client`` decodes responses.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors = BackendErrors(HealthConfigurationError, HealthTypeError, HealthUnavailableError)
    # An error reply to PING (LOADING, CLUSTERDOWN) or a cluster that cannot route it: a failed check.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True
    downstream: ClassVar[bool] = True

    def __init__(self, *, client: Redis | RedisCluster) -> None:
        super().__init__(client, prefix=_PREFIX)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **options: Unpack[RedisOptions]) -> Self:
        """A check with a client of its own on ``url`` (``redis://``, ``rediss://``, ``unix://``); no I/O yet.

        The client is core's `open_redis`, tuned by ``options`` (`buttress.core.RedisOptions`):
        ``socket_timeout`` (1 s) bounds a PING on a server that stopped answering; a check needs
        one connection, so ``max_connections`` is 2 unless given. With ``cluster=True`` the client is a
        ``RedisCluster`` that finds every node from the one in ``url``; its per-node pools refuse a
        call beyond ``max_connections`` instead of queueing it, so they keep core's default (50).

        Raises:
            HealthConfigurationError: ``url`` is not a Redis URL redis-py can use, a bad option, or
                ``cluster`` is not a bool.
            HealthTypeError: ``url`` is not a str.
        """
        tuned: RedisOptions = options if cluster is True else {"max_connections": 2, **options}
        return cls._from_url(url, lambda client: cls(client=client), cluster=cluster, **tuned)

    async def check(self) -> CheckResult:
        """PING once."""
        return await round_trip(self._ping, component_type="datastore")

    async def _ping(self) -> None:
        with self._unavailable():
            await self._discover()
            if isinstance(self.client, RedisCluster):
                await self.client.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self.client.ping()

    def __repr__(self) -> str:
        return f"RedisCheck(address={self._address!r}, owns_client={self.owns_client})"
