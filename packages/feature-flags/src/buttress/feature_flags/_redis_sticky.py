"""`RedisStickyStore`: sticky assignments shared by every process through Redis (extra ``redis``)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import ClassVar, Self, Unpack

from buttress.core import AsyncResource, BackgroundTask, RedisOptions, check_count, check_seconds

from ._metrics import STICKY_WRITE_FAILURES
from ._model import check_context_text
from .exceptions import (
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsTypeError,
    MissingExtraError,
)

try:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisStickyStore", "redis") from exc

from ._redis import _RedisBackend

__all__ = ["RedisStickyStore"]

logger = logging.getLogger(__name__)


# AsyncResource is named again (RedisBackend has it already) so the face shows at the class itself.
class RedisStickyStore(_RedisBackend, AsyncResource):
    """A `StickyAssignmentStore` whose assignments every process shares, without I/O on evaluation.

    Evaluation is synchronous, so the store answers from a bounded in-process cache. Fill it per
    subject before evaluating with ``await store.prefetch(user_id)`` (one ``HGETALL`` of the subject's
    hash ``{prefix}{subject}``); new assignments are written behind, in the background, with
    ``HSETNX``: the first process to assign a subject a variant wins, and a process that prefetched
    later sees that variant. When Redis is unreachable, ``prefetch`` raises `FeatureFlagsUnavailableError`
    and writes are dropped (logged, and counted as ``buttress.feature_flags.sticky.write_failures``);
    evaluation keeps working from the cache. On Redis Cluster (a ``RedisCluster`` client, or
    ``from_url(..., cluster=True)``) each subject's hash is one key, so subjects spread over every
    primary with no hash tag.

    Args:
        client: A ``redis.asyncio.Redis`` or ``RedisCluster`` made with ``decode_responses=False``
            (redis-py's default), which the application owns and closes (or use `from_url`).
        prefix: Prepended to each subject's hash key.
        max_subjects: How many subjects the local cache keeps (least recently prefetched go first).
        ttl: Seconds a subject's assignments live in Redis after their last write; ``None`` keeps them.

    Raises:
        FeatureFlagsTypeError: ``client`` is not a ``redis.asyncio.Redis`` or ``RedisCluster``, or
            ``prefix`` not a str.
        FeatureFlagsConfigurationError: ``client`` decodes responses, ``prefix`` is empty or not text
            Redis can carry, ``max_subjects`` not a positive int, or ``ttl`` not ``None`` or a number of
            seconds above zero (at most 100 years).
    """

    # Any error reply, or a cluster that cannot route a call (no node for a slot): an outage.
    outages: ClassVar[tuple[type[BaseException], ...]] = (RedisError, RedisClusterException)
    accepts_cluster: ClassVar[bool] = True

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        prefix: str = "sticky:",
        max_subjects: int = 100_000,
        ttl: float | None = None,
    ) -> None:
        super().__init__(client, prefix=prefix)
        self._client = client
        self._max, self._ttl_ms = _settings(max_subjects, ttl)
        self._cache: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._pending: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue(maxsize=10_000)
        self._writer = BackgroundTask(
            "buttress-feature-flags-sticky-writer", self._write_behind, logger=logger
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "sticky:",
        max_subjects: int = 100_000,
        ttl: float | None = None,
        cluster: bool = False,
        **options: Unpack[RedisOptions],
    ) -> Self:
        """A store on ``url`` (it connects on first use); `aclose` closes its client.

        ``options`` tune the client (`RedisOptions`), as for `RedisFlagSource.from_url`; with
        ``cluster=True`` it is a ``RedisCluster`` that finds every node from the one in ``url``.

        Raises:
            FeatureFlagsConfigurationError: ``url`` is not a Redis URL (it is never shown), or another
                argument is wrong (as for the constructor and `RedisFlagSource.from_url`).
            FeatureFlagsTypeError: An argument has the wrong type.
        """
        return cls._from_url(
            url,
            lambda client: cls(client, prefix=prefix, max_subjects=max_subjects, ttl=ttl),
            cluster=cluster,
            **options,
        )

    async def prefetch(self, subject: str) -> None:
        """Load ``subject``'s assignments from Redis into the local cache (call it before evaluating).

        Raises:
            FeatureFlagsTypeError: ``subject`` is not a str.
            FeatureFlagsConfigurationError: ``subject`` holds a lone surrogate.
            FeatureFlagsUnavailableError: Redis cannot be reached; the cache keeps what it had.
        """
        check_context_text("subject", subject, expected="a str")
        with self._redis_errors():
            await self._discover()
            raw = await self._client.hgetall(f"{self.prefix}{subject}")
        assignments = {_text(flag): _text(variant) for flag, variant in raw.items()}
        local = self._cache.get(subject, {})
        # Redis holds the first assignment of every process; it wins over a local guess.
        self._remember(subject, {**local, **assignments})

    def get(self, flag_key: str, subject: str) -> str | None:
        """The cached assignment, or ``None`` (no I/O).

        Raises:
            FeatureFlagsTypeError: ``flag_key`` or ``subject`` is not a str.
        """
        _texts(flag_key=flag_key, subject=subject)
        assignments = self._cache.get(subject)
        return None if assignments is None else assignments.get(flag_key)

    def set(self, flag_key: str, subject: str, variant: str) -> None:
        """Remember an assignment locally and queue it for Redis (``HSETNX``: the first one wins).

        Text Redis cannot carry (a lone surrogate, from a flag document that holds one) stays local.

        Raises:
            FeatureFlagsTypeError: ``flag_key``, ``subject`` or ``variant`` is not a str.
        """
        _texts(flag_key=flag_key, subject=subject, variant=variant)
        assignments = self._cache.get(subject)
        if assignments is None:
            assignments = {}
            self._remember(subject, assignments)
        assignments[flag_key] = variant
        if not all(_encodable(text) for text in (flag_key, subject, variant)):
            return
        try:
            self._pending.put_nowait((subject, flag_key, variant))
        except asyncio.QueueFull:
            logger.warning("sticky store write queue is full; an assignment stays local")
            return
        self._ensure_writer()

    def _remember(self, subject: str, assignments: dict[str, str]) -> None:
        self._cache[subject] = assignments
        self._cache.move_to_end(subject)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def _ensure_writer(self) -> None:
        if self._writer.running or self._writer.closed:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no running loop (a synchronous caller): the next set() in a loop starts it
        self._writer.start()

    async def flush(self) -> None:
        """Wait until every queued assignment has been written (or dropped because Redis failed)."""
        self._ensure_writer()
        if self._writer.running:
            await self._pending.join()

    async def _write_behind(self) -> None:
        while True:
            subject, flag_key, variant = await self._pending.get()
            try:
                await self._write(subject, flag_key, variant)
            except FeatureFlagsError as exc:
                STICKY_WRITE_FAILURES.add(1, {"error.type": type(exc).__name__})
                logger.warning("sticky assignment for %r not written to Redis: %s", flag_key, exc)
            except Exception as exc:  # a bug, not an outage: report it, and keep writing the others
                STICKY_WRITE_FAILURES.add(1, {"error.type": type(exc).__name__})
                logger.exception("sticky assignment for %r not written to Redis", flag_key)
            finally:
                self._pending.task_done()

    async def _write(self, subject: str, flag_key: str, variant: str) -> None:
        key = f"{self.prefix}{subject}"
        with self._redis_errors():
            await self._discover()
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hsetnx(key, flag_key, variant)
                if self._ttl_ms is not None:
                    pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()

    async def _aclose(self) -> None:
        """Write what is queued, stop the writer, then close the client when `from_url` made it."""
        await self.flush()
        await self._writer.aclose()
        await super()._aclose()


def _settings(max_subjects: object, ttl: object) -> tuple[int, int | None]:
    """The checked cache size and TTL in milliseconds."""
    size = check_count("max_subjects", max_subjects, minimum=1, error=FeatureFlagsConfigurationError)
    if ttl is None:
        return size, None
    seconds = check_seconds("ttl", ttl, error=FeatureFlagsConfigurationError)
    return size, max(1, int(seconds * 1000))


def _texts(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise FeatureFlagsTypeError(name, "a str", value)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: bytes | str) -> str:
    # Written by this class as UTF-8; anything else (another writer) cannot match a flag or variant.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
