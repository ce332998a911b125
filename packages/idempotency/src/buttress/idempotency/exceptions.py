"""Errors raised by buttress-idempotency.

::

    ButtressError                                  (buttress.core)
    └── IdempotencyError                           every error this package raises
        ├── IdempotencyConfigurationError          (also ConfigurationError, ValueError) a bad argument
        │   └── InvalidKeyError                    an Idempotency-Key that is malformed, too long or
        │                                          outside the safe charset (HTTP 400)
        ├── IdempotencyTypeError                   (also ArgumentTypeError, TypeError) an argument of the
        │                                          wrong type
        ├── KeyInFlightError                       (also ConflictError) the key is claimed by a request
        │                                          still running (HTTP 409)
        ├── FingerprintMismatchError               (also ConflictError) the key was used for a different
        │                                          request (HTTP 422)
        ├── LeaseLostError                         the lease expired and the key may belong to another
        │                                          worker: the outcome was not stored
        ├── IdempotencyUnavailableError            (also BackendUnavailableError, ConnectionError) the
        │                                          store cannot be reached (HTTP 503 when failing closed)
        ├── StoredRecordError                      (also SerializationError, ValueError) a stored record
        │                                          cannot be read back
        └── MissingExtraError                      (also ImportError) a store whose extra is not installed

Errors never carry a client's raw key or a stored body: keys in messages are the scoped store keys,
which are digests.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    SerializationError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "FingerprintMismatchError",
    "IdempotencyConfigurationError",
    "IdempotencyError",
    "IdempotencyTypeError",
    "IdempotencyUnavailableError",
    "InvalidKeyError",
    "KeyInFlightError",
    "LeaseLostError",
    "MissingExtraError",
    "StoredRecordError",
]


class IdempotencyError(ButtressError):
    """Root of every error buttress-idempotency raises."""


class IdempotencyConfigurationError(IdempotencyError, ConfigurationError):
    """An argument to a store, the middleware or `idempotent` is invalid; the message names it."""


class IdempotencyTypeError(IdempotencyError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class InvalidKeyError(IdempotencyConfigurationError):
    """An idempotency key is empty, longer than 255 characters, badly quoted or outside the safe charset.

    The middleware answers it with 400. The rejected value is kept on ``value`` but never shown in the
    message.
    """

    def __init__(self, value: object, reason: str) -> None:
        super().__init__("idempotency key", value, reason, show_value=False)


class KeyInFlightError(IdempotencyError, ConflictError):
    """Another request holds a live lease on the key; retry after ``retry_after`` seconds.

    Attributes:
        retry_after: Seconds until the holder's lease runs out, if the store knows (else ``None``).
    """

    def __init__(self, key: str, retry_after: float | None) -> None:
        super().__init__("idempotency key", key, "a request with this key is still being processed")
        self.retry_after = retry_after


class FingerprintMismatchError(IdempotencyError, ConflictError):
    """The key is stored for a request with a different fingerprint (method, route, body, headers)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "idempotency key", key, "it was first used for a different request; use a new key for this one"
        )


class LeaseLostError(IdempotencyError):
    """A `complete` or `renew` came with a token whose lease is gone.

    The lease ran out (a stalled worker, a long pause) and the key was freed, perhaps claimed again by
    another worker. The outcome was not stored, so a retry of the request will execute again.

    Attributes:
        key: The scoped store key.
    """

    def __init__(self, key: str) -> None:
        super().__init__(
            f"the lease on idempotency key {key!r} expired before the outcome was stored; "
            "raise the lease or keep the heartbeat running"
        )
        self.key = key


class IdempotencyUnavailableError(IdempotencyError, BackendUnavailableError):
    """The store's server cannot be reached.

    Attributes:
        backend: ``"redis"`` or ``"postgresql"``.
        address: The server's URL or DSN, with credentials removed.
        reason: What failed.
    """


class StoredRecordError(IdempotencyError, SerializationError):
    """A stored response cannot be decoded (corrupt or foreign data under the store's prefix)."""


class MissingExtraError(IdempotencyError, CoreMissingExtraError):
    """A store was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-idempotency"
