"""`MemoryStore` and its synchronous twin `SyncMemoryStore`: in-process stores over one set of rules."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

from buttress.core import Clock, SystemClock

from ._tokens import lease_token
from ._types import Claim, ClaimOutcome, StoredResponse, as_stored
from ._validation import check_held, check_positive, check_positive_int, check_store_text
from .exceptions import IdempotencyTypeError

__all__ = ["MemoryStore", "SyncMemoryStore"]

_SWEEP_EVERY = 1024


@dataclass(slots=True)
class _Record:
    fingerprint: str
    token: str | None  # None once completed
    response: StoredResponse | None
    expires_at: float  # lease end while in flight, retention end once completed (clock.monotonic)


class _Records:
    """The records of a memory store and the rules both memory stores share (not thread-safe alone)."""

    __slots__ = ("_claims", "_clock", "_max", "_records")

    def __init__(self, clock: object, max_records: object) -> None:
        if clock is not None and not isinstance(clock, Clock):
            raise IdempotencyTypeError("clock", "a Clock (now() and monotonic())", clock)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._max = check_positive_int("max_records", max_records)
        self._records: dict[str, _Record] = {}
        self._claims = 0

    def __len__(self) -> int:
        return len(self._records)

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and record.expires_at <= now:
            del self._records[key]
            return None
        return record

    def claim(self, key: str, fingerprint: str, lease: float) -> Claim:
        check_store_text("key", key)
        check_store_text("fingerprint", fingerprint)
        seconds = check_positive("lease", lease)
        now = self._clock.monotonic()
        record = self._live(key, now)
        if record is not None:
            if record.fingerprint != fingerprint:
                return Claim(ClaimOutcome.MISMATCH)
            if record.token is None:
                return Claim(ClaimOutcome.COMPLETED, response=record.response)
            return Claim(ClaimOutcome.IN_FLIGHT, retry_after=record.expires_at - now)
        self._claims += 1
        if self._claims % _SWEEP_EVERY == 0:
            self.sweep(now)
        if len(self._records) >= self._max:
            self._evict(now)
        token = lease_token()
        self._records[key] = _Record(fingerprint, token, None, now + seconds)
        return Claim(ClaimOutcome.CLAIMED, token=token)

    def complete(self, key: str, token: str, response: StoredResponse, retention: float) -> bool:
        check_held(key, token)
        stored = as_stored(response)
        seconds = check_positive("retention", retention)
        now = self._clock.monotonic()
        record = self._live(key, now)
        if record is None or record.token is None or record.token != token:
            return False
        record.token, record.response, record.expires_at = None, stored, now + seconds
        return True

    def release(self, key: str, token: str) -> bool:
        check_held(key, token)
        record = self._live(key, self._clock.monotonic())
        if record is None or record.token is None or record.token != token:
            return False
        del self._records[key]
        return True

    def renew(self, key: str, token: str, lease: float) -> bool:
        check_held(key, token)
        seconds = check_positive("lease", lease)
        now = self._clock.monotonic()
        record = self._live(key, now)
        if record is None or record.token is None or record.token != token:
            return False
        record.expires_at = now + seconds
        return True

    def purge(self) -> int:
        return self.sweep(self._clock.monotonic())

    def sweep(self, now: float) -> int:
        expired = [key for key, record in self._records.items() if record.expires_at <= now]
        for key in expired:
            del self._records[key]
        return len(expired)

    def _evict(self, now: float) -> None:
        # Records are in claim order: drop expired and completed ones from the oldest until one slot is
        # free. In-flight records are never evicted, so a store full of them grows past the cap.
        excess = len(self._records) - self._max + 1
        victims = []
        for key, record in self._records.items():
            if record.token is None or record.expires_at <= now:
                victims.append(key)
                if len(victims) >= excess:
                    break
        for key in victims:
            del self._records[key]

    def clear(self) -> None:
        self._records.clear()

    def __repr__(self) -> str:
        return f"records={len(self._records)}, max_records={self._max}"


class MemoryStore:
    """An `IdempotencyStore` in a dict, for a single process.

    Every method runs without an ``await`` in the middle, so each is atomic on the event loop. Time
    comes from ``clock.monotonic()``, so tests move leases and retention with a
    `buttress.testing.FakeClock`. Expired records are dropped when touched and in a sweep every 1,024
    claims; `purge` drops them all at once. `SyncMemoryStore` is its synchronous twin (same rules).

    Args:
        clock: Time source for leases and retention.
        max_records: The most records kept; when full, a claim evicts the oldest completed (or expired)
            record. In-flight records are never evicted.

    Every method checks all of its arguments before it reads or changes a record: keys, fingerprints
    and tokens are strs of at most 1,024 UTF-8 bytes without NUL or lone surrogates, as every store
    takes them; durations are finite seconds above zero, at most 100 years.
    """

    __slots__ = ("_queues_writes", "_records")

    def __init__(self, *, clock: Clock | None = None, max_records: int = 100_000) -> None:
        self._records = _Records(clock, max_records)
        # A subclass that overrides `complete` keeps it for every write, the middleware's last one too.
        self._queues_writes = type(self).complete is MemoryStore.complete

    def __len__(self) -> int:
        """The number of records held, expired ones included until they are swept."""
        return len(self._records)

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds, or report what holds it (see `IdempotencyStore`)."""
        return self._records.claim(key, fingerprint, lease)

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` if ``token`` holds a live lease on ``key``; ``False`` if it does not."""
        return self._records.complete(key, token, response, retention)

    def _complete_soon(
        self,
        key: str,
        token: str,
        response: StoredResponse,
        retention: float,
        answer: Callable[[bool | BaseException], None],
    ) -> bool:
        """`complete` now, its answer handed to ``answer`` on the loop's next turn (see `RedisStore`).

        The record is written before this returns; the middleware holds the last chunk until
        ``answer`` runs, as it does for a store whose write travels, without a task of its own.
        """
        if not self._queues_writes:
            return False
        outcome: bool | BaseException
        try:
            outcome = self._records.complete(key, token, response, retention)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
            outcome = exc
        asyncio.get_running_loop().call_soon(answer, outcome)
        return True

    async def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none."""
        return self._records.release(key, token)

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the live lease ``token`` holds to ``lease`` seconds from now."""
        return self._records.renew(key, token, lease)

    async def purge(self) -> int:
        """Drop every expired record now; return how many went."""
        return self._records.purge()

    async def aclose(self) -> None:
        """Drop every record."""
        self._records.clear()

    def __repr__(self) -> str:
        return f"MemoryStore({self._records!r})"


class SyncMemoryStore:
    """A `SyncIdempotencyStore` in a dict, shared by every thread of a WSGI server in one process.

    `MemoryStore`'s records and rules behind a lock, so each method is atomic across threads: of two
    threads claiming a free key at once, one gets ``CLAIMED`` and the other ``IN_FLIGHT``. It covers
    one process; a server with several worker processes gives each its own records (see the guide).

    Args:
        clock: Time source for leases and retention.
        max_records: The most records kept (see `MemoryStore`).
    """

    __slots__ = ("_lock", "_records")

    def __init__(self, *, clock: Clock | None = None, max_records: int = 100_000) -> None:
        self._records = _Records(clock, max_records)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of records held, expired ones included until they are swept."""
        return len(self._records)

    def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds, or report what holds it (see `IdempotencyStore`)."""
        with self._lock:
            return self._records.claim(key, fingerprint, lease)

    def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` if ``token`` holds a live lease on ``key``; ``False`` if it does not."""
        with self._lock:
            return self._records.complete(key, token, response, retention)

    def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none."""
        with self._lock:
            return self._records.release(key, token)

    def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the live lease ``token`` holds to ``lease`` seconds from now."""
        with self._lock:
            return self._records.renew(key, token, lease)

    def purge(self) -> int:
        """Drop every expired record now; return how many went."""
        with self._lock:
            return self._records.purge()

    def close(self) -> None:
        """Drop every record."""
        with self._lock:
            self._records.clear()

    def __repr__(self) -> str:
        return f"SyncMemoryStore({self._records!r})"
