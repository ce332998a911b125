"""Placing a local wall time on the UTC time line, the same way across DST gaps and folds."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["first_instant"]


def first_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which a clock in ``zone`` shows ``day`` ``wall`` or later.

    A wall time that exists once is that instant. One a fall-back repeats is its first occurrence.
    One a spring-forward skips is the instant of the jump (02:30 on a night the clocks go from 02:00
    to 03:00 is 03:00), since that is when the clock first shows a later time.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    early = naive.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of two, or past a gap
    if _local(early, zone) == naive:
        return early
    # Skipped. fold=1 places it with the offset after the jump, i.e. before the jump; the jump lies
    # between the two placements. Transitions fall on whole seconds, so search the seconds.
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((early, late))
    lo, hi = math.floor(low.timestamp()), math.ceil(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _local(datetime.fromtimestamp(mid, UTC), zone) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)
