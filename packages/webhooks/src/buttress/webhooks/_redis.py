"""`RedisReplayGuard`: a replay guard shared by every receiver process (extra ``redis``)."""

from __future__ import annotations

import math
from typing import Any, Final

from buttress.core import AsyncResource, Owned, connection_errors, redact_url

from ._checks import text
from ._replay import ReplayClaim, ReplayStatus, check_ttl, new_claim_token
from .exceptions import WebhooksConfigurationError, WebhooksTypeError, WebhooksUnavailableError

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    from .exceptions import MissingExtraError

    raise MissingExtraError("RedisReplayGuard", "redis") from exc

__all__ = ["RedisReplayGuard"]

# Failures of the server, not of our input (checked before any call): it cannot be reached (core's
# list for redis-py), or answers with an error reply (LOADING after a restart, READONLY replica, OOM,
# MISCONF): a guard that cannot record an id is as unusable as one that cannot be reached. The
# reason kept is the reply's code, never its message (which may quote a key), so core's
# `unavailable_on` (which repeats the message) is not used here.
_UNAVAILABLE: Final[tuple[type[BaseException], ...]] = (*connection_errors("redis"), RedisError)

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


class RedisReplayGuard(AsyncResource):
    """A `ReplayGuard` on Redis, atomic across processes.

    A claim is one Lua script: a free key is set to ``lease:<token>`` with ``PX lease``, otherwise
    its value says in flight (with its ``PTTL``) or done. `complete` sets ``done`` with ``PX ttl``;
    `release` deletes the key only if it still holds the claim's token. Expiry is Redis's own, so a
    lease left behind by a receiver that died (or could not reach Redis to release it) runs out
    without anyone's help, and a Redis that persists its data keeps leases and done marks across a
    restart.

    Args:
        client: A ``redis.asyncio.Redis`` client (the guard does not close it; `from_url` makes one
            the guard owns).
        prefix: Prepended to every key.

    Raises:
        WebhooksUnavailableError: Redis cannot be reached or answers with an error (LOADING, READONLY,
            OOM...) (from `claim`, `complete`, `release`). `WebhookEndpoint` answers 503 with
            ``Retry-After`` so the sender retries, rather than process a webhook it cannot deduplicate.
    """

    __slots__ = ("_claim", "_client", "_owned", "_prefix", "_release")

    _owned: Owned[Redis]

    def __init__(self, client: Redis[Any] | Redis, *, prefix: str = "webhooks:seen:") -> None:  # type: ignore[type-arg]
        if not isinstance(client, Redis):
            raise WebhooksTypeError("client", "a redis.asyncio.Redis", client)
        text("prefix", prefix, max_length=1024, empty=True)
        super().__init__()
        self._client = client
        self._prefix = prefix
        self._owned = Owned(client)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "webhooks:seen:") -> RedisReplayGuard:
        """Build a guard with its own client for ``url``; close it with `aclose`.

        Raises:
            WebhooksConfigurationError: ``url`` is not a ``redis://``, ``rediss://`` or ``unix://`` URL.
        """
        text("url", url, max_length=4096)
        text("prefix", prefix, max_length=1024, empty=True)
        try:
            client = Redis.from_url(url)
        except (ValueError, TypeError):
            raise WebhooksConfigurationError(
                "url", redact_url(url), "must be a redis://, rediss:// or unix:// URL"
            ) from None
        guard = cls(client, prefix=prefix)  # the prefix was checked first: nothing to close on failure
        guard._owned = Owned(client, client.aclose)
        return guard

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if it is free; say what was found."""
        text("key", key, max_length=4096)
        milliseconds = max(1, math.ceil(check_ttl(lease, "lease") * 1000))
        token = new_claim_token()
        try:
            found = await self._claim(keys=[self._prefix + key], args=[_LEASE + token, milliseconds])
        except _UNAVAILABLE as exc:
            raise self._unavailable("claim", exc) from exc
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
        try:
            await self._client.set(self._prefix + key, _DONE, px=milliseconds)
        except _UNAVAILABLE as exc:
            raise self._unavailable("complete", exc) from exc

    async def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        text("key", key, max_length=4096)
        text("token", token, max_length=256)
        try:
            await self._release(keys=[self._prefix + key], args=[_LEASE + token])
        except _UNAVAILABLE as exc:
            raise self._unavailable("release", exc) from exc

    async def _aclose(self) -> None:
        """Close the client if this guard made it (`from_url`)."""
        await self._owned.release()

    def _unavailable(self, operation: str, exc: BaseException) -> WebhooksUnavailableError:
        kwargs = self._client.connection_pool.connection_kwargs
        address = f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return WebhooksUnavailableError("redis", redact_url(address), f"{operation}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    """The exception's type, and for an error reply its code (``OOM``, ``READONLY``), never more.

    Messages may quote keys, so only the code of a server's error reply reaches logs and errors.
    """
    if isinstance(exc, ResponseError):
        code = str(exc).split(" ", 1)[0]
        if code.isupper() and code.isalpha():
            return f"{type(exc).__name__} {code}"
    return type(exc).__name__
