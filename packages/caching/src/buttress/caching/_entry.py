"""What a cache stores for a key: the value plus the bookkeeping early refresh needs."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from .exceptions import CacheSerializationError, CachingConfigurationError


@dataclass(slots=True, frozen=True)
class Entry[T]:
    """A cached value with its timing.

    Attributes:
        value: The cached value.
        expires_at: When the value stops being fresh, on the backend's time axis (seconds), or ``None``.
        stale_until: Until when an expired value may still be served while it is refreshed, or ``None``.
        delta: How long the loader took to compute the value (XFetch's Δ), in seconds.
    """

    value: T
    expires_at: float | None
    stale_until: float | None
    delta: float
    # Private to `TieredCache`: what it decoded from ``value`` (bytes held in its L1), kept on the
    # entry object itself so the decoded form lives and dies with the L1 copy. Never compared or stored.
    _decoded: object = field(default=None, init=False, repr=False, compare=False)

    def fresh(self, now: float) -> bool:
        """Whether the value is within its TTL at ``now``.

        Raises:
            CachingConfigurationError: ``now`` is not a number.
        """
        try:
            return self.expires_at is None or now < self.expires_at
        except (TypeError, ArithmeticError):  # a str, or a Decimal NaN that refuses to compare
            raise CachingConfigurationError("now", now, "must be a number of seconds") from None

    def servable_stale(self, now: float) -> bool:
        """Whether the value has expired but may still be served while a refresh runs.

        Raises:
            CachingConfigurationError: ``now`` is not a number.
        """
        try:
            return not self.fresh(now) and self.stale_until is not None and now < self.stale_until
        except (TypeError, ArithmeticError):  # a str, or a Decimal NaN that refuses to compare
            raise CachingConfigurationError("now", now, "must be a number of seconds") from None


# Stored layout: magic (3 bytes) | expires_at (f64, NaN for none) | stale_until (f64) | delta (f64) | payload
_MAGIC = b"bt\x01"
_HEADER = struct.Struct(">ddd")
_PREFIX = len(_MAGIC) + _HEADER.size


def pack(entry_meta: Entry[bytes]) -> bytes:
    """Encode an entry whose value is already serialized."""
    header = _HEADER.pack(_nan(entry_meta.expires_at), _nan(entry_meta.stale_until), entry_meta.delta)
    return _MAGIC + header + entry_meta.value


def unpack(data: bytes) -> Entry[bytes]:
    """Decode bytes made by `pack`; the value stays serialized."""
    if len(data) < _PREFIX or not data.startswith(_MAGIC):
        raise CacheSerializationError("buttress-cache", "loads", "not an entry written by buttress-caching")
    expires_at, stale_until, delta = _HEADER.unpack_from(data, len(_MAGIC))
    # NaN (no time) is the one float unequal to itself: read on the path of every hit.
    return Entry(
        data[_PREFIX:],
        expires_at if expires_at == expires_at else None,  # noqa: PLR0124
        stale_until if stale_until == stale_until else None,  # noqa: PLR0124
        delta,
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
