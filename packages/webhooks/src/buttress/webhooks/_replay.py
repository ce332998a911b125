"""Replay guards: remember which webhooks were accepted, so a captured one cannot be played again."""

from __future__ import annotations

import heapq
from typing import Protocol, runtime_checkable

from buttress.core import Clock

from ._checks import clock_or_system, positive_number, text
from .exceptions import WebhookConfigurationError

__all__ = ["MemoryReplayGuard", "ReplayGuard", "check_ttl"]


@runtime_checkable
class ReplayGuard(Protocol):
    """**Protocol**: a set of recently accepted webhook ids with an expiry.

    Methods:
        claim: Record ``key`` for ``ttl`` seconds; return ``True`` if it was not there (first sight),
            ``False`` if it was (a replay). Atomic: of two concurrent claims, one wins.
        release: Forget ``key``, so a webhook whose handling failed can be accepted when it is retried.
    """

    async def claim(self, key: str, ttl: float) -> bool:
        """Record ``key`` for ``ttl`` seconds; ``True`` on first sight, ``False`` on a replay."""
        ...

    async def release(self, key: str) -> None:
        """Forget ``key``."""
        ...


def check_ttl(ttl: float) -> float:
    """Validate a replay TTL in seconds: positive, at most 100 years."""
    return positive_number("ttl", ttl)


class MemoryReplayGuard:
    """A `ReplayGuard` in this process's memory (one receiver process; use `RedisReplayGuard` for more).

    Expired ids are dropped as new ones arrive; ``max_entries`` bounds memory by evicting the ids that
    expire soonest.

    Args:
        max_entries: The most ids held at once.
        clock: Where expiry times come from (its monotonic reading).
    """

    __slots__ = ("_clock", "_expiries", "_heap", "_max")

    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise WebhookConfigurationError("max_entries", max_entries, "must be an int of at least 1")
        self._max = max_entries
        self._clock: Clock = clock_or_system(clock)
        self._expiries: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    async def claim(self, key: str, ttl: float) -> bool:
        """Record ``key`` for ``ttl`` seconds; ``True`` on first sight."""
        text("key", key, max_length=4096)
        ttl = check_ttl(ttl)
        now = self._clock.monotonic()
        self._purge(now)
        expires = self._expiries.get(key)
        if expires is not None and expires > now:
            return False
        while len(self._expiries) >= self._max and self._heap:
            _, oldest = heapq.heappop(self._heap)
            self._expiries.pop(oldest, None)
        self._expiries[key] = now + ttl
        heapq.heappush(self._heap, (now + ttl, key))
        return True

    async def release(self, key: str) -> None:
        """Forget ``key``."""
        text("key", key, max_length=4096)
        self._expiries.pop(key, None)

    def __len__(self) -> int:
        return len(self._expiries)

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            if self._expiries.get(key) == expires:
                del self._expiries[key]
