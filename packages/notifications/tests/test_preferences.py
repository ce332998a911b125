"""Preferences and quiet hours (Property 18), with DST transitions and any time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.notifications import (
    ANY,
    DigestRule,
    NotificationsConfigurationError,
    PreferenceDefaults,
    Preferences,
    QuietWindow,
    Verdict,
    decide,
)

from .test_quiet_hours import Clockface, reference_intervals

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Apia",  # skipped a whole day in 2011
]
NIGHTS = QuietWindow.daily(time(22), time(7))


def berlin(**kw: object) -> Preferences:
    return Preferences("u1", timezone="Europe/Berlin", **kw)  # type: ignore[arg-type]


def test_held_until_the_window_closes_across_spring_forward() -> None:
    prefs = berlin(quiet_hours=NIGHTS)
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST. 23:00 CET on the 28th is 22:00 UTC.
    d = decide(prefs, "email", "news", now=datetime(2026, 3, 28, 22, 0, tzinfo=UTC))
    assert d.verdict is Verdict.HOLD
    assert d.release_at == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST, not 06:00 UTC


def test_held_until_the_window_closes_across_fall_back() -> None:
    prefs = berlin(quiet_hours=NIGHTS)
    d = decide(prefs, "email", "news", now=datetime(2026, 10, 24, 21, 0, tzinfo=UTC))  # 23:00 CEST
    assert d.release_at == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)  # 07:00 CET


def test_a_window_ending_inside_the_skipped_hour_ends_at_the_jump() -> None:
    prefs = Preferences("u", timezone="America/New_York", quiet_hours=QuietWindow.daily(time(1), time(2, 30)))
    d = decide(prefs, "sms", "x", now=datetime(2026, 3, 8, 6, 15, tzinfo=UTC))  # 01:15 EST
    assert d.release_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT: the clock never shows 02:30


def test_outside_quiet_hours_delivers_and_weekday_windows_differ() -> None:
    # Saturday and Sunday mornings only.
    prefs = berlin(quiet_hours=(QuietWindow(5, time(0), time(11)), QuietWindow(6, time(0), time(11))))
    saturday_9 = datetime(2026, 6, 6, 7, 0, tzinfo=UTC)
    monday_9 = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
    assert decide(prefs, "push", "c", now=saturday_9).verdict is Verdict.HOLD
    assert decide(prefs, "push", "c", now=monday_9).verdict is Verdict.DELIVER


def test_touching_windows_chain() -> None:
    prefs = berlin(quiet_hours=(QuietWindow(0, time(22), time(0)), QuietWindow(1, time(0), time(6))))
    d = decide(prefs, "e", "c", now=datetime(2026, 6, 1, 21, 0, tzinfo=UTC))  # Mon 23:00 CEST
    assert d.release_at == datetime(2026, 6, 2, 4, 0, tzinfo=UTC)


def test_critical_bypasses_quiet_hours_but_not_an_opt_out() -> None:
    prefs = berlin(quiet_hours=NIGHTS, choices={("sms", ANY): False})
    night = datetime(2026, 6, 1, 23, 0, tzinfo=UTC)
    assert decide(prefs, "email", "security", now=night, critical=True).verdict is Verdict.DELIVER
    assert decide(prefs, "sms", "security", now=night, critical=True).verdict is Verdict.SUPPRESS


def test_the_most_specific_choice_wins_then_defaults() -> None:
    prefs = Preferences(
        "u", choices={("email", ANY): False, ("email", "billing"): True, (ANY, "promo"): False}
    )
    defaults = PreferenceDefaults({("sms", ANY): False})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    verdict = {
        (ch, cat): decide(prefs, ch, cat, now=now, defaults=defaults).verdict
        for ch, cat in [
            ("email", "billing"),
            ("email", "news"),
            ("push", "promo"),
            ("sms", "x"),
            ("push", "x"),
        ]
    }
    assert verdict == {
        ("email", "billing"): Verdict.DELIVER,
        ("email", "news"): Verdict.SUPPRESS,
        ("push", "promo"): Verdict.SUPPRESS,
        ("sms", "x"): Verdict.SUPPRESS,
        ("push", "x"): Verdict.DELIVER,
    }
    opted_in = Preferences("u", choices={("sms", "alerts"): True})
    assert decide(opted_in, "sms", "alerts", now=now, defaults=defaults).verdict is Verdict.DELIVER
    assert (
        decide(None, "push", "x", now=now, defaults=PreferenceDefaults(enabled=False)).verdict
        is Verdict.SUPPRESS
    )


def test_round_trip_through_a_dict() -> None:
    prefs = Preferences(
        "u", timezone="Asia/Kolkata", choices={("email", "a"): True, ("*", "b"): False}, quiet_hours=NIGHTS
    )
    assert Preferences.from_dict(prefs.to_dict()) == prefs


def test_bad_preferences_are_refused() -> None:
    with pytest.raises(NotificationsConfigurationError, match="timezone"):
        Preferences("u", timezone="Mars/Olympus")
    with pytest.raises(NotificationsConfigurationError, match="user_id"):
        Preferences("")
    with pytest.raises(NotificationsConfigurationError, match="choices"):
        Preferences("u", choices={("email",): True})  # type: ignore[dict-item]
    with pytest.raises(NotificationsConfigurationError, match="choices"):
        Preferences("u", choices={("email", "x"): "yes"})  # type: ignore[dict-item]
    with pytest.raises(NotificationsConfigurationError, match="weekday"):
        QuietWindow(7, time(1), time(2))
    with pytest.raises(NotificationsConfigurationError, match="weekday"):
        QuietWindow(True, time(1), time(2))  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="start"):
        QuietWindow(1, time(1, tzinfo=UTC), time(2))
    with pytest.raises(NotificationsConfigurationError, match="quiet_hours"):
        Preferences("u", quiet_hours=((1, time(1), time(2)),))  # type: ignore[arg-type]


# --- Property 18 -------------------------------------------------------------------------------

times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(QuietWindow, st.integers(0, 6), times, times)
# Instants around DST transitions are over-represented: March/April and October/November.
instants = st.one_of(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda year, month, day, minutes: datetime(year, month, day, tzinfo=UTC) + timedelta(minutes=minutes),
        st.integers(2025, 2027),
        st.sampled_from([3, 4, 9, 10, 11]),
        st.integers(1, 28),
        st.integers(0, 24 * 60 * 3),
    ),
)


def inside(prefs: Preferences, t: datetime) -> bool:
    """Independent membership, read off the local clock minute by minute (see test_quiet_hours)."""
    face = Clockface.read(ZoneInfo(prefs.timezone), t - timedelta(days=2), t + timedelta(days=2))
    return any(a <= t < b for a, b in reference_intervals(face, list(prefs.quiet_hours)))


@given(
    zone=st.sampled_from(ZONES),
    quiet=st.lists(windows, max_size=6),
    now=instants,
    critical=st.booleans(),
)
def test_property_18_quiet_hours_never_deliver_inside_a_window(
    zone: str, quiet: list[QuietWindow], now: datetime, critical: bool
) -> None:
    """Property 18: quiet hours never deliver inside the window, and hold only until it opens."""
    prefs = Preferences("u", timezone=zone, quiet_hours=tuple(quiet))
    d = decide(prefs, "email", "news", now=now, critical=critical)
    if critical:
        assert d.verdict is Verdict.DELIVER
        return
    if d.verdict is Verdict.DELIVER:
        assert not inside(prefs, now)
        return
    assert d.verdict is Verdict.HOLD
    assert d.release_at is not None
    assert inside(prefs, now)
    assert d.release_at > now
    assert not inside(prefs, d.release_at), "released inside a quiet window"
    # Held no longer than needed: just before the release it is still quiet.
    assert inside(prefs, d.release_at - timedelta(microseconds=1))


choices_st = st.dictionaries(
    st.tuples(st.sampled_from(["email", "sms", "push", ANY]), st.sampled_from(["news", "security", ANY])),
    st.booleans(),
    max_size=8,
)


@given(
    choices=choices_st,
    defaults=choices_st,
    channel=st.sampled_from(["email", "sms", "push"]),
    category=st.sampled_from(["news", "security"]),
    critical=st.booleans(),
    quiet=st.lists(windows, max_size=3),
    now=instants,
)
def test_property_18_opt_outs_are_always_respected(
    choices: dict[tuple[str, str], bool],
    defaults: dict[tuple[str, str], bool],
    channel: str,
    category: str,
    critical: bool,
    quiet: list[QuietWindow],
    now: datetime,
) -> None:
    """Property 18: an explicit opt-out suppresses, critical or not, whatever the defaults say."""
    prefs = Preferences("u", timezone="Europe/Berlin", choices=choices, quiet_hours=tuple(quiet))
    d = decide(prefs, channel, category, now=now, critical=critical, defaults=PreferenceDefaults(defaults))
    keys = [(channel, category), (channel, ANY), (ANY, category), (ANY, ANY)]
    explicit = next((choices[k] for k in keys if k in choices), None)
    if explicit is False:
        assert d.verdict is Verdict.SUPPRESS
    elif explicit is True:
        assert d.verdict is not Verdict.SUPPRESS, "an explicit opt-in must beat a default opt-out"


@given(zone=st.sampled_from(ZONES), now=instants, at=times)
def test_property_daily_digest_closes_at_the_next_local_time(zone: str, now: datetime, at: time) -> None:
    """Digest windows on a daily local schedule close at the next occurrence of the wall time."""
    rule = DigestRule("daily", "digest", at=at)
    closes = rule.closes_at(now, ZoneInfo(zone))
    assert now < closes <= now + timedelta(hours=26)
    local = closes.astimezone(ZoneInfo(zone))
    # A wall time skipped by DST lands just after the jump; otherwise it is exact.
    assert (local.hour, local.minute) == (at.hour, at.minute) or local.utcoffset() != ZoneInfo(
        zone
    ).utcoffset(local.replace(tzinfo=None) - timedelta(hours=3))


@given(now=instants, minutes=st.integers(1, 24 * 60))
def test_property_fixed_digest_windows_partition_time(now: datetime, minutes: int) -> None:
    """Every instant falls in exactly one fixed window, which closes after it, at most one window later."""
    rule = DigestRule("k", "digest", window=timedelta(minutes=minutes))
    closes = rule.closes_at(now, ZoneInfo("UTC"))
    assert now < closes <= now + timedelta(minutes=minutes)
    assert rule.closes_at(closes - timedelta(microseconds=1), ZoneInfo("UTC")) == closes


def test_bad_digest_rules() -> None:
    with pytest.raises(NotificationsConfigurationError, match="exactly one"):
        DigestRule("k", "t")
    with pytest.raises(NotificationsConfigurationError, match="exactly one"):
        DigestRule("k", "t", window=timedelta(hours=1), at=time(8))
    with pytest.raises(NotificationsConfigurationError, match="window"):
        DigestRule("k", "t", window=timedelta(0))
