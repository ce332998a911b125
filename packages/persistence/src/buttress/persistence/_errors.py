"""Driver errors turned into the package's own, with the cause chained and the URL redacted.

SQLAlchemy wraps the driver's exceptions in its ``DBAPIError`` family (the asyncpg exception is the
``__cause__`` of the adapted one in ``.orig``); a connection refused before any driver call surfaces
as a plain ``OSError``. `translated` maps both: a lost or refused server is
`PersistenceUnavailableError` (through core's `unavailable_on` and `connection_errors`), anything
else the database refused is `DatabaseError`. Errors of the caller's own code pass unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import exc as sa_exc

from buttress.core import connection_errors, unavailable_on

from ._metrics import UNAVAILABLE
from .exceptions import DatabaseError, PersistenceConfigurationError, PersistenceUnavailableError

__all__ = ["driver_cause", "sqlstate", "translated"]

logger = logging.getLogger(__name__)

_DOWN: Final = connection_errors("asyncpg")
_BACKEND: Final = "database"


def driver_cause(error: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (the error itself if none)."""
    cause: BaseException = error
    if isinstance(error, sa_exc.DBAPIError) and isinstance(error.orig, BaseException):
        cause = error.orig
    return cause.__cause__ if isinstance(cause.__cause__, Exception) else cause


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE the driver reported for ``error``, if any."""
    for candidate in (getattr(error, "orig", None), driver_cause(error)):
        for name in ("sqlstate", "pgcode"):
            value = getattr(candidate, name, None)
            if isinstance(value, str):
                return value
    return None


def _is_outage(error: sa_exc.DBAPIError) -> bool:
    if error.connection_invalidated:
        return True
    cause = driver_cause(error)
    return isinstance(cause, _DOWN) and not isinstance(cause, ValueError | TypeError)


def _bad_input(error: BaseException) -> BaseException:
    return PersistenceConfigurationError("value", None, f"the driver refused it ({type(error).__name__})")


def _report(error: PersistenceUnavailableError) -> PersistenceUnavailableError:
    """Count and log an outage once, however many blocks it leaves."""
    if not getattr(error, "_reported", False):
        error._reported = True  # type: ignore[attr-defined]
        UNAVAILABLE.add(1)
        logger.warning(
            "database at %s is unavailable: %s",
            error.address,
            error.reason,
            extra={"database": error.address, "error": error.reason},
        )
    return error


@contextmanager
def translated(address: str) -> Iterator[None]:
    """Map driver and SQLAlchemy errors raised in the block; ``address`` must be redacted already."""
    try:
        with unavailable_on(_DOWN, PersistenceUnavailableError, backend=_BACKEND, address=address):
            yield
    except PersistenceUnavailableError as exc:
        _report(exc)
        raise
    except sa_exc.DBAPIError as exc:
        if _is_outage(exc):
            reason = type(driver_cause(exc)).__name__
            raise _report(PersistenceUnavailableError(_BACKEND, address, reason)) from exc
        cause = driver_cause(exc)
        if isinstance(cause, ValueError | TypeError) and not isinstance(exc, sa_exc.IntegrityError):
            raise _bad_input(cause) from exc
        state = sqlstate(exc)
        shown = f" (SQLSTATE {state})" if state else ""
        message = f"the database refused the statement: {type(cause).__name__}{shown}"
        raise DatabaseError(message, sqlstate=state) from exc
    except sa_exc.TimeoutError as exc:
        reason = "no pooled connection was free within pool_timeout"
        raise _report(PersistenceUnavailableError(_BACKEND, address, reason)) from exc
