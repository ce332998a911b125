"""Errors raised by buttress-pooling.

::

    ButtressError                              (buttress.core)
    └── PoolError                              every error this package raises
        ├── PoolConfigurationError             (also ConfigurationError, ValueError) a bad setting or
        │                                      argument, checked before anything changes
        ├── PoolTypeError                      (also ArgumentTypeError, TypeError) an argument of the
        │                                      wrong type (a flag that is not a bool, a resource that
        │                                      is not the factory's kind)
        ├── PoolUnavailableError               (also BackendUnavailableError, ConnectionError) a
        │                                      ready-made factory's server cannot be reached
        ├── PoolTimeoutError                   (also TimeoutError) no resource within the acquire timeout
        ├── PoolExhaustedError                 max_waiting callers are already waiting
        ├── PoolClosedError                    the pool is closing or closed
        ├── ForeignResourceError               (also ValueError) a resource released that this pool did
        │                                      not hand out (or released twice)
        ├── PoolInvariantViolation             (also AssertionError) the pool's own counters disagree: a bug
        └── MissingExtraError                  (also ImportError) a ready-made factory without its extra
"""

from __future__ import annotations

from collections.abc import Mapping

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    safe_repr,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "ForeignResourceError",
    "MissingExtraError",
    "PoolClosedError",
    "PoolConfigurationError",
    "PoolError",
    "PoolExhaustedError",
    "PoolInvariantViolation",
    "PoolTimeoutError",
    "PoolTypeError",
    "PoolUnavailableError",
]


class PoolError(ButtressError):
    """Root of every error buttress-pooling raises."""


class PoolConfigurationError(PoolError, ConfigurationError):
    """A pool setting is invalid; the message names it."""


class PoolTypeError(PoolError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class PoolUnavailableError(PoolError, BackendUnavailableError):
    """A ready-made factory could not reach its server (refused, reset, timed out, shutting down).

    Raised by `AsyncpgFactory.create` and `RedisFactory.create`; a pool counts it as a failed
    creation and retries with backoff. ``.backend`` names the server (``"postgresql"``,
    ``"redis"``), ``.address`` is its URL with the credentials redacted, ``.reason`` the driver's
    error. A bad DSN, URL or password is a `PoolConfigurationError` instead, never this.
    """


class PoolTimeoutError(PoolError, TimeoutError):
    """No resource could be had within the acquire timeout.

    Args:
        timeout: The timeout that passed, in seconds.
        reason: What the pool was doing, including the last creation error if creating failed.
    """

    def __init__(self, timeout: float, reason: str) -> None:
        super().__init__(f"no resource within {_seconds(timeout)}: {reason}")
        self.timeout = timeout
        self.reason = reason


def _seconds(timeout: object) -> str:
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        try:
            return f"{float(timeout):g}s"
        except OverflowError:
            pass
    return safe_repr(timeout)


class PoolExhaustedError(PoolError):
    """``max_waiting`` callers are already waiting; this one is refused at once."""


class PoolClosedError(PoolError):
    """The pool is closing or closed and hands out nothing more."""


class ForeignResourceError(PoolError, ValueError):
    """A resource was released that this pool did not hand out, or was released twice."""


class PoolInvariantViolation(PoolError, AssertionError):  # noqa: N818 - the name the design gives it
    """The pool's state counters no longer add up. It is a bug in the pool; the counts say where.

    Attributes:
        counts: Every state's count, plus ``total`` and ``max_size``.
    """

    def __init__(self, reason: str, counts: Mapping[str, int]) -> None:
        kept = dict(counts) if isinstance(counts, Mapping) else {}
        shown = ", ".join(f"{name}={safe_repr(value)}" for name, value in kept.items())
        super().__init__(f"pool invariant violated: {reason} ({shown})")
        self.counts = kept


class MissingExtraError(PoolError, CoreMissingExtraError):
    """A ready-made factory was used without the extra that installs its driver.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-pooling"
