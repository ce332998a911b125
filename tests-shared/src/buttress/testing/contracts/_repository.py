"""`AsyncRepositoryContract`: what every `buttress.core.AsyncRepository` must do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import AsyncRepository, ConfigurationError, ConflictError, Identifiable, NotFoundError

from ._cache import close_quietly

__all__ = ["AsyncRepositoryContract"]

type AnyRepository = AsyncRepository[Any, Any]


class AsyncRepositoryContract:
    """Conformance suite for `buttress.core.AsyncRepository`.

    Subclass it (as ``TestSomething``) and implement three factories: `make_repository` (a fresh,
    empty repository), `make_entity` (the n-th of many entities with distinct ids) and `changed` (a
    copy of an entity with the same id and some other field changed, so an update is visible).
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_repository(self) -> AnyRepository:
        """Return a new, empty repository. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_repository()")

    def make_entity(self, n: int) -> Identifiable[Hashable]:
        """Return the ``n``-th entity; different ``n`` give different ids. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_entity()")

    def changed(self, entity: Any) -> Identifiable[Hashable]:
        """Return a copy of ``entity`` with its id and other content. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement changed()")

    def missing_id(self) -> Hashable:
        """An id no entity from `make_entity` has. Override if ids are not strings or ints."""
        sample = self.make_entity(0).id
        return -987_654_321 if isinstance(sample, int) else "contract-missing-id"

    @pytest_asyncio.fixture
    async def repository(self) -> AsyncIterator[AnyRepository]:
        """A fresh repository from `make_repository`, closed after the test."""
        repo = await self.make_repository()
        try:
            yield repo
        finally:
            await close_quietly(repo)

    async def test_conforms_to_the_protocol(self, repository: AnyRepository) -> None:
        assert isinstance(repository, AsyncRepository)

    async def test_get_of_an_unknown_id_is_none(self, repository: AnyRepository) -> None:
        assert await repository.get(self.missing_id()) is None

    async def test_add_then_get(self, repository: AnyRepository) -> None:
        entity = self.make_entity(1)
        await repository.add(entity)
        assert await repository.get(entity.id) == entity

    async def test_add_of_an_existing_id_conflicts_and_keeps_the_original(
        self, repository: AnyRepository
    ) -> None:
        entity = self.make_entity(1)
        await repository.add(entity)
        with pytest.raises(ConflictError):
            await repository.add(self.changed(entity))
        assert await repository.get(entity.id) == entity

    async def test_update_replaces(self, repository: AnyRepository) -> None:
        entity = self.make_entity(2)
        await repository.add(entity)
        newer = self.changed(entity)
        assert newer != entity, "changed() must return an entity that differs from its input"
        await repository.update(newer)
        assert await repository.get(entity.id) == newer

    async def test_update_of_an_unknown_id_is_not_found(self, repository: AnyRepository) -> None:
        entity = self.make_entity(3)
        with pytest.raises(NotFoundError) as info:
            await repository.update(entity)
        assert isinstance(info.value, LookupError)
        assert await repository.get(entity.id) is None

    async def test_delete_reports_whether_the_entity_was_there(self, repository: AnyRepository) -> None:
        entity = self.make_entity(4)
        await repository.add(entity)
        assert await repository.delete(entity.id) is True
        assert await repository.get(entity.id) is None
        assert await repository.delete(entity.id) is False

    async def test_list_pages_through_everything_once(self, repository: AnyRepository) -> None:
        entities = [self.make_entity(n) for n in range(10, 27)]
        for entity in entities:
            await repository.add(entity)
        seen: list[Any] = []
        for offset in range(0, 20, 5):
            page = await repository.list(limit=5, offset=offset)
            assert len(page) <= 5
            seen.extend(page)
        assert sorted(map(repr, seen)) == sorted(map(repr, entities))
        assert len({e.id for e in seen}) == len(entities)

    async def test_list_order_is_stable(self, repository: AnyRepository) -> None:
        for n in range(30, 38):
            await repository.add(self.make_entity(n))
        first = await repository.list(limit=100)
        second = await repository.list(limit=100)
        assert [e.id for e in first] == [e.id for e in second]

    async def test_list_past_the_end_is_empty(self, repository: AnyRepository) -> None:
        await repository.add(self.make_entity(40))
        assert list(await repository.list(limit=10, offset=5)) == []

    @pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
    async def test_list_rejects_a_bad_page(self, repository: AnyRepository, limit: int, offset: int) -> None:
        with pytest.raises(ConfigurationError):
            await repository.list(limit=limit, offset=offset)

    async def test_concurrent_adds_of_one_id_store_exactly_one(self, repository: AnyRepository) -> None:
        entity = self.make_entity(50)
        results = await asyncio.gather(*(repository.add(entity) for _ in range(10)), return_exceptions=True)
        assert sum(r is None for r in results) == 1, results
        assert all(isinstance(r, ConflictError) for r in results if r is not None), results
        assert await repository.get(entity.id) == entity
