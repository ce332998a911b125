"""A resource factory whose failures the tests switch on and off, recording every create and destroy."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from buttress.core import Clock


class FactoryError(Exception):
    """Raised by FlakyFactory when told to fail."""


@dataclass(eq=False)
class Thing:
    """A pooled resource: remembers when it was made and whether it was destroyed."""

    number: int
    born: float
    destroyed: int = 0


@dataclass
class FlakyFactory:
    clock: Clock | None = None
    create_delay: float = 0.0
    fail_create: bool = False
    fail_destroy: bool = False
    fail_check: bool = False
    fail_reset: bool = False
    reset_delay: float = 0.0
    created: list[Thing] = field(default_factory=list)
    destroy_calls: list[Thing] = field(default_factory=list)
    checks: int = 0
    resets: int = 0
    on_reset: Callable[[], object] | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def create(self) -> Thing:
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        if self.fail_create:
            raise FactoryError("the server refused the connection")
        thing = Thing(next(self._numbers), self.clock.monotonic() if self.clock else 0.0)
        self.created.append(thing)
        return thing

    async def destroy(self, resource: Thing) -> None:
        self.destroy_calls.append(resource)
        resource.destroyed += 1
        if self.fail_destroy:
            raise FactoryError("close failed")

    async def check(self, resource: Thing) -> bool:
        self.checks += 1
        assert resource.destroyed == 0, "a destroyed resource was checked"
        return not self.fail_check

    async def reset(self, resource: Thing) -> None:
        self.resets += 1
        if self.on_reset is not None:
            self.on_reset()
        if self.reset_delay:
            await asyncio.sleep(self.reset_delay)
        if self.fail_reset:
            raise FactoryError("reset failed")

    @property
    def alive(self) -> list[Thing]:
        return [t for t in self.created if t.destroyed == 0]


@pytest.fixture
def factory() -> FlakyFactory:
    return FlakyFactory()


@pytest.fixture
def factory_type() -> type[FlakyFactory]:
    return FlakyFactory
