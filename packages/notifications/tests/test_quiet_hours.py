"""Quiet hours and daily digests against a brute-force reference, minute by minute, in every zone.

The rule (README): a window starts and ends at the first instant the user's clock shows its start
(end) time or later. So a time a spring-forward jump skips is the jump itself, and a time a
fall-back repeats counts once, at its first occurrence. The reference below knows nothing of
``fold``, gaps or ``zoneinfo``'s placement rules: it reads the local clock at every whole minute of
a span and takes, for each wall time, the first minute whose reading is at or past it.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from buttress.notifications import (
    DigestRule,
    NotificationsConfigurationError,
    Preferences,
    QuietWindow,
    Verdict,
    decide,
)
from buttress.notifications._preferences import _MEMO_WINDOWS_A_DAY, _around, _around_cached
from buttress.notifications._wallclock import first_instant

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)

# Every IANA zone tzdata ships (since 2000 all offsets and transitions fall on whole minutes).
ZONES = sorted(z for z in available_timezones() if not z.startswith(("SystemV/", "posix/", "right/")))


@functools.lru_cache(maxsize=4096)
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants (UTC, to the minute) at which the zone's offset changes during ``year``."""
    zone = ZoneInfo(zone_name)
    start = datetime(year, 1, 1, tzinfo=UTC)
    found: list[datetime] = []
    previous = start.astimezone(zone).utcoffset()
    for hour in range(1, 366 * 24):
        t = start + timedelta(hours=hour)
        offset = t.astimezone(zone).utcoffset()
        if offset != previous:
            lo, hi = t - timedelta(hours=1), t  # the change happened in (lo, hi]
            while hi - lo > MINUTE:
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(zone).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            previous = offset
    return tuple(found)


@dataclass
class Clockface:
    """The local clock's reading at every whole UTC minute of a span, computed one minute at a time."""

    zone: ZoneInfo
    start: datetime
    prefix_max: list[datetime]

    @classmethod
    def read(cls, zone: ZoneInfo, start: datetime, end: datetime) -> Clockface:
        start = start.replace(second=0, microsecond=0)
        minutes = int((end - start) / MINUTE) + 1
        readings = (
            (start + i * MINUTE).astimezone(zone).replace(tzinfo=None, fold=0) for i in range(minutes)
        )
        return cls(zone, start, list(itertools.accumulate(readings, max)))

    @property
    def end(self) -> datetime:
        return self.start + (len(self.prefix_max) - 1) * MINUTE

    def first_showing(self, day: date, wall: time) -> datetime | None:
        """The first minute whose reading is ``day wall`` or later (None past the span)."""
        i = bisect.bisect_left(self.prefix_max, datetime.combine(day, wall))
        return self.start + i * MINUTE if i < len(self.prefix_max) else None

    def local_dates(self) -> list[date]:
        first, last = self.prefix_max[0].date(), self.prefix_max[-1].date()
        return [first + timedelta(days=i) for i in range(-1, (last - first).days + 2)]


def reference_intervals(face: Clockface, quiet: list[QuietWindow]) -> list[tuple[datetime, datetime]]:
    spans = []
    for day in face.local_dates():
        for w in quiet:
            if w.weekday != day.weekday():
                continue
            opens = face.first_showing(day, w.start)
            closes = face.first_showing(day if w.end > w.start else day + DAY, w.end)
            if opens is None:
                continue
            spans.append((opens, closes if closes is not None else face.end + DAY * 30))
    return spans


def reference_release(face: Clockface, quiet: list[QuietWindow], now: datetime) -> datetime | None:
    """None when ``now`` is free, else the first whole minute after it that no window covers."""
    spans = reference_intervals(face, quiet)

    def quiet_at(m: datetime) -> bool:
        return any(a <= m < b for a, b in spans)

    m = now.replace(second=0, microsecond=0)  # every boundary is a whole minute
    if not quiet_at(m):
        return None
    while quiet_at(m):
        m += MINUTE
        if m > face.end:
            raise AssertionError("the reference span is too short for this chain")
    return m


