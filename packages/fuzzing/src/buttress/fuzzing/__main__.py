"""The ``buttress-fuzz`` command line.

::

    buttress-fuzz run myapp.parser:parse --time 60 --corpus corpus/ --crashes crashes/
    buttress-fuzz crashes crashes/
    buttress-fuzz reproduce crashes/crash-3f1c0a9e52b7d410
    buttress-fuzz minimize myapp.parser:parse --corpus corpus/

Exit status: 0 when nothing crashed (or a reproducer no longer crashes), 1 when crashes were found
(or a reproducer still crashes), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._asgi import AsgiTarget
from ._config import FuzzingConfig
from ._fuzzer import Fuzzer
from ._store import INDEX_NAME, CrashStore, format_table
from ._targets import load_target
from .exceptions import FuzzingConfigurationError, FuzzingError, TargetError

__all__ = ["build_parser", "main", "read_dictionary"]

_PROG = "buttress-fuzz"


def read_dictionary(path: Path) -> list[bytes]:
    r"""Read a dictionary file in the AFL/libFuzzer format: one ``"token"`` or ``name="token"`` per line.

    Tokens use C-style escapes (``\\x00``, ``\\n``, ``\\"``); ``#`` starts a comment line.

    Raises:
        FuzzingConfigurationError: A line is not a quoted token, or the file cannot be read.
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FuzzingConfigurationError("dict", str(path), f"cannot be read: {exc}") from exc
    tokens: list[bytes] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        start = line.find('"')
        if start < 0 or not line.endswith('"') or len(line) - start < 3:
            raise FuzzingConfigurationError("dict", f"{path}:{number}", 'expected "token" or name="token"')
        try:
            value = ast.literal_eval("b" + line[start:])
        except (ValueError, SyntaxError) as exc:
            raise FuzzingConfigurationError("dict", f"{path}:{number}", f"bad escape ({exc})") from exc
        if not isinstance(value, bytes):
            raise FuzzingConfigurationError("dict", f"{path}:{number}", "not a byte string")
        tokens.append(value)
    return tokens


def _exception_type(spec: str) -> type[BaseException]:
    if ":" not in spec and "." not in spec:
        found = getattr(builtins, spec, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
        raise TargetError(spec, "is not a built-in exception; write module:Name")
    if ":" not in spec:
        module, _, name = spec.rpartition(".")
        spec = f"{module}:{name}"
    obj: Any = load_target(spec)
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        raise TargetError(spec, "is not an exception class")
    return obj


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation tools and tests)."""
    parser = argparse.ArgumentParser(prog=_PROG, description="Coverage-guided fuzzing of Python targets.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="fuzz a target")
    run.add_argument("target", help="module:function taking bytes (or an ASGI app with --route)")
    run.add_argument("--time", type=float, default=None, help="seconds to run")
    run.add_argument("--iterations", type=int, default=None, help="executions to run")
    run.add_argument("--corpus", type=Path, default=None, help="corpus directory (seeds in, new inputs out)")
    run.add_argument("--crashes", type=Path, default=None, help="crashes directory")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--timeout", type=float, default=1.0, help="seconds per input (0: none)")
    run.add_argument("--min-len", type=int, default=0)
    run.add_argument("--max-len", type=int, default=4096)
    run.add_argument("--dict", type=Path, action="append", default=[], help="AFL/libFuzzer dictionary file")
    run.add_argument("--expect", action="append", default=[], help="exception type that is not a crash")
    run.add_argument("--scope", action="append", default=[], help="module or path whose code is the target's")
    run.add_argument("--frames", type=int, default=3, help="frames per crash signature")
    run.add_argument("--line-numbers", action="store_true", help="put line numbers in signatures")
    run.add_argument("--no-coverage", action="store_true", help="fuzz without coverage guidance")
    run.add_argument("--route", action="append", default=[], help="treat the target as an ASGI app; a path")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    crashes = commands.add_parser("crashes", help="list the crashes in a crashes directory")
    crashes.add_argument("directory", type=Path)
    crashes.add_argument("--json", action="store_true", help="print the index as JSON")

    reproduce = commands.add_parser("reproduce", help="run one reproducer file")
    reproduce.add_argument("file", type=Path)
    reproduce.add_argument("--target", default=None, help="module:function (default: from the crash index)")
    reproduce.add_argument("--scope", action="append", default=[])
    reproduce.add_argument("--route", action="append", default=[])

    minimize = commands.add_parser("minimize", help="keep the smallest corpus inputs with the same coverage")
    minimize.add_argument("target")
    minimize.add_argument("--corpus", type=Path, required=True)
    minimize.add_argument("--scope", action="append", default=[])
    minimize.add_argument("--route", action="append", default=[])
    return parser


def _target(spec: str, routes: list[str]) -> Callable[..., object]:
    obj = load_target(spec)
    return AsgiTarget(obj, routes) if routes else obj


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.time is None and args.iterations is None:
        args.time = 60.0
    tokens = [t for path in args.dict for t in read_dictionary(path)]
    config = FuzzingConfig(
        max_iterations=args.iterations,
        max_time=args.time,
        seed=args.seed,
        min_input_size=args.min_len,
        max_input_size=args.max_len,
        timeout=args.timeout or None,
        corpus_dir=args.corpus,
        crashes_dir=args.crashes,
        dictionary=tuple(tokens),
        expected_exceptions=tuple(_exception_type(e) for e in args.expect),
        max_frames=args.frames,
        line_numbers=args.line_numbers,
        scope=tuple(args.scope),
        coverage=not args.no_coverage,
    )
    fuzzer = Fuzzer(_target(args.target, args.route), config, progress=None if args.quiet else err)
    report = fuzzer.run()
    out.write(
        f"{report.executions} executions, {report.execs_per_second:.0f}/s, corpus {report.corpus_size}, "
        f"coverage {report.coverage}, {len(report.crashes)} distinct crash(es)\n"
    )
    if report.crashes:
        out.write(report.table() + "\n")
    return 1 if report.crashes else 0


def _crashes(args: argparse.Namespace, out: TextIO) -> int:
    if not (args.directory / INDEX_NAME).is_file():
        raise FuzzingConfigurationError("directory", str(args.directory), f"holds no {INDEX_NAME}")
    store = CrashStore(args.directory)
    if args.json:
        out.write(json.dumps([r.to_dict() for r in store.records()], indent=2) + "\n")
    else:
        out.write(format_table(store.records()) + "\n")
    return 0


def _reproduce(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FuzzingConfigurationError("file", str(path), f"cannot be read: {exc.strerror}") from exc
    spec = args.target
    expected = None
    if spec is None:
        if not (path.parent / INDEX_NAME).is_file():
            raise TargetError(str(path), "no crash index beside the file: pass --target module:function")
        for record in CrashStore(path.parent).records():
            if record.reproducer == path.name:
                spec, expected = record.target, record.signature
        if spec is None or spec.startswith("asgi:"):
            raise TargetError(str(path), "the crash index does not name its target: pass --target")
    config = FuzzingConfig(max_iterations=1, scope=tuple(args.scope), coverage=False, code_constants=False)
    result = Fuzzer(_target(spec, args.route), config).reproduce(data)
    if result.signature is None:
        out.write(f"{path}: no crash ({len(data)} bytes, target {spec})\n")
        return 0
    out.write(result.traceback())
    out.write(f"\nsignature {result.signature.id}: {result.signature}\n")
    if expected is not None and expected != result.signature:
        out.write(f"note: the index recorded a different signature, {expected.id}: {expected}\n")
    return 1


def _minimize(args: argparse.Namespace, out: TextIO) -> int:
    config = FuzzingConfig(max_iterations=1, corpus_dir=args.corpus, scope=tuple(args.scope))
    result = Fuzzer(_target(args.target, args.route), config).minimize_corpus()
    out.write(
        f"kept {len(result.after)} of {result.before} inputs ({result.coverage} features); "
        f"removed {result.removed_files} file(s)\n"
    )
    return 0


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the command line; return the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, out, err)
        if args.command == "crashes":
            return _crashes(args, out)
        if args.command == "reproduce":
            return _reproduce(args, out)
        return _minimize(args, out)
    except FuzzingError as exc:
        err.write(f"{_PROG}: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
