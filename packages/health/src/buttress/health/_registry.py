"""`HealthRegistry`: the checks, their timeouts, criticality, groups and cache, and one run shared by all.

A probe asks the registry to run a group. Every check of the group runs at once, each in its own
task under its own timeout, so a slow check fails alone while the others answer; a check that
raises is a failed check, never an error of the probe. A check whose run is already in flight is
joined, not started again, so concurrent probes share one run; a result younger than the check's
``cache_ttl`` is reused without running it at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Final, Protocol

from buttress.core import AsyncResource, Clock, SystemClock, check_seconds, check_text

from ._metrics import CHECK_DURATION, STATUS_CHANGES, track_statuses
from ._status import CheckReport, CheckResult, HealthReport, Status, aggregate, shorten
from .exceptions import HealthConfigurationError, HealthTypeError, RegistryClosedError

__all__ = [
    "DEFAULT_TIMEOUT",
    "GROUPS",
    "FunctionCheck",
    "HealthCheck",
    "HealthRegistry",
    "StatusChange",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds a check may take before it counts as failed."""

GROUPS: Final = ("live", "ready", "startup")
"""The groups the probes run: liveness, readiness and startup."""

MAX_CHECKS: Final = 1_000
_PART: Final = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
_NAME: Final = re.compile(rf"{_PART}(?::{_PART})?")
_GROUP: Final = re.compile(r"[a-z][a-z0-9_\-]{0,31}")


class HealthCheck(Protocol):
    """**Protocol**: one dependency or resource to check.

    Implement one coroutine method. `buttress.testing.HealthCheckContract` checks an implementation
    against what is documented here.

    Methods:
        check: Measure once and say how it went. Raising is allowed and means ``fail`` (the
            registry keeps the error's type and message as the output); so is taking too long
            (the registry cancels the run at the check's timeout, so the method must be
            cancellable: no blocking calls on the event loop). It must not cache: the registry
            does that, per its ``cache_ttl``.

    A check that talks to a server another process runs (a database, a cache, an HTTP service) sets
    ``downstream = True`` as a class attribute, and the registry refuses to put it in the ``live``
    group: a liveness probe that depends on a database restarts every pod when the database blips.
    """

    async def check(self) -> CheckResult:
        """Measure once; return pass, warn or fail with what was observed."""
        ...


