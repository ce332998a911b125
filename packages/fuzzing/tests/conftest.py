"""Fixtures: the planted-bug parser, loaded as a module of its own so it is the campaign's scope."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent


def load_module(name: str, path: Path) -> ModuleType:
    """Import a file under a fixed module name (tests are imported in importlib mode)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def planted() -> ModuleType:
    """The record parser with three planted bugs (tests/_planted.py)."""
    return load_module("buttress_fuzzing_planted", HERE / "_planted.py")
