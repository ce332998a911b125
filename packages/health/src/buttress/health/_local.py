"""Ready-made checks that need no extra: disk space, and adapters for the suite's own objects.

The adapters read their objects structurally, so buttress-health imports no sibling package: a
buttress-pooling ``Pool`` (``stats()``), a buttress-caching ``Cache`` or any object with a circuit
breaker (``breaker_state``), and a buttress-webhooks or buttress-notifications outbox
(``counts()``) all fit, and so does your own object with the same members.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Mapping
from typing import Final, Protocol

from buttress.core import check_count, check_text

from ._status import CheckResult, Status
from .exceptions import HealthConfigurationError, HealthTypeError

__all__ = ["BacklogCheck", "BreakerCheck", "DiskSpaceCheck", "PoolCheck"]

MAX_PATH: Final = 4_096


def _fraction(parameter: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HealthTypeError(parameter, "a number from 0 to 1", value)
    if not 0 <= value <= 1:  # NaN fails too
        raise HealthConfigurationError(parameter, value, "must be a fraction from 0 to 1")
    return float(value)


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole > 0 else 0.0


class DiskSpaceCheck:
    """Warns, then fails, as the file system holding ``path`` fills up.

    Reported as the disk's utilization in percent (``disk:utilization``, a ``system`` component).
    The file system is asked in a worker thread, so a hung mount times out like any check.

    Args:
        path: A file or directory on the file system to watch.
        warn_below: Warn when the free fraction falls below this (0.10: 10 % free).
        fail_below: Fail when it falls below this (0.05).

    Raises:
        HealthConfigurationError: ``path`` is empty or holds NUL, or a fraction outside 0-1, or
            ``fail_below`` above ``warn_below``.
        HealthTypeError: An argument of the wrong type.
    """

    __slots__ = ("fail_below", "path", "warn_below")

    def __init__(
        self, path: str | os.PathLike[str] = ".", *, warn_below: float = 0.10, fail_below: float = 0.05
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise HealthTypeError("path", "a str or a path", path)
        text = os.fspath(path)
        if not isinstance(text, str):
            raise HealthTypeError("path", "a str or a path", text)
        self.path = check_text(
            "path", text, max_bytes=MAX_PATH, error=HealthConfigurationError, type_error=HealthTypeError
        )
        self.warn_below = _fraction("warn_below", warn_below)
        self.fail_below = _fraction("fail_below", fail_below)
        if self.fail_below > self.warn_below:
            raise HealthConfigurationError(
                "fail_below", fail_below, f"must not exceed warn_below ({self.warn_below:g})"
            )

    async def check(self) -> CheckResult:
        """Measure the file system's free space."""
        usage = await asyncio.to_thread(shutil.disk_usage, self.path)
        free = usage.free / usage.total if usage.total else 0.0
        used = _percent(usage.total - usage.free, usage.total)
        if free < self.fail_below:
            status, output = Status.FAIL, f"{used:g} % used, under {self.fail_below:.0%} free"
        elif free < self.warn_below:
            status, output = Status.WARN, f"{used:g} % used, under {self.warn_below:.0%} free"
        else:
            status, output = Status.PASS, None
        return CheckResult(
            status, observed_value=used, observed_unit="percent", output=output, component_type="system"
        )

    def __repr__(self) -> str:
        return (
            f"DiskSpaceCheck({self.path!r}, warn_below={self.warn_below:g}, fail_below={self.fail_below:g})"
        )


