"""`PostgresCheck`: PostgreSQL answers a query, on an asyncpg pool (extra ``postgres``)."""

from __future__ import annotations

from typing import Any, ClassVar, Final, Self

from buttress.core import AsyncResource, BackendErrors, PostgresBackend, check_text

from ._metrics import TELEMETRY
from ._status import CheckResult
from ._timing import round_trip
from .exceptions import HealthConfigurationError, HealthTypeError, HealthUnavailableError, MissingExtraError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("PostgresCheck", "postgres") from exc

__all__ = ["PostgresCheck"]

_QUERY: Final = "SELECT 1"


class PostgresCheck(PostgresBackend, AsyncResource):
    """PostgreSQL answers ``query`` (``SELECT 1``): pass with the round trip in seconds, else fail.

    Reported as ``responseTime`` of a ``datastore``. A server that is down, restarting or refusing
    connections fails the check (its address redacted in the output); when it is back, the pool
    reconnects and the check passes again.

    Built on a pool the application owns (``PostgresCheck(pool)``, never closed by the check) or on
    one it opens (``await PostgresCheck.connect(dsn)``, closed by `aclose`): a pool of its own keeps
    the probe from waiting behind the application's queries when the pool is exhausted.

    Args:
        pool: An ``asyncpg.Pool``.
        query: The statement to run; keep it cheap and read-only.

    Raises:
        HealthTypeError: ``pool`` is not an ``asyncpg.Pool``, or ``query`` not a str.
        HealthConfigurationError: ``query`` is empty or holds NUL.
    """

    telemetry = TELEMETRY  # bound when a backend is made, not on the first request

    errors = BackendErrors(HealthConfigurationError, HealthTypeError, HealthUnavailableError)
    outages = (asyncpg.exceptions.InternalClientError,)
    downstream: ClassVar[bool] = True

    def __init__(self, pool: Any, *, query: str = _QUERY) -> None:  # noqa: ANN401 - an asyncpg.Pool
        super().__init__(pool)
        self.query = check_text(
            "query", query, max_bytes=4_096, error=HealthConfigurationError, type_error=HealthTypeError
        )

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        query: str = _QUERY,
        min_size: int = 1,
        max_size: int = 2,
        command_timeout: float | None = None,
    ) -> Self:
        """Open a small pool of its own on ``dsn`` (1 to 2 connections) and check through it.

        Raises:
            HealthConfigurationError: A bad argument, or a DSN the server refuses.
            HealthTypeError: An argument of the wrong type.
            HealthUnavailableError: The server cannot be reached now.
        """
        check_text(
            "query", query, max_bytes=4_096, error=HealthConfigurationError, type_error=HealthTypeError
        )
        return await cls._open(
            dsn,
            lambda pool: cls(pool, query=query),
            min_size=min_size,
            max_size=max_size,
            command_timeout=command_timeout,
        )

    async def check(self) -> CheckResult:
        """Run the query once."""
        return await round_trip(self._ping, component_type="datastore")

    async def _ping(self) -> None:
        async with self._connection() as connection:
            await connection.fetchval(self.query)

    def __repr__(self) -> str:
        return f"PostgresCheck(address={self._address!r}, owns_pool={self.owns_pool})"
