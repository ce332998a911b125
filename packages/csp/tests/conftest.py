"""Fixtures shared by the buttress-csp tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import pytest

from buttress.testing import REQUIRE_ENV
from buttress.testing.plugin import services_required

type Unavailable = Callable[[str], NoReturn]


@pytest.fixture
def unavailable(request: pytest.FixtureRequest) -> Unavailable:
    """Skip a test whose outside tool (a browser, node) is missing; fail it when services are required."""

    def give_up(reason: str) -> NoReturn:
        if services_required(request.config):
            pytest.fail(f"{reason} [services are required: {REQUIRE_ENV}=1]", pytrace=False)
        pytest.skip(reason)

    return give_up
