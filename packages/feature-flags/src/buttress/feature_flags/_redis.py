"""`RedisFlagSource`: flags in a Redis hash, with pub/sub change notification (extra ``redis``).

The three names a source uses (two hashes and a channel) share one hash tag, the prefix itself, so
its scripts run on Redis Cluster too and each prefix (each flag project) lands on its own slot.
Changes go out on sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``, Redis 7) where the server has it,
and on plain pub/sub where it does not: one code path for a single server and a cluster.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import MappingProxyType
from typing import ClassVar, Final, Self, Unpack, cast

from buttress.core import AsyncResource, BackendErrors, RedisBackend, RedisOptions, check_seconds

from ._metrics import TELEMETRY
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
    from redis.asyncio.cluster import ClusterPubSub, RedisCluster
    from redis.crc import key_slot
    from redis.exceptions import RedisClusterException, RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisFlagSource", "redis") from exc

__all__ = ["RedisFlagSource"]

# How long a new subscription may wait for the server's answer (an outage past it).
_CONFIRM_SECONDS: Final = 5.0


class _RedisBackend(RedisBackend):
    """What the package's Redis backends share: its errors, and what counts as an outage for them."""

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors: ClassVar[BackendErrors] = BackendErrors(
        FeatureFlagsConfigurationError, FeatureFlagsTypeError, FeatureFlagsUnavailableError
    )
    # Any error reply (OOM, READONLY, MISCONF), or a cluster that cannot route a call: an outage.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)

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


# Read the old value, write the new one and announce the change, as one atomic step. The
# announcement is sharded (SPUBLISH, Redis 7) where the server has the command, plain PUBLISH where
# it has not; the subscriber makes the same choice (`_subscribe`), so both meet on one server.
_ANNOUNCE = """
local function announce(channel, message)
    local sent = redis.pcall('SPUBLISH', channel, message)
    if type(sent) == 'table' and sent.err then
        redis.call('PUBLISH', channel, message)
    end
end
"""
# KEYS: the hash, the channel; ARGV: the field, the new value, the announcement.
_PUT = (
    _ANNOUNCE
    + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
announce(KEYS[2], ARGV[3])
return old
"""
)
_DELETE = (
    _ANNOUNCE
    + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
    redis.call('HDEL', KEYS[1], ARGV[1])
    announce(KEYS[2], ARGV[1])
end
return old
"""
)
# Both hashes at one instant: a consistent set (on a cluster as on one server: they share a slot).
_LOAD = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""