def minutes_of(t: time) -> int:
    return t.hour * 60 + t.minute


def wall(minutes: int) -> time:
    minutes %= 24 * 60
    return time(minutes // 60, minutes % 60)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, datetime, list[QuietWindow]]:
    """A zone, an instant near one of its transitions (or anywhere), and windows whose ends sit
    before, inside and after the local times the transition skips or repeats."""
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    year = draw(st.one_of(st.integers(2000, 2037), st.just(2011)))
    found = transitions(zone_name, year)
    if found and draw(st.integers(0, 9)) > 0:
        center = draw(st.sampled_from(found))
    else:
        center = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 364 * 1440)))
    now = center + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    if draw(st.booleans()):
        now += timedelta(seconds=draw(st.integers(1, 59)))
    before = (center - MINUTE).astimezone(zone) + MINUTE  # the clock just before the change, + 1 min
    after = center.astimezone(zone)
    anchors = [minutes_of(before.time()), minutes_of(after.time())]
    near = st.builds(
        lambda anchor, delta: wall(anchor + delta),
        st.sampled_from(anchors),
        st.sampled_from([-90, -60, -45, -30, -15, -1, 0, 1, 15, 30, 45, 60, 90]),
    )
    times = st.one_of(near, st.builds(wall, st.integers(0, 24 * 60 - 1)))
    local_day = now.astimezone(zone).date()
    weekdays = st.one_of(
        st.sampled_from([(local_day + timedelta(days=d)).weekday() for d in (-1, 0, 1)]), st.integers(0, 6)
    )
    quiet = draw(st.lists(st.builds(QuietWindow, weekdays, times, times), max_size=4))
    return zone_name, now, quiet


def check(zone_name: str, now: datetime, quiet: list[QuietWindow]) -> None:
    try:
        prefs = Preferences("u", timezone=zone_name, quiet_hours=tuple(quiet))
    except NotificationsConfigurationError:
        assume(False)  # the windows cover the whole week
        raise
    zone = ZoneInfo(zone_name)
    face = Clockface.read(zone, now - 2 * DAY, now + 5 * DAY)  # 4 windows chain < 5 days
    expected = reference_release(face, quiet, now)
    assert prefs.quiet_until(now) == expected
    d = decide(prefs, "email", "news", now=now)
    if expected is None:
        assert d.verdict is Verdict.DELIVER
    else:
        assert (d.verdict, d.release_at) == (Verdict.HOLD, expected)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


W = QuietWindow
NIGHTLY = list(W.daily(time(22), time(2, 30)))
NAMED = {
    # The reported cases: 22:00-02:30 on the spring-forward night (02:30 is skipped).
    "berlin-spring": ("Europe/Berlin", utc(2024, 3, 30, 22, 0), NIGHTLY),
    "new-york-spring": ("America/New_York", utc(2024, 3, 10, 3, 0), NIGHTLY),
    # A window ending inside the repeated hour of a fall-back, and one starting inside it.
    "ends-in-fold": ("America/New_York", utc(2024, 11, 3, 4, 0), [W(6, time(0), time(1, 30))]),
    "starts-in-fold": ("America/New_York", utc(2024, 11, 3, 6, 10), [W(6, time(1, 30), time(6))]),
    # A window starting inside the gap; one wholly inside it (it lasts no time at all).
    "starts-in-gap": ("Europe/Berlin", utc(2024, 3, 31, 1, 0), [W(6, time(2, 15), time(8))]),
    "inside-gap": ("Europe/Berlin", utc(2024, 3, 31, 1, 0), [W(6, time(2, 15), time(2, 45))]),
    # 24-hour windows (start == end) chained over a DST night; a day that does not exist (Apia 2011).
    "whole-days": (
        "Europe/Berlin",
        utc(2024, 3, 30, 12, 0),
        [W(5, time(8), time(8)), W(6, time(8), time(8))],
    ),
    "apia-2011": ("Pacific/Apia", utc(2011, 12, 29, 20, 0), list(W.daily(time(22), time(7)))),
    # Transitions at midnight: Havana springs from 00:00 to 01:00, Santiago falls back at 24:00.
    "havana": ("America/Havana", utc(2024, 3, 10, 4, 30), [W(5, time(23), time(0, 30))]),
    "santiago": ("America/Santiago", utc(2024, 4, 7, 2, 30), [W(5, time(23, 30), time(23, 45))]),
}


