"""buttress-testing: real-service fixtures, a fake clock and Protocol conformance suites for pytest.

Installing the package registers its pytest plugin (`buttress.testing.plugin`); the fixtures are then
available everywhere. Import the rest from here::

    from buttress.testing import CacheProviderContract, FakeClock, RedisServer, check_hostile, eventually
"""

import pytest

# The conformance suites are tests that live in this package: let pytest explain their failures.
pytest.register_assert_rewrite("buttress.testing.contracts")

from ._asgi_server import serve_asgi
from ._bound import check_bound_when_made
from ._clock import FakeClock
from ._discovery import (
    POSTGRES_ENV,
    REDIS_ENV,
    REQUIRE_ENV,
    PostgresService,
    RedisService,
    ServiceUnavailable,
    discover_postgres,
    discover_redis,
)
from ._django import django_urls
from ._eventually import eventually
from ._failover import Failover, through_failover
from ._hostile import acheck_hostile, check_hostile, hostile_values
from ._hostile_http import check_hostile_asgi, check_hostile_wsgi
from ._hostile_targets import HostileTarget, HostileTargets, closing_factory
from ._hypothesis import CI_PROFILE, DEV_PROFILE, EXPLORE_PROFILE, register_profiles
from ._metrics import MetricPoint, RecordedMetrics, install_metric_reader
from ._otel_globals import isolated_opentelemetry
from ._servers import PostgresServer, RedisClusterServer, RedisServer, free_port, open_connections
from ._spans import RecordedSpans, SpanRecord, install_span_exporter
from ._wsgi_server import serve_wsgi
from .contracts import (
    AsyncRepositoryContract,
    AuditLogContract,
    AuditSinkContract,
    CacheProviderContract,
    CacheStorageContract,
    DependencyProviderContract,
    EndpointStoreContract,
    EventOutboxContract,
    EventStoreContract,
    FlagSourceContract,
    HealthCheckContract,
    IdempotencyStoreContract,
    MiddlewareContract,
    NotificationOutboxContract,
    OutboxContract,
    PreferenceStoreContract,
    ReplayGuardContract,
    ResourceFactoryContract,
    SearchProviderContract,
    SnapshotStoreContract,
    TenantDirectoryContract,
    TokenStoreContract,
    UnitOfWorkContract,
)
from .exceptions import (
    MissingExtraError,
    ServerError,
    TestingConfigurationError,
    TestingError,
    TestingTypeError,
)
from .plugin import CONFORMANCE_ENV, PostgresSchema, find_conformance_dir

__all__ = [
    "CI_PROFILE",
    "CONFORMANCE_ENV",
    "DEV_PROFILE",
    "EXPLORE_PROFILE",
    "POSTGRES_ENV",
    "REDIS_ENV",
    "REQUIRE_ENV",
    "AsyncRepositoryContract",
    "AuditLogContract",
    "AuditSinkContract",
    "CacheProviderContract",
    "CacheStorageContract",
    "DependencyProviderContract",
    "EndpointStoreContract",
    "EventOutboxContract",
    "EventStoreContract",
    "Failover",
    "FakeClock",
    "FlagSourceContract",
    "HealthCheckContract",
    "HostileTarget",
    "HostileTargets",
    "IdempotencyStoreContract",
    "MetricPoint",
    "MiddlewareContract",
    "MissingExtraError",
    "NotificationOutboxContract",
    "OutboxContract",
    "PostgresSchema",
    "PostgresServer",
    "PostgresService",
    "PreferenceStoreContract",
    "RecordedMetrics",
    "RecordedSpans",
    "RedisClusterServer",
    "RedisServer",
    "RedisService",
    "ReplayGuardContract",
    "ResourceFactoryContract",
    "SearchProviderContract",
    "ServerError",
    "ServiceUnavailable",
    "SnapshotStoreContract",
    "SpanRecord",
    "TenantDirectoryContract",
    "TestingConfigurationError",
    "TestingError",
    "TestingTypeError",
    "TokenStoreContract",
    "UnitOfWorkContract",
    "acheck_hostile",
    "check_bound_when_made",
    "check_hostile",
    "check_hostile_asgi",
    "check_hostile_wsgi",
    "closing_factory",
    "discover_postgres",
    "discover_redis",
    "django_urls",
    "eventually",
    "find_conformance_dir",
    "free_port",
    "hostile_values",
    "install_metric_reader",
    "install_span_exporter",
    "isolated_opentelemetry",
    "open_connections",
    "register_profiles",
    "serve_asgi",
    "serve_wsgi",
    "through_failover",
]