class _PoolStats(Protocol):
    @property
    def in_use(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def waiting(self) -> int: ...


class PoolStatsSource(Protocol):
    """**Protocol**: a pool that reports its sizes (buttress-pooling's ``Pool`` is one).

    Methods:
        stats: A snapshot with ``in_use``, ``max_size`` and ``waiting`` (callers waiting for a
            resource), as ints.
    """

    def stats(self) -> _PoolStats:
        """A snapshot of the pool's sizes."""
        ...


def _count(stats: object, name: str) -> int:
    value = getattr(stats, name, None)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HealthTypeError(f"stats().{name}", "an int", value)
    return value


class PoolCheck:
    """Warns when a pool runs out of room: too many resources in use, or callers waiting.

    Reported as the pool's utilization (in use over its maximum) in percent. A pool is ours, not a
    downstream server, so the check may sit in any group.

    Args:
        source: A pool with ``stats()`` (`PoolStatsSource`), such as a buttress-pooling ``Pool``.
        warn_at: Warn at this utilization (0.9).
        fail_at: Fail at this utilization (``None``: never fail, only warn).
        warn_when_waiting: Warn whenever a caller is waiting for a resource.

    Raises:
        HealthTypeError: ``source`` has no ``stats()``, or an argument of the wrong type.
        HealthConfigurationError: A fraction outside 0-1.
    """

    __slots__ = ("fail_at", "source", "warn_at", "warn_when_waiting")

    def __init__(
        self,
        source: PoolStatsSource,
        *,
        warn_at: float = 0.9,
        fail_at: float | None = None,
        warn_when_waiting: bool = True,
    ) -> None:
        if not callable(getattr(source, "stats", None)):
            raise HealthTypeError("source", "a pool with stats()", source)
        if not isinstance(warn_when_waiting, bool):
            raise HealthTypeError("warn_when_waiting", "a bool", warn_when_waiting)
        self.source = source
        self.warn_at = _fraction("warn_at", warn_at)
        self.fail_at = None if fail_at is None else _fraction("fail_at", fail_at)
        self.warn_when_waiting = warn_when_waiting

    async def check(self) -> CheckResult:
        """Read the pool's stats."""
        stats = self.source.stats()
        in_use, size, waiting = _count(stats, "in_use"), _count(stats, "max_size"), _count(stats, "waiting")
        used = in_use / size if size > 0 else 1.0
        value = _percent(in_use, size)
        if self.fail_at is not None and used >= self.fail_at:
            status, output = Status.FAIL, f"{in_use} of {size} in use"
        elif used >= self.warn_at:
            status, output = Status.WARN, f"{in_use} of {size} in use"
        elif waiting and self.warn_when_waiting:
            status, output = Status.WARN, f"{waiting} caller(s) waiting"
        else:
            status, output = Status.PASS, None
        return CheckResult(
            status, observed_value=value, observed_unit="percent", output=output, component_type="component"
        )


class BreakerSource(Protocol):
    """**Protocol**: an object with a circuit breaker (a buttress-caching ``Cache`` has one).

    Attributes:
        breaker_state: ``"closed"``, ``"half_open"`` or ``"open"``, or an enum whose value is one.
    """

    @property
    def breaker_state(self) -> object:
        """The breaker's state."""
        ...


_BREAKER: Final = {"closed": Status.PASS, "half_open": Status.WARN, "open": Status.FAIL}


class BreakerCheck:
    """Reports a circuit breaker: closed passes, half-open warns (probing), open fails.

    An open breaker means the object is serving its fallback (a cache answers misses): register the
    check with ``critical=False`` when the service works on without it, so it only warns.

    Args:
        source: An object with ``breaker_state`` (`BreakerSource`).

    Raises:
        HealthTypeError: ``source`` has no ``breaker_state``.
    """

    __slots__ = ("source",)

    def __init__(self, source: BreakerSource) -> None:
        if not hasattr(source, "breaker_state"):
            raise HealthTypeError("source", "an object with breaker_state", source)
        self.source = source

    async def check(self) -> CheckResult:
        """Read the breaker's state."""
        state = self.source.breaker_state
        name = str(getattr(state, "value", state)).lower()
        status = _BREAKER.get(name)
        if status is None:
            return CheckResult(
                Status.FAIL, output=f"unknown breaker state {name[:40]!r}", component_type="component"
            )
        output = None if status is Status.PASS else f"circuit breaker {name}"
        return CheckResult(status, observed_value=name, output=output, component_type="component")


class BacklogSource(Protocol):
    """**Protocol**: a queue that counts its items by state (the suite's outboxes do).

    Methods:
        counts: How many items are in each state, keyed by the state or its name (``"pending"``).
    """

    def counts(self) -> Awaitable[Mapping[object, int]]:
        """How many items are in each state."""
        ...


class BacklogCheck:
    """Warns, then fails, as a queue's backlog grows (an outbox whose worker fell behind or died).

    Reported as the number of items waiting (``observedUnit`` ``{item}``).

    Args:
        source: An object with ``async counts()`` (`BacklogSource`): a buttress-webhooks or
            buttress-notifications outbox.
        warn_above: Warn when more items than this wait.
        fail_above: Fail when more than this wait (``None``: never fail).
        states: The states that count as waiting (``"pending"``).

    Raises:
        HealthTypeError: ``source`` has no ``counts()``, or an argument of the wrong type.
        HealthConfigurationError: A negative threshold, ``fail_above`` below ``warn_above``, or
            no state.
    """

    __slots__ = ("fail_above", "source", "states", "warn_above")

    def __init__(
        self,
        source: BacklogSource,
        *,
        warn_above: int = 1_000,
        fail_above: int | None = None,
        states: tuple[str, ...] = ("pending",),
    ) -> None:
        if not callable(getattr(source, "counts", None)):
            raise HealthTypeError("source", "a queue with counts()", source)
        self.source = source
        self.warn_above = check_count("warn_above", warn_above, error=HealthConfigurationError)
        self.fail_above = (
            None
            if fail_above is None
            else check_count(
                "fail_above", fail_above, minimum=self.warn_above, error=HealthConfigurationError
            )
        )
        if not isinstance(states, tuple) or not states:
            raise HealthTypeError("states", "a non-empty tuple of str", states)
        self.states = frozenset(
            check_text("states", s, max_bytes=64, error=HealthConfigurationError, type_error=HealthTypeError)
            for s in states
        )

    async def check(self) -> CheckResult:
        """Count the waiting items."""
        counts = await self.source.counts()
        if not isinstance(counts, Mapping):
            raise HealthTypeError("counts()", "a mapping of state to count", counts)
        waiting = sum(n for state, n in counts.items() if str(getattr(state, "value", state)) in self.states)
        if self.fail_above is not None and waiting > self.fail_above:
            status, output = Status.FAIL, f"{waiting} items waiting"
        elif waiting > self.warn_above:
            status, output = Status.WARN, f"{waiting} items waiting"
        else:
            status, output = Status.PASS, None
        return CheckResult(
            status, observed_value=waiting, observed_unit="{item}", output=output, component_type="component"
        )
