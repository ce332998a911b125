"""Errors raised by buttress-feature-flags.

::

    ButtressError                                  (buttress.core)
    └── FeatureFlagsError                          every error this package raises
        ├── FlagConfigurationError                 (also ConfigurationError, ValueError) a bad argument
        ├── FlagDefinitionError                    (also ValueError) a malformed flag definition; names
        │                                          the flag and the field
        ├── FlagNotFoundError                      (also NotFoundError, LookupError) the management API
        │                                          was asked to change a flag that does not exist
        ├── FlagExistsError                        (also ConflictError) ``create`` of a key already taken
        ├── FlagSourceError                        (also BackendUnavailableError, ConnectionError) a
        │                                          source or audit sink cannot be reached or read
        ├── ClientClosedError                      (also RuntimeError) the client was closed
        └── MissingExtraError                      (also ImportError) a backend whose extra is missing

Evaluation never raises: an unknown flag, a type mismatch or a client that has no snapshot yet gives
the caller's default with reason ``ERROR`` and an error code. Errors in *your* input (a malformed
definition, a bad argument to a constructor or to the management API) always raise.
"""

from __future__ import annotations

from buttress.core import (
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
)
from buttress.core import (
    MissingExtraError as CoreMissingExtraError,
)

__all__ = [
    "ClientClosedError",
    "FeatureFlagsError",
    "FlagConfigurationError",
    "FlagDefinitionError",
    "FlagExistsError",
    "FlagNotFoundError",
    "FlagSourceError",
    "MissingExtraError",
]


class FeatureFlagsError(ButtressError):
    """Root of every error buttress-feature-flags raises."""


class FlagConfigurationError(FeatureFlagsError, ConfigurationError):
    """An argument to a client, source, sink or manager is invalid; the message names it."""


class FlagDefinitionError(FeatureFlagsError, ValueError):
    """A flag definition (or a segment) is malformed.

    Attributes:
        flag: The key of the flag (or ``"segment:<id>"``) whose definition is wrong; ``"?"`` when the
            key itself could not be read.
        field: A dotted path to the wrong field, such as ``strategies[0].constraints[1].operator``.
        reason: What is wrong with it.
    """

    def __init__(self, flag: str, field: str, reason: str) -> None:
        super().__init__(f"flag {flag!r}: field {field!r} {reason}")
        self.flag = flag
        self.field = field
        self.reason = reason


class FlagNotFoundError(FeatureFlagsError, NotFoundError):
    """The management API was asked to change or delete a flag that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__("flag", key)
        self.key = key


class FlagExistsError(FeatureFlagsError, ConflictError):
    """``FlagManager.create`` was given a key that is already taken; use ``update`` to change it."""

    def __init__(self, key: str) -> None:
        super().__init__("flag", key, "exists already; use update() to change it")
        self.key = key


class FlagSourceError(FeatureFlagsError, BackendUnavailableError):
    """A flag source or audit sink could not be reached or read.

    A `FlagClient` catches it during background refreshes and keeps serving its last good snapshot.
    """


class ClientClosedError(FeatureFlagsError, RuntimeError):
    """The `FlagClient` was closed; it cannot be started or refreshed again."""

    def __init__(self) -> None:
        super().__init__("the flag client is closed; build a new one")


class MissingExtraError(FeatureFlagsError, CoreMissingExtraError):
    """A backend was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-feature-flags"
