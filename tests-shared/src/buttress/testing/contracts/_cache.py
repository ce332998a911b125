"""`CacheProviderContract`: what every `buttress.core.CacheProvider` must do."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import MISSING, CacheProvider, ConfigurationError

__all__ = ["CacheProviderContract"]


class CacheProviderContract:
    """Conformance suite for `buttress.core.CacheProvider`.

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_cache`. Each test
    gets a fresh cache from it; when the cache has ``aclose()`` or ``close()``, it is called after the
    test. Fixtures reach `make_cache` through an autouse fixture on the subclass that stores them on
    ``self``.

    Class attributes tune the timing-dependent checks for backends with coarse expiry:

    Attributes:
        short_ttl: A TTL in seconds the backend honours; the expiry check waits for it to pass.
        expiry_wait: How long, at most, the expiry check waits for an expired key to vanish.
        sample_values: Values every provider must round-trip: JSON's types, falsy ones and ``None`` included.
    """

    short_ttl: ClassVar[float] = 0.2
    expiry_wait: ClassVar[float] = 5.0
    sample_values: ClassVar[tuple[object, ...]] = (
        None,
        0,
        1,
        -7,
        0.5,
        "",
        "text",
        "ünïcødé ✓",
        False,
        True,
        [],
        [1, "two", None],
        {},
        {"nested": {"list": [1, 2, 3], "flag": False}},
    )

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_cache(self) -> CacheProvider[Any]:
        """Return a new, empty cache to test. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_cache()")

    @pytest_asyncio.fixture
    async def cache(self) -> AsyncIterator[CacheProvider[Any]]:
        """A fresh cache from `make_cache`, closed after the test."""
        provider = await self.make_cache()
        try:
            yield provider
        finally:
            await close_quietly(provider)

    async def test_conforms_to_the_protocol(self, cache: CacheProvider[Any]) -> None:
        assert isinstance(cache, CacheProvider)

    async def test_get_of_an_unknown_key_is_missing(self, cache: CacheProvider[Any]) -> None:
        assert await cache.get("contract:absent") is MISSING
        assert await cache.exists("contract:absent") is False

    async def test_set_then_get_round_trips_every_sample(self, cache: CacheProvider[Any]) -> None:
        for index, value in enumerate(self.sample_values):
            await cache.set(f"contract:value:{index}", value)
        for index, value in enumerate(self.sample_values):
            got = await cache.get(f"contract:value:{index}")
            assert got == value, f"sample {index} ({value!r}) came back as {got!r}"
            assert type(got) is type(value)

    async def test_none_is_a_value_not_a_miss(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:none", None)
        assert await cache.get("contract:none") is None
        assert await cache.exists("contract:none") is True

    async def test_set_overwrites(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:over", "first")
        await cache.set("contract:over", "second")
        assert await cache.get("contract:over") == "second"

    async def test_delete_reports_whether_the_key_was_there(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:del", 1)
        assert await cache.delete("contract:del") is True
        assert await cache.get("contract:del") is MISSING
        assert await cache.delete("contract:del") is False

    async def test_exists_follows_set_and_delete(self, cache: CacheProvider[Any]) -> None:
        assert await cache.exists("contract:ex") is False
        await cache.set("contract:ex", 0)
        assert await cache.exists("contract:ex") is True
        await cache.delete("contract:ex")
        assert await cache.exists("contract:ex") is False

    async def test_keys_are_distinct(self, cache: CacheProvider[Any]) -> None:
        keys = ["a", "A", "a ", "a:b", "a*", "a?", "[a]", "ключ", "🔑", "x" * 200]
        for index, key in enumerate(keys):
            await cache.set(key, index)
        for index, key in enumerate(keys):
            assert await cache.get(key) == index, key

    async def test_clear_removes_every_key(self, cache: CacheProvider[Any]) -> None:
        for index in range(25):
            await cache.set(f"contract:clear:{index}", index)
        await cache.clear()
        for index in range(25):
            assert await cache.get(f"contract:clear:{index}") is MISSING
        await cache.set("contract:after-clear", "ok")
        assert await cache.get("contract:after-clear") == "ok"

    async def test_a_long_ttl_keeps_the_value(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:ttl:long", "kept", ttl=3600)
        assert await cache.get("contract:ttl:long") == "kept"

    async def test_a_value_expires_after_its_ttl(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:ttl:short", "gone soon", ttl=self.short_ttl)
        await cache.set("contract:ttl:none", "stays")
        await asyncio.sleep(self.short_ttl)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expiry_wait
        while await cache.get("contract:ttl:short") is not MISSING:
            assert loop.time() < deadline, f"value outlived its {self.short_ttl}s TTL by {self.expiry_wait}s"
            await asyncio.sleep(0.05)
        assert await cache.exists("contract:ttl:short") is False
        assert await cache.get("contract:ttl:none") == "stays"

    async def test_set_without_ttl_clears_an_earlier_ttl(self, cache: CacheProvider[Any]) -> None:
        await cache.set("contract:ttl:reset", "v1", ttl=self.short_ttl)
        await cache.set("contract:ttl:reset", "v2")
        await asyncio.sleep(self.short_ttl * 2)
        assert await cache.get("contract:ttl:reset") == "v2"

    @pytest.mark.parametrize("ttl", [0, -1, -0.5])
    async def test_a_ttl_that_is_not_positive_is_rejected(
        self, cache: CacheProvider[Any], ttl: float
    ) -> None:
        with pytest.raises(ConfigurationError) as info:
            await cache.set("contract:bad-ttl", "x", ttl=ttl)
        assert isinstance(info.value, ValueError)
        assert "ttl" in str(info.value)
        assert await cache.get("contract:bad-ttl") is MISSING

    async def test_concurrent_writers_on_distinct_keys_lose_nothing(self, cache: CacheProvider[Any]) -> None:
        await asyncio.gather(*(cache.set(f"contract:conc:{i}", i) for i in range(200)))
        values = await asyncio.gather(*(cache.get(f"contract:conc:{i}") for i in range(200)))
        assert values == list(range(200))

    async def test_concurrent_writers_on_one_key_leave_one_of_their_values(
        self, cache: CacheProvider[Any]
    ) -> None:
        await asyncio.gather(*(cache.set("contract:race", i) for i in range(50)))
        assert await cache.get("contract:race") in range(50)


async def close_quietly(resource: object) -> None:
    """Call ``aclose()`` or ``close()`` on ``resource`` if it has one, awaiting the result if needed."""
    for name in ("aclose", "close"):
        method = getattr(resource, name, None)
        if callable(method):
            result = method()
            if inspect.isawaitable(result):
                await result
            return
