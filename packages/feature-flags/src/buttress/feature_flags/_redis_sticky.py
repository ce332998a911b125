"""`RedisStickyStore`: sticky assignments shared by every process through Redis (extra ``redis``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Self

from .exceptions import FlagConfigurationError, FlagSourceError, MissingExtraError

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("RedisStickyStore", "redis") from exc

__all__ = ["RedisStickyStore"]

logger = logging.getLogger("buttress.feature_flags")


class RedisStickyStore:
    """A `StickyAssignmentStore` whose assignments every process shares, without I/O on evaluation.

    Evaluation is synchronous, so the store answers from a bounded in-process cache. Fill it per
    subject before evaluating with ``await store.prefetch(user_id)`` (one ``HGETALL`` of the subject's
    hash ``{prefix}{subject}``); new assignments are written behind, in the background, with
    ``HSETNX``: the first process to assign a subject a variant wins, and a process that prefetched
    later sees that variant. When Redis is unreachable, ``prefetch`` raises `FlagSourceError` and
    writes are dropped (and logged); evaluation keeps working from the cache.

    Args:
        client: A ``redis.asyncio.Redis``; the caller closes it (or use `from_url`).
        prefix: Prepended to each subject's hash key.
        max_subjects: How many subjects the local cache keeps (least recently prefetched go first).
        ttl: Seconds a subject's assignments live in Redis after their last write; ``None`` keeps them.
    """

    def __init__(
        self, client: Redis, *, prefix: str = "sticky:", max_subjects: int = 100_000, ttl: float | None = None
    ) -> None:
        if not isinstance(client, Redis):
            raise FlagConfigurationError("client", type(client).__name__, "must be a redis.asyncio.Redis")
        if isinstance(max_subjects, bool) or not isinstance(max_subjects, int) or max_subjects < 1:
            raise FlagConfigurationError("max_subjects", max_subjects, "must be a positive integer")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0):
            raise FlagConfigurationError("ttl", ttl, "must be None or a positive number of seconds")
        self._client = client
        self._owned = False
        self.prefix = prefix
        self._max = max_subjects
        self._ttl_ms = None if ttl is None else max(1, int(ttl * 1000))
        self._cache: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._pending: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue(maxsize=10_000)
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "sticky:", max_subjects: int = 100_000, ttl: float | None = None
    ) -> Self:
        """Connect to ``url``; `aclose` closes the connection pool."""
        if not isinstance(url, str) or not url:
            raise FlagConfigurationError("url", url, "must be a redis:// URL", show_value=False)
        store = cls(Redis.from_url(url), prefix=prefix, max_subjects=max_subjects, ttl=ttl)
        store._owned = True
        return store

    async def prefetch(self, subject: str) -> None:
        """Load ``subject``'s assignments from Redis into the local cache (call it before evaluating).

        Raises:
            FlagSourceError: Redis cannot be reached; the cache keeps what it had.
        """
        try:
            raw = await self._client.hgetall(f"{self.prefix}{subject}")
        except (RedisError, OSError) as exc:
            raise FlagSourceError("redis", "sticky store", str(exc) or type(exc).__name__) from exc
        assignments = {_text(flag): _text(variant) for flag, variant in raw.items()}
        local = self._cache.get(subject, {})
        # Redis holds the first assignment of every process; it wins over a local guess.
        self._remember(subject, {**local, **assignments})

    def get(self, flag_key: str, subject: str) -> str | None:
        """The cached assignment, or ``None`` (no I/O)."""
        assignments = self._cache.get(subject)
        return None if assignments is None else assignments.get(flag_key)

    def set(self, flag_key: str, subject: str, variant: str) -> None:
        """Remember an assignment locally and queue it for Redis (``HSETNX``: the first one wins)."""
        assignments = self._cache.get(subject)
        if assignments is None:
            assignments = {}
            self._remember(subject, assignments)
        assignments[flag_key] = variant
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
        if self._writer is None or self._writer.done():
            try:
                self._writer = asyncio.get_running_loop().create_task(self._write_behind())
            except RuntimeError:
                return  # no running loop (a synchronous caller): the next set() in a loop flushes

    async def flush(self) -> None:
        """Wait until every queued assignment has been written (or dropped because Redis failed)."""
        self._ensure_writer()
        await self._pending.join()

    async def _write_behind(self) -> None:
        while not self._pending.empty():
            subject, flag_key, variant = self._pending.get_nowait()
            key = f"{self.prefix}{subject}"
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.hsetnx(key, flag_key, variant)
                    if self._ttl_ms is not None:
                        pipe.pexpire(key, self._ttl_ms)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("sticky assignment for %r not written to Redis: %s", flag_key, exc)
            finally:
                self._pending.task_done()

    async def aclose(self) -> None:
        """Write what is queued, then close the client when `from_url` made it."""
        with contextlib.suppress(RedisError, OSError):
            await self.flush()
        if self._owned:
            await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
