"""`DigestRule`: batch a category's notifications per recipient over a window or a daily local schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from ._model import check_id, check_instant, check_name
from ._wallclock import first_instant
from .exceptions import NotificationsConfigurationError, NotificationsTypeError

__all__ = ["DigestRule"]

_MIN_WINDOW: Final = timedelta(seconds=1)
_MAX_WINDOW: Final = timedelta(days=366)
_EPOCH: Final = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday, so weekly windows start on Mondays


@dataclass(frozen=True, slots=True)
class DigestRule:
    """Collect notifications of a category into one message per recipient, channel and window.

    Give exactly one of ``window`` (fixed UTC-aligned windows: every 15 minutes, every hour) or
    ``at`` (daily at this local wall time in the recipient's time zone, e.g. 08:00). A digest is sent
    when its window closes, then held further if the recipient is in quiet hours.

    Args:
        key: Names the digest (part of the group); several categories may share one key.
        template: The registered template rendering a `DigestContext`.
        window: The window length.
        at: The daily local send time.
    """

    key: str
    template: str
    window: timedelta | None = None
    at: time | None = None

    def __post_init__(self) -> None:
        check_name("key", self.key)
        check_name("template", self.template)
        if (self.window is None) == (self.at is None):
            raise NotificationsConfigurationError("window", self.window, "give exactly one of window and at")
        if self.window is not None and (
            not isinstance(self.window, timedelta) or not _MIN_WINDOW <= self.window <= _MAX_WINDOW
        ):
            raise NotificationsConfigurationError(
                "window", self.window, "must be a timedelta from 1 second to 366 days"
            )
        if self.at is not None and (not isinstance(self.at, time) or self.at.tzinfo is not None):
            raise NotificationsConfigurationError(
                "at", self.at, "must be a naive datetime.time (local wall time)"
            )

    def closes_at(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The end (UTC) of the window that ``now`` falls in: the next boundary strictly after ``now``."""
        check_instant("now", now)
        if not isinstance(zone, ZoneInfo):
            raise NotificationsTypeError("zone", "a ZoneInfo", zone)
        now = now.astimezone(UTC)
        if self.window is not None:
            windows = (now - _EPOCH) // self.window
            return _EPOCH + (windows + 1) * self.window
        at = self.at or time(0)
        day = now.astimezone(zone).date()
        # The first instant the clock shows ``at`` or later: a skipped time is the jump, a repeated
        # one its first occurrence, so a fall-back day still has one digest.
        for offset in range(3):
            candidate = first_instant(day + timedelta(days=offset), at, zone)
            if candidate > now:
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover

    def group(self, recipient_id: str, channel: str, closes_at: datetime) -> str:
        """The group id shared by every notification of one digest."""
        check_id("recipient_id", recipient_id)
        check_name("channel", channel)
        check_instant("closes_at", closes_at)
        return f"{self.key}|{channel}|{closes_at.astimezone(UTC).isoformat()}|{recipient_id}"
