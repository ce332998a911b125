"""Replay guards: remember which webhooks were handled, so a captured one cannot be played again.

A delivery first *claims* its id under a short lease (in flight); only when its handler has succeeded
is the id marked *done* for the replay TTL. A claim whose handler failed is released, and one whose
release could not be written (the guard was down) runs out with its lease. So an id is answered as
a replay only after a handler succeeded for it, whatever fails in between.
"""

from __future__ import annotations

import heapq
import math
import secrets
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

from buttress.core import Clock

from ._checks import clock_or_system, positive_number, text
from .exceptions import WebhooksConfigurationError

__all__ = [
    "DEFAULT_LEASE",
    "MemoryReplayGuard",
    "ReplayClaim",
    "ReplayGuard",
    "ReplayStatus",
    "SyncMemoryReplayGuard",
    "SyncReplayGuard",
    "check_ttl",
    "new_claim_token",
    "retry_after_seconds",
]

DEFAULT_LEASE: Final = 60.0
"""Seconds a delivery's claim holds its id while the handler runs (the sender's own timeout is
15 s for Svix, 10 s for GitHub; a handler still running after the lease may be run again)."""

_MAX_KEY: Final = 4096


class ReplayStatus(StrEnum):
    """What `ReplayGuard.claim` found for an id."""

    CLAIMED = "claimed"
    """The id was free (never seen, released, or its lease ran out): this delivery holds it now."""
    IN_FLIGHT = "in_flight"
    """Another delivery holds the id under a lease that is still running: it may yet fail."""
    DONE = "done"
    """A handler succeeded for the id within the replay TTL: this delivery is a replay."""

    @classmethod
    def _missing_(cls, value: object) -> ReplayStatus:
        # ReplayStatus("x") raises this typed error (a ValueError, as Enum's own would be).
        raise WebhooksConfigurationError(
            "status", value, f"must be one of {', '.join(repr(s.value) for s in cls)}"
        )


@dataclass(frozen=True, slots=True)
class ReplayClaim:
    """The answer of `ReplayGuard.claim`.

    Attributes:
        status: What the guard found (`ReplayStatus`).
        token: For `ReplayStatus.CLAIMED`, what identifies this claim (give it to `ReplayGuard.release`);
            empty otherwise.
        lease_left: For `ReplayStatus.IN_FLIGHT`, the seconds until the other claim's lease runs out.

    Raises:
        WebhooksConfigurationError: The fields do not fit together (a guard of your own has a bug).
    """

    status: ReplayStatus
    token: str = ""
    lease_left: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.status, ReplayStatus):
            raise WebhooksConfigurationError("status", self.status, "must be a ReplayStatus")
        if self.status is ReplayStatus.CLAIMED:
            text("token", self.token, max_length=256)
        elif self.token != "":
            raise WebhooksConfigurationError("token", None, "is given only with CLAIMED", show_value=False)
        positive_number("lease_left", self.lease_left, zero=True)


@runtime_checkable
class ReplayGuard(Protocol):
    """**Protocol**: which webhook ids are being handled (leased) or were handled (done), with expiry.

    Every method is atomic per key: of two concurrent claims of a free id, one gets
    `ReplayStatus.CLAIMED` and the other `ReplayStatus.IN_FLIGHT`. A guard that cannot reach its store
    raises `WebhooksUnavailableError`. ``buttress.testing.ReplayGuardContract`` is its conformance
    suite, which `buttress.webhooks`' own guards pass.

    Methods:
        claim: Take ``key`` for ``lease`` seconds if it is free (never seen, released, or its lease ran
            out) and answer `ReplayStatus.CLAIMED` with a new token; otherwise answer
            `ReplayStatus.IN_FLIGHT` (with the lease left) or `ReplayStatus.DONE`, and change nothing.
        complete: Mark ``key`` done for ``ttl`` seconds, whoever holds it: call it only after a handler
            succeeded for the id.
        release: Free ``key`` if it is still held by the claim ``token`` (a lease that ran out and
            was taken by another delivery, or a done mark, is left alone).
    """

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if free; say what was found."""
        ...

    async def complete(self, key: str, ttl: float) -> None:
        """Mark ``key`` done (handled) for ``ttl`` seconds."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        ...


def check_ttl(ttl: float, name: str = "ttl") -> float:
    """Validate a replay TTL or lease in seconds: positive, at most 100 years."""
    return positive_number(name, ttl)


def new_claim_token() -> str:
    """A fresh claim token: 128 random bits, unique across processes."""
    return secrets.token_hex(16)


# An entry's token for a done mark; claim tokens are never empty.
_DONE: Final = ""


