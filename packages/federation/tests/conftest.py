"""Fixtures shared by the buttress-federation tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from buttress.testing import REQUIRE_ENV
from buttress.testing.plugin import services_required

# The corpus module is shared by several test modules; --import-mode=importlib does not put this folder
# on sys.path by itself.
sys.path.insert(0, str(Path(__file__).parent))

type Unavailable = Callable[[str], NoReturn]


@pytest.fixture
def unavailable(request: pytest.FixtureRequest) -> Unavailable:
    """Skip a test whose tool (node, Apollo's npm packages) is missing; fail it if services are required."""

    def give_up(reason: str) -> NoReturn:
        if services_required(request.config):
            pytest.fail(f"{reason} [services are required: {REQUIRE_ENV}=1]", pytrace=False)
        pytest.skip(reason)

    return give_up
