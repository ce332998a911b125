"""`SQLAlchemyCheck`: any SQLAlchemy async engine answers a query (extra ``sqlalchemy``)."""

from __future__ import annotations

from typing import ClassVar, Final

from buttress.core import check_text

from ._status import CheckResult, Status
from ._timing import round_trip
from .exceptions import HealthConfigurationError, HealthTypeError, MissingExtraError

try:
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncEngine
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("SQLAlchemyCheck", "sqlalchemy") from exc

__all__ = ["SQLAlchemyCheck"]

_QUERY: Final = "SELECT 1"


class SQLAlchemyCheck:
    """An SQLAlchemy async engine answers ``query`` (``SELECT 1``), whatever its database and driver.

    Reported as ``responseTime`` of a ``datastore``. The engine is the application's: the check
    borrows a connection from its pool and never disposes of it. A database error (SQLAlchemy's
    ``DBAPIError``, which wraps the driver's) fails the check with its class name and the driver's
    error's class (a connection refused is its class alone), never the statement or the address.

    Args:
        engine: A ``sqlalchemy.ext.asyncio.AsyncEngine``.
        query: The statement to run; keep it cheap and read-only.

    Raises:
        HealthTypeError: ``engine`` is not an ``AsyncEngine``, or ``query`` not a str.
        HealthConfigurationError: ``query`` is empty or holds NUL.
    """

    __slots__ = ("engine", "query")

    downstream: ClassVar[bool] = True

    def __init__(self, engine: AsyncEngine, *, query: str = _QUERY) -> None:
        if not isinstance(engine, AsyncEngine):
            raise HealthTypeError("engine", "a sqlalchemy AsyncEngine", engine)
        self.engine = engine
        self.query = check_text(
            "query", query, max_bytes=4_096, error=HealthConfigurationError, type_error=HealthTypeError
        )

    async def check(self) -> CheckResult:
        """Run the query once."""
        try:
            return await round_trip(self._ping, component_type="datastore")
        except sa_exc.DBAPIError as exc:
            driver = type(exc.orig).__name__ if exc.orig is not None else "unknown"
            return CheckResult(
                Status.FAIL, output=f"{type(exc).__name__} ({driver})", component_type="datastore"
            )
        except OSError as exc:  # refused or reset before the driver wrapped it: its message names the address
            return CheckResult(Status.FAIL, output=type(exc).__name__, component_type="datastore")

    async def _ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text(self.query))

    def __repr__(self) -> str:
        return f"SQLAlchemyCheck({self.engine.url.render_as_string(hide_password=True)!r})"
