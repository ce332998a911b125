"""TenantRepository: any core AsyncRepository seen through the current tenant; leaks without it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.core import AsyncRepository, ConfigurationError, ConflictError, NotFoundError
from buttress.tenancy import (
    CrossTenantError,
    EntityNotFoundError,
    NoTenantError,
    TenancyTypeError,
    TenantRepository,
    tenant_scope,
)
from buttress.testing import AsyncRepositoryContract


@dataclass(frozen=True)
class Note:
    id: int
    tenant_id: str
    text: str = ""


class DictRepository:
    """A plain AsyncRepository that knows nothing of tenants (insertion order)."""

    def __init__(self) -> None:
        self.items: dict[int, Note] = {}
        self.lock = asyncio.Lock()

    async def get(self, id: int) -> Note | None:
        return self.items.get(id)

    async def add(self, entity: Note) -> None:
        async with self.lock:
            if entity.id in self.items:
                raise ConflictError("note", entity.id, "exists")
            self.items[entity.id] = entity

    async def update(self, entity: Note) -> None:
        if entity.id not in self.items:
            raise NotFoundError("note", entity.id)
        self.items[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self.items.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Note]:
        if limit < 1 or offset < 0:
            raise ConfigurationError("limit", limit, "bad page")
        return list(self.items.values())[offset : offset + limit]


def seeded() -> DictRepository:
    """A repository already holding 250 notes of another tenant, interleaved ids."""
    inner = DictRepository()
    inner.items = {100_000 + n: Note(100_000 + n, "globex", "theirs") for n in range(250)}
    return inner


class TestTenantRepository(AsyncRepositoryContract):
    @pytest_asyncio.fixture(autouse=True)
    async def _scope(self) -> AsyncIterator[None]:
        async with tenant_scope("acme"):
            yield

    async def make_repository(self) -> Any:
        return TenantRepository(seeded())

    def make_entity(self, n: int) -> Any:
        return Note(n, "acme", f"note {n}")

    def changed(self, entity: Any) -> Any:
        return dataclasses.replace(entity, text=entity.text + " (changed)")


LAYER = pytest.mark.parametrize("layer", ["on", "off"])


def view(inner: DictRepository, layer: str) -> AsyncRepository[Note, int]:
    return TenantRepository(inner) if layer == "on" else inner


@LAYER
async def test_another_tenants_entities_are_invisible_and_untouchable(layer: str) -> None:
    inner = seeded()
    repo = view(inner, layer)
    async with tenant_scope("acme"):
        await repo.add(Note(1, "acme", "mine"))
        got = await repo.get(100_000)
        listed = await repo.list(limit=1000)
        if layer == "on":
            assert got is None
            assert [n.id for n in listed] == [1]
            with pytest.raises(EntityNotFoundError):
                await repo.update(Note(100_000, "acme", "taken over"))
            with pytest.raises(CrossTenantError):
                await repo.update(Note(100_001, "globex", "defaced"))
            with pytest.raises(CrossTenantError):
                await repo.add(Note(2, "globex", "planted"))
            assert await repo.delete(100_002) is False
        else:
            assert got is not None
            assert len(listed) == 251
            await repo.update(Note(100_001, "globex", "defaced"))
            assert await repo.delete(100_002) is True
    expected_intact = layer == "on"
    assert (inner.items[100_001].text == "theirs") is expected_intact
    assert (100_002 in inner.items) is expected_intact


async def test_outside_a_scope_every_call_raises() -> None:
    repo = TenantRepository(seeded())
    with pytest.raises(NoTenantError):
        await repo.get(1)
    with pytest.raises(NoTenantError):
        await repo.list()
    with pytest.raises(NoTenantError):
        await repo.add(Note(1, "acme"))
    with pytest.raises(TenancyTypeError):
        TenantRepository(object())  # type: ignore[arg-type]


operations = st.lists(
    st.tuples(
        st.sampled_from(["acme", "globex", "initech"]),
        st.sampled_from(["add", "update", "delete", "get"]),
        st.integers(0, 15),
    ),
    max_size=40,
)


@settings(max_examples=100)
@given(operations)
async def test_each_tenant_sees_exactly_its_own_history(ops: list[tuple[str, str, int]]) -> None:
    """Property: TenantRepository Isolation.

    Whatever the interleaving of adds, updates, deletes and reads across tenants, each tenant's view
    (get and list) is exactly what that tenant wrote, as a per-tenant model predicts.
    """
    inner = DictRepository()
    repo = TenantRepository(inner)
    model: dict[str, dict[int, str]] = {"acme": {}, "globex": {}, "initech": {}}
    for step, (tenant, op, key) in enumerate(ops):
        async with tenant_scope(tenant):
            mine = model[tenant]
            if op == "add":
                taken = key in inner.items
                try:
                    await repo.add(Note(key, tenant, f"v{step}"))
                except ConflictError:
                    assert taken
                else:
                    mine[key] = f"v{step}"
            elif op == "update":
                try:
                    await repo.update(Note(key, tenant, f"v{step}"))
                except EntityNotFoundError:
                    assert key not in mine
                else:
                    mine[key] = f"v{step}"
            elif op == "delete":
                assert await repo.delete(key) is (key in mine)
                mine.pop(key, None)
            else:
                got = await repo.get(key)
                assert (got.text if got else None) == mine.get(key)
    for tenant, mine in model.items():
        async with tenant_scope(tenant):
            listed = await repo.list(limit=100)
        assert {note.id: note.text for note in listed} == mine
