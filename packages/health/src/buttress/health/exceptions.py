"""Errors raised by buttress-health.

::

    ButtressError                                  (buttress.core)
    └── HealthError                                every error this package raises
        ├── HealthConfigurationError               (also ConfigurationError, ValueError) a bad argument:
        │                                          a check name, a timeout, a group, a threshold
        ├── HealthTypeError                        (also ArgumentTypeError, TypeError) an argument of the
        │                                          wrong type (a check without ``check()``, say)
        ├── HealthUnavailableError                 (also BackendUnavailableError, ConnectionError) a
        │                                          checked server cannot be reached; a ready-made check
        │                                          reports it as a failed check, it never reaches a probe
        ├── HealthResponseError                    (also SerializationError, ValueError) a health+json
        │                                          document that cannot be read
        ├── RegistryClosedError                    the registry was closed; a probe answers "fail"
        └── MissingExtraError                      (also ImportError) a check whose extra is not installed

A failing dependency is never an exception of this package at the probe: a check that raises is a
failed check, with the error's type and message kept for callers allowed to see details.
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
    "HealthConfigurationError",
    "HealthError",
    "HealthResponseError",
    "HealthTypeError",
    "HealthUnavailableError",
    "MissingExtraError",
    "RegistryClosedError",
]


class HealthError(ButtressError):
    """Root of every error buttress-health raises."""


class HealthConfigurationError(HealthError, ConfigurationError):
    """An argument to a registry, a check, a probe app or the shutdown coordinator is invalid."""


class HealthTypeError(HealthError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class HealthUnavailableError(HealthError, BackendUnavailableError):
    """A server a ready-made check talks to cannot be reached.

    The check turns it into a failed `CheckResult` whose output is this message (the address
    redacted); it is raised only by calls made outside a check, such as `PostgresCheck.connect`.

    Attributes:
        backend: ``"postgresql"``, ``"redis"`` or ``"http"``.
        address: The server's URL or DSN, with credentials removed.
        reason: What failed.
    """


class HealthResponseError(HealthError, SerializationError):
    """A health+json document (an upstream service's answer) that cannot be read."""

    def __init__(self, reason: str) -> None:
        super().__init__("health+json", "loads", reason)


class RegistryClosedError(HealthError):
    """The registry was closed (at shutdown): it runs no more checks."""

    def __init__(self) -> None:
        super().__init__("the health registry is closed; make a new one")


class MissingExtraError(HealthError, CoreMissingExtraError):
    """A ready-made check was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-health"
