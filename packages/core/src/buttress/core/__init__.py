"""buttress-core: the Protocols and the root error every buttress package shares.

It has no runtime dependencies. Packages talk to each other only through these Protocols, so any of
them can be swapped for your own implementation::

    from buttress.core import MISSING, CacheProvider, ButtressError

    async def cached_name(cache: CacheProvider[str], user_id: int) -> str | None:
        value = await cache.get(f"user:{user_id}:name")
        return None if value is MISSING else value
"""

from ._asgi import (
    ASGIApp,
    ClientDisconnectedError,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    respond,
    scope_state,
)
from ._backends import BackendErrors
from ._checks import MAX_COUNT, MAX_SECONDS, check_count, check_seconds, check_text
from ._clock import Clock, SystemClock
from ._lazy import lazy_exports
from ._loop_thread import LoopThread
from ._postgres import PostgresBackend, ResetPolicy, TableName, check_pool_size, open_pool
from ._protocols import (
    MISSING,
    AsyncRepository,
    CacheProvider,
    Command,
    CommandHandler,
    EventHandler,
    Identifiable,
    Missing,
    Query,
    QueryHandler,
    Serializer,
    SoftDeletable,
    Timestamped,
)
from ._redis import RedisBackend, RedisOptions, open_redis
from ._resources import AsyncResource, Owned
from ._serializers import JsonSerializer
from ._tasks import BackgroundTask
from ._telemetry import Attributes, Counter, Histogram, Observation, Telemetry, UpDownCounter
from ._unavailable import Driver, connection_errors, unavailable_on
from ._wsgi import (
    ExcInfo,
    StartResponse,
    UnreadableBodyError,
    WSGIApp,
    WSGIEnviron,
    declared_length,
    read_wsgi_body,
    wsgi_headers,
    wsgi_respond,
)
from .exceptions import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    MissingExtraError,
    NotFoundError,
    SerializationError,
    redact_url,
    safe_repr,
)

__version__ = "0.1.0"

__all__ = [
    "MAX_COUNT",
    "MAX_SECONDS",
    "MISSING",
    "ASGIApp",
    "ArgumentTypeError",
    "AsyncRepository",
    "AsyncResource",
    "Attributes",
    "BackendErrors",
    "BackendUnavailableError",
    "BackgroundTask",
    "ButtressError",
    "CacheProvider",
    "ClientDisconnectedError",
    "Clock",
    "Command",
    "CommandHandler",
    "ConfigurationError",
    "ConflictError",
    "Counter",
    "Driver",
    "EventHandler",
    "ExcInfo",
    "Histogram",
    "Identifiable",
    "JsonSerializer",
    "LoopThread",
    "Message",
    "Missing",
    "MissingExtraError",
    "NotFoundError",
    "Observation",
    "Owned",
    "PostgresBackend",
    "Query",
    "QueryHandler",
    "Receive",
    "RedisBackend",
    "RedisOptions",
    "ResetPolicy",
    "Scope",
    "Send",
    "SerializationError",
    "Serializer",
    "SoftDeletable",
    "StartResponse",
    "SystemClock",
    "TableName",
    "Telemetry",
    "Timestamped",
    "UnreadableBodyError",
    "UpDownCounter",
    "WSGIApp",
    "WSGIEnviron",
    "__version__",
    "check_count",
    "check_pool_size",
    "check_seconds",
    "check_text",
    "connection_errors",
    "declared_length",
    "lazy_exports",
    "open_pool",
    "open_redis",
    "read_body",
    "read_wsgi_body",
    "redact_url",
    "respond",
    "safe_repr",
    "scope_state",
    "unavailable_on",
    "wsgi_headers",
    "wsgi_respond",
]