@pytest.mark.parametrize("name", NAMED)
def test_named_transitions_match_the_reference(name: str) -> None:
    check(*NAMED[name])


@given(scenarios())
def test_property_quiet_hours_match_the_minute_by_minute_reference(
    scenario: tuple[str, datetime, list[QuietWindow]],
) -> None:
    """Property 18b: quiet_until equals the brute-force release, across gaps, folds, midnight and 24 h."""
    check(*scenario)


def test_the_reported_spring_forward_cases_release_at_the_jump() -> None:
    berlin = Preferences("u", timezone="Europe/Berlin", quiet_hours=QuietWindow.daily(time(22), time(2, 30)))
    held = decide(berlin, "email", "news", now=datetime(2024, 3, 30, 22, 0, tzinfo=UTC))
    assert held.release_at == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST, not 03:30
    york = Preferences("u", timezone="America/New_York", quiet_hours=QuietWindow.daily(time(22), time(2, 30)))
    held = decide(york, "email", "news", now=datetime(2024, 3, 10, 3, 0, tzinfo=UTC))
    assert held.release_at == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT, not 03:30


def test_a_fall_back_hour_counts_once() -> None:
    # New York, 2024-11-03: 01:00-02:00 happens twice (05:00-06:00Z EDT, then 06:00-07:00Z EST).
    prefs = Preferences("u", timezone="America/New_York", quiet_hours=(W(6, time(0), time(1, 30)),))
    assert prefs.quiet_until(utc(2024, 11, 3, 4, 0)) == utc(2024, 11, 3, 5, 30)
    assert prefs.quiet_until(utc(2024, 11, 3, 6, 10)) is None  # 01:10 the second time


def test_whole_day_windows_and_whole_week_coverage() -> None:
    day = QuietWindow(2, time(8), time(8))
    prefs = Preferences("u", timezone="Europe/Berlin", quiet_hours=(day,))
    # Wednesday 2024-06-05 08:00 CEST to Thursday 08:00 CEST.
    assert prefs.quiet_until(datetime(2024, 6, 5, 6, 0, tzinfo=UTC)) == datetime(2024, 6, 6, 6, 0, tzinfo=UTC)
    with pytest.raises(NotificationsConfigurationError, match="whole week"):
        Preferences("u", quiet_hours=QuietWindow.daily(time(9), time(9)))
    with pytest.raises(NotificationsConfigurationError, match="whole week"):
        Preferences("u", quiet_hours=W.daily(time(0), time(12)) + W.daily(time(12), time(0)))
    # One free minute a week is enough.
    Preferences("u", quiet_hours=(*W.daily(time(0), time(0), weekdays=range(6)), W(6, time(0), time(23, 59))))


@given(scenario=scenarios(), at=st.builds(wall, st.integers(0, 24 * 60 - 1)))
@example(scenario=("Europe/Berlin", datetime(2024, 3, 30, 23, 0, tzinfo=UTC), []), at=time(2, 30))
@example(scenario=("America/New_York", datetime(2024, 11, 3, 5, 45, tzinfo=UTC), []), at=time(1, 30))
def test_property_daily_digests_close_at_the_first_instant_showing_their_time(
    scenario: tuple[str, datetime, list[QuietWindow]], at: time
) -> None:
    """A daily digest closes at the first instant after ``now`` whose clock shows ``at`` (or later) anew."""
    zone_name, now, _ = scenario
    zone = ZoneInfo(zone_name)
    face = Clockface.read(zone, now - DAY, now + 2 * DAY)
    candidates = [face.first_showing(d, at) for d in face.local_dates()]
    expected = min(c for c in candidates if c is not None and c > now)
    assert DigestRule("daily", "digest", at=at).closes_at(now, zone) == expected


