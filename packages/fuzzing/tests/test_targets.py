"""Async and sync targets, timeouts, expected exceptions, structured (Hypothesis) targets."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import strategies as st

from buttress.fuzzing import (
    Fuzzer,
    FuzzingConfig,
    FuzzingError,
    FuzzingTypeError,
    InputTimeout,
    MissingExtraError,
    StructuredTarget,
    structured,
)

TIMEOUT_TYPE = "buttress.fuzzing.exceptions.InputTimeout"
# This file is the scope of its targets: with its constants as dictionary tokens every edit here would
# change the campaigns, so the tests give their tokens explicitly.
CONFIG = {"code_constants": False}


async def _async_parse(data: bytes) -> None:
    await asyncio.sleep(0)
    if data[:2] == b"OK" and len(data) > 3 and data[2] == 0x21:
        raise ConnectionResetError("peer went away")


def test_async_targets_share_one_event_loop() -> None:
    """Every input of a campaign runs on the same loop (so a pool or client made once can be reused)."""
    loops: set[int] = set()

    async def target(data: bytes) -> None:
        loops.add(id(asyncio.get_running_loop()))
        await _async_parse(data)

    report = Fuzzer(
        target, FuzzingConfig(max_iterations=3_000, seed=2, dictionary=[b"OK", b"!"], **CONFIG)
    ).run()
    assert report.executions == 3_000
    assert len(loops) == 1
    assert [s.exception_type for s in report.signatures] == ["ConnectionResetError"]
    assert report.signatures[0].frames[0].function == "_async_parse"


async def test_run_async_uses_the_running_loop() -> None:
    """Inside an async test the campaign runs on the test's own loop; run() refuses to nest loops."""
    running = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def target(data: bytes) -> None:
        seen.append(asyncio.get_running_loop())

    fuzzer = Fuzzer(target, FuzzingConfig(max_iterations=50))
    report = await fuzzer.run_async()
    assert report.executions == 50
    assert set(seen) == {running}
    with pytest.raises(FuzzingError, match="await"):
        fuzzer.run()


def test_async_hang_is_a_timeout_crash() -> None:
    """An awaiting hang is cut by asyncio.timeout and recorded with the frames where it waited."""

    async def slow(data: bytes) -> None:
        if data == b"\x07":
            await asyncio.sleep(30)

    report = Fuzzer(
        slow,
        FuzzingConfig(
            max_iterations=60, seed=1, timeout=0.02, dictionary=[b"\x07"], minimize_budget=5, **CONFIG
        ),
    ).run()
    assert report.timeouts >= 1
    (signature,) = report.signatures
    assert signature.exception_type == TIMEOUT_TYPE
    assert signature.frames[0].function.endswith("slow")


def test_async_timeout_error_of_the_target_is_its_own_crash() -> None:
    """A TimeoutError the target raises itself is not mistaken for a hang."""

    async def target(data: bytes) -> None:
        if data:
            raise TimeoutError("upstream")

    report = Fuzzer(target, FuzzingConfig(max_iterations=50, timeout=5)).run()
    assert [s.exception_type for s in report.signatures] == ["TimeoutError"]
    assert report.timeouts == 0


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="SIGALRM timers are Unix-only")
def test_sync_hang_is_interrupted_by_the_alarm() -> None:
    """A CPU-bound loop in a sync target is interrupted (SIGALRM on the main thread) and recorded."""

    def spin(data: bytes) -> None:
        if data == b"\x01":
            while True:
                pass

    report = Fuzzer(
        spin,
        FuzzingConfig(
            max_iterations=60, seed=5, timeout=0.02, dictionary=[b"\x01"], minimize_budget=5, **CONFIG
        ),
    ).run()
    assert report.timeouts >= 1
    (signature,) = report.signatures
    assert signature.exception_type == TIMEOUT_TYPE
    assert signature.frames[0].function.endswith("spin")


def test_sync_hang_off_the_main_thread_is_detected_after_it_returns() -> None:
    """Off the main thread no signal can interrupt; a slow input is still reported as a timeout."""

    def slow(data: bytes) -> None:
        if data == b"\x02\x02":
            time.sleep(0.03)

    results = []
    config = FuzzingConfig(
        max_iterations=60,
        seed=5,
        timeout=0.02,
        dictionary=[b"\x02\x02"],
        coverage=False,
        minimize_budget=0,
        **CONFIG,
    )
    worker = threading.Thread(target=lambda: results.append(Fuzzer(slow, config).run()))
    worker.start()
    worker.join()
    (report,) = results
    assert report.timeouts >= 1
    assert [s.exception_type for s in report.signatures] == [TIMEOUT_TYPE]


