"""Revocation: the `TokenStore` Protocol and `MemoryTokenStore`, its embedded default.

A store keeps two kinds of facts, each only as long as it matters: a revoked ``jti`` (or refresh
family) until the token it names would have expired anyway, and a per-user cutoff ("every token of
this user issued at or before this second is revoked") until the last token issued before it would
have expired. A cutoff makes ``revoke_all_for_user`` one write, whatever the number of tokens.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime
from typing import Final, Protocol

from buttress.core import Clock, check_count, check_text

from ._keyset import _clock
from ._metrics import EVICTIONS
from .exceptions import AuthConfigurationError, AuthTypeError

__all__ = ["MAX_ID_BYTES", "MemoryTokenStore", "TokenStore", "check_id", "check_instant"]

MAX_ID_BYTES: Final = 256
"""The longest ``jti``, family id or user id a store takes, in UTF-8 bytes."""


def check_id(parameter: str, value: object) -> str:
    """A ``jti``, family or user id: a non-empty str of at most 256 UTF-8 bytes, no NUL or surrogate."""
    return check_text(
        parameter, value, max_bytes=MAX_ID_BYTES, error=AuthConfigurationError, type_error=AuthTypeError
    )


def check_instant(parameter: str, value: object) -> float:
    """A timezone-aware `datetime`, as seconds since the epoch."""
    if not isinstance(value, datetime):
        raise AuthTypeError(parameter, "a timezone-aware datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise AuthConfigurationError(parameter, value, "must be timezone-aware")
    try:
        return value.timestamp()
    except (OverflowError, ValueError, OSError):  # pragma: no cover - aware datetimes all convert
        raise AuthConfigurationError(parameter, value, "is out of range") from None


class TokenStore(Protocol):
    """**Protocol**: where revocations are kept, so every instance of an application sees them.

    buttress-testing's ``TokenStoreContract`` checks an implementation against what follows. Ids
    (``jti``, ``family``, ``user_id``) are non-empty str of at most 256 UTF-8 bytes without NUL;
    datetimes are timezone-aware. Anything else raises a ``ValueError`` or ``TypeError`` subclass.

    Methods:
        revoke: Mark ``jti`` (a token id or a refresh family id) revoked until ``expires_at``,
            after which it may be forgotten. Returns whether this call revoked it (``False`` if it
            was revoked already), atomically: of concurrent calls for one ``jti``, exactly one gets
            ``True``. Refresh-token reuse detection rests on that.
        revoke_all_for_user: Revoke every token of ``user_id`` issued at or before ``cutoff``; keep
            the cutoff until ``expires_at``. A later cutoff replaces an earlier one, never the
            reverse, so concurrent calls leave the latest.
        is_revoked: Whether ``jti`` or ``family`` is revoked, or ``issued_at`` is at or before
            ``user_id``'s cutoff.
    """

    async def revoke(self, jti: str, *, expires_at: datetime) -> bool:
        """Revoke ``jti`` until ``expires_at``; ``True`` if this call revoked it."""
        ...

    async def revoke_all_for_user(self, user_id: str, *, cutoff: datetime, expires_at: datetime) -> None:
        """Revoke ``user_id``'s tokens issued at or before ``cutoff``; keep that until ``expires_at``."""
        ...

    async def is_revoked(
        self, jti: str, *, user_id: str, issued_at: datetime, family: str | None = None
    ) -> bool:
        """Whether ``jti`` or ``family`` is revoked, or ``issued_at`` is within the user's cutoff."""
        ...


class MemoryTokenStore:
    """A `TokenStore` in this process: bounded, oldest entry evicted first, safe across tasks.

    For one process (tests, a single instance); several instances share a `RedisTokenStore`.
    Expired entries are dropped first; when ``max_entries`` are still held, the oldest revocation
    is evicted (counted in ``buttress.auth.store.evictions``): size it above the revocations made
    within a token's lifetime, since an evicted ``jti`` verifies again.

    Every method runs without awaiting in between its read and its write, so concurrent tasks
    see each call as atomic.

    Args:
        max_entries: The most revocations and cutoffs held, from 1 to 10,000,000.
        clock: Where the time comes from (entries expire by it).

    Raises:
        AuthConfigurationError: ``max_entries`` is out of range.
        AuthTypeError: ``clock`` is not a Clock.
    """

    def __init__(self, *, max_entries: int = 100_000, clock: Clock | None = None) -> None:
        self._max = check_count(
            "max_entries", max_entries, minimum=1, maximum=10_000_000, error=AuthConfigurationError
        )
        self._clock = _clock(clock)
        # "j:<jti>" -> (0, expiry) and "u:<user>" -> (cutoff, expiry), in seconds since the epoch,
        # oldest write first: eviction pops from the front.
        self._entries: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _put(self, key: str, value: tuple[float, float], now: float) -> None:
        entries = self._entries
        entries[key] = value
        entries.move_to_end(key)
        while entries:
            oldest_key, (_, until) = next(iter(entries.items()))
            if until <= now:
                del entries[oldest_key]
            elif len(entries) > self._max:
                del entries[oldest_key]
                EVICTIONS.add(1)
            else:
                break

    def _live(self, key: str, now: float) -> tuple[float, float] | None:
        held = self._entries.get(key)
        return held if held is not None and held[1] > now else None

    async def revoke(self, jti: str, *, expires_at: datetime) -> bool:
        """Revoke ``jti`` until ``expires_at``; ``True`` if this call revoked it."""
        key = "j:" + check_id("jti", jti)
        until = check_instant("expires_at", expires_at)
        now = self._now()
        if self._live(key, now) is not None:
            return False
        if until > now:
            self._put(key, (0.0, until), now)
        return True

    async def revoke_all_for_user(self, user_id: str, *, cutoff: datetime, expires_at: datetime) -> None:
        """Revoke ``user_id``'s tokens issued at or before ``cutoff``; keep that until ``expires_at``."""
        key = "u:" + check_id("user_id", user_id)
        at = check_instant("cutoff", cutoff)
        until = check_instant("expires_at", expires_at)
        now = self._now()
        held = self._live(key, now)
        if held is not None:
            at, until = max(at, held[0]), max(until, held[1])
        if until > now:
            self._put(key, (at, until), now)

    async def is_revoked(
        self, jti: str, *, user_id: str, issued_at: datetime, family: str | None = None
    ) -> bool:
        """Whether ``jti`` or ``family`` is revoked, or ``issued_at`` is within the user's cutoff."""
        keys = ["j:" + check_id("jti", jti)]
        if family is not None:
            keys.append("j:" + check_id("family", family))
        user = "u:" + check_id("user_id", user_id)
        issued = check_instant("issued_at", issued_at)
        now = self._now()
        if any(self._live(key, now) is not None for key in keys):
            return True
        cut = self._live(user, now)
        return cut is not None and math.floor(issued) <= cut[0]

    def __repr__(self) -> str:
        return f"MemoryTokenStore(entries={len(self)}, max_entries={self._max})"