@given(
    zone_name=st.sampled_from(ZONES),
    day=st.dates(date(2000, 1, 1), date(2037, 12, 31)),
    at=st.builds(wall, st.integers(0, 24 * 60 - 1)),
)
def test_property_first_instant_is_the_first_minute_showing_the_time(
    zone_name: str, day: date, at: time
) -> None:
    """first_instant(day, at) is the first minute whose local reading is day+at or later."""
    zone = ZoneInfo(zone_name)
    start = datetime.combine(day, time(0), tzinfo=UTC) - DAY
    face = Clockface.read(zone, start, start + 3 * DAY)
    assert first_instant(day, at, zone) == face.first_showing(day, at)


@given(first=scenarios(), second=scenarios(), repeat=st.booleans())
@example(  # two zones with the same windows, on the spring-forward day of one of them
    first=("Europe/Berlin", utc(2024, 3, 31, 0, 30), NIGHTLY),
    second=("Europe/London", utc(2024, 3, 31, 0, 30), NIGHTLY),
    repeat=True,
)
def test_property_cached_window_instants_equal_the_computation(
    first: tuple[str, datetime, list[QuietWindow]],
    second: tuple[str, datetime, list[QuietWindow]],
    repeat: bool,
) -> None:
    """Property 18c: quiet_until through the cache of window instants equals computing them afresh.

    Two users (other zones or windows, the same local dates) ask in turn, so an entry one leaves
    in the cache is never read for the other; near DST transitions, asked once or again.
    """
    for zone_name, now, quiet in (first, second, first, second):
        try:
            prefs = Preferences("u", timezone=zone_name, quiet_hours=tuple(quiet))
        except NotificationsConfigurationError:
            continue  # the windows cover the whole week
        fresh = prefs._quiet_until(now, _around)
        assert prefs.quiet_until(now) == fresh
        if repeat:
            assert prefs.quiet_until(now) == fresh
        twin = Preferences("v", timezone=zone_name, quiet_hours=tuple(quiet))
        assert twin._schedule is prefs._schedule  # equal preferences share their cached instants
        assert decide(twin, "email", "news", now=now).release_at == fresh


def test_many_windows_a_day_skip_the_memo_and_decide_the_same() -> None:
    """A weekday with more windows than the memo takes is computed afresh: same answers, no entries.

    The memo's entries grow with the windows of three days; a schedule of many short windows a
    day (up to the 100 allowed) would otherwise let users' schedules fill it with large entries.
    """
    busy = tuple(
        QuietWindow(weekday, time(hour), time(hour, 30))
        for weekday in range(3)
        for hour in range(_MEMO_WINDOWS_A_DAY + 1)
    )
    few = busy[:_MEMO_WINDOWS_A_DAY]  # Monday only, at the limit: memoised
    zone = "Europe/Berlin"
    busy_prefs = Preferences("u", timezone=zone, quiet_hours=busy)
    few_prefs = Preferences("v", timezone=zone, quiet_hours=few)
    assert busy_prefs._schedule.around is _around
    assert few_prefs._schedule.around is _around_cached
    # Monday 2026-03-30 in Berlin (the week after the spring-forward), every half hour of the day.
    for step in range(48):
        now = datetime(2026, 3, 29, 22, tzinfo=UTC) + timedelta(minutes=30 * step)
        before = _around_cached.cache_info().currsize
        got = busy_prefs.quiet_until(now)
        assert _around_cached.cache_info().currsize == before  # nothing kept for the busy schedule
        assert got == busy_prefs._quiet_until(now, _around)
        hour = now.astimezone(ZoneInfo(zone)).hour
        minute = now.astimezone(ZoneInfo(zone)).minute
        expected_quiet = hour <= _MEMO_WINDOWS_A_DAY and minute < 30
        assert (got is not None) == expected_quiet, (now, got)
        assert few_prefs.quiet_until(now) == few_prefs._quiet_until(now, _around)