def test_targets_catching_exception_cannot_swallow_a_timeout() -> None:
    """InputTimeout is a BaseException, so ``except Exception`` in the target does not hide a hang."""
    assert not issubclass(InputTimeout, Exception)


def test_expected_exceptions_are_not_crashes() -> None:
    """Documented rejections (subclasses included) are normal outcomes."""

    def strict(data: bytes) -> None:
        if not data:
            raise ValueError("empty")
        if data[0] > 200:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "bad")
        if data[0] == 7:
            raise KeyError(7)

    config = FuzzingConfig(max_iterations=2_000, seed=3, expected_exceptions=(ValueError,), **CONFIG)
    report = Fuzzer(strict, config).run()
    assert [s.exception_type for s in report.signatures] == ["KeyError"]


def test_system_exit_is_a_crash() -> None:
    """A library calling sys.exit is a bug; it does not end the campaign."""

    def exits(data: bytes) -> None:
        if data:
            sys.exit(3)

    report = Fuzzer(exits, FuzzingConfig(max_iterations=100)).run()
    assert report.executions == 100
    assert [s.exception_type for s in report.signatures] == ["SystemExit"]


def _check_order(order: dict[str, int]) -> None:
    if order["quantity"] > 1_000 and order["price"] < 0:
        raise ArithmeticError("negative total")


def test_structured_target_finds_a_bug_in_drawn_values(tmp_path: Path) -> None:
    """Bytes drive a Hypothesis strategy; the crash is stored with a note of the value."""
    strategy = st.fixed_dictionaries({"quantity": st.integers(0, 5_000), "price": st.integers(-100, 100)})
    target = structured(_check_order, strategy)
    fuzzer = Fuzzer(target, FuzzingConfig(max_iterations=300, seed=0, crashes_dir=tmp_path, **CONFIG))
    report = fuzzer.run()
    (record,) = report.crashes
    assert record.signature.exception_type == "ArithmeticError"
    assert record.signature.frames[0].function == "_check_order"
    assert record.reproducer is not None
    assert "value: {" in (tmp_path / f"{record.reproducer}.txt").read_text()
    replay = fuzzer.reproduce((tmp_path / record.reproducer).read_bytes())
    assert replay.signature == record.signature


def test_structured_async_target() -> None:
    """An async function of drawn values runs on the campaign's loop."""

    async def target(text: str) -> None:
        await asyncio.sleep(0)
        if "}" in text and "{" not in text:
            raise SyntaxError("unbalanced")

    config = FuzzingConfig(max_iterations=500, seed=1, **CONFIG)
    report = Fuzzer(structured(target, st.text(alphabet="{}ab ")), config).run()
    assert [s.exception_type for s in report.signatures] == ["SyntaxError"]


def test_structured_needs_the_hypothesis_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Hypothesis installed the error names the extra to install."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(MissingExtraError, match=r"buttress-fuzzing\[hypothesis\]") as caught:
        StructuredTarget(_check_order, None)  # type: ignore[arg-type]
    assert isinstance(caught.value, ImportError)
    assert caught.value.extra == "hypothesis"


def test_bad_targets_are_rejected() -> None:
    """A non-callable target or a non-strategy is a typed error."""
    with pytest.raises(FuzzingTypeError, match="target"):
        Fuzzer(b"not callable", FuzzingConfig(max_iterations=1))  # type: ignore[arg-type]
    with pytest.raises(FuzzingTypeError, match="config"):
        Fuzzer(_check_order, {"max_iterations": 1})  # type: ignore[arg-type]
    with pytest.raises(FuzzingTypeError, match="strategy"):
        structured(_check_order, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(FuzzingTypeError, match="data"):
        Fuzzer(_check_order, FuzzingConfig(max_iterations=1)).reproduce("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scope"):
        Fuzzer(_check_order, FuzzingConfig(max_iterations=1, scope=["no.such.module.anywhere"]))


def test_keyboard_interrupt_stops_the_campaign_and_keeps_what_was_found(tmp_path: Path) -> None:
    """Ctrl-C ends the run early; the report says so and the crash index is written."""
    calls = [0]

    def target(data: bytes) -> None:
        calls[0] += 1
        if calls[0] == 50:
            raise LookupError("found before the interrupt")
        if calls[0] == 300:
            raise KeyboardInterrupt

    config = FuzzingConfig(max_iterations=10_000, crashes_dir=tmp_path, minimize_budget=0, **CONFIG)
    report = Fuzzer(target, config).run()
    assert report.interrupted
    assert report.executions == 299
    assert [s.exception_type for s in report.signatures] == ["LookupError"]
    assert (tmp_path / "index.json").is_file()
