"""``buttress-federation``: validate subgraph schemas from the command line.

::

    buttress-federation validate schema.graphql [more.graphql ...] [--json]

Exit status: 0 when every schema is valid, 1 when any has errors, 2 when a file cannot be read (missing,
a directory, not UTF-8, larger than 64 MiB) or the command line is wrong. Every failure is a message on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from ._report import SubgraphError
from ._validate import check_subgraph
from .exceptions import FederationTypeError

__all__ = ["MAX_FILE_BYTES", "main"]

MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest SDL file the command line reads (a bigger one is reported as unreadable)."""


class _UsageError(Exception):
    def __init__(self, status: int, message: str | None) -> None:
        self.status = status
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse that reports instead of exiting, so `main` always returns its status."""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _UsageError(status, message)

    def error(self, message: str) -> NoReturn:
        raise _UsageError(2, f"{self.format_usage()}{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="buttress-federation", description="GraphQL Federation subgraph tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    validate = commands.add_parser("validate", help="validate subgraph schemas; print every error")
    validate.add_argument("files", nargs="+", type=Path, help="SDL files (.graphql)")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def _write(stream: TextIO, text: str) -> None:
    """Write text any terminal or pipe can take: what its encoding cannot carry is escaped."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        safe = text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        safe = text.encode("ascii", "backslashreplace").decode("ascii")
    stream.write(safe)


def _read(path: Path) -> str:
    """The file's text; `OSError` or `ValueError` (with a message for the user) when it has none."""
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"it is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"it is not UTF-8 text (byte {error.start} is {data[error.start]:#04x})") from None


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _human(path: str, errors: list[SubgraphError]) -> str:
    if not errors:
        return f"{path}: valid"
    lines = [f"{path}: {len(errors)} error{'s' if len(errors) != 1 else ''}"]
    for error in errors:
        where = f"{path}:{error.line}:{error.column}" if error.line is not None else path
        lines.append(f"  {where}: {error.code}: {error.message}")
    return "\n".join(lines)


def _check_argv(argv: object) -> list[str] | None:
    if argv is None:
        return None
    if isinstance(argv, str | bytes) or not isinstance(argv, Sequence):
        raise FederationTypeError("argv", "a sequence of str or None", argv)
    if not all(isinstance(arg, str) for arg in argv):
        bad = next(arg for arg in argv if not isinstance(arg, str))
        raise FederationTypeError("argv", "a sequence of str (one item is not)", bad)
    return list(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (it never raises on bad files or arguments).

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Raises:
        FederationTypeError: ``argv`` is not a sequence of str.
    """
    arguments = _check_argv(argv)
    try:
        args = _parser().parse_args(arguments)
    except _UsageError as usage:
        if usage.message:
            _write(sys.stderr if usage.status else sys.stdout, usage.message)
        return usage.status
    try:
        return _validate(args.files, as_json=args.json)
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more can be said; keep Python quiet at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _validate(files: list[Path], *, as_json: bool) -> int:
    results: dict[str, list[SubgraphError]] = {}
    unreadable: dict[str, str] = {}
    for path in files:
        name = str(path)
        try:
            sdl = _read(path)
        except OSError as error:
            unreadable[name] = f"cannot read {name}: {_reason(error)}"
            continue
        except ValueError as error:  # not UTF-8, too large, or a path with a NUL byte
            unreadable[name] = f"cannot read {name}: {error}"
            continue
        results[name] = check_subgraph(sdl)
    if as_json:
        payload = {
            "valid": not unreadable and not any(results.values()),
            "files": {
                name: {"valid": not errors, "errors": [e.as_dict() for e in errors]}
                for name, errors in results.items()
            },
            "unreadable": unreadable,
        }
        _write(sys.stdout, json.dumps(payload, indent=2) + "\n")
    else:
        for name, errors in results.items():
            _write(sys.stdout, _human(name, errors) + "\n")
        for message in unreadable.values():
            _write(sys.stderr, message + "\n")
    if unreadable:
        return 2
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
