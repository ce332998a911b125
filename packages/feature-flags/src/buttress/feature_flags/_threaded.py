"""`ThreadedFlagClient`: a `FlagClient` whose refresher runs in a thread of its own, for WSGI servers.

Evaluation was synchronous already: a read of the snapshot the refresher swaps in. What a WSGI
application lacked was somewhere for the refresher to run. Here one daemon thread holds one event
loop for the client's whole life; the `FlagClient` inside it loads, refreshes and watches exactly as
under an ASGI server, and every evaluation is a plain call from any of the server's threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

from buttress.core import ButtressError, Clock, LoopThread

from ._client import ClientStatus, FlagClient, StatusListener
from ._engine import Snapshot
from ._model import Context, EvaluationDetails, FlagSet, VariantResult
from ._sources import FlagSource
from ._sticky import StickyAssignmentStore
from .exceptions import ClientClosedError, FeatureFlagsConfigurationError

__all__ = ["ThreadedFlagClient"]

logger = logging.getLogger(__name__)

_MAX_WAIT = 300.0


class ThreadedFlagClient:
    """Flags for synchronous code (Flask, Django under WSGI): a `FlagClient` refreshed from its own thread.

    `is_enabled`, `get_variant` and `evaluate` are plain calls, safe from any thread: each reads the
    current snapshot, which the refresher replaces in one assignment. The refresher is the
    `FlagClient`'s own, on an event loop that a daemon thread runs for the client's life, so every
    source works (`MemoryFlagSource`, `FileFlagSource`, `RedisFlagSource`, `PostgresFlagSource`,
    change notifications included) and the application needs no event loop of its own::

        flags = ThreadedFlagClient(FileFlagSource("flags.yaml"))
        flags.start()  # loads once (waits up to `timeout`), then refreshes in the background

        @app.get("/checkout")
        def checkout() -> str:
            if flags.is_enabled("new-checkout", Context(user_id=current_user_id())):
                ...

    Build the source here or hand over a fresh one: its connections belong to the client's loop, so
    it is not shared with async code that runs on another loop.

    Args:
        source: Where flags come from (see `FlagClient`).
        refresh_interval: Seconds between reloads.
        stale_after: Seconds after which a failing source makes results STALE.
        clock: Time for staleness and ``DATE_*`` constraints.
        sticky_store: Remembers what each ``user_id`` was served.
        bootstrap: A flag set to serve before the first load.
        rng: Randomness for contexts with no id under ``random`` stickiness.

    Raises:
        FeatureFlagsTypeError: An argument has the wrong type (as for `FlagClient`).
        FeatureFlagsConfigurationError: An argument is out of range.
    """

    __slots__ = ("_client", "_closing", "_runner")

    def __init__(
        self,
        source: FlagSource,
        *,
        refresh_interval: float = 30.0,
        stale_after: float | None = None,
        clock: Clock | None = None,
        sticky_store: StickyAssignmentStore | None = None,
        bootstrap: FlagSet | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._client = FlagClient(
            source,
            refresh_interval=refresh_interval,
            stale_after=stale_after,
            clock=clock,
            sticky_store=sticky_store,
            bootstrap=bootstrap,
            rng=rng,
        )
        self._runner = LoopThread("buttress-feature-flags")
        self._closing = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, *, timeout: float = 10.0) -> bool:
        """Start the refresher's thread, load once and wait for that load up to ``timeout`` seconds.

        A load that fails or takes longer is not an error: the client serves defaults (or the
        bootstrap) until a refresh succeeds, as `FlagClient.start` does. Calling it again only waits.

        Returns:
            Whether flags are loaded (the status is READY or STALE).

        Raises:
            ClientClosedError: The client was closed.
            FeatureFlagsConfigurationError: ``timeout`` is not a number of seconds from 0 to 300.
        """
        seconds = _timeout(timeout)
        with self._closing:  # never starts a loop that a concurrent close() would leave running
            if self._client.closed:
                raise ClientClosedError
            self._runner.start()
        started = self._submit(self._client.start())
        try:
            started.result(seconds)
        except concurrent.futures.TimeoutError:
            logger.warning("flags did not load within %s s; serving defaults until they do", seconds)
        return self._client.status in (ClientStatus.READY, ClientStatus.STALE)

    def refresh(self, *, timeout: float = 30.0) -> bool:
        """Load the flag set now and swap it in (see `FlagClient.refresh`); whether the load succeeded.

        Raises:
            ClientClosedError: The client was closed, or was never started.
            FeatureFlagsConfigurationError: ``timeout`` is not a number of seconds from 0 to 300.
        """
        seconds = _timeout(timeout)  # checked before the coroutine exists: none is left unawaited
        return self._call(self._client.refresh(), seconds)

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop the refresher and its thread. Evaluations keep answering from the last snapshot.

        Calling it again does nothing.

        Raises:
            FeatureFlagsConfigurationError: ``timeout`` is not a number of seconds from 0 to 300.
        """
        seconds = _timeout(timeout)
        with self._closing:
            if not self._runner.running:
                self._close_unstarted()
                return
            try:
                self._runner.run(self._client.aclose(), seconds)
            except TimeoutError:
                logger.warning("the flag refresher did not stop within %s s; leaving its thread", seconds)
            finally:
                self._runner.stop(seconds)

    def _close_unstarted(self) -> None:
        """Close a client that never started: nothing is bound to a loop yet, so a short one does."""
        if not self._client.closed:
            asyncio.run(self._client.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _submit[T](self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._client.closed:
            coroutine.close()
            raise ClientClosedError
        try:
            return self._runner.submit(coroutine)
        except ButtressError:  # not started, or stopped by close() in another thread
            raise ClientClosedError from None

    def _call[T](self, coroutine: Coroutine[Any, Any, T], seconds: float) -> T:
        return self._submit(coroutine).result(seconds)

    # -- status and evaluation: the FlagClient's own, read from any thread --------------------------

    @property
    def client(self) -> FlagClient:
        """The `FlagClient` inside (its coroutine methods belong to the refresher's loop)."""
        return self._client

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._client.closed

    @property
    def status(self) -> ClientStatus:
        """The client's status (see `ClientStatus`)."""
        return self._client.status

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot evaluations read now, or ``None`` before the first load."""
        return self._client.snapshot

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed load, cleared by a successful one."""
        return self._client.last_error

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener(status, snapshot)`` on every change; it runs in the refresher's thread."""
        self._client.add_listener(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        self._client.remove_listener(listener)

    def is_enabled(self, key: str, context: Context | None = None, *, default: bool = False) -> bool:
        """Whether flag ``key`` is on for ``context`` (see `FlagClient.is_enabled`); never raises."""
        return self._client.is_enabled(key, context, default=default)

    def get_variant(self, key: str, context: Context | None = None) -> VariantResult:
        """The variant for ``context`` (see `FlagClient.get_variant`); never raises."""
        return self._client.get_variant(key, context)

    def evaluate[T](self, key: str, default: T, context: Context | None = None) -> EvaluationDetails[T]:
        """Evaluate flag ``key`` with details (see `FlagClient.evaluate`); never raises."""
        return self._client.evaluate(key, default, context)


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= _MAX_WAIT:
        raise FeatureFlagsConfigurationError("timeout", value, "must be a number of seconds from 0 to 300")
    return float(value)
