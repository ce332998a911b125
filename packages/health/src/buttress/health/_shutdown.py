"""Graceful shutdown: readiness fails first, traffic drains, in-flight requests finish, resources close.

`ShutdownCoordinator` runs the sequence Kubernetes expects of a pod told to stop, on SIGTERM/SIGINT
or when called::

    RUNNING ─shutdown()─▶ DRAINING ─drain_delay─▶ STOPPING ─idle or grace─▶ CLOSING ─▶ STOPPED
              readiness fails      requests still served   new requests: 503     resources closed,
              (liveness passes)    (balancers catch up)    in-flight ones end    last registered first

`InFlightMiddleware` counts the requests in flight for it and refuses new ones once it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final, Protocol

from buttress.core import (
    ASGIApp,
    AsyncResource,
    Message,
    Receive,
    Scope,
    Send,
    check_seconds,
    check_text,
    respond,
)

from ._metrics import SHUTDOWN_DURATION, track_in_flight
from ._registry import HealthRegistry
from .exceptions import HealthConfigurationError, HealthTypeError

__all__ = ["InFlightMiddleware", "ShutdownCoordinator", "ShutdownReport", "ShutdownState"]

logger = logging.getLogger(__name__)

DEFAULT_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
MAX_RESOURCES: Final = 10_000


class ShutdownState(enum.Enum):
    """Where the shutdown sequence stands. It only moves forward."""

    RUNNING = "running"
    """Serving; readiness runs its checks."""
    DRAINING = "draining"
    """Readiness fails; requests are still served while load balancers stop sending them."""
    STOPPING = "stopping"
    """New requests get 503; the ones in flight are finishing, up to ``grace``."""
    CLOSING = "closing"
    """The registered resources are being closed, last registered first."""
    STOPPED = "stopped"
    """Done: see the `ShutdownReport`."""

    @classmethod
    def _missing_(cls, value: object) -> ShutdownState:
        names = ", ".join(repr(state.value) for state in cls)
        raise HealthConfigurationError("state", value, f"must be one of {names}")


_ORDER: Final = {state: index for index, state in enumerate(ShutdownState)}


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What the shutdown did.

    Attributes:
        drained: Whether every in-flight request finished before ``grace`` ran out.
        unfinished: Requests still in flight when the coordinator stopped waiting.
        closed: The resources that closed, in the order they were closed.
        failed: ``(name, reason)`` for each resource that raised or did not close in time.
        duration: Seconds from the start of the sequence to its end.
    """

    drained: bool
    unfinished: int
    closed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    duration: float

    @property
    def clean(self) -> bool:
        """Whether every request finished and every resource closed."""
        return self.drained and not self.failed


class _Closable(Protocol):
    async def aclose(self) -> object: ...


type Closer = Callable[[], Awaitable[object]]