class FunctionCheck:
    """A check made from a coroutine function, for the checks that are one line.

    The function may return a `CheckResult`, ``True``/``None`` (pass) or ``False`` (fail), or raise
    (fail).

    Args:
        function: A coroutine function taking no argument.
        downstream: Whether it talks to another process's server (keeps it out of ``live``).

    Raises:
        HealthTypeError: ``function`` is not a coroutine function.

    Examples:
        >>> async def queue_is_short() -> bool:
        ...     return True
        >>> check = FunctionCheck(queue_is_short)
    """

    __slots__ = ("_function", "downstream")

    def __init__(
        self, function: Callable[[], Awaitable[CheckResult | bool | None]], *, downstream: bool = False
    ) -> None:
        if not inspect.iscoroutinefunction(function) and not inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 - an object whose __call__ is async
        ):
            raise HealthTypeError("function", "a coroutine function", function)
        if not isinstance(downstream, bool):
            raise HealthTypeError("downstream", "a bool", downstream)
        self._function = function
        self.downstream = downstream

    async def check(self) -> CheckResult:
        """Call the function and turn its answer into a `CheckResult`."""
        answer = await self._function()
        if isinstance(answer, CheckResult):
            return answer
        if answer is None or answer is True:
            return CheckResult(Status.PASS)
        if answer is False:
            return CheckResult(Status.FAIL, output="the check returned False")
        raise HealthTypeError("the check's answer", "a CheckResult, a bool or None", answer)

    def __repr__(self) -> str:
        function = getattr(self, "_function", None)
        return f"FunctionCheck({getattr(function, '__qualname__', function)!r})"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A check's status changed (or was measured for the first time, when ``previous`` is ``None``).

    Attributes:
        check: The check's name.
        previous: Its status before, or ``None`` on its first run.
        current: Its status now.
        report: The run that changed it.
    """

    check: str
    previous: Status | None
    current: Status
    report: CheckReport


type Listener = Callable[[StatusChange], object]


class _Entry:
    """One registered check, its settings, its last result and its run in flight."""

    __slots__ = ("cache_ttl", "check", "critical", "groups", "last", "name", "running", "stamp", "timeout")

    def __init__(  # noqa: PLR0917 - private; built from add()'s checked arguments
        self,
        name: str,
        check: HealthCheck,
        timeout: float,
        critical: bool,
        groups: frozenset[str],
        cache_ttl: float,
    ) -> None:
        self.name = name
        self.check = check
        self.timeout = timeout
        self.critical = critical
        self.groups = groups
        self.cache_ttl = cache_ttl
        self.last: CheckReport | None = None
        self.stamp = 0.0  # clock.monotonic() when `last` was measured
        self.running: asyncio.Task[CheckReport] | None = None


def _check_groups(groups: object) -> frozenset[str]:
    if isinstance(groups, str) or not isinstance(groups, Collection):
        raise HealthTypeError("groups", "a collection of str", groups)
    found: set[str] = set()
    for group in groups:
        text = check_text(
            "groups", group, max_bytes=32, error=HealthConfigurationError, type_error=HealthTypeError
        )
        if not _GROUP.fullmatch(text):
            raise HealthConfigurationError(
                "groups", group, "each must be lower-case letters, digits, _ or -, up to 32"
            )
        found.add(text)
    if not found:
        raise HealthConfigurationError(
            "groups", groups, "must name at least one group ('live', 'ready', 'startup')"
        )
    return frozenset(found)


def _check_flag(parameter: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise HealthTypeError(parameter, "a bool", value)
    return value


def check_group(group: object) -> str:
    """``group`` if it is a group name (lower-case letters, digits, ``_`` or ``-``, up to 32)."""
    text = check_text(
        "group", group, max_bytes=32, error=HealthConfigurationError, type_error=HealthTypeError
    )
    if not _GROUP.fullmatch(text):
        raise HealthConfigurationError("group", group, "must be lower-case letters, digits, _ or -, up to 32")
    return text


class HealthRegistry(AsyncResource):
    """The application's checks, run by group for the probes.

    Args:
        timeout: The default timeout of a check, in seconds (5 s).
        cache_ttl: The default time a check's result is reused, in seconds (0: every probe runs
            the check, though concurrent probes share one run).
        clock: Where the cache's time and the reports' timestamps come from.

    Raises:
        HealthConfigurationError: A timeout or TTL out of range.
        HealthTypeError: A clock that is not a `buttress.core.Clock`.

    Examples:
        >>> registry = HealthRegistry()
        >>> async def queue_ok() -> bool:
        ...     return True
        >>> registry.add("queue", FunctionCheck(queue_ok), critical=False)
    """

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, cache_ttl: float = 0.0, clock: Clock | None = None
    ) -> None:
        super().__init__()
        self.timeout = check_seconds("timeout", timeout, error=HealthConfigurationError)
        self.cache_ttl = check_seconds(
            "cache_ttl", cache_ttl, allow_zero=True, error=HealthConfigurationError
        )
        if clock is not None and not isinstance(clock, Clock):
            raise HealthTypeError("clock", "a buttress.core.Clock", clock)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._entries: dict[str, _Entry] = {}
        self._listeners: list[Listener] = []
        self._draining: str | None = None
        track_statuses(self)

    # --- registration ------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        check: HealthCheck,
        *,
        timeout: float | None = None,
        critical: bool = True,
        groups: Collection[str] = ("ready",),
        cache_ttl: float | None = None,
    ) -> None:
        """Register ``check`` under ``name``.

        Args:
            name: The key it is reported under: ``component`` or ``component:measurement``
                (``"postgresql:responseTime"``), letters, digits, ``_``, ``.`` or ``-``.
            check: A `HealthCheck`.
            timeout: Seconds before the run counts as failed (the registry's default when ``None``).
            critical: Whether its failure fails the probe; when ``False`` it only warns.
            groups: The probes (and your own groups) it belongs to: ``"ready"`` by default;
                ``"live"`` only for in-process checks; ``"startup"`` for what must hold once.
            cache_ttl: Seconds its result is reused (the registry's default when ``None``).

        Raises:
            HealthConfigurationError: A malformed or taken name, a bad timeout, TTL or group, a
                downstream check in ``live``, or more than 1,000 checks.
            HealthTypeError: ``check`` has no ``check()`` coroutine method, or a flag is not a bool.
        """
        text = check_text(
            "name", name, max_bytes=129, error=HealthConfigurationError, type_error=HealthTypeError
        )
        if not _NAME.fullmatch(text):
            raise HealthConfigurationError(
                "name", name, "must be 'component' or 'component:measurement' in letters, digits, _ . or -"
            )
        if not inspect.iscoroutinefunction(getattr(check, "check", None)):
            raise HealthTypeError("check", "a HealthCheck (an object with an async check() method)", check)
        seconds = (
            self.timeout
            if timeout is None
            else check_seconds("timeout", timeout, error=HealthConfigurationError)
        )
        ttl = (
            self.cache_ttl
            if cache_ttl is None
            else check_seconds("cache_ttl", cache_ttl, allow_zero=True, error=HealthConfigurationError)
        )
        members = _check_groups(groups)
        _check_flag("critical", critical)
        if "live" in members and getattr(check, "downstream", False) is True:
            raise HealthConfigurationError(
                "groups",
                sorted(members),
                f"{text} checks a server of another process: liveness must not depend on it "
                "(a blip would restart every instance); put it in 'ready'",
            )
        if text in self._entries:
            raise HealthConfigurationError("name", text, "is registered already; remove() it first")
        if len(self._entries) >= MAX_CHECKS:
            raise HealthConfigurationError("name", text, f"a registry holds at most {MAX_CHECKS} checks")
        self._entries[text] = _Entry(text, check, seconds, critical, members, ttl)

    def remove(self, name: str) -> bool:
        """Unregister the check ``name``; return whether it was registered."""
        check_text("name", name, max_bytes=129, error=HealthConfigurationError, type_error=HealthTypeError)
        entry = self._entries.pop(name, None)
        return entry is not None

    @property
    def names(self) -> tuple[str, ...]:
        """The registered checks' names, in registration order."""
        return tuple(self._entries)

    def groups(self) -> frozenset[str]:
        """Every group a registered check belongs to, and the three probes'."""
        return frozenset(GROUPS).union(*(entry.groups for entry in self._entries.values()))

    def statuses(self) -> list[tuple[str, Status]]:
        """Each check's last measured status (checks never run are left out)."""
        return [(e.name, e.last.status) for e in self._entries.values() if e.last is not None]

    # --- events --------------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` each time a check's status changes; return the unsubscriber.

        Listeners run in the check's task, so they must be quick; one that raises is logged and
        kept.

        Raises:
            HealthTypeError: ``listener`` is not callable.
        """
        if not callable(listener):
            raise HealthTypeError("listener", "a callable", listener)
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    # --- draining ------------------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        """Whether `drain` was called: every probe but liveness fails from then on."""
        return self._draining is not None

    def drain(self, reason: str = "shutting down") -> None:
        """Fail every probe but liveness from now on, without running checks (at shutdown).

        Raises:
            HealthConfigurationError: ``reason`` is not text of at most 200 bytes.
        """
        self._draining = check_text(
            "reason", reason, max_bytes=200, error=HealthConfigurationError, type_error=HealthTypeError
        )

    # --- running -------------------------------------------------------------------------------------

    async def run(self, group: str = "ready") -> HealthReport:
        """Run the checks of ``group`` concurrently and report.

        Never raises for a check's sake: a timeout or an exception is a failed check.

        Raises:
            HealthConfigurationError: ``group`` is not a group name.
            RegistryClosedError: The registry was closed.
        """
        name = check_group(group)
        if self.closed:
            raise RegistryClosedError
        if self._draining is not None and name != "live":
            return HealthReport(name, Status.FAIL, output=self._draining)
        entries = [entry for entry in self._entries.values() if name in entry.groups]
        reports = tuple(await asyncio.gather(*(self._report(entry) for entry in entries)))
        return HealthReport(name, aggregate((r.status, r.critical) for r in reports), reports)

    async def live(self) -> HealthReport:
        """Run the ``live`` group (in-process checks only)."""
        return await self.run("live")

    async def ready(self) -> HealthReport:
        """Run the ``ready`` group."""
        return await self.run("ready")

    async def startup(self) -> HealthReport:
        """Run the ``startup`` group."""
        return await self.run("startup")

    async def _report(self, entry: _Entry) -> CheckReport:
        last = entry.last
        if (
            last is not None
            and entry.cache_ttl > 0
            and self._clock.monotonic() - entry.stamp < entry.cache_ttl
        ):
            return last if last.cached else _as_cached(last)
        if entry.running is None:
            task = asyncio.get_running_loop().create_task(
                self._measure(entry), name=f"health check {entry.name}"
            )
            entry.running = task
            task.add_done_callback(functools.partial(_forget, entry))
        # Shielded: a probe whose client went away leaves the run to the others who joined it.
        return await asyncio.shield(entry.running)

    async def _measure(self, entry: _Entry) -> CheckReport:
        started = time.perf_counter()
        result = await _run_check(entry)
        duration = time.perf_counter() - started
        report = CheckReport(entry.name, result, entry.critical, self._clock.now(), duration)
        previous = entry.last.status if entry.last is not None else None
        entry.last = report
        entry.stamp = self._clock.monotonic()
        CHECK_DURATION.record(duration, {"health.check": entry.name, "health.status": result.status.value})
        if previous is not result.status:
            self._changed(StatusChange(entry.name, previous, result.status, report))
        return report

    def _changed(self, change: StatusChange) -> None:
        STATUS_CHANGES.add(1, {"health.check": change.check, "health.status": change.current.value})
        if change.previous is not None or change.current is not Status.PASS:
            level = logging.INFO if change.current is Status.PASS else logging.WARNING
            logger.log(
                level,
                "health check %s: %s -> %s",
                change.check,
                change.previous.value if change.previous else "unknown",
                change.current.value,
            )
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                logger.warning("a health status listener failed", exc_info=True)

    async def _aclose(self) -> None:
        running = [entry.running for entry in self._entries.values() if entry.running is not None]
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __repr__(self) -> str:
        return f"HealthRegistry(checks={list(self._entries)!r})"


def _as_cached(report: CheckReport) -> CheckReport:
    return CheckReport(report.name, report.result, report.critical, report.time, report.duration, cached=True)


def _forget(entry: _Entry, done: asyncio.Task[CheckReport]) -> None:
    if entry.running is done:
        entry.running = None
    if not done.cancelled():
        done.exception()  # retrieved, so a cancelled probe's run never logs "never retrieved"


async def _run_check(entry: _Entry) -> CheckResult:
    """Run the check under its timeout; a timeout, an exception or a wrong answer is a failure."""
    timer = asyncio.timeout(entry.timeout)
    try:
        async with timer:
            answer: object = await entry.check.check()
    except TimeoutError:
        if timer.expired():
            return CheckResult(Status.FAIL, output=f"timed out after {entry.timeout:g} s")
        return CheckResult(Status.FAIL, output=_describe(TimeoutError()))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the registry is closing
        return CheckResult(Status.FAIL, output="the check was cancelled")
    except Exception as exc:  # noqa: BLE001 - any failure of a check is a failed check
        return CheckResult(Status.FAIL, output=_describe(exc))
    if not isinstance(answer, CheckResult):
        return CheckResult(
            Status.FAIL, output=f"the check returned a {type(answer).__name__}, not a CheckResult"
        )
    return answer


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a foreign __str__ that raises
        message = ""
    return shorten(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
