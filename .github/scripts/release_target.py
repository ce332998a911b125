"""Check a release tag against the package it names; print GitHub outputs for the release workflow.

    python .github/scripts/release_target.py "buttress-caching==0.2.0"

Exits non-zero, saying why, when the tag is malformed, names no package, or its version differs from
the package's static version.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = re.compile(r"^(?P<name>buttress-[a-z0-9-]+)==(?P<version>[0-9][0-9A-Za-z.+-]*)$")


def main(argv: list[str]) -> int:
    """Validate the tag in ``argv[0]`` and print the package's outputs."""
    match = TAG.match(argv[0] if argv else "")
    if match is None:
        print(f"tag {argv[:1]!r} is not 'buttress-<concern>==<version>'", file=sys.stderr)
        return 1
    name, version = match["name"], match["version"]
    candidates = [
        *sorted((ROOT / "packages").glob("*/pyproject.toml")),
        ROOT / "tests-shared" / "pyproject.toml",
    ]
    for pyproject in candidates:
        project = tomllib.loads(pyproject.read_text())["project"]
        if project["name"] != name:
            continue
        if project["version"] != version:
            print(f"tag says {name} {version} but {pyproject} says {project['version']}", file=sys.stderr)
            return 1
        module = next(p.name for p in (pyproject.parent / "src" / "buttress").iterdir() if p.is_dir())
        print(f"distribution={name}")
        print(f"directory={pyproject.parent.relative_to(ROOT)}")
        print(f"import=buttress.{module}")
        return 0
    print(f"no package is named {name}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
