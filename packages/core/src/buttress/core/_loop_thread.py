"""An event loop on a thread of its own, for synchronous code that drives the suite's async objects.

A WSGI application (Flask, Django under a WSGI server) has no event loop, yet a flag client's
refresher or a registry of health checks lives on one. `LoopThread` gives them one: a daemon thread
runs a loop for as long as it is needed, and any thread hands it coroutines and waits for their
results::

    runner = LoopThread("buttress-example")
    runner.start()
    answer = runner.run(registry.run("ready"), timeout=2.0)  # a plain call, from any thread
    runner.stop()

Objects bound to a loop (connections, pools) are built on it (``runner.run(make_pool())``) and used
only there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from ._checks import check_seconds, check_text
from .exceptions import ArgumentTypeError, ButtressError, ConfigurationError

__all__ = ["LoopThread"]


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()  # stopped: what is still pending there is abandoned, as `stop` says


class LoopThread:
    """A daemon thread running one asyncio event loop, started on demand and stopped once.

    Thread-safe: `start`, `submit`, `run` and `stop` may be called from any thread. After `stop`,
    `start` begins a new loop on a new thread.

    Args:
        name: The thread's name (it appears in thread dumps and log records).

    Raises:
        ArgumentTypeError: ``name`` is not a str.
        ConfigurationError: ``name`` is empty.

    Examples:
        >>> async def answer() -> int:
        ...     return 42
        >>> runner = LoopThread("doctest")
        >>> _ = runner.start()
        >>> runner.run(answer())
        42
        >>> runner.stop()
        True
    """

    __slots__ = ("_lock", "_loop", "_thread", "name")

    def __init__(self, name: str) -> None:
        self.name = check_text("name", name, max_bytes=200, type_error=ArgumentTypeError)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop's thread has been started and not stopped."""
        return self._loop is not None

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the thread and its loop if they are not running; return the loop."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_run_forever, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit[T](self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; its future can be waited on from any thread.

        Raises:
            ButtressError: The loop is not running (the coroutine is closed, never left unawaited).
            ArgumentTypeError: ``coroutine`` is not a coroutine object.
        """
        if not asyncio.iscoroutine(coroutine):
            raise ArgumentTypeError("coroutine", "a coroutine object", coroutine)
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise ButtressError(f"the event loop thread {self.name!r} is not running; start it first")
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def run[T](self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and wait for its result (``timeout`` seconds at most).

        Raises:
            TimeoutError: It did not finish in time; it is cancelled.
            ButtressError: The loop is not running.
            ConfigurationError: ``timeout`` is not a positive, finite number of seconds.
            ArgumentTypeError: ``coroutine`` is not a coroutine object.
            Exception: Whatever the coroutine raised.
        """
        try:
            seconds = None if timeout is None else check_seconds("timeout", timeout)
        except ConfigurationError:
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            raise
        future = self.submit(coroutine)
        try:
            return future.result(seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the loop and wait up to ``timeout`` seconds for its thread; whether the thread ended.

        Tasks still pending on the loop are abandoned: finish them first (``run(resource.aclose())``).
        The thread closes its loop as it ends. Calling it again, or before `start`, returns True.

        Raises:
            ConfigurationError: ``timeout`` is not a positive, finite number of seconds.
        """
        seconds = None if timeout is None else check_seconds("timeout", timeout)
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return True
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(seconds)
        return not thread.is_alive()

    def __repr__(self) -> str:
        return f"LoopThread(name={self.name!r}, running={self.running})"
