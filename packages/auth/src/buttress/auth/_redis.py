"""`RedisTokenStore`: revocations shared by every instance of an application (extra ``redis``)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, ClassVar, Final, Unpack

from buttress.core import AsyncResource, BackendErrors, Clock, RedisBackend, RedisOptions

from ._keyset import _clock
from ._metrics import TELEMETRY
from ._store import check_id, check_instant
from .exceptions import AuthConfigurationError, AuthTypeError, AuthUnavailableError

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("RedisTokenStore", "redis") from exc

__all__ = ["RedisTokenStore"]

# Keep the later cutoff and the longer life: KEYS[1] the user's cutoff, ARGV[1] the cutoff in
# seconds since the epoch, ARGV[2] its life in milliseconds. One key, one script: atomic on a
# server and on Redis Cluster alike.
_CUTOFF: Final = """
local held = redis.call('GET', KEYS[1])
local cutoff = tonumber(ARGV[1])
local life = tonumber(ARGV[2])
if held then
    cutoff = math.max(cutoff, tonumber(held))
    life = math.max(life, redis.call('PTTL', KEYS[1]))
end
redis.call('SET', KEYS[1], string.format('%.6f', cutoff), 'PX', life)
return 1
"""


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisTokenStore(RedisBackend, AsyncResource):
    """A `TokenStore` on Redis or Redis Cluster, for every instance of an application.

    A revoked ``jti`` (or refresh family) is one key set with ``SET NX PX``: its expiry is the
    token's remaining lifetime, so Redis forgets it when the token would have expired anyway, and
    of concurrent revocations exactly one sees ``NX`` succeed (refresh reuse detection rests on
    that). A user's cutoff is one key written by a one-key Lua script that keeps the later cutoff,
    so ``revoke_all_for_user`` is O(1) and atomic. `is_revoked` reads its two or three keys in one
    pipelined round trip. Every write touches a single key, so on Redis Cluster the keys spread
    over every primary with no hash tag.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False``;
            the store does not close it (`from_url` makes one the store owns).
        prefix: Prepended to every key (``<prefix>jti:<jti>``, ``<prefix>user:<user id>``).
        clock: Where the time comes from (the remaining lifetimes are computed by it).

    Raises:
        AuthTypeError: ``client`` is not such a client, or ``prefix`` not a str.
        AuthConfigurationError: ``client`` decodes responses, or ``prefix`` is empty or too long.
        AuthUnavailableError: Redis cannot be reached or answers an error (from every method).
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = BackendErrors(
        AuthConfigurationError, AuthTypeError, AuthUnavailableError
    )
    # An error reply (LOADING, READONLY, OOM): a store that cannot record a revocation is unusable.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        prefix: str = "auth:",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(client, prefix=prefix)
        self._clock = _clock(clock)
        self._cutoff = client.register_script(_CUTOFF)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "auth:",
        cluster: bool = False,
        clock: Clock | None = None,
        **options: Unpack[RedisOptions],
    ) -> RedisTokenStore:
        """Build a store with its own client for ``url``; close it with `aclose`.

        The client is core's `open_redis`, tuned by ``options`` (`RedisOptions`). With
        ``cluster=True`` it is a ``RedisCluster`` that finds every node from the one in ``url``.

        Raises:
            AuthConfigurationError: ``url`` is not a Redis URL redis-py can read (it is never shown),
                or an option is out of range.
            AuthTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(
            url, lambda client: cls(client, prefix=prefix, clock=clock), cluster=cluster, **options
        )

    def _remaining_ms(self, until: float) -> int:
        return math.ceil((until - self._clock.now().timestamp()) * 1000)

    async def revoke(self, jti: str, *, expires_at: datetime) -> bool:
        """Revoke ``jti`` until ``expires_at``; ``True`` if this call revoked it."""
        key = self.prefix + "jti:" + check_id("jti", jti)
        life = self._remaining_ms(check_instant("expires_at", expires_at))
        with self._unavailable():
            await self._discover()
            if life <= 0:  # it expired already: nothing to keep
                return not await self.client.exists(key)
            return bool(await self.client.set(key, b"1", nx=True, px=life))

    async def revoke_all_for_user(self, user_id: str, *, cutoff: datetime, expires_at: datetime) -> None:
        """Revoke ``user_id``'s tokens issued at or before ``cutoff``; keep that until ``expires_at``."""
        key = self.prefix + "user:" + check_id("user_id", user_id)
        at = check_instant("cutoff", cutoff)
        life = self._remaining_ms(check_instant("expires_at", expires_at))
        if life <= 0:
            return
        with self._unavailable():
            await self._discover()
            await self._cutoff(keys=[key], args=[f"{at:.6f}", life])

    async def is_revoked(
        self, jti: str, *, user_id: str, issued_at: datetime, family: str | None = None
    ) -> bool:
        """Whether ``jti`` or ``family`` is revoked, or ``issued_at`` is within the user's cutoff."""
        keys = [self.prefix + "jti:" + check_id("jti", jti)]
        if family is not None:
            keys.append(self.prefix + "jti:" + check_id("family", family))
        user_key = self.prefix + "user:" + check_id("user_id", user_id)
        issued = check_instant("issued_at", issued_at)
        with self._unavailable():
            await self._discover()
            pipe: Any = self.client.pipeline(transaction=False)
            for key in (*keys, user_key):
                pipe.get(key)
            *revoked, cutoff = await pipe.execute()
        if any(value is not None for value in revoked):
            return True
        return cutoff is not None and math.floor(issued) <= float(cutoff)

    def __repr__(self) -> str:
        return f"RedisTokenStore(prefix={self.prefix!r}, address={self._address!r})"
