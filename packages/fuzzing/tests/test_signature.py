"""Crash signatures: stability (Property 21) and distinctness (Property 22)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.fuzzing import CrashSignature, Frame, FuzzingTypeError, InputTimeout, SignatureBuilder

SOURCE = """
def _check(data):
    if data == b"boom":
        raise {exc}("bad input " + repr(data))
    return len(data)

def handle(data):
    return _check(data) + 1
"""


def _crash(path: Path, blank_lines: int, exc: str = "ValueError") -> BaseException:
    """Compile the module at ``path`` (shifted down by blank lines), call it, return what it raised."""
    source = "\n" * blank_lines + SOURCE.format(exc=exc)
    path.write_text(source)
    namespace: dict[str, object] = {}
    exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - compiling a fixture module
    handle = namespace["handle"]
    assert callable(handle)
    try:
        handle(b"boom")
    except Exception as caught:  # noqa: BLE001 - the crash under test
        return caught
    raise AssertionError("no crash")


@given(shift=st.integers(min_value=0, max_value=40))
def test_property_21_stable_across_line_drift(shift: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Property 21: Signature Stability — without line numbers, moving the code does not change the hash."""
    path = tmp_path_factory.mktemp("drift") / "module.py"
    plain = SignatureBuilder(scope=[str(path)])
    with_lines = SignatureBuilder(scope=[str(path)], line_numbers=True)
    base, moved = _crash(path, 0), _crash(path, shift)

    assert plain.signature(base) == plain.signature(moved)
    assert plain.signature(base).digest == plain.signature(moved).digest
    assert [f.function for f in plain.signature(base).frames] == ["_check", "handle"]
    assert (with_lines.signature(base) == with_lines.signature(moved)) == (shift == 0)


def test_property_21_stable_across_processes(tmp_path: Path) -> None:
    """Property 21: the digest is a pure function of type and frames: the same in another interpreter."""
    signature = CrashSignature(
        "ValueError", (Frame("app/parse.py", "Parser.read", None), Frame("app/x.py", "f", 3))
    )
    script = textwrap.dedent(
        """
        from buttress.fuzzing import CrashSignature, Frame
        frames = (Frame("app/parse.py", "Parser.read", None), Frame("app/x.py", "f", 3))
        print(CrashSignature("ValueError", frames).digest)
        """
    )
    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert other.stdout.strip() == signature.digest
    # Pinned: a change of the hashing scheme would orphan every stored crash index.
    assert signature.digest == "473b5d03fc1e8dd30149f15b374de326cd55d1f37797b824517cc8b12d765a0e"
    assert signature.id == signature.digest[:16]


EXCEPTIONS = ["ValueError", "KeyError", "IndexError", "TypeError", "ZeroDivisionError", "RuntimeError"]


@given(first=st.sampled_from(EXCEPTIONS), second=st.sampled_from(EXCEPTIONS))
def test_property_22_distinct_types_at_one_frame_are_distinct(
    first: str, second: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property 22: Signature Distinctness — same frames, different exception types, different signatures."""
    path = tmp_path_factory.mktemp("types") / "module.py"
    builder = SignatureBuilder(scope=[str(path)])
    a, b = builder.signature(_crash(path, 0, first)), builder.signature(_crash(path, 0, second))
    assert a.frames == b.frames
    assert (a == b) == (first == second)
    assert (a.digest == b.digest) == (first == second)


@given(
    exception_type=st.text(min_size=1, max_size=20),
    frames=st.lists(
        st.builds(Frame, st.text(max_size=10), st.text(max_size=10), st.none() | st.integers(0, 10_000)),
        max_size=4,
    ),
)
def test_property_22_digest_separates_every_field(exception_type: str, frames: list[Frame]) -> None:
    """Property 22: to_dict/from_dict round-trips, and changing any field changes the digest."""
    signature = CrashSignature(exception_type, tuple(frames))
    assert CrashSignature.from_dict(json.loads(json.dumps(signature.to_dict()))) == signature
    assert CrashSignature(exception_type + "x", tuple(frames)).digest != signature.digest
    if frames:
        head = frames[0]
        changed = Frame(head.path, head.function + "_", head.line)
        assert CrashSignature(exception_type, (changed, *frames[1:])).digest != signature.digest
        assert CrashSignature(exception_type, tuple(frames[1:])).digest != signature.digest


def _raise_from(function: Callable[[], object]) -> BaseException:
    try:
        function()
    except Exception as caught:  # noqa: BLE001 - the crash under test
        return caught
    raise AssertionError("no crash")


def _decode_config() -> object:
    return json.loads("{not json")


def _fail(reason: str) -> None:
    raise RuntimeError(reason)


def _validate() -> None:
    _fail("invalid")


def _deep(n: int) -> None:
    if n == 0:
        raise KeyError(n)
    _deep(n - 1)


def test_stdlib_frames_are_skipped() -> None:
    """A crash inside json.loads is signed by the caller's frame, not the decoder's."""
    signature = CrashSignature.from_exception(_raise_from(_decode_config))
    assert signature.exception_type == "json.decoder.JSONDecodeError"
    assert signature.frames[0].function == "_decode_config"
    assert signature.frames[0].path.endswith("test_signature.py")
    assert all("json" not in f.path for f in signature.frames)


def test_skip_functions_and_max_frames() -> None:
    """Shared error helpers can be left out; only the innermost max_frames frames are kept."""
    exc = _raise_from(_validate)
    assert CrashSignature.from_exception(exc).frames[0].function == "_fail"
    skipped = CrashSignature.from_exception(exc, skip_functions=["_fa*"])
    assert skipped.frames[0].function == "_validate"
    deep = CrashSignature.from_exception(_raise_from(lambda: _deep(10)), max_frames=2)
    assert [f.function for f in deep.frames] == ["_deep", "_deep"]
    assert all(f.line is None for f in deep.frames)
    numbered = CrashSignature.from_exception(_raise_from(lambda: _deep(1)), line_numbers=True, max_frames=5)
    assert all(isinstance(f.line, int) for f in numbered.frames)
    assert [f.function for f in numbered.frames] == [
        "_deep",
        "_deep",
        "test_skip_functions_and_max_frames.<locals>.<lambda>",
        "_raise_from",
    ]


def test_timeouts_never_carry_line_numbers() -> None:
    """A hang is interrupted at a different line each time: its signature uses functions only."""

    def spin() -> None:
        raise InputTimeout(1.0)

    try:
        spin()
    except InputTimeout as hang:
        signature = SignatureBuilder(line_numbers=True).signature(hang)
    assert signature.exception_type == "buttress.fuzzing.exceptions.InputTimeout"
    assert signature.frames
    assert all(f.line is None for f in signature.frames)


def test_bad_input_is_rejected() -> None:
    """Wrong types are FuzzingTypeError (a TypeError)."""
    with pytest.raises(FuzzingTypeError):
        SignatureBuilder().signature("not an exception")  # type: ignore[arg-type]
    with pytest.raises(FuzzingTypeError):
        CrashSignature.from_dict({"exception_type": "E", "frames": [["a", "b"]]})
    with pytest.raises(FuzzingTypeError):
        CrashSignature("", ())
    with pytest.raises(ValueError, match="max_frames"):
        SignatureBuilder(max_frames=0)
