"""Fixtures shared by core's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from buttress.core import Telemetry


@pytest.fixture
def counters_made(monkeypatch: pytest.MonkeyPatch) -> Callable[[Telemetry], list[str]]:
    """Record the names of the counters ``telemetry``'s meter makes from now on (in the list returned)."""

    def record(telemetry: Telemetry) -> list[str]:
        meter = telemetry.meter()
        create = meter.create_counter
        made: list[str] = []

        def counter(name: str, **options: object) -> object:
            made.append(name)
            return create(name, **options)

        monkeypatch.setattr(meter, "create_counter", counter)
        return made

    return record
