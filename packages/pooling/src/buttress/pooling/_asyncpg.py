"""`AsyncpgFactory`: PostgreSQL connections for a `Pool` (extra ``postgres``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from buttress.core import check_seconds, connection_errors, unavailable_on

from ._urls import check_url
from .exceptions import MissingExtraError, PoolConfigurationError, PoolTypeError, PoolUnavailableError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - exercised by the bare install
    raise MissingExtraError("AsyncpgFactory", "postgres") from exc

__all__ = ["AsyncpgFactory", "ResetPolicy"]

type ResetPolicy = Literal["full", "rollback"] | Callable[[asyncpg.Connection], Awaitable[object]]
"""What `AsyncpgFactory.reset` does to a released connection: see `AsyncpgFactory`."""

# The server (or the path to it) failing; a refused password or a bad DSN is the caller's input.
_DOWN: Final = connection_errors("asyncpg")


class AsyncpgFactory:
    """Makes asyncpg connections: ``check`` runs ``SELECT 1``, ``reset`` cleans a released one.

    What ``reset`` undoes is the ``reset`` policy:

    - ``"full"`` (the default): asyncpg's ``Connection.reset()``, one round trip on every release. An
      open transaction is rolled back, cursors closed, ``LISTEN`` registrations dropped, advisory
      locks released and settings reset (``RESET ALL``): the next user gets a session like new,
      whatever the last one did.
    - ``"rollback"``: only what the pool can see without asking the server. An open transaction
      (``BEGIN`` or ``connection.transaction()``, failed or not) is rolled back, and a connection
      with ``add_listener`` channels gets the full reset (their ``LISTEN`` lives on the server).
      Otherwise a release costs no round trip. Session state made outside a transaction (``SET``,
      session advisory locks, temporary tables, a ``LISTEN`` sent as SQL) stays for the next user,
      as psycopg_pool leaves it: choose it when the application does not change session state.
    - a coroutine function ``reset(connection)``: the ``"rollback"`` step, then yours (say
      ``lambda c: c.execute("RESET ALL")``). An exception from it means the connection is destroyed
      instead of reused.

    No cheap policy can be the default: a ``SET`` or ``SELECT pg_advisory_lock(1)`` leaves no trace
    the client can read without a round trip, so only the full reset is safe for every application.

    Args:
        dsn: The PostgreSQL DSN (``postgresql://`` or ``postgres://``).
        close_timeout: Seconds a graceful close may take before the connection is terminated.
        check_timeout: Seconds ``SELECT 1`` (and a reset) may take before the connection counts as
            unhealthy.
        reset: The reset policy: ``"full"``, ``"rollback"`` or a coroutine function.
        connect_options: Passed to ``asyncpg.connect`` (``server_settings``, ``timeout``, ``ssl``...).

    Raises:
        PoolConfigurationError: The DSN is not a PostgreSQL URL, a timeout is not a finite number
            of seconds above zero, or ``reset`` is a str other than ``"full"`` and ``"rollback"``.
            The DSN is never shown in the message.
        PoolTypeError: ``reset`` is neither a str nor callable.
    """

    def __init__(
        self,
        dsn: str,
        *,
        close_timeout: float = 5.0,
        check_timeout: float = 5.0,
        reset: ResetPolicy = "full",
        **connect_options: Any,  # noqa: ANN401 - asyncpg.connect's keyword arguments, passed through
    ) -> None:
        self._dsn = check_url("dsn", dsn, ("postgresql", "postgres"), "a postgresql:// DSN")
        self._close_timeout = check_seconds("close_timeout", close_timeout, error=PoolConfigurationError)
        self._check_timeout = check_seconds("check_timeout", check_timeout, error=PoolConfigurationError)
        self._reset: ResetPolicy = _check_policy(reset)
        self._options = connect_options

    @property
    def reset_policy(self) -> ResetPolicy:
        """The reset policy: ``"full"``, ``"rollback"`` or the coroutine function given."""
        return self._reset

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

    def needs_reset(self, resource: asyncpg.Connection) -> bool:
        """Whether ``reset`` has work to do for ``resource``, asked by the pool before every reset.

        Always under ``"full"`` and a coroutine function; under ``"rollback"``, only for a
        connection in a transaction or with listeners, so a clean release costs no task.

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        connection = self._connection(resource)
        if self._reset != "rollback":
            return True
        seen: Any = connection
        return bool(
            connection.is_in_transaction()
            or seen._top_xact is not None
            or seen._listeners
            or seen._log_listeners
        )

    async def reset(self, resource: asyncpg.Connection) -> None:
        """Clean a released connection for the next user, as the reset policy says (see the class).

        Raises:
            PoolTypeError: ``resource`` is not an asyncpg connection.
        """
        connection = self._connection(resource)
        policy = self._reset
        # What asyncpg tracks of a session, read from its own (undocumented, stable) attributes.
        seen: Any = connection
        if policy == "full" or seen._listeners:  # add_listener's channels: UNLISTEN needs the full reset
            await connection.reset(timeout=self._check_timeout)
        elif connection.is_in_transaction() or seen._top_xact is not None:
            # asyncpg's own first step of reset(): ROLLBACK, its transaction object forgotten.
            async with asyncio.timeout(self._check_timeout):
                await seen._reset()
        elif seen._log_listeners:  # callbacks only, nothing on the server: dropped here
            seen._log_listeners.clear()
        if callable(policy):
            await policy(connection)

    def __repr__(self) -> str:
        return "AsyncpgFactory(dsn=***)"


def _check_policy(reset: object) -> ResetPolicy:
    if isinstance(reset, str):
        if reset not in ("full", "rollback"):
            raise PoolConfigurationError("reset", reset, 'must be "full", "rollback" or a coroutine function')
        return reset  # type: ignore[return-value] # one of the two literals, checked above
    if isinstance(reset, type) or not callable(reset):
        raise PoolTypeError("reset", '"full", "rollback" or a coroutine function', reset)
    return reset  # a callable; what it returns is awaited
