"""The ready-made middleware: logging, retries for declared transient errors, timeouts, telemetry."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from buttress.core import check_count, check_seconds

from ._dispatch import Dispatch
from ._metrics import DISPATCH_DURATION, RETRIES, TELEMETRY
from ._middleware import Next
from .exceptions import CQRSConfigurationError, CQRSTypeError, DispatchTimeoutError

__all__ = ["LoggingMiddleware", "RetryMiddleware", "TelemetryMiddleware", "TimeoutMiddleware"]

logger = logging.getLogger(__name__)

_VERB = {"command": "send", "query": "ask"}


class LoggingMiddleware:
    """Logs each dispatch: its message type, how long it took and, on failure, the error's type.

    Message contents are never logged (they may hold personal data); only type names are.

    Args:
        logger: Where to log (this module's logger by default).
        level: The level of the line for a success; a failure is logged at WARNING.
    """

    __slots__ = ("_level", "_logger")

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        if logger is not None and not isinstance(logger, logging.Logger):
            raise CQRSTypeError("logger", "a logging.Logger or None", logger)
        if isinstance(level, bool) or not isinstance(level, int):
            raise CQRSTypeError("level", "an int logging level", level)
        self._logger = logger if logger is not None else logging.getLogger(__name__)
        self._level = level

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        log = self._logger
        if not log.isEnabledFor(self._level):  # only failures are logged: no clock reads
            try:
                return await call_next(dispatch)
            except Exception as exc:
                name, failed = type(dispatch.message).__qualname__, type(exc).__qualname__
                log.warning("%s %s failed: %s", dispatch.kind, name, failed)
                raise
        name = type(dispatch.message).__qualname__
        start = time.perf_counter()
        try:
            result = await call_next(dispatch)
        except Exception as exc:
            elapsed = (time.perf_counter() - start) * 1000
            failed = type(exc).__qualname__
            log.warning("%s %s failed after %.3f ms: %s", dispatch.kind, name, elapsed, failed)
            raise
        elapsed = (time.perf_counter() - start) * 1000
        log.log(self._level, "%s %s handled in %.3f ms", dispatch.kind, name, elapsed)
        return result


def _check_transient(transient: object) -> tuple[type[Exception], ...]:
    kinds = transient if isinstance(transient, tuple) else (transient,)
    if not kinds or not all(isinstance(k, type) and issubclass(k, Exception) for k in kinds):
        raise CQRSTypeError("transient", "an Exception class or a tuple of them", transient)
    return kinds


class RetryMiddleware:
    """Runs the rest of the onion again when it raises one of the declared transient errors.

    Between attempts it waits ``delay``, doubling each time up to ``max_delay``, times a random
    factor from 0.5 to 1 when ``jitter`` is on. The events recorded by a failed attempt are dropped,
    so only the attempt that succeeded publishes. Put it outside `TransactionMiddleware`, so each
    attempt gets a new unit of work. An error that is not declared transient is raised at once.

    Args:
        transient: The exception class, or tuple of classes, worth another attempt.
        attempts: How many attempts in all (at least 1).
        delay: The first wait, in seconds (0 for none).
        max_delay: The longest wait.
        jitter: Whether to scale each wait by a random factor in [0.5, 1].
        random: The source of that factor (``random.random`` by default), for tests to pin.
    """

    __slots__ = ("_attempts", "_delay", "_jitter", "_max_delay", "_random", "_transient")

    def __init__(
        self,
        transient: type[Exception] | tuple[type[Exception], ...],
        *,
        attempts: int = 3,
        delay: float = 0.05,
        max_delay: float = 2.0,
        jitter: bool = True,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._transient = _check_transient(transient)
        self._attempts = check_count(
            "attempts", attempts, minimum=1, maximum=100, error=CQRSConfigurationError
        )
        self._delay = check_seconds("delay", delay, allow_zero=True, error=CQRSConfigurationError)
        self._max_delay = check_seconds("max_delay", max_delay, allow_zero=True, error=CQRSConfigurationError)
        if jitter is not True and jitter is not False:
            raise CQRSTypeError("jitter", "a bool", jitter)
        if not callable(random):
            raise CQRSTypeError("random", "a callable returning a float in [0, 1)", random)
        self._jitter = jitter
        self._random = random

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        mark = len(dispatch.events)
        for attempt in range(1, self._attempts + 1):
            try:
                return await call_next(dispatch)
            except self._transient:
                dispatch.drop_events(mark)
                if attempt == self._attempts:
                    raise
            RETRIES.add(1, {"cqrs.message": type(dispatch.message).__qualname__})
            wait = min(self._max_delay, self._delay * 2 ** (attempt - 1))
            if self._jitter:
                wait *= 0.5 + self._random() / 2
            if wait > 0:
                await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


class TimeoutMiddleware:
    """Cancels the rest of the onion when it runs longer than ``seconds``.

    Args:
        seconds: The limit for everything inside this layer.

    Raises:
        DispatchTimeoutError: (from a dispatch) the limit passed; an enclosing
            `TransactionMiddleware` rolls back, since the error passes through it.
    """

    __slots__ = ("_seconds",)

    def __init__(self, seconds: float) -> None:
        self._seconds = check_seconds("seconds", seconds, error=CQRSConfigurationError)

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        timeout = asyncio.timeout(self._seconds)
        try:
            async with timeout:
                return await call_next(dispatch)
        except TimeoutError:
            if timeout.expired():
                raise DispatchTimeoutError(type(dispatch.message), self._seconds) from None
            raise


class TelemetryMiddleware:
    """Runs each dispatch in an OpenTelemetry span and records its duration.

    The span is ``"send <Command>"`` or ``"ask <Query>"`` with attributes ``cqrs.kind`` and
    ``cqrs.message``; the histogram ``buttress.cqrs.dispatch.duration`` adds ``error.type`` on
    failure. Both go through core's `Telemetry`: without ``opentelemetry-api`` they cost a flag check.
    """

    __slots__ = ("_labels",)

    def __init__(self) -> None:
        # Per message type: the span's name and the attributes, made once rather than per dispatch.
        self._labels: dict[type, tuple[str, dict[str, str]]] = {}

    def _label(self, dispatch: Dispatch) -> tuple[str, dict[str, str]]:
        message_type = type(dispatch.message)
        label = self._labels.get(message_type)
        if label is None:
            name = message_type.__qualname__
            attributes = {"cqrs.kind": dispatch.kind, "cqrs.message": name}
            label = self._labels[message_type] = (f"{_VERB[dispatch.kind]} {name}", attributes)
        return label

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        span, attributes = self._label(dispatch)
        start = time.perf_counter()
        try:
            with TELEMETRY.span(span, attributes):
                result = await call_next(dispatch)
        except BaseException as exc:
            DISPATCH_DURATION.record(
                time.perf_counter() - start, {**attributes, "error.type": type(exc).__qualname__}
            )
            raise
        DISPATCH_DURATION.record(time.perf_counter() - start, attributes)
        return result
