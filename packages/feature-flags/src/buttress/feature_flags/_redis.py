"""`RedisFlagSource`: flags in a Redis hash, with pub/sub change notification (extra ``redis``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import MappingProxyType
from typing import ClassVar, Self, Unpack, cast

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions, check_seconds

from ._model import FlagDefinition, FlagSet, Segment
from ._parse import flag_from_dict, load_json, segment_from_dict
from ._sources import MAX_WAIT
from ._write import check_key, flag_to_json, segment_to_json
from .exceptions import (
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    FlagDocumentError,
    MissingExtraError,
)

try:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.exceptions import RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisFlagSource", "redis") from exc

__all__ = ["RedisFlagSource"]


class _RedisBackend(RedisBackend):
    """What the package's Redis backends share: its errors, and what counts as an outage for them."""

    errors: ClassVar[BackendErrors] = BackendErrors(
        FeatureFlagsConfigurationError, FeatureFlagsTypeError, FeatureFlagsUnavailableError
    )
    # Any error reply (OOM, READONLY, MISCONF): the server cannot serve the flags now.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError,)

    @contextlib.contextmanager
    def _redis_errors(self) -> Iterator[None]:
        """Outages as core maps them; a key of the wrong type is bad content, not an outage.

        ``WRONGTYPE`` means another program's data lives under the prefix: a `FlagDocumentError`.
        """
        with self._unavailable():
            try:
                yield
            except ResponseError as exc:
                if "WRONGTYPE" in str(exc):  # alone, or quoted by a pipeline's error
                    reason = "a key under the prefix holds another type of value (another program's data?)"
                    raise FlagDocumentError("redis", self._address, reason) from None
                raise


