"""`LoopThread`: an event loop on a thread of its own, driven from synchronous code in any thread."""

from __future__ import annotations

import asyncio
import inspect
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, LoopThread
from buttress.testing import check_hostile


async def _where() -> tuple[str, asyncio.AbstractEventLoop]:
    return threading.current_thread().name, asyncio.get_running_loop()


def test_coroutines_run_on_the_thread_s_own_loop_and_return_their_results() -> None:
    runner = LoopThread("buttress-test-loop")
    loop = runner.start()
    try:
        name, running = runner.run(_where())
        assert name == "buttress-test-loop"
        assert running is loop
        assert runner.start() is loop  # starting again keeps the same loop
    finally:
        assert runner.stop(5.0)
    assert loop.is_closed()
    assert not runner.running


def test_many_threads_share_one_loop() -> None:
    runner = LoopThread("buttress-test-shared")
    runner.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            loops = {id(loop) for _, loop in pool.map(lambda _: runner.run(_where()), range(64))}
        assert len(loops) == 1
    finally:
        runner.stop(5.0)


def test_a_coroutine_that_takes_too_long_is_cancelled() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = LoopThread("buttress-test-timeout")
    runner.start()
    try:
        with pytest.raises(TimeoutError):
            runner.run(slow(), timeout=0.05)
        assert cancelled.wait(5.0)
    finally:
        runner.stop(5.0)


def test_what_the_coroutine_raises_reaches_the_caller() -> None:
    async def fail() -> None:
        raise KeyError("inside")

    runner = LoopThread("buttress-test-raise")
    runner.start()
    try:
        with pytest.raises(KeyError, match="inside"):
            runner.run(fail())
    finally:
        runner.stop(5.0)


def test_a_loop_that_is_not_running_refuses_work_without_leaving_a_coroutine_unawaited() -> None:
    runner = LoopThread("buttress-test-stopped")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coroutine = _where()
        with pytest.raises(ButtressError, match="not running"):
            runner.run(coroutine)
        assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # no "never awaited"
    runner.start()
    assert runner.stop(5.0)
    with pytest.raises(ButtressError, match="not running"):
        runner.submit(_where())


def test_stop_is_idempotent_and_a_stopped_runner_starts_a_new_loop() -> None:
    runner = LoopThread("buttress-test-restart")
    assert runner.stop()  # never started
    first = runner.start()
    assert runner.stop(5.0)
    assert runner.stop(5.0)
    second = runner.start()
    try:
        assert second is not first
        assert runner.run(_where())[1] is second
    finally:
        runner.stop(5.0)
    assert "running=False" in repr(runner)


def test_stop_called_from_the_loop_s_own_thread_does_not_deadlock() -> None:
    runner = LoopThread("buttress-test-self-stop")
    runner.start()

    async def stop_from_inside() -> bool:
        return runner.stop(1.0)

    future = runner.submit(stop_from_inside())
    assert future.result(5.0) is False  # its own thread is still running the call


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(ArgumentTypeError):
        LoopThread(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        LoopThread("")
    runner = LoopThread("buttress-test-args")
    runner.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ConfigurationError):
                runner.run(_where(), timeout=-1)
        with pytest.raises(ArgumentTypeError):
            runner.run(_where)  # type: ignore[arg-type]  # the function, not a coroutine
        check_hostile(LoopThread, "buttress-test-hostile")
        check_hostile(runner.stop, 1.0)
    finally:
        runner.stop(5.0)
