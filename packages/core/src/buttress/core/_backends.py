"""What the suite's backend bases share: the package's error classes, and checks that raise them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._checks import check_text
from .exceptions import ArgumentTypeError, BackendUnavailableError, ConfigurationError

__all__ = ["CORE_ERRORS", "BackendErrors", "check_address", "check_errors"]

_MAX_ADDRESS: Final = 4_096


@dataclass(frozen=True, slots=True)
class BackendErrors:
    """The error classes a package's backends raise (its PostgreSQL and Redis ones take them here).

    Attributes:
        configuration: For a bad value (a table name, a pool size, a DSN the driver or the server
            refuses): the package's `ConfigurationError`.
        type_error: For a value of the wrong type: the package's `ArgumentTypeError`.
        unavailable: For a server that cannot be reached: the package's `BackendUnavailableError`.
    """

    configuration: type[ConfigurationError] = ConfigurationError
    type_error: type[ArgumentTypeError] = ArgumentTypeError
    unavailable: type[BackendUnavailableError] = BackendUnavailableError

    def __post_init__(self) -> None:
        for name, base in (
            ("configuration", ConfigurationError),
            ("type_error", ArgumentTypeError),
            ("unavailable", BackendUnavailableError),
        ):
            value = getattr(self, name)
            if not (isinstance(value, type) and issubclass(value, base)):
                raise ArgumentTypeError(name, f"a subclass of {base.__name__}", value)


CORE_ERRORS: Final = BackendErrors()


def check_errors(errors: object) -> BackendErrors:
    """``errors`` if it is a `BackendErrors`."""
    if not isinstance(errors, BackendErrors):
        raise ArgumentTypeError("errors", "a BackendErrors", errors)
    return errors


def check_address(parameter: str, value: object, errors: BackendErrors) -> str:
    """A DSN or URL as text a driver can take, never shown in a message (it may hold a password)."""
    return check_text(
        parameter,
        value,
        max_bytes=_MAX_ADDRESS,
        show_value=False,
        error=errors.configuration,
        type_error=errors.type_error,
    )
