"""SystemClock: UTC-aware wall time and a monotonic reading."""

from __future__ import annotations

import time
from datetime import UTC, timedelta

from buttress.core import SystemClock


def test_now_is_timezone_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)


def test_monotonic_never_goes_back() -> None:
    clock = SystemClock()
    readings = [clock.monotonic() for _ in range(1000)]
    assert readings == sorted(readings)


def test_monotonic_follows_time_monotonic() -> None:
    before = time.monotonic()
    reading = SystemClock().monotonic()
    after = time.monotonic()
    assert before <= reading <= after


def test_repr() -> None:
    assert repr(SystemClock()) == "SystemClock()"
