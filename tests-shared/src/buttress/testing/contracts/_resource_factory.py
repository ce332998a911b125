"""`ResourceFactoryContract`: what a factory for buttress-pooling's ``Pool`` must do."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import BackendUnavailableError

from ._cache import close_quietly

__all__ = ["ResourceFactoryContract"]


class ResourceFactoryContract:
    """Conformance suite for a resource factory (``create``/``destroy``, optional ``check``/``reset``).

    Subclass it (as ``TestSomething``) and implement `make_factory`. The optional methods are tested
    only when the factory has them. A factory that talks to a server also implements
    `make_unreachable_factory`, and its ``create`` must then report an unreachable server as a
    `buttress.core.BackendUnavailableError` (its package's ``<S>UnavailableError``), not as the
    driver's own error.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_factory(self) -> Any:
        """Return the factory to test. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_factory()")

    async def make_unreachable_factory(self) -> Any:
        """Return a factory like `make_factory`'s whose server cannot be reached.

        The default, ``None``, says the factory talks to no server, and skips that test.
        """
        return None

    @pytest_asyncio.fixture
    async def factory(self) -> AsyncIterator[Any]:
        """The factory from `make_factory`, closed after the test if it has ``aclose``/``close``."""
        made = await self.make_factory()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def test_create_and_destroy_are_coroutine_functions(self, factory: Any) -> None:
        assert inspect.iscoroutinefunction(factory.create)
        assert inspect.iscoroutinefunction(factory.destroy)
        for name in ("check", "reset"):
            method = getattr(factory, name, None)
            assert method is None or inspect.iscoroutinefunction(method), f"{name} must be async"

    async def test_each_create_makes_a_new_resource(self, factory: Any) -> None:
        first, second = await factory.create(), await factory.create()
        try:
            assert first is not second
        finally:
            await factory.destroy(first)
            await factory.destroy(second)

    async def test_concurrent_creates_and_destroys(self, factory: Any) -> None:
        resources = await asyncio.gather(*(factory.create() for _ in range(8)))
        assert len({id(r) for r in resources}) == 8
        await asyncio.gather(*(factory.destroy(r) for r in resources))

    async def test_a_fresh_resource_passes_its_check(self, factory: Any) -> None:
        if getattr(factory, "check", None) is None:
            pytest.skip("the factory has no check()")
        resource = await factory.create()
        try:
            assert await factory.check(resource) is True
        finally:
            await factory.destroy(resource)

    async def test_a_destroyed_resource_fails_its_check(self, factory: Any) -> None:
        if getattr(factory, "check", None) is None:
            pytest.skip("the factory has no check()")
        resource = await factory.create()
        await factory.destroy(resource)
        try:
            healthy = await factory.check(resource)
        except Exception:  # noqa: BLE001 - raising is an acceptable way to fail a check
            healthy = False
        assert healthy is False, "check() passed a resource that destroy() had disposed of"

    async def test_reset_leaves_the_resource_usable(self, factory: Any) -> None:
        if getattr(factory, "reset", None) is None:
            pytest.skip("the factory has no reset()")
        resource = await factory.create()
        try:
            await factory.reset(resource)
            await factory.reset(resource)  # twice in a row is fine
            if getattr(factory, "check", None) is not None:
                assert await factory.check(resource) is True
        finally:
            await factory.destroy(resource)

    async def test_needs_reset_answers_a_bool_that_a_reset_settles(self, factory: Any) -> None:
        """The optional ``needs_reset`` hook: a bool for a live resource, the same bool asked twice."""
        if getattr(factory, "needs_reset", None) is None:
            pytest.skip("the factory has no needs_reset()")
        assert getattr(factory, "reset", None) is not None, "needs_reset() without reset() means nothing"
        resource = await factory.create()
        try:
            assert factory.needs_reset(resource) in (True, False)
            await factory.reset(resource)
            answer = factory.needs_reset(resource)
            assert answer in (True, False)
            assert factory.needs_reset(resource) is answer  # asking changes nothing
        finally:
            await factory.destroy(resource)

    async def test_an_unreachable_server_is_reported_as_unavailable(self) -> None:
        factory = await self.make_unreachable_factory()
        if factory is None:
            pytest.skip("make_unreachable_factory() returns None: the factory talks to no server")
        try:
            with pytest.raises(BackendUnavailableError):
                await factory.create()
        finally:
            await close_quietly(factory)
