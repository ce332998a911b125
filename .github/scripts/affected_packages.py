"""Print the CI test matrix for the packages a change affects, as JSON for GitHub Actions.

    python .github/scripts/affected_packages.py BASE_SHA   # packages touched since BASE_SHA
    python .github/scripts/affected_packages.py            # every package

A change to buttress-core, buttress-testing or the shared tooling affects every package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ["3.12", "3.13"]
SHARED = ("packages/core/", "tests-shared/", "pyproject.toml", "uv.lock", "noxfile.py", ".github/", ".ci/")


def packages() -> list[str]:
    """Every package's short name, as the noxfile names them."""
    found = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))
    return [*found, "testing"]


def affected(changed: list[str]) -> list[str]:
    """The packages whose tests a change to ``changed`` paths must run."""
    everything = packages()
    if any(path.startswith(SHARED) or path in SHARED for path in changed):
        return everything
    touched = {
        path.split("/")[1] for path in changed if path.startswith("packages/") and path.count("/") >= 2
    }
    return [name for name in everything if name in touched]


def main(argv: list[str]) -> int:
    """Print the matrix; with a base commit, only for the packages changed since it."""
    if argv:
        diff = subprocess.run(
            ["git", "diff", "--name-only", f"{argv[0]}...HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        names = affected(diff.stdout.split())
    else:
        names = packages()
    matrix = {"include": [{"package": n, "python": py} for n in names for py in PYTHONS]}
    print(json.dumps(matrix))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