# Read the old value, write the new one and announce the change, as one atomic step.
_PUT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return old
"""
_DELETE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('PUBLISH', KEYS[2], ARGV[1])
end
return old
"""


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisFlagSource(_RedisBackend, AsyncResource):
    """A writable, watchable `FlagSource` on Redis.

    Flags are JSON (Unleash format) in the hash ``{prefix}flags``, segments in ``{prefix}segments``;
    every write publishes the flag's key on ``{prefix}changes``, so every client's refresher reloads
    within milliseconds. ``load`` reads both hashes in one ``MULTI`` transaction: a consistent set.

    Flag keys, and all text in a definition, must be free of NUL and lone surrogates (the same rule as
    `PostgresFlagSource`'s, so a definition moves between them unchanged); a key or definition that is
    not is refused with a typed error before Redis is asked.

    Args:
        client: A ``redis.asyncio.Redis`` made with ``decode_responses=False`` (redis-py's default),
            which the application owns and closes (or use `from_url`).
        prefix: Prepended to every key and to the channel, to share one Redis between sets.

    Raises:
        FeatureFlagsTypeError: ``client`` is not a ``redis.asyncio.Redis``, or ``prefix`` not a str.
        FeatureFlagsConfigurationError: ``client`` decodes responses, or ``prefix`` is empty or not
            text Redis can carry.
    """

    def __init__(self, client: Redis, *, prefix: str = "flags:") -> None:
        super().__init__(client, prefix=prefix)
        self._client = client
        self._flags_key = f"{prefix}flags"
        self._segments_key = f"{prefix}segments"
        self.channel = f"{prefix}changes"
        self._pubsub: PubSub | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "flags:", **options: Unpack[RedisOptions]) -> Self:
        """A source on ``url`` (``redis://``, ``rediss://``, ``unix://``); `aclose` closes its client.

        It connects on first use. The client is core's `open_redis`, tuned by ``options``
        (`RedisOptions`): ``socket_timeout`` (1 s) bounds how long a call waits for Redis
        (`wait_for_change` waits as long as it is asked); at most ``max_connections`` (50) calls are
        in flight, the others queue up to ``pool_timeout`` (5 s) for a connection.

        Raises:
            FeatureFlagsConfigurationError: ``url`` is not a Redis URL (it is never shown), ``prefix``
                not text, a timeout not a number of seconds above zero, or ``max_connections`` not an
                int from 1 to 100,000.
            FeatureFlagsTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), **options)

    def __repr__(self) -> str:
        return f"RedisFlagSource({self._address!r}, prefix={self.prefix!r})"

    async def _aclose(self) -> None:
        """Close the subscription, and the client when `from_url` made it."""
        await self._drop_pubsub()
        await super()._aclose()

    async def load(self) -> FlagSet:
        """Read every flag and segment in one transaction."""
        with self._redis_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._flags_key)
                pipe.hgetall(self._segments_key)
                raw_flags, raw_segments = await pipe.execute()
        segments = {}
        for raw in raw_segments.values():
            segment = segment_from_dict(_json(raw))
            segments[segment.id] = segment
        flags = {}
        for raw in raw_flags.values():
            flag = flag_from_dict(_json(raw))
            flags[flag.key] = flag
        return FlagSet(flags=MappingProxyType(flags), segments=MappingProxyType(segments))

    async def get(self, key: str) -> FlagDefinition | None:
        """Return the stored flag, or ``None``.

        Raises:
            FeatureFlagsConfigurationError: ``key`` is empty, or holds NUL or a lone surrogate.
            FeatureFlagsTypeError: ``key`` is not a str.
        """
        check_key(key)
        with self._redis_errors():
            raw = await self._client.hget(self._flags_key, key)
        return None if raw is None else flag_from_dict(_json(raw))

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store a flag, announce it, and return the previous definition.

        Raises:
            FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
            FlagDefinitionError: A field has the wrong type, or holds NUL or a lone surrogate.
        """
        payload = flag_to_json(flag)
        old = await self._script(_PUT, flag.key, payload)
        return None if old is None else flag_from_dict(_json(old))

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag, announce it, and return what was removed.

        Raises:
            FeatureFlagsConfigurationError: ``key`` is empty, or holds NUL or a lone surrogate.
            FeatureFlagsTypeError: ``key`` is not a str.
        """
        check_key(key)
        old = await self._script(_DELETE, key)
        return None if old is None else flag_from_dict(_json(old))

    async def put_segment(self, segment: Segment) -> None:
        """Store (create or replace) a segment and announce it.

        Raises:
            FeatureFlagsTypeError: ``segment`` is not a `Segment`.
            FlagDefinitionError: A field is wrong (see `PostgresFlagSource.put_segment`).
        """
        payload = segment_to_json(segment)
        with self._redis_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(self._segments_key, str(segment.id), payload)
                pipe.publish(self.channel, f"segment:{segment.id}")
                await pipe.execute()

    async def _script(self, script: str, *args: str) -> bytes | None:
        with self._redis_errors():
            result = await self._client.eval(script, 2, self._flags_key, self.channel, *args)
            return cast("bytes | None", result)

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change announced on the channel.

        Raises:
            FeatureFlagsConfigurationError: ``timeout`` is not a number of seconds from 0 to a day.
            FeatureFlagsUnavailableError: The subscription broke; the next call subscribes again.
        """
        timeout = check_seconds(
            "timeout", timeout, allow_zero=True, maximum=MAX_WAIT, error=FeatureFlagsConfigurationError
        )
        deadline = time.monotonic() + timeout
        try:
            with self._redis_errors():
                return await self._wait(deadline)
        except FeatureFlagsError:
            await self._drop_pubsub()
            raise

    async def _wait(self, deadline: float) -> bool:
        if self._pubsub is None:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(self.channel)
            self._pubsub = pubsub
        while (remaining := deadline - time.monotonic()) > 0:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            if message is not None and message.get("type") == "message":
                await self._drain()
                return True
        return False

    async def _drain(self) -> None:
        # Coalesce a burst of writes into one reload.
        assert self._pubsub is not None  # noqa: S101 - called right after a message arrived
        while await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0) is not None:
            pass

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._outages()):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def _json(raw: bytes | str) -> object:
    return load_json(raw, "redis", "a stored definition")
