"""Errors raised by buttress-feature-flags.

::

    ButtressError                                  (buttress.core)
    └── FeatureFlagsError                          every error this package raises
        ├── FeatureFlagsConfigurationError         (also ConfigurationError, ValueError) a bad value
        │   ├── FlagDefinitionError                a malformed flag definition or segment; names
        │   │                                      the flag and the field
        │   └── FlagDocumentError                  a source's document cannot be read (not UTF-8,
        │                                          not JSON or YAML, nested too deeply)
        ├── FeatureFlagsTypeError                  (also ArgumentTypeError, TypeError) a value of the
        │                                          wrong type
        ├── FeatureFlagsUnavailableError           (also BackendUnavailableError, ConnectionError) the
        │                                          flag source's server (or file) cannot be reached
        ├── FlagNotFoundError                      (also NotFoundError, LookupError) the management API
        │                                          was asked to change a flag that does not exist
        ├── FlagExistsError                        (also ConflictError) ``create`` of a key already taken
        ├── ClientClosedError                      (also RuntimeError) the client was closed
        └── MissingExtraError                      (also ImportError) a backend whose extra is missing

Evaluation never raises: an unknown flag, a type mismatch or a client that has no snapshot yet gives
the caller's default with reason ``ERROR`` and an error code. Errors in *your* input (a malformed
definition, a bad argument to a constructor or to the management API) always raise. A source whose
server is down raises `FeatureFlagsUnavailableError`; a source that answers with a document it cannot
read raises `FlagDocumentError` or `FlagDefinitionError`: bad content is not an outage.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    redact_url,
    safe_repr,
)
from buttress.core import (
    MissingExtraError as CoreMissingExtraError,
)

__all__ = [
    "ClientClosedError",
    "FeatureFlagsConfigurationError",
    "FeatureFlagsError",
    "FeatureFlagsTypeError",
    "FeatureFlagsUnavailableError",
    "FlagDefinitionError",
    "FlagDocumentError",
    "FlagExistsError",
    "FlagNotFoundError",
    "MissingExtraError",
]


class FeatureFlagsError(ButtressError):
    """Root of every error buttress-feature-flags raises."""


class FeatureFlagsConfigurationError(FeatureFlagsError, ConfigurationError):
    """An argument to a client, source, sink or manager has a bad value; the message names it."""


class FeatureFlagsTypeError(FeatureFlagsError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type that was given."""


class FeatureFlagsUnavailableError(FeatureFlagsError, BackendUnavailableError):
    """A flag source, sticky store or audit sink cannot be reached (its server is down, its file gone).

    A `FlagClient` catches it during refreshes and keeps serving its last good snapshot. Attributes
    ``backend``, ``address`` (redacted) and ``reason`` say which and why.
    """


class FlagDefinitionError(FeatureFlagsConfigurationError):
    """A flag definition (or a segment) is malformed.

    Attributes:
        flag: The key of the flag (or ``"segment:<id>"``) whose definition is wrong; ``"?"`` when the
            key itself could not be read.
        field: A dotted path to the wrong field, such as ``strategies[0].constraints[1].operator``.
        reason: What is wrong with it.
        parameter: The same as ``field`` (as on every `FeatureFlagsConfigurationError`).
    """

    def __init__(self, flag: str, field: str, reason: str) -> None:
        ButtressError.__init__(self, f"flag {flag!r}: field {field!r} {reason}")
        self.flag = flag
        self.field = field
        self.parameter = field
        self.value = None
        self.reason = reason


class FlagDocumentError(FeatureFlagsConfigurationError):
    """A source answered with a document that cannot be read: not UTF-8, not JSON or YAML, too deep.

    The source is reachable, so this is not an outage: fix the document. A `FlagClient` keeps its
    last good snapshot meanwhile.

    Attributes:
        source: The kind of source (``"file"``, ``"redis"``, ``"postgresql"``).
        location: Where the document was read (a path, or a redacted address).
        reason: What is wrong with it.
    """

    def __init__(self, source: str, location: str, reason: str) -> None:
        shown = redact_url(location) if isinstance(location, str) else safe_repr(location)
        ButtressError.__init__(self, f"{source} document at {shown} cannot be read: {reason}")
        self.source = source
        self.location = shown
        self.parameter = "document"
        self.value = None
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


class ClientClosedError(FeatureFlagsError, RuntimeError):
    """The `FlagClient` was closed; it cannot be started or refreshed again."""

    def __init__(self) -> None:
        super().__init__("the flag client is closed; build a new one")


class MissingExtraError(FeatureFlagsError, CoreMissingExtraError):
    """A backend was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-feature-flags"
