"""`TenantRepository[T, ID]`: any core `AsyncRepository`, seen through the current tenant only."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, runtime_checkable

from buttress.core import AsyncRepository, check_count

from ._context import current_tenant
from ._metrics import refused
from .exceptions import CrossTenantError, EntityNotFoundError, TenancyConfigurationError, TenancyTypeError

__all__ = ["TenantAware", "TenantRepository"]

_PAGE = 100


@runtime_checkable
class TenantAware(Protocol):
    """**Protocol**: an entity that belongs to one tenant.

    Attributes:
        id: The entity's identity.
        tenant_id: The tenant it belongs to.
    """

    @property
    def id(self) -> Hashable:
        """The entity's identity."""
        ...

    @property
    def tenant_id(self) -> str:
        """The tenant the entity belongs to."""
        ...


class TenantRepository[T: TenantAware, ID: Hashable]:
    """Any `AsyncRepository`, seen through the current tenant only.

    Wrap buttress-persistence's ``SqlAlchemyRepository`` or your own. ``get`` of another tenant's id
    is ``None``; ``update`` of one raises `EntityNotFoundError`, as for an id that does not exist;
    ``delete`` of one returns ``False`` and deletes nothing; ``add`` or ``update`` of an entity that
    names another tenant raises `CrossTenantError`; ``list`` returns the tenant's entities only, in
    the inner repository's order. Outside a tenant scope every call raises `NoTenantError`::

        orders = TenantRepository(SqlAlchemyRepository(db, Order))
        async with tenant_scope("acme"):
            await orders.add(Order(id=7, tenant_id="acme", total=10))

    ``list`` filters the inner repository's pages in Python, so it reads other tenants' rows to skip
    them; on SQLAlchemy, `SqlAlchemyTenancy` filters in SQL (and row-level security in the database).

    Args:
        repository: The repository to wrap.

    Raises:
        TenancyTypeError: ``repository`` is not an `AsyncRepository`.
    """

    __slots__ = ("repository",)

    def __init__(self, repository: AsyncRepository[T, ID]) -> None:
        if not isinstance(repository, AsyncRepository):
            raise TenancyTypeError("repository", "an AsyncRepository", repository)
        self.repository = repository

    async def get(self, id: ID) -> T | None:
        """The current tenant's entity with this id, or ``None`` (another tenant's included)."""
        tenant = current_tenant()
        found = await self.repository.get(_hashable(id))
        return found if found is not None and _owner(found) == tenant else None

    async def add(self, entity: T) -> None:
        """Store a new entity of the current tenant.

        Raises:
            CrossTenantError: The entity names another tenant.
            ConflictError: An entity with the same id is stored already (the inner repository's).
        """
        self._check_owner(entity, current_tenant())
        await self.repository.add(entity)

    async def update(self, entity: T) -> None:
        """Replace the current tenant's entity with this one.

        Raises:
            CrossTenantError: The entity names another tenant.
            EntityNotFoundError: The current tenant has no entity with its id.
        """
        tenant = current_tenant()
        self._check_owner(entity, tenant)
        stored = await self.repository.get(_hashable(entity.id))  # type: ignore[arg-type]
        if stored is None or _owner(stored) != tenant:
            raise EntityNotFoundError("entity", entity.id)
        await self.repository.update(entity)

    async def delete(self, id: ID) -> bool:
        """Remove the current tenant's entity with this id; whether there was one."""
        if await self.get(id) is None:
            return False
        return await self.repository.delete(id)

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[T]:
        """At most ``limit`` of the current tenant's entities after skipping ``offset`` of them.

        Raises:
            TenancyConfigurationError: ``limit`` below 1 or ``offset`` below 0.
        """
        check_count("limit", limit, minimum=1, error=TenancyConfigurationError)
        check_count("offset", offset, error=TenancyConfigurationError)
        tenant = current_tenant()
        found: list[T] = []
        skipped = 0
        position = 0
        while len(found) < limit:
            page = await self.repository.list(limit=_PAGE, offset=position)
            for entity in page:
                if _owner(entity) != tenant:
                    continue
                if skipped < offset:
                    skipped += 1
                elif len(found) < limit:
                    found.append(entity)
            if len(page) < _PAGE:
                break
            position += len(page)
        return found

    def _check_owner(self, entity: object, tenant: str) -> None:
        if not isinstance(entity, TenantAware):
            raise TenancyTypeError("entity", "a TenantAware entity (with id and tenant_id)", entity)
        _hashable(entity.id)
        if _owner(entity) != tenant:
            refused("cross_tenant")
            raise CrossTenantError(tenant, type(entity).__name__, "the entity names another tenant")


def _hashable[K](key: K) -> K:
    """``key`` if it can be an id (hashable), else a typed error before any repository sees it."""
    try:
        hash(key)
    except TypeError:
        raise TenancyTypeError("id", "a hashable id", key) from None
    return key


def _owner(entity: object) -> object:
    return getattr(entity, "tenant_id", None)
