"""`RedisReplayGuard`: a replay guard shared by every receiver process (extra ``redis``)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Final, Unpack

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions

from ._checks import text
from ._metrics import TELEMETRY
from ._replay import ReplayClaim, ReplayStatus, check_ttl, new_claim_token
from .exceptions import WebhooksConfigurationError, WebhooksTypeError, WebhooksUnavailableError

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("RedisReplayGuard", "redis") from exc

__all__ = ["RedisReplayGuard"]

# A held id's value: the claim's token behind this prefix. Any other value (``done``, and the ``1``
# older versions wrote when they claimed) is a done mark.
_LEASE: Final = "lease:"
_DONE: Final = b"done"

# Take a free id under a lease; otherwise say what holds it: {1} claimed, {2, pttl} in flight, {3} done.
_CLAIM: Final = """
local value = redis.call('GET', KEYS[1])
if not value then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return {1, 0}
end
if string.sub(value, 1, 6) == 'lease:' then
    return {2, redis.call('PTTL', KEYS[1])}
end
return {3, 0}
"""

# Compare-and-delete: free the id only if this claim still holds it.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisReplayGuard(RedisBackend, AsyncResource):
    """A `ReplayGuard` on Redis or Redis Cluster, atomic across processes.

    A claim is one Lua script: a free key is set to ``lease:<token>`` with ``PX lease``, otherwise
    its value says in flight (with its ``PTTL``) or done. `complete` sets ``done`` with ``PX ttl``;
    `release` deletes the key only if it still holds the claim's token. Expiry is Redis's own, so a
    lease left behind by a receiver that died (or could not reach Redis to release it) runs out
    without anyone's help, and a Redis that persists its data keeps leases and done marks across a
    restart. Every operation touches one key (the event id's), so on Redis Cluster ids spread over
    every primary with no hash tag.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` client made with
            ``decode_responses=False`` (redis-py's default); the guard does not close it
            (`from_url` makes one the guard owns).
        prefix: Prepended to every key; not empty.

    Raises:
        WebhooksTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``, or
            ``prefix`` not a str.
        WebhooksConfigurationError: ``client`` decodes responses, or ``prefix`` is empty, longer than
            1,024 bytes, or holds NUL or a lone surrogate.
        WebhooksUnavailableError: Redis cannot be reached or answers with an error (LOADING, READONLY,
            OOM...) (from `claim`, `complete`, `release`). `WebhookEndpoint` answers 503 with
            ``Retry-After`` so the sender retries, rather than process a webhook it cannot deduplicate.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = BackendErrors(
        WebhooksConfigurationError, WebhooksTypeError, WebhooksUnavailableError
    )
    # An error reply (LOADING after a restart, READONLY replica, OOM, MISCONF): a guard that cannot
    # record an id is as unusable as one that cannot be reached. Only the reply's code is kept.
    # A cluster that cannot route a call (no node for a slot) is an outage too.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True

    def __init__(self, client: Redis[Any] | Redis | RedisCluster, *, prefix: str = "webhooks:seen:") -> None:  # type: ignore[type-arg]
        super().__init__(client, prefix=prefix)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "webhooks:seen:",
        cluster: bool = False,
        **options: Unpack[RedisOptions],
    ) -> RedisReplayGuard:
        """Build a guard with its own client for ``url``; close it with `aclose`.

        The client is core's `open_redis`, tuned by ``options`` (`RedisOptions`): a call waits at
        most ``socket_timeout`` (1 s) on a server that stopped answering, and at most
        ``max_connections`` (50) are in flight, the others queueing up to ``pool_timeout`` (5 s).
        With ``cluster=True`` it is a ``RedisCluster`` that finds every node from the one in ``url``.

        Raises:
            WebhooksConfigurationError: ``url`` is not a ``redis://``, ``rediss://`` or ``unix://`` URL
                redis-py can read (it is never shown), an option is out of range, or ``cluster`` is not
                a bool.
            WebhooksTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), cluster=cluster, **options)

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if it is free; say what was found."""
        text("key", key, max_length=4096)
        milliseconds = max(1, math.ceil(check_ttl(lease, "lease") * 1000))
        token = new_claim_token()
        with self._unavailable():
            await self._discover()
            found = await self._claim(keys=[self.prefix + key], args=[_LEASE + token, milliseconds])
        code, pttl = int(found[0]), int(found[1])
        if code == 1:
            return ReplayClaim(ReplayStatus.CLAIMED, token)
        if code == 2:  # the script's answer codes: 1 claimed, 2 in flight, 3 done
            return ReplayClaim(ReplayStatus.IN_FLIGHT, lease_left=max(pttl, 0) / 1000)
        return ReplayClaim(ReplayStatus.DONE)

    async def complete(self, key: str, ttl: float) -> None:
        """Mark ``key`` done for ``ttl`` seconds."""
        text("key", key, max_length=4096)
        milliseconds = max(1, math.ceil(check_ttl(ttl) * 1000))
        with self._unavailable():
            await self._discover()
            await self.client.set(self.prefix + key, _DONE, px=milliseconds)

    async def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        text("key", key, max_length=4096)
        text("token", token, max_length=256)
        with self._unavailable():
            await self._discover()
            await self._release(keys=[self.prefix + key], args=[_LEASE + token])
