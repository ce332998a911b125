"""buttress-feature-flags: consistent rollouts, targeting and variants, evaluated locally.

Flags in the Unleash format (strategies, constraints, segments, variants, dependencies) are loaded
from a `FlagSource`, compiled into an immutable `Snapshot` and evaluated synchronously, without I/O;
a background task refreshes the snapshot and swaps it atomically::

    from buttress.feature_flags import Context, FlagClient, MemoryFlagSource, flag_from_dict

    source = MemoryFlagSource([flag_from_dict({
        "name": "new-checkout",
        "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "25"}}],
    })])
    async with FlagClient(source) as flags:
        await flags.start()
        if flags.is_enabled("new-checkout", Context(user_id="42")):
            ...

Synchronous code (Flask, Django under WSGI) uses `ThreadedFlagClient`: the same client, its
refresher on a thread of its own, so ``flags.is_enabled(...)`` is a plain call with no event loop.

`RedisFlagSource` and `RedisStickyStore` need the ``redis`` extra, `PostgresFlagSource` and
`PostgresAuditSink` the ``postgres`` extra, and `FlagProvider` (OpenFeature) the ``openfeature``
extra. They are imported on first use, so the rest works with none of them installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._audit import AuditAction, AuditSink, FlagAuditEvent, FlagManager, MemoryAuditSink
from ._client import ClientStatus, FlagClient
from ._engine import Snapshot, compile_flag_set
from ._hashing import VARIANT_SEED, normalized_hash
from ._model import (
    Constraint,
    Context,
    Dependency,
    ErrorCode,
    EvaluationDetails,
    FlagDefinition,
    FlagSet,
    JsonValue,
    Operator,
    Override,
    Payload,
    Reason,
    Segment,
    Strategy,
    Variant,
    VariantResult,
)
from ._parse import flag_from_dict, flag_set_from_dict, segment_from_dict
from ._sources import FileFlagSource, FlagSource, MemoryFlagSource, WatchableFlagSource, WritableFlagSource
from ._sticky import ON_WITHOUT_VARIANT, MemoryStickyStore, StickyAssignmentStore
from ._threaded import ThreadedFlagClient
from ._validate import KNOWN_STRATEGIES, validate_flag
from ._version import __version__
from ._write import flag_set_to_dict, flag_to_dict, segment_to_dict
from .exceptions import (
    ClientClosedError,
    FeatureFlagsConfigurationError,
    FeatureFlagsError,
    FeatureFlagsTypeError,
    FeatureFlagsUnavailableError,
    FlagDefinitionError,
    FlagDocumentError,
    FlagExistsError,
    FlagNotFoundError,
    MissingExtraError,
)

if TYPE_CHECKING:
    from ._openfeature import FlagProvider, context_from_openfeature
    from ._postgres import PostgresAuditSink, PostgresFlagSource
    from ._redis import RedisFlagSource
    from ._redis_sticky import RedisStickyStore

__all__ = [
    "KNOWN_STRATEGIES",
    "ON_WITHOUT_VARIANT",
    "VARIANT_SEED",
    "AuditAction",
    "AuditSink",
    "ClientClosedError",
    "ClientStatus",
    "Constraint",
    "Context",
    "Dependency",
    "ErrorCode",
    "EvaluationDetails",
    "FeatureFlagsConfigurationError",
    "FeatureFlagsError",
    "FeatureFlagsTypeError",
    "FeatureFlagsUnavailableError",
    "FileFlagSource",
    "FlagAuditEvent",
    "FlagClient",
    "FlagDefinition",
    "FlagDefinitionError",
    "FlagDocumentError",
    "FlagExistsError",
    "FlagManager",
    "FlagNotFoundError",
    "FlagProvider",
    "FlagSet",
    "FlagSource",
    "JsonValue",
    "MemoryAuditSink",
    "MemoryFlagSource",
    "MemoryStickyStore",
    "MissingExtraError",
    "Operator",
    "Override",
    "Payload",
    "PostgresAuditSink",
    "PostgresFlagSource",
    "Reason",
    "RedisFlagSource",
    "RedisStickyStore",
    "Segment",
    "Snapshot",
    "StickyAssignmentStore",
    "Strategy",
    "ThreadedFlagClient",
    "Variant",
    "VariantResult",
    "WatchableFlagSource",
    "WritableFlagSource",
    "__version__",
    "compile_flag_set",
    "context_from_openfeature",
    "flag_from_dict",
    "flag_set_from_dict",
    "flag_set_to_dict",
    "flag_to_dict",
    "normalized_hash",
    "segment_from_dict",
    "segment_to_dict",
    "validate_flag",
]

# Backends import their drivers: loaded on first use, so nothing else needs an extra.
__getattr__ = lazy_exports(
    __name__,
    {
        "RedisFlagSource": "_redis",
        "RedisStickyStore": "_redis_sticky",
        "PostgresFlagSource": "_postgres",
        "PostgresAuditSink": "_postgres",
        "FlagProvider": "_openfeature",
        "context_from_openfeature": "_openfeature",
    },
)
