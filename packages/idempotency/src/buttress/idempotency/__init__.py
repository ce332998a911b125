"""buttress-idempotency: the Idempotency-Key header for HTTP APIs, and at-most-once for message handlers.

Draft-06 semantics (400 / 409 / 422 / replay), request fingerprints, keys scoped to the caller and the
route, leases with fencing tokens renewed by a heartbeat, atomic claims on memory, Redis and PostgreSQL,
and a pure ASGI middleware (`IdempotencyWSGIMiddleware` over `SyncMemoryStore` is its WSGI twin)::

    from buttress.idempotency import IdempotencyMiddleware, RedisStore

    store = RedisStore.from_url("redis://localhost:6379/0", prefix="orders:idempotency:")
    app = IdempotencyMiddleware(app, store, principal=lambda scope: scope["state"]["user_id"])

Outside HTTP, the same engine::

    from buttress.idempotency import execute

    receipt = await execute(store, message.id, message.digest, lambda: charge(message))

`RedisStore` needs the ``redis`` extra and `PostgresStore` the ``postgres`` extra; they are imported on
first use, so `MemoryStore` works with neither installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._core import DEFAULT_LEASE, DEFAULT_RETENTION, IdempotencySlot, execute, idempotent
from ._http import default_store_status
from ._keys import MAX_KEY_LENGTH, parse_idempotency_key, request_fingerprint, scope_key
from ._memory import MemoryStore, SyncMemoryStore
from ._middleware import IdempotencyMiddleware
from ._sync import IdempotencyWSGIMiddleware, SyncIdempotencySlot
from ._types import (
    Claim,
    ClaimOutcome,
    IdempotencyStore,
    StoredResponse,
    SyncIdempotencyStore,
    decode_response,
    encode_response,
)
from ._version import __version__
from .exceptions import (
    FingerprintMismatchError,
    IdempotencyConfigurationError,
    IdempotencyError,
    IdempotencyTypeError,
    IdempotencyUnavailableError,
    InvalidKeyError,
    KeyInFlightError,
    LeaseLostError,
    MissingExtraError,
    StoredRecordError,
)

if TYPE_CHECKING:
    from ._postgres import PostgresStore, schema_sql
    from ._redis import RedisStore

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_RETENTION",
    "MAX_KEY_LENGTH",
    "Claim",
    "ClaimOutcome",
    "FingerprintMismatchError",
    "IdempotencyConfigurationError",
    "IdempotencyError",
    "IdempotencyMiddleware",
    "IdempotencySlot",
    "IdempotencyStore",
    "IdempotencyTypeError",
    "IdempotencyUnavailableError",
    "IdempotencyWSGIMiddleware",
    "InvalidKeyError",
    "KeyInFlightError",
    "LeaseLostError",
    "MemoryStore",
    "MissingExtraError",
    "PostgresStore",
    "RedisStore",
    "StoredRecordError",
    "StoredResponse",
    "SyncIdempotencySlot",
    "SyncIdempotencyStore",
    "SyncMemoryStore",
    "__version__",
    "decode_response",
    "default_store_status",
    "encode_response",
    "execute",
    "idempotent",
    "parse_idempotency_key",
    "request_fingerprint",
    "schema_sql",
    "scope_key",
]


__getattr__ = lazy_exports(
    __name__, {"PostgresStore": "_postgres", "schema_sql": "_postgres", "RedisStore": "_redis"}
)
