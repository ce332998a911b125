"""Crash signatures: exception type + the target's own innermost frames, hashed with SHA-256."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ._checks import positive_int, strings
from .exceptions import FuzzingTypeError, InputTimeout

__all__ = ["CrashSignature", "Frame", "SignatureBuilder"]

_HARNESS_DIR = str(Path(__file__).resolve().parent) + os.sep
_SIGNATURE_VERSION = "buttress-fuzzing/1"


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    found |= {os.path.dirname(os.__file__)}
    return tuple(sorted({os.path.realpath(p) + os.sep for p in found}, key=len, reverse=True))


_LIBRARY_DIRS = _library_dirs()


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a crash signature.

    Attributes:
        path: The file, relative to the import root it was loaded from (``myapp/parser.py``), with
            ``/`` separators, so it reads the same on every machine.
        function: The function's qualified name (``Parser.read_header``).
        line: The line number, or ``None`` when signatures leave line numbers out.
    """

    path: str
    function: str
    line: int | None = None

    def __post_init__(self) -> None:
        for name in ("path", "function"):
            if not isinstance(getattr(self, name), str):
                raise FuzzingTypeError(name, "a str", getattr(self, name))
        if self.line is not None and (isinstance(self.line, bool) or not isinstance(self.line, int)):
            raise FuzzingTypeError("line", "an int or None", self.line)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{self.function} ({where})"


