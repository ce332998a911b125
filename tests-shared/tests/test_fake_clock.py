"""FakeClock: a Clock that moves only when told to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import Clock, ConfigurationError
from buttress.testing import FakeClock

steps = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=30)


def test_is_a_clock_and_stands_still() -> None:
    clock = FakeClock()
    assert isinstance(clock, Clock)
    assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.monotonic() == clock.monotonic() == 0.0


@given(steps)
def test_advance_moves_both_readings_together(seconds: list[float]) -> None:
    """Property: after any advances, now() and monotonic() have moved by the same total."""
    clock = FakeClock()
    start = clock.now()
    for step in seconds:
        before = clock.monotonic()
        clock.advance(step)
        assert clock.monotonic() >= before
    assert clock.monotonic() == pytest.approx(sum(seconds))
    assert (clock.now() - start).total_seconds() == pytest.approx(sum(seconds), rel=1e-6, abs=1e-3)


def test_advance_accepts_a_timedelta() -> None:
    clock = FakeClock()
    clock.advance(timedelta(minutes=2))
    assert clock.monotonic() == 120.0


def test_advance_backwards_is_refused() -> None:
    clock = FakeClock()
    with pytest.raises(ConfigurationError, match="only moves forward"):
        clock.advance(-1)


def test_set_jumps_the_wall_clock_but_never_the_monotonic_one_back() -> None:
    clock = FakeClock()
    clock.set(datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    assert clock.monotonic() == 60.0
    clock.set(datetime(2025, 12, 31, tzinfo=UTC))
    assert clock.now() == datetime(2025, 12, 31, tzinfo=UTC)
    assert clock.monotonic() == 60.0


def test_times_are_normalised_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    clock = FakeClock(datetime(2026, 6, 1, 9, tzinfo=tokyo))
    assert clock.now() == datetime(2026, 6, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_naive_times_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="when"):
        FakeClock().set(datetime(2026, 1, 1))


def test_fixture(fake_clock: FakeClock) -> None:
    fake_clock.advance(5)
    assert fake_clock.monotonic() == 5.0