@runtime_checkable
class SyncReplayGuard(Protocol):
    """**Protocol**: `ReplayGuard`'s synchronous twin, for `SyncWebhookReceiver` and WSGI servers.

    The same three methods with the same contract, called from any of the server's threads: each is
    atomic per key across threads. `SyncMemoryReplayGuard` implements it.

    Methods:
        claim: Take ``key`` for ``lease`` seconds if it is free; otherwise say what holds it.
        complete: Mark ``key`` done for ``ttl`` seconds: call it only after a handler succeeded.
        release: Free ``key`` if it is still held by the claim ``token``.
    """

    def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if free; say what was found."""
        ...

    def complete(self, key: str, ttl: float) -> None:
        """Mark ``key`` done (handled) for ``ttl`` seconds."""
        ...

    def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        ...


class _ReplayTable:
    """The ids a memory guard holds, with their expiry: the rules both memory guards share.

    Not thread-safe by itself: `MemoryReplayGuard` runs on one event loop, `SyncMemoryReplayGuard`
    holds a lock around every call.
    """

    __slots__ = ("_clock", "_entries", "_heap", "_max")

    def __init__(self, max_entries: object, clock: object) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise WebhooksConfigurationError("max_entries", max_entries, "must be an int of at least 1")
        self._max = max_entries
        self._clock: Clock = clock_or_system(clock)
        # key -> (expiry, token); the token is _DONE for a done mark.
        self._entries: dict[str, tuple[float, str]] = {}
        # (expiry, key) for every entry ever set; stale pairs (the key was set again) are skipped.
        self._heap: list[tuple[float, str]] = []

    def claim(self, key: str, lease: float) -> ReplayClaim:
        text("key", key, max_length=_MAX_KEY)
        lease = check_ttl(lease, "lease")
        now = self._clock.monotonic()
        self._purge(now)
        entry = self._entries.get(key)
        if entry is not None:
            expires, token = entry
            if token == _DONE:
                return ReplayClaim(ReplayStatus.DONE)
            return ReplayClaim(ReplayStatus.IN_FLIGHT, lease_left=expires - now)
        token = new_claim_token()
        self._set(key, now + lease, token)
        return ReplayClaim(ReplayStatus.CLAIMED, token)

    def complete(self, key: str, ttl: float) -> None:
        text("key", key, max_length=_MAX_KEY)
        ttl = check_ttl(ttl)
        now = self._clock.monotonic()
        self._purge(now)
        self._set(key, now + ttl, _DONE)

    def release(self, key: str, token: str) -> None:
        text("key", key, max_length=_MAX_KEY)
        text("token", token, max_length=256)
        entry = self._entries.get(key)
        if entry is not None and entry[1] == token:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _set(self, key: str, expires: float, token: str) -> None:
        if key not in self._entries:
            self._evict(self._max - 1)
        self._entries[key] = (expires, token)
        heapq.heappush(self._heap, (expires, key))
        if len(self._heap) > 2 * len(self._entries) + 64:
            # Released and re-set keys leave stale pairs behind: rebuild before they outweigh the entries.
            self._heap = [(expires, key) for key, (expires, _) in self._entries.items()]
            heapq.heapify(self._heap)

    def _evict(self, keep: int) -> None:
        """Drop the entries that expire soonest until at most ``keep`` remain."""
        heap = self._heap
        while len(self._entries) > keep and heap:
            expires, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry[0] == expires:
                del self._entries[key]

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is not None and entry[0] == expires:
                del self._entries[key]


class MemoryReplayGuard:
    """A `ReplayGuard` in this process's memory (one receiver process; use `RedisReplayGuard` for more).

    Expired ids are dropped as new ones arrive; ``max_entries`` bounds memory by evicting the ids that
    expire soonest (an evicted lease lets a concurrent duplicate in, an evicted done mark lets a
    replay in: duplicates, never a lost webhook). `SyncMemoryReplayGuard` is its synchronous twin.

    Args:
        max_entries: The most ids held at once.
        clock: Where expiry times come from (its monotonic reading).
    """

    __slots__ = ("_table",)

    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        self._table = _ReplayTable(max_entries, clock)

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if it is free; say what was found."""
        return self._table.claim(key, lease)

    async def complete(self, key: str, ttl: float) -> None:
        """Mark ``key`` done for ``ttl`` seconds."""
        self._table.complete(key, ttl)

    async def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        self._table.release(key, token)

    def __len__(self) -> int:
        return len(self._table)


class SyncMemoryReplayGuard:
    """A `SyncReplayGuard` in this process's memory, shared by every thread of a WSGI server.

    The same table and rules as `MemoryReplayGuard`, behind a lock: of two threads claiming a free
    id at once, one gets `ReplayStatus.CLAIMED` and the other `ReplayStatus.IN_FLIGHT`. It covers one
    process; a server with several worker processes gives each its own guard, so a replay reaching
    another worker is not caught (see the guide's WSGI section).

    Args:
        max_entries: The most ids held at once.
        clock: Where expiry times come from (its monotonic reading).
    """

    __slots__ = ("_lock", "_table")

    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        self._table = _ReplayTable(max_entries, clock)
        self._lock = threading.Lock()

    def claim(self, key: str, lease: float) -> ReplayClaim:
        """Take ``key`` for ``lease`` seconds if it is free; say what was found."""
        with self._lock:
            return self._table.claim(key, lease)

    def complete(self, key: str, ttl: float) -> None:
        """Mark ``key`` done for ``ttl`` seconds."""
        with self._lock:
            self._table.complete(key, ttl)

    def release(self, key: str, token: str) -> None:
        """Free ``key`` if the claim ``token`` still holds it."""
        with self._lock:
            self._table.release(key, token)

    def __len__(self) -> int:
        return len(self._table)


def retry_after_seconds(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header: ``seconds`` rounded up, at least 1."""
    if not math.isfinite(seconds) or seconds <= 1:
        return 1
    return math.ceil(min(seconds, 86_400.0))
