"""Importing the package is cheap: graphql-core loads with the first name that needs it."""

from __future__ import annotations

import subprocess
import sys

import buttress.federation


def run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_package_its_errors_and_dataloader_do_not_load_graphql() -> None:
    run(
        "import sys\n"
        "from buttress.federation import DataLoader, FederationError, RepresentationError\n"
        "assert 'graphql' not in sys.modules, 'graphql-core imported by the package'\n"
        "from buttress.federation import check_subgraph\n"
        "assert 'graphql' in sys.modules\n"
        "assert check_subgraph('type Query { a: Int }') == []\n"
    )


def test_every_public_name_resolves() -> None:
    missing = [name for name in buttress.federation.__all__ if not hasattr(buttress.federation, name)]
    assert missing == []


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(buttress.federation, "no_such_name")
