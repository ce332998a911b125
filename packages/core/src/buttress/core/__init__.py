"""buttress-core: the Protocols and the root error every buttress package shares.

It has no runtime dependencies. Packages talk to each other only through these Protocols, so any of
them can be swapped for your own implementation::

    from buttress.core import MISSING, CacheProvider, ButtressError

    async def cached_name(cache: CacheProvider[str], user_id: int) -> str | None:
        value = await cache.get(f"user:{user_id}:name")
        return None if value is MISSING else value
"""

from ._checks import MAX_COUNT, MAX_SECONDS, check_count, check_seconds, check_text
from ._clock import Clock, SystemClock
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
from ._serializers import JsonSerializer
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
    "ArgumentTypeError",
    "AsyncRepository",
    "BackendUnavailableError",
    "ButtressError",
    "CacheProvider",
    "Clock",
    "Command",
    "CommandHandler",
    "ConfigurationError",
    "ConflictError",
    "EventHandler",
    "Identifiable",
    "JsonSerializer",
    "Missing",
    "MissingExtraError",
    "NotFoundError",
    "Query",
    "QueryHandler",
    "SerializationError",
    "Serializer",
    "SoftDeletable",
    "SystemClock",
    "Timestamped",
    "__version__",
    "check_count",
    "check_seconds",
    "check_text",
    "redact_url",
    "safe_repr",
]
