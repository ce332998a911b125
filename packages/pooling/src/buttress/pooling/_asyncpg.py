"""`AsyncpgFactory`: PostgreSQL connections for a `Pool` (extra ``postgres``)."""

from __future__ import annotations

from typing import Any, Final

from buttress.core import check_seconds, connection_errors, unavailable_on

from ._urls import check_url
from .exceptions import MissingExtraError, PoolConfigurationError, PoolTypeError, PoolUnavailableError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare install
    raise MissingExtraError("AsyncpgFactory", "postgres") from exc

__all__ = ["AsyncpgFactory"]

# The server (or the path to it) failing; a refused password or a bad DSN is the caller's input.
_DOWN: Final = connection_errors("asyncpg")


class AsyncpgFactory:
    """Makes asyncpg connections: ``check`` runs ``SELECT 1``, ``reset`` makes the session like new.

    Args:
        dsn: The PostgreSQL DSN (``postgresql://`` or ``postgres://``).
        close_timeout: Seconds a graceful close may take before the connection is terminated.
        check_timeout: Seconds ``SELECT 1`` may take before the connection counts as unhealthy.
        connect_options: Passed to ``asyncpg.connect`` (``server_settings``, ``timeout``, ``ssl``...).

    Raises:
        PoolConfigurationError: The DSN is not a PostgreSQL URL, or a timeout is not a finite number
            of seconds above zero. The DSN is never shown in the message.
    """

    def __init__(
        self,
        dsn: str,
        *,
        close_timeout: float = 5.0,
        check_timeout: float = 5.0,
        **connect_options: Any,  # noqa: ANN401 - asyncpg.connect's keyword arguments, passed through
    ) -> None:
        self._dsn = check_url("dsn", dsn, ("postgresql", "postgres"), "a postgresql:// DSN")
        self._close_timeout = check_seconds("close_timeout", close_timeout, error=PoolConfigurationError)
        self._check_timeout = check_seconds("check_timeout", check_timeout, error=PoolConfigurationError)
        self._options = connect_options

    async def create(self) -> asyncpg.Connection:
        """Open a connection.

        Raises:
            PoolUnavailableError: The server cannot be reached (the DSN's password is redacted).
            PoolConfigurationError: asyncpg refused the DSN or an option, or the server refused the
                credentials.
        """
        with unavailable_on(_DOWN, PoolUnavailableError, backend="postgresql", address=self._dsn):
            try:
                connection: asyncpg.Connection = await asyncpg.connect(self._dsn, **self._options)
            # Before _DOWN: ClientConfigurationError is an InterfaceError too.
            except asyncpg.ClientConfigurationError as exc:
                reason = f"asyncpg refused it ({type(exc).__name__})"
                raise PoolConfigurationError("dsn", None, reason, show_value=False) from None
            except asyncpg.InvalidAuthorizationSpecificationError:
                reason = "the server refused its credentials"
                raise PoolConfigurationError("dsn", None, reason, show_value=False) from None
            except (TypeError, ValueError) as exc:
                reason = f"asyncpg.connect refused them ({type(exc).__name__})"
                raise PoolConfigurationError("connect_options", None, reason, show_value=False) from None
        return connection

    def _connection(self, resource: object) -> asyncpg.Connection:
        if not isinstance(resource, asyncpg.Connection):
            raise PoolTypeError("resource", "an asyncpg.Connection", resource)
        return resource

    async def destroy(self, resource: asyncpg.Connection) -> None:
        """Close the connection; terminate it if a graceful close fails or takes too long.

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        resource = self._connection(resource)
        if resource.is_closed():
            return
        try:
            await resource.close(timeout=self._close_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            resource.terminate()

    async def check(self, resource: asyncpg.Connection) -> bool:
        """Return whether the connection answers ``SELECT 1``.

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        resource = self._connection(resource)
        if resource.is_closed():
            return False
        answer: object = await resource.fetchval("SELECT 1", timeout=self._check_timeout)
        return answer == 1

    async def reset(self, resource: asyncpg.Connection) -> None:
        """Return the session to the state of a new connection, so the next user starts clean.

        Uses asyncpg's own reset: an open transaction is rolled back, cursors closed, ``LISTEN``
        registrations dropped, advisory locks released and settings reset (``RESET ALL``).

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        await self._connection(resource).reset(timeout=self._check_timeout)

    def __repr__(self) -> str:
        return "AsyncpgFactory(dsn=***)"
