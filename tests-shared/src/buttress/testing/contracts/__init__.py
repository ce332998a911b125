"""Conformance suites for the buttress Protocols.

Subclass one, give it a factory, and pytest runs every check against your implementation::

    from buttress.testing import CacheProviderContract

    class TestMyCache(CacheProviderContract):
        async def make_cache(self) -> MyCache:
            return MyCache()

The suites hold only behaviour the Protocol's docstring promises, so a correct implementation of the
Protocol passes them whatever else it does.
"""

from ._audit_log import AuditLogContract
from ._auth import TokenStoreContract
from ._cache import CacheProviderContract
from ._cache_storage import CacheStorageContract
from ._cqrs import DependencyProviderContract, EventOutboxContract, MiddlewareContract, UnitOfWorkContract
from ._event_store import EventStoreContract
from ._flags import AuditSinkContract, FlagSourceContract
from ._health import HealthCheckContract
from ._idempotency import IdempotencyStoreContract
from ._notifications import NotificationOutboxContract, PreferenceStoreContract
from ._repository import AsyncRepositoryContract
from ._resource_factory import ResourceFactoryContract
from ._search import SearchProviderContract
from ._snapshot_store import SnapshotStoreContract
from ._tenancy import TenantDirectoryContract
from ._webhooks import EndpointStoreContract
from ._webhooks_delivery import OutboxContract, ReplayGuardContract

__all__ = [
    "AsyncRepositoryContract",
    "AuditLogContract",
    "AuditSinkContract",
    "CacheProviderContract",
    "CacheStorageContract",
    "DependencyProviderContract",
    "EndpointStoreContract",
    "EventOutboxContract",
    "EventStoreContract",
    "FlagSourceContract",
    "HealthCheckContract",
    "IdempotencyStoreContract",
    "MiddlewareContract",
    "NotificationOutboxContract",
    "OutboxContract",
    "PreferenceStoreContract",
    "ReplayGuardContract",
    "ResourceFactoryContract",
    "SearchProviderContract",
    "SnapshotStoreContract",
    "TenantDirectoryContract",
    "TokenStoreContract",
    "UnitOfWorkContract",
]
