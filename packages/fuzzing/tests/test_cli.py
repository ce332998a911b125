"""The buttress-fuzz command line, progress output, and the pytest helper."""

from __future__ import annotations

import asyncio
import io
import textwrap
from pathlib import Path

import pytest

from buttress.fuzzing import (
    CrashesFoundError,
    Fuzzer,
    FuzzingConfig,
    FuzzingConfigurationError,
    TargetError,
    assert_no_crashes,
    assert_no_crashes_async,
    load_target,
)
from buttress.fuzzing.__main__ import main, read_dictionary

MODULE = """
def parse(data):
    if data[:2] == b"GO":
        if len(data) > 2 and data[2] == ord("!"):
            raise KeyError("bang")
    return len(data)


def safe(data):
    return bytes(reversed(data))


class Rejected(Exception):
    pass


def picky(data):
    if data[:1] == b"x":
        raise Rejected("no x")

NOT_CALLABLE = 3
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with a target module, made the working directory (as a user runs the CLI)."""
    (tmp_path / "fuzzme_cli_target.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_run_crashes_reproduce(project: Path) -> None:
    """run finds the crash (exit 1), crashes lists it, reproduce replays it from the index's target."""
    code, out, err = _main(
        "run", "fuzzme_cli_target:parse", "--iterations", "5000", "--corpus", "corpus", "--crashes", "crashes"
    )
    assert code == 1, err
    assert "5000 executions" in out
    assert "KeyError at parse (fuzzme_cli_target.py)" in out
    assert "(done)" in err

    code, out, _ = _main("crashes", "crashes")
    assert code == 0
    (line,) = [line for line in out.splitlines() if "KeyError" in line]
    signature_id = line.split()[0]

    code, out, _ = _main("reproduce", f"crashes/crash-{signature_id}")
    assert code == 1
    assert "KeyError: 'bang'" in out
    assert f"signature {signature_id}" in out

    code, out, _ = _main("crashes", "crashes", "--json")
    assert '"exception_type": "KeyError"' in out

    code, out, _ = _main("minimize", "fuzzme_cli_target:parse", "--corpus", "corpus")
    assert code == 0
    assert out.startswith("kept ")


def test_reproduce_after_a_fix_reports_no_crash(project: Path) -> None:
    """A reproducer that no longer crashes exits 0."""
    (project / "input.bin").write_bytes(b"GO!")
    code, _, _ = _main("reproduce", "input.bin", "--target", "fuzzme_cli_target:parse")
    assert code == 1
    code, out, _ = _main("reproduce", "input.bin", "--target", "fuzzme_cli_target:safe")
    assert code == 0
    assert "no crash" in out


def test_clean_run_and_expected_exceptions(project: Path) -> None:
    """A target that never crashes exits 0; --expect turns a documented exception into a non-crash."""
    assert _main("run", "fuzzme_cli_target:safe", "--iterations", "300", "--quiet")[0] == 0
    code, out, _ = _main(
        "run", "fuzzme_cli_target:picky", "--iterations", "2000", "--quiet", "--dict", "d.txt"
    )
    assert code == 2  # the dictionary file does not exist
    (project / "d.txt").write_text('# tokens\nx="x"\n"\\x00\\xff"\n')
    assert read_dictionary(project / "d.txt") == [b"x", b"\x00\xff"]
    code, out, _ = _main(
        "run", "fuzzme_cli_target:picky", "--iterations", "2000", "--quiet", "--dict", "d.txt"
    )
    assert code == 1
    assert "Rejected" in out
    code, out, _ = _main(
        "run",
        "fuzzme_cli_target:picky",
        "--iterations",
        "2000",
        "--quiet",
        "--dict",
        "d.txt",
        "--expect",
        "fuzzme_cli_target.Rejected",
    )
    assert code == 0, out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no_colon", "--iterations", "1"], "module:function"),
        (["run", "fuzzme_cli_target:missing", "--iterations", "1"], "no attribute"),
        (["run", "fuzzme_cli_target:NOT_CALLABLE", "--iterations", "1"], "not a callable"),
        (["run", "no_such_module_xyz:f", "--iterations", "1"], "cannot be imported"),
        (["run", "fuzzme_cli_target:parse", "--iterations", "0"], "max_iterations"),
        (["run", "fuzzme_cli_target:parse", "--iterations", "1", "--expect", "NotAnError"], "built-in"),
        (["crashes", "nowhere"], "index.json"),
        (["reproduce", "missing.bin"], "cannot be read"),
    ],
)
@pytest.mark.usefixtures("project")
def test_bad_usage_exits_2_with_a_message(argv: list[str], message: str) -> None:
    """Errors are one line on stderr and exit status 2, never a traceback."""
    code, _, err = _main(*argv)
    assert code == 2
    assert err.startswith("buttress-fuzz: error:")
    assert message in err


