"""`RetrySchedule`: when each delivery attempt happens."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from ._checks import number, positive_int, positive_number
from .exceptions import WebhooksConfigurationError, WebhooksTypeError

__all__ = ["DEFAULT_DELAYS", "RetrySchedule"]

# Svix's schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later.
DEFAULT_DELAYS: Final = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# More attempts than this is a schedule that never ends.
_MAX_ATTEMPTS: Final = 1000


class RetrySchedule:
    """The delays before each attempt of a delivery, with jitter.

    ``delays[0]`` is the wait before the first attempt (normally 0), ``delays[n]`` the wait after the
    n-th failed attempt; the number of attempts is ``len(delays)``. After the last one fails, the
    delivery is dead. Each delay after the first is multiplied by a random factor in
    ``[1 - jitter, 1 + jitter]`` so retries of many messages do not arrive in lockstep.

    Args:
        delays: Seconds (or timedeltas); non-negative. Defaults to `DEFAULT_DELAYS` (8 attempts over
            about 28 hours).
        jitter: The relative spread, from 0 (none) to 1.
        rng: The source of the jitter (pin it in tests); a private `random.Random` by default.

    Examples:
        >>> schedule = RetrySchedule((0, 1, 2), jitter=0)
        >>> schedule.attempts, schedule.delay_after(1), schedule.delay_after(3)
        (3, 1.0, None)
    """

    __slots__ = ("_delays", "_jitter", "_rng")

    def __init__(
        self,
        delays: Sequence[float | timedelta] = DEFAULT_DELAYS,
        *,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        given: object = delays
        if isinstance(given, str) or not isinstance(delays, Sequence) or not delays:
            raise WebhooksConfigurationError("delays", delays, "must be a non-empty sequence of seconds")
        if len(delays) > _MAX_ATTEMPTS:
            raise WebhooksConfigurationError("delays", len(delays), f"at most {_MAX_ATTEMPTS} attempts")
        converted: list[float] = []
        for index, delay in enumerate(delays):
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
            # Each delay at most 100 years, so due times never overflow a datetime.
            converted.append(positive_number(f"delays[{index}]", seconds, zero=True))
        self._delays = tuple(converted)
        self._jitter = number("jitter", jitter, low=0, high=1)
        if rng is not None and not isinstance(rng, random.Random):
            raise WebhooksTypeError("rng", "a random.Random or None", rng)
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not security

    @classmethod
    def exponential(
        cls,
        *,
        first: float = 5.0,
        factor: float = 2.0,
        attempts: int = 8,
        cap: float = 36000.0,
        jitter: float = 0.1,
    ) -> RetrySchedule:
        """Build ``0, first, first*factor, ...`` (capped at ``cap``) for ``attempts`` attempts."""
        positive_int("attempts", attempts, maximum=_MAX_ATTEMPTS)
        first = positive_number("first", first, zero=True)
        factor = number("factor", factor, low=1, high=1e6)
        cap = positive_number("cap", cap, zero=True)
        delays = [0.0]
        delay = first
        for _ in range(attempts - 1):
            delays.append(min(cap, delay))
            delay = min(cap, delay * factor)  # capped as it grows: never an overflow
        return cls(delays, jitter=jitter)

    @property
    def attempts(self) -> int:
        """How many attempts a delivery gets."""
        return len(self._delays)

    @property
    def delays(self) -> tuple[float, ...]:
        """The delays without jitter, in seconds."""
        return self._delays

    @property
    def first_delay(self) -> float:
        """The wait before the first attempt."""
        return self._delays[0]

    def delay_after(self, attempt: int) -> float | None:
        """Return the wait after failed attempt ``attempt`` (1-based); ``None`` after the last one."""
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise WebhooksConfigurationError("attempt", attempt, "must be an int")
        if attempt >= len(self._delays) or attempt < 1:
            return None
        base = self._delays[attempt]
        if not self._jitter or not base:
            return base
        return base * self._rng.uniform(1 - self._jitter, 1 + self._jitter)

    def __repr__(self) -> str:
        return f"RetrySchedule(delays={self._delays}, jitter={self._jitter})"
