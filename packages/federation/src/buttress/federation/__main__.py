"""``buttress-federation``: validate subgraph schemas from the command line.

::

    buttress-federation validate schema.graphql [more.graphql ...] [--json]

Exit status: 0 when every schema is valid, 1 when any has errors, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ._validate import SubgraphError, check_subgraph

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buttress-federation", description="GraphQL Federation subgraph tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate subgraph schemas; print every error")
    validate.add_argument("files", nargs="+", type=Path, help="SDL files (.graphql)")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def _human(path: Path, errors: list[SubgraphError]) -> str:
    if not errors:
        return f"{path}: valid"
    lines = [f"{path}: {len(errors)} error{'s' if len(errors) != 1 else ''}"]
    for error in errors:
        where = f"{path}:{error.line}:{error.column}" if error.line is not None else str(path)
        lines.append(f"  {where}: {error.code}: {error.message}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    results: dict[str, list[SubgraphError]] = {}
    unreadable: dict[str, str] = {}
    for path in args.files:
        try:
            sdl = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            unreadable[str(path)] = f"cannot read {path}: {error}"
            continue
        results[str(path)] = check_subgraph(sdl)
    if args.json:
        payload = {
            "valid": not unreadable and not any(results.values()),
            "files": {
                name: {"valid": not errors, "errors": [e.as_dict() for e in errors]}
                for name, errors in results.items()
            },
            "unreadable": unreadable,
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        for name, errors in results.items():
            sys.stdout.write(_human(Path(name), errors) + "\n")
        for message in unreadable.values():
            sys.stderr.write(message + "\n")
    if unreadable:
        return 2
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
