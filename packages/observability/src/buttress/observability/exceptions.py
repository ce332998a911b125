"""Errors raised by buttress-observability.

::

    ButtressError                                  (buttress.core)
    └── ObservabilityError                         every error this package raises
        ├── ObservabilityConfigurationError        (also ConfigurationError, ValueError) a bad argument:
        │   │                                      a service name, an exclusion glob, a key list
        │   ├── LogLevelError                      a log level that is not one of the stdlib's names
        │   ├── AuditEntryError                    an audit entry (or its dict form) that is not valid,
        │   │                                      such as a timestamp without a UTC offset
        │   └── TelemetryAlreadySetError           setup_telemetry called again with other settings, or
        │                                          the process's providers were set by someone else
        ├── ObservabilityTypeError                 (also ArgumentTypeError, TypeError) an argument of
        │                                          the wrong type
        ├── ObservabilityUnavailableError          (also BackendUnavailableError, ConnectionError) the
        │                                          audit log's PostgreSQL server cannot be reached
        ├── AuditIntegrityError                    the audit log's hash chain is broken: an entry was
        │                                          edited, deleted or inserted out of band
        └── MissingExtraError                      (also ImportError) setup_telemetry without the ``sdk``
                                                   extra, or the PostgreSQL sink without ``postgres``
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "AuditEntryError",
    "AuditIntegrityError",
    "LogLevelError",
    "MissingExtraError",
    "ObservabilityConfigurationError",
    "ObservabilityError",
    "ObservabilityTypeError",
    "ObservabilityUnavailableError",
    "TelemetryAlreadySetError",
]


class ObservabilityError(ButtressError):
    """Root of every error buttress-observability raises."""


class ObservabilityConfigurationError(ObservabilityError, ConfigurationError):
    """An argument is invalid; the message names it and what it must be (never a secret's value)."""


class LogLevelError(ObservabilityConfigurationError):
    """A log level that is not one of ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``."""


class AuditEntryError(ObservabilityConfigurationError):
    """An audit entry, or the dict it is read from, is not valid (a naive timestamp, a missing field)."""


class TelemetryAlreadySetError(ObservabilityConfigurationError):
    """`setup_telemetry` was called again with other settings, or the providers were set elsewhere.

    OpenTelemetry's global providers can be set once per process: call `shutdown` first, or pass
    the same settings (the call is then a no-op returning the same `TelemetrySetup`).
    """


class ObservabilityTypeError(ObservabilityError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class ObservabilityUnavailableError(ObservabilityError, BackendUnavailableError):
    """The audit log's PostgreSQL server cannot be reached.

    Attributes:
        backend: ``"postgresql"``.
        address: The server's DSN, with credentials removed.
        reason: What failed.
    """


class AuditIntegrityError(ObservabilityError):
    """The audit log's hash chain does not verify: an entry was edited, deleted or inserted.

    Attributes:
        sequence: The sequence number of the first entry whose hash does not follow from the previous one.
        reason: What did not match.
    """

    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(f"the audit chain is broken at entry {sequence}: {reason}")
        self.sequence = sequence
        self.reason = reason


class MissingExtraError(ObservabilityError, CoreMissingExtraError):
    """A feature was used without the extra that installs its dependency.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-observability"
