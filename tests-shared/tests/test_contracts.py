"""The conformance suites pass a correct implementation and catch broken ones."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from buttress.core import MISSING, ConfigurationError, ConflictError, Missing, NotFoundError
from buttress.testing import (
    AsyncRepositoryContract,
    CacheProviderContract,
    HealthCheckContract,
    ResourceFactoryContract,
)
from buttress.testing.contracts._cache import close_quietly


class DictCache:
    """A small but correct CacheProvider, to prove the contract passes what it should."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[object, float | None]] = {}
        self.closed = False

    async def get(self, key: str) -> object:
        item = self._items.get(key)
        if item is None:
            return MISSING
        value, expires = item
        if expires is not None and time.monotonic() >= expires:
            del self._items[key]
            return MISSING
        return value

    async def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
        if ttl is not None and ttl <= 0:
            raise ConfigurationError("ttl", ttl, "must be positive")
        self._items[key] = (value, None if ttl is None else time.monotonic() + ttl)

    async def delete(self, key: str) -> bool:
        present = await self.exists(key)
        self._items.pop(key, None)
        return present

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not MISSING

    async def clear(self) -> None:
        self._items.clear()

    async def aclose(self) -> None:
        self.closed = True


class TestDictCache(CacheProviderContract):
    async def make_cache(self) -> Any:
        return DictCache()


@dataclass(frozen=True)
class Note:
    id: int
    text: str


class DictRepository:
    """A small but correct AsyncRepository."""

    def __init__(self) -> None:
        self._items: dict[int, Note] = {}

    async def get(self, id: int) -> Note | None:
        return self._items.get(id)

    async def add(self, entity: Note) -> None:
        if entity.id in self._items:
            raise ConflictError("note", entity.id, "exists already")
        self._items[entity.id] = entity

    async def update(self, entity: Note) -> None:
        if entity.id not in self._items:
            raise NotFoundError("note", entity.id)
        self._items[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self._items.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Note]:
        if limit < 1:
            raise ConfigurationError("limit", limit, "must be at least 1")
        if offset < 0:
            raise ConfigurationError("offset", offset, "must not be negative")
        return list(self._items.values())[offset : offset + limit]


class TestDictRepository(AsyncRepositoryContract):
    async def make_repository(self) -> Any:
        return DictRepository()

    def make_entity(self, n: int) -> Note:
        return Note(n, f"note {n}")

    def changed(self, entity: Any) -> Note:
        return replace(entity, text=entity.text + " (edited)")


class SyncClosing:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


async def test_close_quietly_closes_sync_and_async_resources_once() -> None:
    async_one, sync_one = DictCache(), SyncClosing()
    await close_quietly(async_one)
    await close_quietly(sync_one)
    await close_quietly(object())  # nothing to close is fine
    assert async_one.closed
    assert sync_one.closed == 1


# Broken implementations, each wrong in one way the contract promises to catch.
BROKEN_CACHES = {
    "none_for_a_miss": (
        "async def get(self, key):\n"
        "        v = await super().get(key)\n"
        "        return None if v is MISSING else v",
        "test_get_of_an_unknown_key_is_missing",
    ),
    "ttl_ignored": (
        "async def set(self, key, value, *, ttl=None):\n        await super().set(key, value)",
        "test_a_value_expires_after_its_ttl",
    ),
    "zero_ttl_accepted": (
        "async def set(self, key, value, *, ttl=None):\n"
        "        await super().set(key, value, ttl=ttl or None)",
        "test_a_ttl_that_is_not_positive_is_rejected",
    ),
    "delete_always_true": (
        "async def delete(self, key):\n        await super().delete(key)\n        return True",
        "test_delete_reports_whether_the_key_was_there",
    ),
    "clear_does_nothing": ("async def clear(self):\n        pass", "test_clear_removes_every_key"),
    "stringly_values": (
        "async def get(self, key):\n"
        "        v = await super().get(key)\n"
        "        return v if v is MISSING else str(v)",
        "test_set_then_get_round_trips_every_sample",
    ),
}


CACHE = """
from buttress.core import MISSING
from buttress.testing import CacheProviderContract
from test_dict_cache import DictCache

class Broken(DictCache):
    {method}

class TestBroken(CacheProviderContract):
    short_ttl = 0.05
    expiry_wait = 0.5

    async def make_cache(self):
        return Broken()
"""