def _names(prefix: str) -> tuple[str, str, str]:
    """The flags hash, the segments hash and the channel: under ``prefix``, tagged by it.

    ``app:`` gives ``app:{app:}flags``, ``app:{app:}segments`` and ``app:{app:}changes``: every
    name starts with the prefix (as every backend's keys do) and hashes by one tag. Only a prefix
    holding an empty tag (``{}``) would part them; it is refused.
    """
    names = (f"{prefix}{{{prefix}}}flags", f"{prefix}{{{prefix}}}segments", f"{prefix}{{{prefix}}}changes")
    if len({key_slot(name.encode()) for name in names}) != 1:
        raise FeatureFlagsConfigurationError(
            "prefix", prefix, "holds an empty hash tag '{}': its keys would not share a Redis Cluster slot"
        )
    return names


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisFlagSource(_RedisBackend, AsyncResource):
    """A writable, watchable `FlagSource` on Redis.

    Flags are JSON (Unleash format) in the hash ``<prefix>{<prefix>}flags``, segments in
    ``<prefix>{<prefix>}segments``; every write publishes the flag's key on
    ``<prefix>{<prefix>}changes`` (sharded pub/sub where the server has it, Redis 7), so every
    client's refresher reloads within milliseconds. ``load`` reads both hashes in one script: a
    consistent set. The names share one hash tag (the prefix), so the source runs on Redis Cluster
    (a ``RedisCluster`` client, or ``from_url(..., cluster=True)``), each prefix on its own slot.

    Flag keys, and all text in a definition, must be free of NUL and lone surrogates (the same rule as
    `PostgresFlagSource`'s, so a definition moves between them unchanged); a key or definition that is
    not is refused with a typed error before Redis is asked.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False``
            (redis-py's default), which the application owns and closes (or use `from_url`).
        prefix: Prepended to every key and to the channel, to share one Redis between sets.

    Raises:
        FeatureFlagsTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``, or
            ``prefix`` not a str.
        FeatureFlagsConfigurationError: ``client`` decodes responses, or ``prefix`` is empty, not
            text Redis can carry, or holds an empty hash tag (``{}``).
    """

    accepts_cluster: ClassVar[bool] = True

    def __init__(self, client: Redis | RedisCluster, *, prefix: str = "flags:") -> None:
        super().__init__(client, prefix=prefix)
        self._client = client
        self._flags_key, self._segments_key, self.channel = _names(self.prefix)
        self._pubsub: PubSub | None = None
        self._sharded = True  # until the server says it has no SSUBSCRIBE
        self._lost = False  # whether the last subscription broke

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "flags:", cluster: bool = False, **options: Unpack[RedisOptions]
    ) -> Self:
        """A source on ``url`` (``redis://``, ``rediss://``, ``unix://``); `aclose` closes its client.

        It connects on first use. The client is core's `open_redis`, tuned by ``options``
        (`RedisOptions`): ``socket_timeout`` (1 s) bounds how long a call waits for Redis
        (`wait_for_change` waits as long as it is asked); at most ``max_connections`` (50) calls are
        in flight, the others queue up to ``pool_timeout`` (5 s) for a connection. With
        ``cluster=True`` the client is a ``RedisCluster`` that finds every node from the one in ``url``.

        Raises:
            FeatureFlagsConfigurationError: ``url`` is not a Redis URL (it is never shown), ``prefix``
                not text, a timeout not a number of seconds above zero, ``max_connections`` not an
                int from 1 to 100,000, or ``cluster`` not a bool.
            FeatureFlagsTypeError: ``url`` or ``prefix`` is not a str.
        """
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), cluster=cluster, **options)

    def __repr__(self) -> str:
        return f"RedisFlagSource({self._address!r}, prefix={self.prefix!r})"

    async def _aclose(self) -> None:
        """Close the subscription, and the client when `from_url` made it."""
        await self._drop_pubsub()
        await super()._aclose()

    async def load(self) -> FlagSet:
        """Read every flag and segment in one transaction."""
        with self._redis_errors():
            await self._discover()
            raw_flags, raw_segments = await self._client.eval(_LOAD, 2, self._flags_key, self._segments_key)
        segments = {}
        for raw in _values(raw_segments):
            segment = segment_from_dict(_json(raw))
            segments[segment.id] = segment
        flags = {}
        for raw in _values(raw_flags):
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
            await self._discover()
            raw = await self._client.hget(self._flags_key, key)
        return None if raw is None else flag_from_dict(_json(raw))

    async def put(self, flag: FlagDefinition) -> FlagDefinition | None:
        """Store a flag, announce it, and return the previous definition.

        Raises:
            FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
            FlagDefinitionError: A field has the wrong type, or holds NUL or a lone surrogate.
        """
        payload = flag_to_json(flag)
        old = await self._script(_PUT, self._flags_key, flag.key, payload, flag.key)
        return None if old is None else flag_from_dict(_json(old))

    async def delete(self, key: str) -> FlagDefinition | None:
        """Remove a flag, announce it, and return what was removed.

        Raises:
            FeatureFlagsConfigurationError: ``key`` is empty, or holds NUL or a lone surrogate.
            FeatureFlagsTypeError: ``key`` is not a str.
        """
        check_key(key)
        old = await self._script(_DELETE, self._flags_key, key)
        return None if old is None else flag_from_dict(_json(old))

    async def put_segment(self, segment: Segment) -> None:
        """Store (create or replace) a segment and announce it.

        Raises:
            FeatureFlagsTypeError: ``segment`` is not a `Segment`.
            FlagDefinitionError: A field is wrong (see `PostgresFlagSource.put_segment`).
        """
        payload = segment_to_json(segment)
        await self._script(_PUT, self._segments_key, str(segment.id), payload, f"segment:{segment.id}")

    async def _script(self, script: str, key: str, *args: str) -> bytes | None:
        with self._redis_errors():
            await self._discover()
            result = await self._client.eval(script, 2, key, self.channel, *args)
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
            self._lost = True
            raise

    async def _wait(self, deadline: float) -> bool:
        pubsub = self._pubsub
        if pubsub is None:
            await self._discover()
            if self._lost and isinstance(self._client, RedisCluster):
                # The subscription broke, maybe with its primary: ask the cluster who serves the
                # channel's slot now (a subscription, unlike a command, does not refresh the map).
                await self._client.nodes_manager.initialize()
            pubsub = self._pubsub = await self._subscribe()
            self._lost = False
        while (remaining := deadline - time.monotonic()) > 0:
            message = await self._next(pubsub, remaining)
            if message is not None and message.get("type") in {"message", "smessage"}:
                while await self._next(pubsub, 0.0) is not None:  # a burst of writes: one reload
                    pass
                return True
        return False

    async def _subscribe(self) -> PubSub:
        """A confirmed subscription to the channel: sharded where the server has ``SSUBSCRIBE``, else plain.

        The server's answer is read here, whatever the caller's deadline: a server without
        ``SSUBSCRIBE`` refuses it only in that answer, and a change published before the plain
        ``SUBSCRIBE`` replaced it would be missed.
        """
        while True:
            # Subscribe confirmations are kept on this object (`_confirm` reads one); `_next` skips them.
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            try:
                if self._sharded:
                    try:
                        await pubsub.ssubscribe(self.channel)
                        await self._confirm(pubsub)
                    except ResponseError as exc:
                        if not _unknown_command(exc):
                            raise
                        self._sharded = False  # before Redis 7: the script publishes with PUBLISH too
                        with contextlib.suppress(*self._outages()):
                            await pubsub.aclose()  # type: ignore[no-untyped-call]
                        continue
                else:
                    await pubsub.subscribe(self.channel)
                    await self._confirm(pubsub)
            except BaseException:
                with contextlib.suppress(*self._outages()):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            return pubsub

    async def _confirm(self, pubsub: PubSub) -> None:
        """Read the server's answer to the subscription (a refusal raises `ResponseError`)."""
        deadline = time.monotonic() + _CONFIRM_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            if isinstance(pubsub, ClusterPubSub) and self._sharded:
                message = await pubsub.get_sharded_message(ignore_subscribe_messages=False, timeout=remaining)
            else:
                message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=remaining)
            if message is not None and message.get("type") in {"subscribe", "ssubscribe"}:
                return
        raise RedisTimeoutError(f"no answer to the subscription within {_CONFIRM_SECONDS:g} s")

    async def _next(self, pubsub: PubSub, timeout: float) -> dict[str, object] | None:
        """The next message, waiting up to ``timeout`` seconds (a cluster's shard messages arrive apart)."""
        if isinstance(pubsub, ClusterPubSub) and self._sharded:
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=timeout)
        else:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        return cast("dict[str, object] | None", message)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._outages()):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def _unknown_command(exc: ResponseError) -> bool:
    return str(exc).lower().startswith("unknown command")


def _values(raw: object) -> list[bytes]:
    """The values of a script's flat ``HGETALL`` reply (field, value, field, value...)."""
    items = cast("list[bytes]", raw)
    return items[1::2]


def _json(raw: bytes | str) -> object:
    return load_json(raw, "redis", "a stored definition")
