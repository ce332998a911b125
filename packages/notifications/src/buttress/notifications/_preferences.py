"""Preferences: opt-in/opt-out per channel x category, quiet hours per weekday in the user's time zone."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._model import check_id
from ._wallclock import first_instant
from .exceptions import NotificationsConfigurationError, NotificationsTypeError

__all__ = [
    "ANY",
    "Decision",
    "MemoryPreferenceStore",
    "PreferenceDefaults",
    "PreferenceStore",
    "Preferences",
    "QuietWindow",
    "Verdict",
    "decide",
]

_Config = NotificationsConfigurationError

ANY: Final = "*"
"""Wildcard for a channel or a category in a preference key."""

_MAX_WINDOWS: Final = 100
_MEMO_WINDOWS_A_DAY: Final = 8
"""A schedule whose busiest weekday holds more quiet windows than this skips the memo of instants."""
_MAX_ZONE_NAME: Final = 255
_MAX_KEY_PART: Final = 100
_DAY: Final = timedelta(days=1)
_DAY_US: Final = 86_400_000_000
_WEEK_US: Final = 7 * _DAY_US
_LONGEST_CHAIN: Final = timedelta(days=15)


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """Do-not-disturb from ``start`` to ``end`` (local wall time), starting on ``weekday`` (0 = Monday).

    ``end < start`` means the window runs past midnight into the next day (22:00-07:00), and
    ``end == start`` that it lasts a whole day (08:00 to 08:00 the next day). Each end is the first
    instant the user's clock shows that time or later: a time skipped by a spring-forward jump is
    the jump itself, a time a fall-back repeats counts at its first occurrence.
    """

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not isinstance(self.weekday, int) or isinstance(self.weekday, bool) or not 0 <= self.weekday <= 6:
            raise _Config("weekday", self.weekday, "must be 0 (Monday) to 6 (Sunday)")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise _Config(name, value, "must be a naive datetime.time (local wall time)")
            # fold=1 would move a repeated time to its second occurrence; windows use the first.
            object.__setattr__(self, name, value.replace(fold=0))

    @classmethod
    def daily(cls, start: time, end: time, *, weekdays: Iterable[int] = range(7)) -> tuple[QuietWindow, ...]:
        """The same window on each of ``weekdays`` (every day by default)."""
        if isinstance(weekdays, str | bytes) or not isinstance(weekdays, Iterable):
            raise NotificationsTypeError("weekdays", "an iterable of weekday numbers", weekdays)
        days = list(itertools.islice(weekdays, 8))
        if len(days) > 7:
            raise _Config("weekdays", len(days), "must hold at most 7 days")
        return tuple(cls(day, start, end) for day in days)


@dataclass(frozen=True, slots=True)
class Preferences:
    """One user's choices.

    Args:
        user_id: Whose.
        timezone: An IANA zone name; quiet hours are read in it.
        choices: ``(channel, category)`` to opted in (``True``) or out (``False``); either part may be
            `ANY`. The most specific entry wins: exact, then channel-wide, then category-wide, then
            ``(*, *)``.
        quiet_hours: The do-not-disturb windows.
    """

    user_id: str
    timezone: str = "UTC"
    choices: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    quiet_hours: tuple[QuietWindow, ...] = ()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _schedule: _Schedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_id("user_id", self.user_id)
        try:
            if not isinstance(self.timezone, str) or not 0 < len(self.timezone) <= _MAX_ZONE_NAME:
                raise ValueError(self.timezone)  # noqa: TRY301 - one message for every bad name
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise _Config("timezone", self.timezone, "is not an IANA time zone") from None
        choices = _check_choices(self.choices)
        quiet = _check_quiet_hours(self.quiet_hours)
        by_day: list[list[tuple[time, time]]] = [[] for _ in range(7)]
        for window in quiet:
            by_day[window.weekday].append((window.start, window.end))
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "quiet_hours", quiet)
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "_schedule", _schedule(zone, tuple(tuple(d) for d in by_day)))

    def choice(self, channel: str, category: str) -> bool | None:
        """The user's most specific explicit choice for ``channel`` x ``category``, or ``None``."""
        _check_key_part("channel", channel)
        _check_key_part("category", category)
        return _lookup(self.choices, channel, category)

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet period holding ``now`` ends (UTC), or ``None`` when ``now`` is not quiet.

        Windows that touch or overlap are chained: the result is the first instant outside every
        window. A window starts (and ends) at the first instant the user's clock shows its start
        (end) time or later: a time a spring-forward jump skips is the jump itself, and a time a
        fall-back repeats counts once, at its first occurrence.

        Raises:
            NotificationsConfigurationError: ``now`` is not a timezone-aware datetime.
        """
        if not isinstance(now, datetime):
            raise NotificationsTypeError("now", "a timezone-aware datetime", now)
        if now.utcoffset() is None:
            raise _Config("now", now, "must be timezone-aware")
        return self._quiet_until(now)

    def _quiet_until(
        self,
        now: datetime,
        around: Callable[[_Schedule, date], tuple[tuple[datetime, datetime], ...]] | None = None,
    ) -> datetime | None:
        # ``now`` is checked. ``around`` is the uncached computation in tests; by default the
        # schedule's own (memoised unless its days hold many windows).
        schedule = self._schedule
        around = around or schedule.around
        zone = schedule.zone
        start = t = now.astimezone(UTC)
        # Quiet hours never cover a whole week (checked at construction), so a chain ends within
        # about a week; a DST jump may swallow the one free slot of a week, hence the margin.
        while t - start < _LONGEST_CHAIN:
            # A window covering t opened on t's local date, the day before, or (after a fall-back
            # across midnight) the day after: ``around`` holds the windows of those three days.
            latest: datetime | None = None
            for opens, closes in around(schedule, t.astimezone(zone).date()):
                if opens <= t < closes and (latest is None or closes > latest):
                    latest = closes
            if latest is None:
                return None if t == start else t
            t = latest
        return t  # pragma: no cover - only with a free slot shorter than every DST jump for weeks

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the PostgreSQL store writes)."""
        return {
            "user_id": self.user_id,
            "timezone": self.timezone,
            "choices": [[c, k, v] for (c, k), v in sorted(self.choices.items())],
            "quiet_hours": [[w.weekday, w.start.isoformat(), w.end.isoformat()] for w in self.quiet_hours],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preferences:
        """The inverse of `to_dict`.

        Raises:
            NotificationsConfigurationError: ``data`` is not what `to_dict` writes.
        """
        try:
            return cls(
                user_id=data["user_id"],
                timezone=data["timezone"],
                choices={(c, k): v for c, k, v in data["choices"]},
                quiet_hours=tuple(
                    QuietWindow(d, time.fromisoformat(s), time.fromisoformat(e))
                    for d, s, e in data["quiet_hours"]
                ),
            )
        except NotificationsConfigurationError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _Config("data", type(exc).__name__, "is not a preferences document (see to_dict)") from None


def _check_key_part(parameter: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_KEY_PART:
        shown = value if isinstance(value, str) and len(value) <= _MAX_KEY_PART else type(value).__name__
        raise _Config(parameter, shown, f"must be a name of 1-{_MAX_KEY_PART} characters")
    return value


def _check_choices(value: object) -> dict[tuple[str, str], bool]:
    if not isinstance(value, Mapping):
        raise NotificationsTypeError("choices", "a mapping of (channel, category) to bool", value)
    choices: dict[tuple[str, str], bool] = {}
    for key, choice in value.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise _Config("choices", type(key).__name__, "keys must be (channel, category)")
        channel, category = key
        _check_key_part("choices", channel)
        _check_key_part("choices", category)
        if not isinstance(choice, bool):
            raise _Config("choices", type(choice).__name__, "values must be bool")
        choices[channel, category] = choice
    return choices


def _check_quiet_hours(value: object) -> tuple[QuietWindow, ...]:
    if isinstance(value, QuietWindow) or not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise _Config("quiet_hours", value, "must be a sequence of QuietWindow values")
    quiet = tuple(value)
    if len(quiet) > _MAX_WINDOWS or not all(isinstance(w, QuietWindow) for w in quiet):
        raise _Config("quiet_hours", len(quiet), f"must hold at most {_MAX_WINDOWS} QuietWindow values")
    if _covers_the_week(quiet):
        raise _Config(
            "quiet_hours",
            len(quiet),
            "cover the whole week, so nothing but critical notifications could ever go out; "
            "opt out of channels or categories instead",
        )
    return quiet


def _covers_the_week(quiet: tuple[QuietWindow, ...]) -> bool:
    """Whether the windows leave no wall-clock time of the week free (in microseconds of the week)."""
    spans: list[tuple[int, int]] = []
    for w in quiet:
        opens = w.weekday * _DAY_US + _micros(w.start)
        length = (_micros(w.end) - _micros(w.start)) % _DAY_US or _DAY_US
        closes = opens + length
        spans.append((opens, min(closes, _WEEK_US)))
        if closes > _WEEK_US:  # Sunday night runs into Monday
            spans.append((0, closes - _WEEK_US))
    covered = 0
    for opens, closes in sorted(spans):
        if opens > covered:
            return False
        covered = max(covered, closes)
    return covered >= _WEEK_US


def _micros(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


class _Schedule:
    """A zone and its quiet windows by weekday; one object per distinct pair (see `_schedule`)."""

    __slots__ = ("around", "by_day", "zone")

    def __init__(self, zone: ZoneInfo, by_day: tuple[tuple[tuple[time, time], ...], ...]) -> None:
        self.zone = zone
        self.by_day = by_day
        # The memo's entries grow with the windows of three days: a schedule with many windows a
        # day is computed afresh each time, so the memo stays small whatever schedules users write.
        self.around: Callable[[_Schedule, date], tuple[tuple[datetime, datetime], ...]] = (
            _around_cached if max(map(len, by_day), default=0) <= _MEMO_WINDOWS_A_DAY else _around
        )


@functools.lru_cache(maxsize=1024)
def _schedule(zone: ZoneInfo, by_day: tuple[tuple[tuple[time, time], ...], ...]) -> _Schedule:
    # Equal preferences share one schedule, so the instants computed for one user serve every
    # user with the same zone and windows; the object hashes by identity, which is cheap.
    return _Schedule(zone, by_day)


def _around(schedule: _Schedule, today: date) -> tuple[tuple[datetime, datetime], ...]:
    """Where (UTC) each window opening on ``today`` or the days either side opens and closes."""
    spans: list[tuple[datetime, datetime]] = []
    zone = schedule.zone
    for day in (today - _DAY, today, today + _DAY):
        for start, end in schedule.by_day[day.weekday()]:
            opens = first_instant(day, start, zone)
            closes = first_instant(day if end > start else day + _DAY, end, zone)
            spans.append((opens, closes))
    return tuple(spans)


# A pure function of its arguments, memoised: placing wall times on the time line (first_instant,
# with its gap search) is most of a decision's cost, and a few local dates per zone serve everyone.
_around_cached: Final = functools.lru_cache(maxsize=4096)(_around)


def _lookup(choices: Mapping[tuple[str, str], bool], channel: str, category: str) -> bool | None:
    for key in ((channel, category), (channel, ANY), (ANY, category), (ANY, ANY)):
        value = choices.get(key)
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class PreferenceDefaults:
    """What applies when a user made no choice: ``(channel, category)`` → bool, with `ANY` wildcards.

    Args:
        choices: The application's defaults (marketing over SMS off, say).
        enabled: The answer when nothing matches at all.
    """

    choices: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    enabled: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", _check_choices(self.choices))
        if not isinstance(self.enabled, bool):
            raise NotificationsTypeError("enabled", "a bool", self.enabled)


class Verdict(StrEnum):
    """What to do with a notification on one channel now."""

    DELIVER = "deliver"
    HOLD = "hold"
    SUPPRESS = "suppress"

    @classmethod
    def _missing_(cls, value: object) -> Verdict:
        shown = value if isinstance(value, str) and len(value) <= 100 else type(value).__name__
        raise _Config("verdict", shown, "must be deliver, hold or suppress")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `decide`: deliver now, hold until ``release_at``, or suppress for ``reason``."""

    verdict: Verdict
    release_at: datetime | None = None
    reason: str | None = None


_DELIVER: Final = Decision(Verdict.DELIVER)
_NO_DEFAULTS: Final = PreferenceDefaults()


def decide(
    preferences: Preferences | None,
    channel: str,
    category: str,
    *,
    now: datetime,
    critical: bool = False,
    defaults: PreferenceDefaults = _NO_DEFAULTS,
) -> Decision:
    """Decide whether a notification goes out on ``channel`` now.

    An opt-out (the user's, or a default the user did not override) suppresses, critical or not.
    Otherwise a critical notification is delivered at once; others inside quiet hours are held
    until the quiet period ends.

    Args:
        preferences: The user's, or ``None`` when they have none (defaults apply, no quiet hours).
        channel: The channel's name.
        category: The notification's category.
        now: The current time, timezone-aware.
        critical: Whether to bypass quiet hours.
        defaults: The application's defaults.
    """
    if preferences is not None and not isinstance(preferences, Preferences):
        raise NotificationsTypeError("preferences", "a Preferences", preferences)
    _check_key_part("channel", channel)
    _check_key_part("category", category)
    if not isinstance(now, datetime):
        raise NotificationsTypeError("now", "a timezone-aware datetime", now)
    if now.utcoffset() is None:
        raise _Config("now", now, "must be timezone-aware")
    if not isinstance(critical, bool):
        raise NotificationsTypeError("critical", "a bool", critical)
    if not isinstance(defaults, PreferenceDefaults):
        raise NotificationsTypeError("defaults", "a PreferenceDefaults", defaults)
    explicit = _lookup(preferences.choices, channel, category) if preferences is not None else None
    if explicit is False:
        return Decision(Verdict.SUPPRESS, reason=f"opted out of {category} on {channel}")
    if explicit is None:
        default = _lookup(defaults.choices, channel, category)
        if default is False or (default is None and not defaults.enabled):
            return Decision(Verdict.SUPPRESS, reason=f"{category} on {channel} is off by default")
    if critical or preferences is None or not preferences.quiet_hours:
        return _DELIVER
    until = preferences._quiet_until(now)
    if until is None:
        return _DELIVER
    return Decision(Verdict.HOLD, release_at=until, reason="quiet hours")


class PreferenceStore(Protocol):
    """**Protocol**: where users' `Preferences` live.

    ``get`` returns ``None`` for a user who has none; ``put`` replaces a user's preferences whole;
    ``delete`` reports whether there was something to delete.
    """

    async def get(self, user_id: str) -> Preferences | None:
        """Return the user's preferences, or ``None``."""
        ...

    async def put(self, preferences: Preferences) -> None:
        """Store ``preferences``, replacing the user's previous ones."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Remove the user's preferences; ``True`` if there were any."""
        ...


class MemoryPreferenceStore:
    """A `PreferenceStore` in a dict, for one process (the embedded default)."""

    def __init__(self, preferences: Iterable[Preferences] = ()) -> None:
        given: object = preferences
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise NotificationsTypeError("preferences", "an iterable of Preferences", given)
        self._data: dict[str, Preferences] = {}
        for p in preferences:
            if not isinstance(p, Preferences):
                raise NotificationsTypeError("preferences", "a sequence of Preferences", p)
            self._data[p.user_id] = p

    async def get(self, user_id: str) -> Preferences | None:
        """Return the user's preferences, or ``None``."""
        return self._data.get(check_id("user_id", user_id))

    def get_now(self, user_id: str) -> Preferences | None:
        """`get` without awaiting (for hot loops that already hold the store)."""
        return self._data.get(check_id("user_id", user_id))

    async def put(self, preferences: Preferences) -> None:
        """Store ``preferences``."""
        if not isinstance(preferences, Preferences):
            raise NotificationsTypeError("preferences", "a Preferences", preferences)
        self._data[preferences.user_id] = preferences

    async def delete(self, user_id: str) -> bool:
        """Remove the user's preferences."""
        return self._data.pop(check_id("user_id", user_id), None) is not None