@pytest.mark.parametrize("flaw", sorted(BROKEN_CACHES))
def test_the_cache_contract_catches_a_broken_cache(
    contract_catches: Callable[..., set[str]], flaw: str
) -> None:
    method, failing_test = BROKEN_CACHES[flaw]
    contract_catches(
        failing_test, test_dict_cache=_dict_cache_source(), test_broken=CACHE.format(method=method)
    )


def _dict_cache_source() -> str:
    return "import time\nfrom buttress.core import MISSING, ConfigurationError\n\n" + inspect.getsource(
        DictCache
    )


def test_the_repository_contract_catches_a_repository_that_overwrites_on_add(
    contract_catches: Callable[..., set[str]],
) -> None:
    failing = {
        "test_add_of_an_existing_id_conflicts_and_keeps_the_original",
        "test_update_of_an_unknown_id_is_not_found",
        "test_list_rejects_a_bad_page",
        "test_concurrent_adds_of_one_id_store_exactly_one",
    }
    failed = contract_catches(
        failing,
        test_sloppy="""
from dataclasses import dataclass, replace
from buttress.testing import AsyncRepositoryContract

@dataclass(frozen=True)
class Note:
    id: int
    text: str

class Sloppy:
    def __init__(self):
        self.items = {}
    async def get(self, id):
        return self.items.get(id)
    async def add(self, entity):
        self.items[entity.id] = entity
    async def update(self, entity):
        self.items[entity.id] = entity
    async def delete(self, id):
        return self.items.pop(id, None) is not None
    async def list(self, *, limit=100, offset=0):
        return list(self.items.values())[offset:offset + limit]

class TestSloppy(AsyncRepositoryContract):
    async def make_repository(self):
        return Sloppy()
    def make_entity(self, n):
        return Note(n, str(n))
    def changed(self, entity):
        return replace(entity, text="x")
""",
    )
    assert failed == failing


async def test_missing_type_is_what_get_returns_for_a_miss() -> None:
    assert isinstance(await DictCache().get("nope"), Missing)
    await asyncio.sleep(0)


class _Box:
    def __init__(self) -> None:
        self.open = True


class BoxFactory:
    async def create(self) -> _Box:
        return _Box()

    async def destroy(self, resource: _Box) -> None:
        resource.open = False

    async def check(self, resource: _Box) -> bool:
        return resource.open

    async def reset(self, resource: _Box) -> None:
        return None


class TestBoxFactory(ResourceFactoryContract):
    async def make_factory(self) -> Any:
        return BoxFactory()


def test_the_resource_factory_contract_catches_a_check_that_passes_the_dead(
    contract_catches: Callable[..., set[str]],
) -> None:
    failing = {"test_a_destroyed_resource_fails_its_check"}
    failed = contract_catches(
        failing,
        test_lenient="""
from buttress.testing import ResourceFactoryContract

class Lenient:
    async def create(self):
        return object()
    async def destroy(self, resource):
        pass
    async def check(self, resource):
        return True

class TestLenient(ResourceFactoryContract):
    async def make_factory(self):
        return Lenient()
""",
    )
    assert failed == failing


class Healthy:
    """A correct check: answers pass, read structurally (no buttress-health import)."""

    def __init__(self, status: str = "pass") -> None:
        self.status = status

    async def check(self) -> Any:
        await asyncio.sleep(0)
        return _Result(self.status, output=None if self.status == "pass" else "down")


@dataclass(frozen=True)
class _Result:
    status: str
    observed_value: object = None
    observed_unit: str | None = None
    output: str | None = None
    component_type: str | None = None


class TestHealthy(HealthCheckContract):
    async def make_check(self) -> Any:
        return Healthy()

    async def make_failing_check(self) -> Any:
        return Healthy("fail")


def test_the_health_check_contract_catches_a_check_that_passes_what_is_down(
    contract_catches: Callable[..., set[str]],
) -> None:
    failing = {
        "test_an_unhealthy_dependency_fails",
        "test_an_unhealthy_dependency_keeps_failing_without_breaking",
    }
    failed = contract_catches(
        failing,
        test_optimist="""
from dataclasses import dataclass
from buttress.testing import HealthCheckContract

@dataclass
class Result:
    status: str
    output: str = None

class Optimist:
    async def check(self):
        return Result("pass")

class TestOptimist(HealthCheckContract):
    async def make_check(self):
        return Optimist()
    async def make_failing_check(self):
        return Optimist()
""",
    )
    assert failed == failing
