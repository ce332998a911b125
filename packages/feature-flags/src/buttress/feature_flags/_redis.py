"""`RedisFlagSource`: flags in a Redis hash, with pub/sub change notification (extra ``redis``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import MappingProxyType
from typing import Self, cast

from buttress.core import (
    AsyncResource,
    Owned,
    check_seconds,
    check_text,
    connection_errors,
    redact_url,
    unavailable_on,
)

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

__all__ = ["RedisFlagSource", "redis_address", "redis_client", "redis_errors"]

_MAX_PREFIX = 1024
_DOWN = connection_errors("redis")
"""What redis-py raises when the server cannot be reached (refused, reset, timed out, loading)."""


@contextlib.contextmanager
def redis_errors(address: str) -> Iterator[None]:
    """Map redis-py's errors to the package's: unreachable or refusing to serve is an outage.

    A key of the wrong type (``WRONGTYPE``: another program's data under the prefix) is bad content,
    not an outage. Any other error reply (``OOM``, ``READONLY``, ``MISCONF``) means the server cannot
    serve the source now: unavailable.
    """
    try:
        with unavailable_on(_DOWN, FeatureFlagsUnavailableError, backend="redis", address=address):
            yield
    except ResponseError as exc:
        if "WRONGTYPE" in str(exc):  # alone, or quoted by a pipeline's error
            reason = "a key under the prefix holds another type of value (another program's data?)"
            raise FlagDocumentError("redis", address, reason) from None
        raise FeatureFlagsUnavailableError("redis", address, f"the server refused: {exc}") from exc
    except RedisError as exc:  # anything else of the driver's: the server cannot serve the request
        raise FeatureFlagsUnavailableError("redis", address, f"{type(exc).__name__}: {exc}") from exc


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


class RedisFlagSource(AsyncResource):
    """A writable, watchable `FlagSource` on Redis.

    Flags are JSON (Unleash format) in the hash ``{prefix}flags``, segments in ``{prefix}segments``;
    every write publishes the flag's key on ``{prefix}changes``, so every client's refresher reloads
    within milliseconds. ``load`` reads both hashes in one ``MULTI`` transaction: a consistent set.

    Flag keys, and all text in a definition, must be free of NUL and lone surrogates (the same rule as
    `PostgresFlagSource`'s, so a definition moves between them unchanged); a key or definition that is
    not is refused with a typed error before Redis is asked.

    Args:
        client: A ``redis.asyncio.Redis`` the application owns and closes (or use `from_url`).
        prefix: Prepended to every key and to the channel, to share one Redis between sets.

    Raises:
        FeatureFlagsTypeError: ``client`` is not a ``redis.asyncio.Redis``, or ``prefix`` not a str.
        FeatureFlagsConfigurationError: ``prefix`` is not text Redis can carry.
    """

    def __init__(self, client: Redis, *, prefix: str = "flags:") -> None:
        super().__init__()
        if not isinstance(client, Redis):
            raise FeatureFlagsTypeError("client", "a redis.asyncio.Redis", client)
        _prefix(prefix)
        self._client = client
        self._owner: Owned[Redis] = Owned(client)
        self.prefix = prefix
        self._flags_key = f"{prefix}flags"
        self._segments_key = f"{prefix}segments"
        self.channel = f"{prefix}changes"
        self._pubsub: PubSub | None = None
        self._address = redis_address(client)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "flags:", timeout: float = 5.0) -> Self:
        """A source on ``url`` (``redis://``, ``rediss://``, ``unix://``); `aclose` closes its client.

        It connects on first use. ``timeout`` bounds, in seconds, how long a call waits for Redis.

        Raises:
            FeatureFlagsConfigurationError: ``url`` is not a Redis URL, ``prefix`` not text, or
                ``timeout`` not a number of seconds above zero.
            FeatureFlagsTypeError: An argument has the wrong type.
        """
        _prefix(prefix)
        client = redis_client(url, timeout=timeout)
        source = cls(client, prefix=prefix)
        source._owner = Owned(client, client.aclose)
        return source

    def __repr__(self) -> str:
        return f"RedisFlagSource({self._address!r}, prefix={self.prefix!r})"

    async def _aclose(self) -> None:
        """Close the subscription, and the client when `from_url` made it."""
        await self._drop_pubsub()
        await self._owner.release()

    async def load(self) -> FlagSet:
        """Read every flag and segment in one transaction."""
        with redis_errors(self._address):
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
        with redis_errors(self._address):
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
        with redis_errors(self._address):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(self._segments_key, str(segment.id), payload)
                pipe.publish(self.channel, f"segment:{segment.id}")
                await pipe.execute()

    async def _script(self, script: str, *args: str) -> bytes | None:
        with redis_errors(self._address):
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
            with redis_errors(self._address):
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
            with contextlib.suppress(RedisError, *_DOWN):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def redis_client(url: object, *, timeout: object = None) -> Redis:
    """A client for ``url`` (not connected yet); a URL the driver cannot read is a typed error."""
    text = check_text(
        "url",
        url,
        max_bytes=4096,
        show_value=False,
        error=FeatureFlagsConfigurationError,
        type_error=FeatureFlagsTypeError,
    )
    seconds = (
        None if timeout is None else check_seconds("timeout", timeout, error=FeatureFlagsConfigurationError)
    )
    try:
        return Redis.from_url(text, socket_timeout=seconds, socket_connect_timeout=seconds)
    except (ValueError, TypeError) as exc:  # the driver's message may quote the URL and its password
        raise FeatureFlagsConfigurationError(
            "url", url, f"is not a Redis URL ({type(exc).__name__})", show_value=False
        ) from None


def _prefix(prefix: object) -> str:
    return check_text(
        "prefix",
        prefix,
        allow_empty=True,
        max_bytes=_MAX_PREFIX,
        error=FeatureFlagsConfigurationError,
        type_error=FeatureFlagsTypeError,
    )


def _json(raw: bytes | str) -> object:
    return load_json(raw, "redis", "a stored definition")


def redis_address(client: Redis) -> str:
    """Where ``client`` connects, without credentials, for errors and logs."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return redact_url(f"unix://{kwargs['path']}")
    return redact_url(f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}")