class ShutdownCoordinator(AsyncResource):
    """Runs the graceful shutdown sequence once, on a signal or when called.

    Args:
        registry: The registry whose readiness fails first (`HealthRegistry.drain`).
        drain_delay: Seconds between readiness failing and new requests being refused, for load
            balancers to stop sending (5 s; keep it above the readiness probe's period).
        grace: Seconds to wait for in-flight requests once new ones are refused (20 s).
        close_timeout: Seconds each resource may take to close (5 s).

    Keep ``drain_delay + grace`` plus the resources' closing under Kubernetes'
    ``terminationGracePeriodSeconds`` (30 s by default).

    Raises:
        HealthTypeError: ``registry`` is not a `HealthRegistry`.
        HealthConfigurationError: A duration out of range.

    Examples:
        >>> coordinator = ShutdownCoordinator(HealthRegistry(), drain_delay=5, grace=20)
    """

    def __init__(
        self,
        registry: HealthRegistry | None = None,
        *,
        drain_delay: float = 5.0,
        grace: float = 20.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if registry is not None and not isinstance(registry, HealthRegistry):
            raise HealthTypeError("registry", "a HealthRegistry or None", registry)
        self.registry = registry
        self.drain_delay = check_seconds(
            "drain_delay", drain_delay, allow_zero=True, error=HealthConfigurationError
        )
        self.grace = check_seconds("grace", grace, allow_zero=True, error=HealthConfigurationError)
        self.close_timeout = check_seconds("close_timeout", close_timeout, error=HealthConfigurationError)
        self._state = ShutdownState.RUNNING
        self._resources: list[tuple[str, Closer]] = []
        self._in_flight = 0
        self._idle: asyncio.Event | None = None
        self._run: asyncio.Task[ShutdownReport] | None = None
        self._signals: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: asyncio.Event | None = None
        self._pending: tuple[int, FrameType | None] | None = None
        self._chained = False
        self._sleep: Callable[[float], Awaitable[object]] = asyncio.sleep  # the drain delay's timer
        track_in_flight(self)

    # --- state -------------------------------------------------------------------------------------

    @property
    def state(self) -> ShutdownState:
        """Where the sequence stands."""
        return self._state

    @property
    def in_flight(self) -> int:
        """Requests the middleware counts as in flight now."""
        return self._in_flight

    @property
    def accepting(self) -> bool:
        """Whether the middleware lets new requests in (until the drain delay has passed)."""
        return _ORDER[self._state] < _ORDER[ShutdownState.STOPPING]

    def _advance(self, state: ShutdownState) -> None:
        if _ORDER[state] > _ORDER[self._state]:
            logger.info("shutdown: %s", state.value)
            self._state = state

    # --- resources ---------------------------------------------------------------------------------

    def register[R](self, resource: R, *, name: str | None = None) -> R:
        """Close ``resource`` at shutdown (after the ones registered later); return it.

        Args:
            resource: Anything with ``aclose()`` (a pool, a cache, a store, the registry), or a
                coroutine function to call (``lambda: asyncio.to_thread(meter_provider.shutdown)``).
            name: How the report names it (its type's name by default).

        Raises:
            HealthTypeError: ``resource`` has no ``aclose()`` and is not callable.
            HealthConfigurationError: ``name`` is not text, or the sequence is closing already.
        """
        aclose = getattr(resource, "aclose", None)
        closer: Closer
        if callable(aclose):
            closer = aclose
        elif callable(resource):
            closer = resource
        else:
            raise HealthTypeError("resource", "an object with aclose() or a coroutine function", resource)
        label = (
            check_text(
                "name", name, max_bytes=200, error=HealthConfigurationError, type_error=HealthTypeError
            )
            if name is not None
            else getattr(resource, "__qualname__", type(resource).__name__)
        )
        if _ORDER[self._state] >= _ORDER[ShutdownState.CLOSING]:
            raise HealthConfigurationError("resource", label, "the shutdown is closing resources already")
        if len(self._resources) >= MAX_RESOURCES:
            raise HealthConfigurationError("resource", label, f"at most {MAX_RESOURCES} resources")
        self._resources.append((str(label), closer))
        return resource

    # --- the sequence --------------------------------------------------------------------------------

    async def shutdown(self, *, drain: bool = True) -> ShutdownReport:
        """Run the sequence (once: later and concurrent calls wait for the same run) and report.

        Args:
            drain: Wait ``drain_delay`` before refusing requests. Pass ``False`` when the server
                has stopped accepting already (called from the lifespan's shutdown, say).

        Raises:
            HealthTypeError: ``drain`` is not a bool.
        """
        if not isinstance(drain, bool):
            raise HealthTypeError("drain", "a bool", drain)
        if self._run is None:
            self._begin(drain=drain)
        assert self._run is not None  # noqa: S101 - set by _begin
        return await asyncio.shield(self._run)

    def _begin(self, *, drain: bool) -> None:
        # Readiness fails at once, before the sequence's task first runs.
        self._advance(ShutdownState.DRAINING)
        if self.registry is not None:
            self.registry.drain()
        self._run = asyncio.get_running_loop().create_task(
            self._sequence(drain=drain), name="buttress shutdown"
        )
        if self._started is not None:
            self._started.set()

    async def wait(self) -> ShutdownReport:
        """Wait until a shutdown started elsewhere (a signal) has finished; return its report.

        Hand it to a server that takes a shutdown trigger: ``hypercorn.asyncio.serve(app, config,
        shutdown_trigger=coordinator.wait)``.
        """
        if self._run is None:
            if self._started is None:
                self._started = asyncio.Event()
            await self._started.wait()
        assert self._run is not None  # noqa: S101 - set before the event
        return await asyncio.shield(self._run)

    async def _sequence(self, *, drain: bool) -> ShutdownReport:
        started = time.perf_counter()
        if drain and self.drain_delay > 0:
            await self._sleep(self.drain_delay)
        self._advance(ShutdownState.STOPPING)
        drained = await self._wait_idle()
        unfinished = self._in_flight
        if not drained:
            logger.warning("shutdown: %d request(s) still in flight after %g s", unfinished, self.grace)
        self._advance(ShutdownState.CLOSING)
        closed, failed = await self._close_all()
        self._advance(ShutdownState.STOPPED)
        report = ShutdownReport(
            drained, unfinished, tuple(closed), tuple(failed), time.perf_counter() - started
        )
        outcome = "clean" if report.clean else "incomplete"
        SHUTDOWN_DURATION.record(report.duration, {"health.shutdown.outcome": outcome})
        self._chain()
        return report

    async def _wait_idle(self) -> bool:
        if self._in_flight == 0:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(self.grace):
                await self._idle.wait()
        except TimeoutError:
            return self._in_flight == 0
        return True

    async def _close_all(self) -> tuple[list[str], list[tuple[str, str]]]:
        closed: list[str] = []
        failed: list[tuple[str, str]] = []
        for name, closer in reversed(self._resources):
            try:
                async with asyncio.timeout(self.close_timeout):
                    await closer()
            except TimeoutError:
                failed.append((name, f"did not close within {self.close_timeout:g} s"))
            except Exception as exc:  # noqa: BLE001 - one resource's failure must not stop the others
                failed.append((name, f"{type(exc).__name__}: {exc}"[:300]))
            else:
                closed.append(name)
        for name, reason in failed:
            logger.warning("shutdown: %s did not close: %s", name, reason)
        return closed, failed

    async def _aclose(self) -> None:
        """``async with coordinator:`` runs the sequence on the way out, without the drain delay."""
        await self.shutdown(drain=False)
        self.remove_signal_handlers()

    # --- signals -------------------------------------------------------------------------------------

    def install_signal_handlers(self, signals: Collection[int] = DEFAULT_SIGNALS) -> None:
        """Start the sequence on SIGTERM or SIGINT; then hand the signal to the server's own handler.

        Call it from the running loop's thread, once the server has installed its handlers (in the
        ASGI lifespan's startup). The server's handler (uvicorn's, say) is called when the sequence
        ends, so the server exits as it would have, only later: after the drain. A second signal
        during the sequence goes to the server's handler at once (a second Ctrl+C forces the exit).

        Raises:
            HealthConfigurationError: Not called from the main thread with a running loop, or a
                signal that cannot be caught.
            HealthTypeError: ``signals`` is not a collection of ints.
        """
        given: object = signals
        if isinstance(given, str) or not isinstance(given, Collection):
            raise HealthTypeError("signals", "a collection of signal numbers", given)
        chosen: list[int] = []
        for number in given:
            if isinstance(number, bool) or not isinstance(number, int):
                raise HealthTypeError("signals", "a collection of signal numbers", number)
            if number not in {int(s) for s in signal.valid_signals()} or number in (
                signal.SIGKILL,
                signal.SIGSTOP,
            ):
                raise HealthConfigurationError("signals", number, "is not a signal a process can catch")
            chosen.append(number)
        if threading.current_thread() is not threading.main_thread():
            raise HealthConfigurationError(
                "signals", chosen, "handlers can be installed only in the main thread"
            )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise HealthConfigurationError(
                "signals", chosen, "install them from the running event loop"
            ) from None
        self._loop = loop
        for sig in chosen:
            self._signals.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, self._on_signal)

    def remove_signal_handlers(self) -> None:
        """Put back the handlers that were there before `install_signal_handlers`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number, previous in self._signals.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(number, previous)
        self._signals.clear()

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        loop = self._loop
        if self._run is not None or loop is None or loop.is_closed():
            self._pass_on(number, frame)  # a second signal: the server's own handling, at once
            return
        self._pending = (number, frame)
        loop.call_soon_threadsafe(self._start_from_signal)

    def _start_from_signal(self) -> None:
        if self._run is None:
            logger.info("shutdown: signal received, draining")
            self._begin(drain=True)

    def _chain(self) -> None:
        pending = self._pending
        if pending is not None and not self._chained:
            self._chained = True
            self._pass_on(*pending)

    def _pass_on(self, number: int, frame: FrameType | None) -> None:
        previous = self._signals.get(number)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(number, frame)


class InFlightMiddleware:
    """Counts the requests in flight for a `ShutdownCoordinator`, and refuses new ones once it stops.

    While the coordinator accepts, a request costs two integer updates. While it drains, responses
    carry ``connection: close`` so clients reconnect elsewhere; once it stops accepting, a new request
    gets 503 (a WebSocket is closed with 1012, service restart). Lifespan events pass through.

    Args:
        app: The ASGI application to wrap.
        coordinator: The coordinator that counts.
        exempt: Path prefixes neither counted nor refused (the probes, ``"/health"``).

    Raises:
        HealthTypeError: An argument of the wrong type.
        HealthConfigurationError: An exempt prefix that is not text starting with ``/``.
    """

    __slots__ = ("_app", "_coordinator", "_exempt")

    def __init__(self, app: ASGIApp, coordinator: ShutdownCoordinator, *, exempt: Iterable[str] = ()) -> None:
        if not callable(app):
            raise HealthTypeError("app", "an ASGI application", app)
        if not isinstance(coordinator, ShutdownCoordinator):
            raise HealthTypeError("coordinator", "a ShutdownCoordinator", coordinator)
        if isinstance(exempt, str) or not isinstance(exempt, Iterable):
            raise HealthTypeError("exempt", "an iterable of path prefixes", exempt)
        prefixes = []
        for prefix in exempt:
            text = check_text(
                "exempt", prefix, max_bytes=1000, error=HealthConfigurationError, type_error=HealthTypeError
            )
            if not text.startswith("/"):
                raise HealthConfigurationError("exempt", prefix, "each prefix must start with /")
            prefixes.append(text)
        self._app = app
        self._coordinator = coordinator
        self._exempt = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in {"http", "websocket"}:
            await self._app(scope, receive, send)
            return
        if self._exempt:
            path = scope.get("path")
            if isinstance(path, str) and path.startswith(self._exempt):
                await self._app(scope, receive, send)
                return
        coordinator = self._coordinator
        state = coordinator._state
        if state is not ShutdownState.RUNNING:
            if not coordinator.accepting:
                await _refuse(kind, send)
                return
            send = _closing(send)
        coordinator._in_flight += 1  # the hot path: two integer updates, no method call
        try:
            await self._app(scope, receive, send)
        finally:
            coordinator._in_flight -= 1
            if coordinator._idle is not None and coordinator._in_flight == 0:
                coordinator._idle.set()


def _closing(send: Send) -> Send:
    """``send`` that adds ``connection: close`` to the response's headers (while draining)."""

    async def closing(message: Message) -> None:
        if message.get("type") == "http.response.start":
            headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing


async def _refuse(kind: object, send: Send) -> None:
    if kind == "websocket":
        await send({"type": "websocket.close", "code": 1012})
        return
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"connection", b"close"),
        (b"retry-after", b"1"),
    ]
    await respond(send, 503, headers=headers, body=b"shutting down\n")