@dataclass(frozen=True, slots=True)
class CrashSignature:
    """What makes two crashes the same crash: the exception type and the target's innermost frames.

    Frames of the standard library, of installed packages (site-packages) and of this harness are
    left out, so two bugs that both end in ``json.loads`` are told apart by your code that called
    it, and one bug reached through many inputs is one signature.

    Attributes:
        exception_type: The exception's qualified name (``ValueError``, ``myapp.errors.BadHeader``).
        frames: The target's own frames, innermost first.
        digest: SHA-256 (hex) of the type and frames: stable across runs, processes and machines.
    """

    exception_type: str
    frames: tuple[Frame, ...]
    digest: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.exception_type, str) or not self.exception_type:
            raise FuzzingTypeError("exception_type", "a non-empty str", self.exception_type)
        if not isinstance(self.frames, tuple) or not all(isinstance(f, Frame) for f in self.frames):
            raise FuzzingTypeError("frames", "a tuple of Frame", self.frames)
        lines = [_SIGNATURE_VERSION, self.exception_type]
        lines.extend(f"{f.path}\0{f.function}\0{'' if f.line is None else f.line}" for f in self.frames)
        digest = hashlib.sha256("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()
        object.__setattr__(self, "digest", digest)

    @property
    def id(self) -> str:
        """The first 16 hex digits of `digest`: what reproducer file names use."""
        return self.digest[:16]

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        max_frames: int = 3,
        line_numbers: bool = False,
        scope: Sequence[str] = (),
        skip_functions: Sequence[str] = (),
    ) -> CrashSignature:
        """Compute the signature of an exception with a traceback.

        Args:
            exc: The exception, as caught.
            max_frames: How many of the target's own frames to keep, innermost first.
            line_numbers: Keep line numbers in frames.
            scope: Files or directories whose frames count; empty means every frame outside the
                standard library, site-packages and this harness.
            skip_functions: ``fnmatch`` patterns of qualified names to leave out.

        Returns:
            The signature.
        """
        builder = SignatureBuilder(
            max_frames=max_frames, line_numbers=line_numbers, scope=scope, skip_functions=skip_functions
        )
        return builder.signature(exc)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form; `from_dict` reads it back."""
        return {
            "exception_type": self.exception_type,
            "frames": [[f.path, f.function, f.line] for f in self.frames],
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: object) -> CrashSignature:
        """Read a signature written by `to_dict`.

        Raises:
            FuzzingTypeError: The data does not have that shape.
        """
        if not isinstance(data, dict):
            raise FuzzingTypeError("signature", "a dict written by CrashSignature.to_dict", data)
        frames_data = data.get("frames")
        if not isinstance(frames_data, list):
            raise FuzzingTypeError("signature['frames']", "a list", frames_data)
        frames = []
        for item in frames_data:
            if (
                not isinstance(item, list)
                or len(item) != 3
                or not isinstance(item[0], str)
                or not isinstance(item[1], str)
                or not (item[2] is None or (isinstance(item[2], int) and not isinstance(item[2], bool)))
            ):
                raise FuzzingTypeError("signature frame", "[path, function, line]", item)
            frames.append(Frame(item[0], item[1], item[2]))
        exception_type = data.get("exception_type")
        if not isinstance(exception_type, str):
            raise FuzzingTypeError("signature['exception_type']", "a str", exception_type)
        return cls(exception_type, tuple(frames))

    def __str__(self) -> str:
        where = " <- ".join(str(f) for f in self.frames) or "(no frames of the target)"
        return f"{self.exception_type} at {where}"


def _type_name(exc_type: type[BaseException]) -> str:
    module = exc_type.__module__
    if module in ("builtins", "__main__"):
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"


@functools.lru_cache(maxsize=4096)
def _relative(filename: str) -> str:
    """A path that reads the same on every machine: relative to the import root, else to cwd."""
    real = os.path.realpath(filename)
    best = ""
    for entry in sys.path:
        root = os.path.realpath(entry or os.curdir) + os.sep
        if real.startswith(root) and len(root) > len(best):
            best = root
    if best:
        return real[len(best) :].replace(os.sep, "/")
    cwd = os.path.realpath(os.curdir) + os.sep
    if real.startswith(cwd):
        return real[len(cwd) :].replace(os.sep, "/")
    return os.path.basename(real)


@functools.lru_cache(maxsize=4096)
def _realpath(filename: str) -> str:
    # Files do not move while a process runs; resolving each once keeps new builders cheap.
    return filename if filename.startswith("<") else os.path.realpath(filename)


class SignatureBuilder:
    """Computes `CrashSignature`s with fixed settings, caching per-file decisions (fast for many crashes).

    Args:
        max_frames: How many of the target's own frames to keep, innermost first.
        line_numbers: Keep line numbers in frames.
        scope: Absolute files or directories whose frames count; empty means every frame outside
            the standard library, site-packages and this harness.
        skip_functions: ``fnmatch`` patterns of qualified names to leave out.
    """

    __slots__ = ("_files", "_line_numbers", "_max_frames", "_scope", "_skip")

    def __init__(
        self,
        *,
        max_frames: int = 3,
        line_numbers: bool = False,
        scope: Iterable[str] = (),
        skip_functions: Iterable[str] = (),
    ) -> None:
        self._max_frames = positive_int("max_frames", max_frames)
        if not isinstance(line_numbers, bool):
            raise FuzzingTypeError("line_numbers", "a bool", line_numbers)
        self._line_numbers = line_numbers
        self._scope = tuple(os.path.realpath(s) for s in strings("scope", scope))
        patterns = [fnmatch.translate(p) for p in strings("skip_functions", skip_functions)]
        self._skip = re.compile("|".join(patterns)) if patterns else None
        self._files: dict[str, str | None] = {}

    def _path_of(self, filename: str) -> str | None:
        """The normalised path of a file whose frames count, or ``None`` to skip them."""
        try:
            return self._files[filename]
        except KeyError:
            pass
        result: str | None = None
        real = _realpath(filename)
        if real.startswith(_HARNESS_DIR):
            result = None
        elif self._scope:
            if any(real == s or real.startswith(s + os.sep) for s in self._scope):
                result = _relative(real)
        elif not filename.startswith("<") and not real.startswith(_LIBRARY_DIRS):
            parts = real.split(os.sep)
            if "site-packages" not in parts and "dist-packages" not in parts:
                result = _relative(real)
        self._files[filename] = result
        return result

    def frames(self, tb: TracebackType | None, *, line_numbers: bool | None = None) -> tuple[Frame, ...]:
        """The target's own frames of a traceback, innermost first, at most ``max_frames``."""
        with_lines = self._line_numbers if line_numbers is None else line_numbers
        stack: list[TracebackType] = []
        while tb is not None:
            stack.append(tb)
            tb = tb.tb_next
        found: list[Frame] = []
        skip = self._skip
        for entry in reversed(stack):
            code = entry.tb_frame.f_code
            path = self._path_of(code.co_filename)
            if path is None:
                continue
            name = code.co_qualname
            if skip is not None and skip.match(name):
                continue
            found.append(Frame(path, name, entry.tb_lineno if with_lines else None))
            if len(found) == self._max_frames:
                break
        return tuple(found)

    def signature(self, exc: BaseException) -> CrashSignature:
        """The signature of a caught exception."""
        if not isinstance(exc, BaseException):
            raise FuzzingTypeError("exc", "an exception", exc)
        preset = getattr(exc, "signature_frames", None)
        if isinstance(preset, tuple) and all(isinstance(f, Frame) for f in preset):
            return CrashSignature(_type_name(type(exc)), preset)
        # A hang is interrupted wherever it happens to be: lines would split one hang into many.
        with_lines = False if isinstance(exc, InputTimeout) else None
        return CrashSignature(_type_name(type(exc)), self.frames(exc.__traceback__, line_numbers=with_lines))