def test_bad_dictionary_lines_are_rejected(tmp_path: Path) -> None:
    """A dictionary line that is not a quoted token names the file and line."""
    path = tmp_path / "bad.dict"
    path.write_text('"ok"\nnot quoted\n')
    with pytest.raises(FuzzingConfigurationError, match=r"bad\.dict:2"):
        read_dictionary(path)


def test_load_target_errors() -> None:
    """load_target raises TargetError (a ValueError) naming the spec."""
    with pytest.raises(TargetError, match="json:nope"):
        load_target("json:nope")
    assert load_target("json:loads") is __import__("json").loads


class _Ticking:
    """A clock that moves one second each time it is read, so progress lines come deterministically."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        self.t += 1.0
        return self.t

    def now(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime  # noqa: PLC0415

        return datetime(2026, 1, 1, tzinfo=UTC)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _parse(data: bytes) -> int:
    return len(data)


def test_progress_lines_off_a_terminal() -> None:
    """Not a terminal: plain lines every progress_interval seconds, and a final line."""
    stream = io.StringIO()
    config = FuzzingConfig(max_iterations=2_000, clock=_Ticking(), progress_interval=5)  # type: ignore[arg-type]
    Fuzzer(_parse, config, progress=stream).run()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("#") and " execs " in line and " corpus " in line for line in lines)
    assert "\r" not in stream.getvalue()
    assert lines[-1].endswith("(done)")


def test_progress_is_one_live_line_on_a_terminal() -> None:
    """On a terminal the status line is redrawn in place."""
    stream = _Terminal()
    config = FuzzingConfig(max_iterations=2_000, clock=_Ticking())  # type: ignore[arg-type]
    Fuzzer(_parse, config, progress=stream).run()
    text = stream.getvalue()
    assert text.count("\r\x1b[2K#") >= 2
    assert text.endswith("(done)\n")


def _fragile(data: bytes) -> None:
    if data[:1] == b"\xff":
        raise MemoryError("pretend")


def test_assert_no_crashes() -> None:
    """The pytest helper passes for a robust target and fails with the signature table otherwise."""
    report = assert_no_crashes(_parse, max_iterations=500)
    assert report.executions == 500
    with pytest.raises(CrashesFoundError) as caught:
        assert_no_crashes(_fragile, max_iterations=3_000, dictionary=[b"\xff"])
    assert isinstance(caught.value, AssertionError)
    assert "MemoryError at _fragile" in str(caught.value)
    assert len(caught.value.records) == 1


async def test_assert_no_crashes_async() -> None:
    """The async helper runs on the test's loop and fails with the table."""
    loop = asyncio.get_running_loop()
    seen: set[asyncio.AbstractEventLoop] = set()

    async def fragile(data: bytes) -> None:
        seen.add(asyncio.get_running_loop())
        _fragile(data)

    with pytest.raises(CrashesFoundError, match="MemoryError"):
        await assert_no_crashes_async(fragile, max_iterations=3_000, dictionary=[b"\xff"])
    assert seen == {loop}
    report = await assert_no_crashes_async(_async_ok, FuzzingConfig(max_iterations=200))
    assert report.executions == 200


async def _async_ok(data: bytes) -> None:
    await asyncio.sleep(0)
