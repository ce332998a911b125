"""Errors raised by buttress-testing's own public API.

::

    ButtressError                          (buttress.core)
    └── TestingError                       every error this package raises
        ├── TestingConfigurationError      (also ConfigurationError, ValueError) an argument is invalid:
        │                                  a naive datetime, a port out of range, text with NUL
        ├── TestingTypeError               (also ArgumentTypeError, TypeError) an argument has the
        │                                  wrong type
        ├── ServerError                    (also RuntimeError) a throwaway server could not be found,
        │                                  started or stopped; the message says why
        └── MissingExtraError              (also ImportError) a fixture needs an extra:
                                           ``metric_reader`` needs ``buttress-testing[telemetry]``

Arguments are checked where they enter (a constructor, ``discover_redis``, ``FakeClock.advance``),
before a server is started, a directory is made or the clock moves, so a rejected call changes
nothing. The conformance suites' assertion failures are test failures, not errors of this tree.
"""

from __future__ import annotations

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "MissingExtraError",
    "ServerError",
    "TestingConfigurationError",
    "TestingError",
    "TestingTypeError",
]


class TestingError(ButtressError):
    """Root of every error buttress-testing raises."""

    __test__ = False  # a class named Test* that pytest must not collect


class TestingConfigurationError(TestingError, ConfigurationError):
    """An argument to a buttress-testing function or constructor is invalid; the message names it."""


class TestingTypeError(TestingError, ArgumentTypeError):
    """An argument to a buttress-testing function or constructor has the wrong type."""


class ServerError(TestingError, RuntimeError):
    """A throwaway server could not be found, started or stopped; the message says why.

    It is a ``RuntimeError`` as it always was, so ``except RuntimeError`` keeps catching it.
    """


class MissingExtraError(TestingError, CoreMissingExtraError):
    """A fixture or helper was used without the extra that installs what it needs."""

    distribution = "buttress-testing"
