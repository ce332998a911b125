"""`FallbackSearch` and its `CircuitBreaker`: answer from a fallback when the primary fails or is slow."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Iterable

from buttress.core import Clock, SystemClock

from ._filters import check_int, check_seconds
from ._metrics import BREAKER_REJECTIONS, BREAKER_TRANSITIONS, FALLBACK_ANSWERS
from ._query import SearchQuery
from ._types import DatabaseFallback, SearchProvider, SearchResult
from .exceptions import SearchConfigurationError, SearchTypeError, SearchUnavailableError

__all__ = ["BreakerState", "CircuitBreaker", "FallbackSearch"]

logger = logging.getLogger(__name__)

# A backend that is down or slow: `SearchUnavailableError` (a ConnectionError), any other
# ConnectionError or OSError a provider's driver raises, and timeouts. Only these fall back and count
# against the breaker; anything else (the caller's bad query above all) is raised as it is.
_BACKEND_FAILURES = (OSError,)


class BreakerState(enum.StrEnum):
    """Where a `CircuitBreaker` is."""

    CLOSED = "closed"
    """Calls go to the primary; consecutive failures are counted."""
    OPEN = "open"
    """Calls skip the primary until ``reset_timeout`` has passed since it opened."""
    HALF_OPEN = "half_open"
    """One probe call may try the primary; its outcome closes or re-opens the breaker."""

    @classmethod
    def _missing_(cls, value: object) -> BreakerState:
        # BreakerState("bogus") raises the package's error (still a ValueError), not Enum's bare one.
        raise SearchConfigurationError(
            "state", value, f"must be one of {', '.join(repr(s.value) for s in cls)}"
        )


class CircuitBreaker:
    """Stops calling a failing primary for a while, then lets one probe through.

    Closed: calls pass; ``failure_threshold`` consecutive failures open it. Open: calls are refused
    until ``reset_timeout`` seconds (by ``clock.monotonic()``) have passed, then it is half-open.
    Half-open: exactly one call (the probe) is allowed at a time; a success closes the breaker, a
    failure opens it again for another ``reset_timeout``.

    Args:
        failure_threshold: Consecutive failures that open the breaker (>= 1).
        reset_timeout: Seconds the breaker stays open before a probe (> 0).
        clock: Where the time comes from (a `buttress.testing.FakeClock` in tests).
    """

    def __init__(
        self, *, failure_threshold: int = 5, reset_timeout: float = 30.0, clock: Clock | None = None
    ) -> None:
        self.failure_threshold = check_int("failure_threshold", failure_threshold, minimum=1)
        self.reset_timeout = check_seconds("reset_timeout", reset_timeout)
        if clock is not None and not callable(getattr(clock, "monotonic", None)):
            raise SearchTypeError("clock", "a Clock (with monotonic())", clock)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose timeout has passed reports half-open)."""
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() - self._opened_at >= self.reset_timeout
        ):
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            BREAKER_TRANSITIONS.add(1, {"search.breaker.state": state.value})
        self._state = state

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed."""
        return self._failures

    def allow(self) -> bool:
        """Return whether a call may go to the primary now (in half-open, this takes the probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        """The primary answered: close the breaker."""
        if self._state is not BreakerState.CLOSED:
            logger.info("search circuit breaker closed: the primary answered")
        self._move(BreakerState.CLOSED)
        self._failures = 0
        self._probing = False

    def record_failure(self) -> None:
        """The primary failed: count it, and open the breaker at the threshold or after a failed probe."""
        if self._state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures < self.failure_threshold:
                return
        elif self._state is BreakerState.OPEN:
            return  # a call admitted before the breaker opened; the timeout already runs
        logger.warning("search circuit breaker opened after %d failure(s)", max(self._failures, 1))
        self._move(BreakerState.OPEN)
        self._opened_at = self._clock.monotonic()
        self._failures = 0
        self._probing = False

    def abandon(self) -> None:
        """A call admitted by `allow` ended without an outcome (it was cancelled): free the probe."""
        self._probing = False


class FallbackSearch[TDocument]:
    """Searches the primary; when it raises or exceeds ``timeout``, answers from the fallback.

    A fallback answer is marked ``degraded=True``. A `CircuitBreaker` sends queries straight to the
    fallback while the primary keeps failing, and lets one probe through after its reset timeout.

    Only a backend failure falls back and counts against the breaker: `SearchUnavailableError`
    (any ``ConnectionError`` or other ``OSError`` from a provider's driver too) or the timeout. Any
    other error, above all a malformed query (`SearchConfigurationError`, `SearchTypeError`), is
    raised to the caller as it is, is not answered by the fallback, and neither counts as a failure
    nor as a success: however many bad queries clients send, the breaker stays where it is.

    Writes (`index`, `delete`) go to the primary only and raise when it is down: a write is never
    silently dropped. When the fallback fails too, `SearchUnavailableError` is raised.

    The timeout cancels the primary's awaitable, so it bounds I/O-bound primaries; a primary that
    computes on the event loop without awaiting cannot be interrupted.

    Args:
        primary: The provider to ask first.
        fallback: A provider or a `DatabaseFallback` (anything with ``search(query)``).
        timeout: Seconds the primary may take (``None``: no limit).
        breaker: The circuit breaker (default: 5 failures, 30 s).
    """

    def __init__(
        self,
        primary: SearchProvider[TDocument],
        fallback: DatabaseFallback[TDocument] | SearchProvider[TDocument],
        *,
        timeout: float | None = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        for name, value in (("primary", primary), ("fallback", fallback)):
            if not callable(getattr(value, "search", None)):
                raise SearchTypeError(name, "a search provider (with a search method)", value)
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise SearchTypeError("breaker", "a CircuitBreaker", breaker)
        self.primary = primary
        self.fallback = fallback
        self.timeout = timeout
        self.breaker = breaker if breaker is not None else CircuitBreaker()

    async def search(self, query: SearchQuery) -> SearchResult[TDocument]:
        """Answer from the primary, or from the fallback (``degraded=True``) when it fails or is slow."""
        if not isinstance(query, SearchQuery):
            raise SearchTypeError("query", "a SearchQuery", query)
        if not self.breaker.allow():
            BREAKER_REJECTIONS.add(1)
            return await self._fall_back(query, None)
        try:
            async with asyncio.timeout(self.timeout):
                result = await self.primary.search(query)
        except _BACKEND_FAILURES as exc:  # TimeoutError is an OSError too
            self.breaker.record_failure()
            logger.warning("search primary failed (%s); answering from the fallback", type(exc).__name__)
            return await self._fall_back(query, exc)
        except BaseException:
            # The caller's bad query, a bug, a cancellation: says nothing about the primary's health.
            self.breaker.abandon()
            raise
        self.breaker.record_success()
        return result

    async def _fall_back(self, query: SearchQuery, cause: Exception | None) -> SearchResult[TDocument]:
        try:
            result = await self.fallback.search(query)
        except (SearchConfigurationError, SearchTypeError):
            raise
        except Exception as exc:
            reason = f"the fallback failed ({type(exc).__name__})"
            if cause is not None:
                reason = f"the primary failed ({type(cause).__name__}) and {reason}"
            raise SearchUnavailableError("search", "primary and fallback", reason) from exc
        why = "breaker_open" if cause is None else "failure"
        if isinstance(cause, TimeoutError):
            why = "timeout"
        FALLBACK_ANSWERS.add(1, {"search.fallback.reason": why})
        return dataclasses.replace(result, degraded=True)

    async def count(self, query: SearchQuery | None = None) -> int:
        """Return how many documents match (from the fallback when the primary is down)."""
        query = SearchQuery() if query is None else query
        if not isinstance(query, SearchQuery):
            raise SearchTypeError("query", "a SearchQuery or None", query)
        return (await self.search(dataclasses.replace(query, limit=0, offset=0, cursor=None))).total

    async def index(self, documents: Iterable[TDocument]) -> None:
        """Index on the primary (raises when it is down)."""
        self._writable("index")
        await self.primary.index(documents)

    async def delete(self, ids: Iterable[str]) -> int:
        """Delete on the primary (raises when it is down)."""
        self._writable("delete")
        return await self.primary.delete(ids)

    def _writable(self, method: str) -> None:
        if not callable(getattr(self.primary, method, None)):
            raise SearchTypeError("primary", f"a search provider with {method}() to write to", self.primary)
