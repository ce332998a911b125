"""Errors raised by buttress-caching.

::

    ButtressError                                  (buttress.core)
    └── CachingError                               every error this package raises
        ├── CachingConfigurationError              (also ConfigurationError, ValueError) a bad argument
        │   └── InvalidKeyError                    a key that is not a non-empty str within the size limit
        ├── CacheSerializationError                (also SerializationError, ValueError) a value that cannot
        │   │                                      be stored, or stored bytes that cannot be read
        │   └── SignatureMismatchError             a signed (pickle) payload whose HMAC does not verify
        ├── CachingTypeError                       (also ArgumentTypeError, TypeError) an argument of a
        │                                          `cached` function that no key can be built from
        ├── CachingUnavailableError                (also BackendUnavailableError, ConnectionError) the
        │                                          server cannot be reached: raised by a storage, and
        │   │                                      by a cache only in strict mode (else it degrades)
        │   └── CachingBusyError                   every connection of the client is in use: our
        │                                          congestion, which never opens the circuit breaker
        └── MissingExtraError                      (also ImportError) a backend whose extra is not installed

A cache that cannot reach its server never fails a request unless it was built with ``strict=True``:
reads become misses and writes are dropped. Errors in *your* input (a bad TTL, an unserializable value)
always raise.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    SerializationError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "CacheSerializationError",
    "CachingBusyError",
    "CachingConfigurationError",
    "CachingError",
    "CachingTypeError",
    "CachingUnavailableError",
    "InvalidKeyError",
    "MissingExtraError",
    "SignatureMismatchError",
]


class CachingError(ButtressError):
    """Root of every error buttress-caching raises."""


class CachingConfigurationError(CachingError, ConfigurationError):
    """An argument to a cache, a decorator or a cache call is invalid; the message names it."""


class InvalidKeyError(CachingConfigurationError):
    """A cache key is not a non-empty string within the size limit."""


class CacheSerializationError(CachingError, SerializationError):
    """A value cannot be serialized for storage, or stored bytes cannot be deserialized."""


class SignatureMismatchError(CacheSerializationError):
    """A signed payload failed its HMAC check and was not deserialized.

    Raised by `PickleSerializer.loads`; a cache reading such a payload treats it as a miss (and
    counts an error), so bytes planted in Redis by someone without the secret are never unpickled.
    """


class CachingTypeError(CachingError, ArgumentTypeError):
    """An argument has a type that cannot be used: for `cached`, one no key can be built from faithfully.

    Raised when the function is called, before anything is read or computed, instead of building a
    key that another call's arguments could share. The message names the argument and, for a value
    inside a container, where in it (``user.address``, ``items[3]``).

    Args:
        parameter: The argument, and the path inside it.
        expected: What it should have been.
        actual: The value given (only its type's name is kept).
        reason: Why it was refused and what to do instead.

    Attributes:
        reason: Why it was refused and what to do instead.
    """

    def __init__(self, parameter: str, expected: str, actual: object, *, reason: str = "") -> None:
        super().__init__(parameter, expected, actual)
        self.reason = reason if isinstance(reason, str) else repr(reason)
        if self.reason:
            self.message = f"{self.message}: {self.reason}"
            self.args = (self.message,)


class CachingUnavailableError(CachingError, BackendUnavailableError):
    """The cache's server cannot be reached.

    A storage raises it for every call its server cannot answer; a cache built with ``strict=True``
    passes it on, any other cache degrades instead (a miss, a dropped write) and counts an error.
    """


class CachingBusyError(CachingUnavailableError):
    """Every connection of the storage's client is in use, and the client does not queue callers.

    The server may be fine: this is congestion on the caller's side, so a cache degrades the call
    but does not count it toward its circuit breaker. Bound the cache's ``max_concurrency`` (or use
    `from_url`, whose pool queues callers) to avoid it.
    """


class MissingExtraError(CachingError, CoreMissingExtraError):
    """A backend or serializer was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-caching"
