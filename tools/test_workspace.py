"""The workspace's root ``dev`` group can run every package's tests in one virtualenv.

The ``explore``, ``tour`` and ``frameworks`` sessions (and ``uv run pytest``) install the workspace with
``--group dev`` and run several packages' tests there, so every library a package's ``test`` group
names must come with ``dev``: listed in it, or a dependency or extra of the package itself (``dev``
installs each package with all its extras).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; @]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _project_files() -> list[Path]:
    return [*sorted((ROOT / "packages").glob("*/pyproject.toml")), ROOT / "tests-shared" / "pyproject.toml"]


def test_every_test_group_library_comes_with_the_dev_group() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = {_name(r) for r in root["dependency-groups"]["dev"] if isinstance(r, str)}
    missing: list[str] = []
    for path in _project_files():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        project = data["project"]
        own = {_name(r) for r in project.get("dependencies", [])}
        for extra in project.get("optional-dependencies", {}).values():
            own |= {_name(r) for r in extra}
        for requirement in data.get("dependency-groups", {}).get("test", []):
            if not isinstance(requirement, str):
                continue
            name = _name(requirement)
            if name.startswith("buttress-") or name in dev or name in own:
                continue
            missing.append(f"{path.parent.name}: {requirement}")
    assert not missing, "add to the root dev group: " + ", ".join(missing)
