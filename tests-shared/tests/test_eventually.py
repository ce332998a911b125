"""eventually: poll a condition until it holds, or fail naming it and what was last seen."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.testing import TestingConfigurationError, TestingTypeError, eventually


class Calls:
    """A check that answers from a script, one answer per call (the last one repeats), and counts calls."""

    def __init__(self, *answers: object) -> None:
        self.answers = answers
        self.count = 0

    def __call__(self) -> object:
        answer = self.answers[min(self.count, len(self.answers) - 1)]
        self.count += 1
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_a_condition_that_never_holds_fails_naming_it_and_the_last_value() -> None:
    check = Calls(0)
    with pytest.raises(AssertionError) as failure:
        await eventually(check, timeout=0.05, what="the counter reached 3")
    message = str(failure.value)
    assert message.startswith("never true within 0.05s (")
    assert message.endswith(" calls): the counter reached 3; the last value was 0")
    assert f"({check.count} calls)" in message
    assert failure.value.__cause__ is None


async def test_without_what_the_failure_names_the_check() -> None:
    def replica_caught_up() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"calls\): .*replica_caught_up; the last value was False$"):
        await eventually(replica_caught_up, timeout=0.02)


async def test_an_exception_it_does_not_ignore_propagates_at_once() -> None:
    check = Calls(KeyError("k"), True)
    with pytest.raises(KeyError):
        await eventually(check, timeout=30, ignoring=(ConnectionError, ValueError))
    assert check.count == 1


async def test_an_ignored_exception_is_not_yet_and_the_last_one_is_the_cause() -> None:
    refused = ConnectionRefusedError("refused")
    check = Calls(refused)

    async def probe() -> object:
        return check()

    with pytest.raises(AssertionError) as failure:
        await eventually(probe, timeout=0.05, what="Redis answers", ignoring=ConnectionError)
    assert str(failure.value).endswith(
        "calls): Redis answers; the last call raised ConnectionRefusedError('refused')"
    )
    assert failure.value.__cause__ is refused
    assert check.count >= 2, "an exception stopped the polling"


async def test_a_value_after_an_exception_is_what_the_failure_reports() -> None:
    check = Calls(ValueError("not yet"), "")
    with pytest.raises(AssertionError, match=r"; the last value was ''$") as failure:
        await eventually(check, timeout=0.05, ignoring=ValueError)
    assert failure.value.__cause__ is None


async def test_a_condition_made_true_later_by_another_task_returns_its_value() -> None:
    seen: dict[str, int] = {}

    async def producer() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        await asyncio.sleep(0.02)
        seen["k"] = 1

    task = asyncio.create_task(producer())
    assert await eventually(lambda: seen, timeout=30, what="the producer wrote") == {"k": 1}
    await task


async def test_an_async_check_is_awaited_and_ignored_exceptions_until_it_holds_are_retried() -> None:
    check = Calls(OSError("down"), None, OSError("down"), "report")

    async def probe() -> object:
        await asyncio.sleep(0)
        return check()

    assert await eventually(probe, timeout=30, interval=0.001, ignoring=OSError) == "report"
    assert check.count == 4, "called again after it held"


async def test_a_sync_callable_returning_an_awaitable_is_awaited() -> None:
    async def ready() -> int:
        return 7

    assert await eventually(lambda: ready(), timeout=30) == 7  # noqa: PLW0108 - the lambda returns a coroutine


async def test_polling_lasts_the_timeout_on_the_loop_clock_then_stops() -> None:
    loop = asyncio.get_running_loop()
    check = Calls(False)
    start = loop.time()
    with pytest.raises(AssertionError):
        await eventually(check, timeout=0.1, interval=0.01)
    assert loop.time() - start >= 0.1, "gave up before the timeout"
    # Sleeps only ever last longer than asked, so a loaded machine makes fewer calls, never more.
    assert 2 <= check.count <= math.ceil(0.1 / 0.01) + 1


async def test_an_interval_longer_than_the_timeout_still_calls_once_more_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    check = Calls(False)
    start = loop.time()
    async with asyncio.timeout(60):  # the interval (an hour) is not waited out
        with pytest.raises(AssertionError):
            await eventually(check, timeout=0.05, interval=3600)
    assert loop.time() - start >= 0.05
    assert check.count in (1, 2)  # 1 only if the first call itself outlasted the timeout


async def test_a_base_exception_is_not_swallowed() -> None:
    class Stop(BaseException):
        pass

    check = Calls(Stop())
    with pytest.raises(Stop):
        await eventually(check, timeout=30, ignoring=Exception)
    assert check.count == 1


async def test_cancelling_the_waiter_stops_the_polling() -> None:
    check = Calls(False)
    task = asyncio.create_task(eventually(check, timeout=30))
    await eventually(lambda: check.count >= 2, timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped_at = check.count
    await asyncio.sleep(0.05)
    assert check.count == stopped_at


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, 86_401, True, "1", None])
@pytest.mark.parametrize("name", ["timeout", "interval"])
async def test_a_bad_duration_is_refused_before_any_call(name: str, value: object) -> None:
    check = Calls(True)
    with pytest.raises(TestingConfigurationError, match=name) as refused:
        await eventually(check, **{name: value})  # type: ignore[call-overload]
    assert isinstance(refused.value, ValueError)
    assert check.count == 0


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"check": None}, "check"),
        ({"what": 3}, "what"),
        ({"ignoring": KeyboardInterrupt}, "ignoring"),
        ({"ignoring": (ValueError, asyncio.CancelledError)}, "ignoring"),
        ({"ignoring": [ValueError]}, "ignoring"),
        ({"ignoring": ValueError("x")}, "ignoring"),
    ],
)
async def test_a_wrong_type_is_refused_before_any_call(arguments: dict[str, object], name: str) -> None:
    check = Calls(True)
    with pytest.raises(TestingTypeError, match=name) as refused:
        await eventually(**{"check": check, **arguments})  # type: ignore[call-overload]
    assert isinstance(refused.value, TypeError)
    assert check.count == 0


falsy: st.SearchStrategy[object] = st.sampled_from([False, 0, 0.0, "", b"", None, [], {}])
truthy = st.one_of(st.integers().filter(bool), st.text(min_size=1), st.just(True))
not_yet = st.one_of(falsy, st.builds(OSError, st.text(max_size=5)))


@given(st.lists(not_yet, max_size=8), truthy)
def test_returns_the_first_true_value_after_answers_not_yet(before: list[object], value: object) -> None:
    """Property: any run of false values and exceptions ending in a true value returns that value, after
    exactly one call per answer."""
    check = Calls(*before, value, "called once too often")

    async def poll() -> object:
        return await eventually(check, timeout=60, interval=0.0001, ignoring=OSError)

    assert asyncio.run(poll()) == value
    assert check.count == len(before) + 1
