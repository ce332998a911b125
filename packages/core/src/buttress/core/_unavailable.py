"""Turning a driver's connection errors into the package's own "unavailable" error.

Each backend maps the exceptions its driver raises when the server cannot be reached (refused,
reset, timed out, shut down) to its package's `BackendUnavailableError` subclass, with the address
redacted. `connection_errors` names those exceptions once for every driver the suite uses, and
`unavailable_on` does the mapping::

    from buttress.core import connection_errors, unavailable_on

    _DOWN = connection_errors("redis")

    with unavailable_on(_DOWN, StoreUnavailableError, backend="redis", address=url):
        value = await client.get(key)

A client's bad input is never in these tuples: only failures of the server or the path to it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, Literal

from .exceptions import BackendUnavailableError, ConfigurationError

__all__ = ["Driver", "connection_errors", "unavailable_on"]

type Driver = Literal["redis", "asyncpg", "httpx", "aiosmtplib"]

# For each driver: (module, attribute) pairs of the exceptions that mean "the server is unreachable".
_DRIVER_ERRORS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "redis": (
        ("redis.exceptions", "ConnectionError"),
        ("redis.exceptions", "TimeoutError"),
        ("redis.exceptions", "BusyLoadingError"),
        ("redis.exceptions", "ClusterDownError"),
        ("redis.exceptions", "TryAgainError"),
        ("redis.exceptions", "MasterDownError"),
    ),
    "asyncpg": (
        ("asyncpg.exceptions", "PostgresConnectionError"),
        ("asyncpg.exceptions", "InterfaceError"),
        ("asyncpg.exceptions", "OperatorInterventionError"),
        ("asyncpg.exceptions", "CannotConnectNowError"),
        ("asyncpg.exceptions", "TooManyConnectionsError"),
        ("asyncpg.exceptions", "ConnectionDoesNotExistError"),
    ),
    "httpx": (("httpx", "TransportError"),),
    "aiosmtplib": (
        ("aiosmtplib", "SMTPConnectError"),
        ("aiosmtplib", "SMTPServerDisconnected"),
        ("aiosmtplib", "SMTPConnectTimeoutError"),
        ("aiosmtplib", "SMTPReadTimeoutError"),
    ),
}

# What every driver can raise when the network fails under it.
_NETWORK: Final = (OSError, asyncio.TimeoutError, ConnectionError)


def connection_errors(*drivers: Driver) -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the server cannot be reached" for the named drivers.

    Always includes ``OSError`` and timeouts. A driver that is not installed adds nothing, so a
    backend module can call this at import time whatever extras are present.

    Raises:
        ConfigurationError: A driver the suite does not know.
    """
    found: list[type[BaseException]] = list(_NETWORK)
    for driver in drivers:
        if not isinstance(driver, str) or driver not in _DRIVER_ERRORS:
            raise ConfigurationError("driver", driver, f"must be one of {sorted(_DRIVER_ERRORS)}")
        for module_name, attribute in _DRIVER_ERRORS[driver]:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                break
            error = getattr(module, attribute, None)
            if isinstance(error, type) and issubclass(error, BaseException) and error not in found:
                found.append(error)
    return tuple(found)


@contextmanager
def unavailable_on(
    errors: tuple[type[BaseException], ...],
    raise_as: Callable[[str, str, str], BaseException] = BackendUnavailableError,
    *,
    backend: str,
    address: str,
) -> Iterator[None]:
    """Re-raise any of ``errors`` as ``raise_as(backend, address, reason)``, chained to the cause.

    Works around ``await`` inside ``async def`` too. ``address`` is redacted by
    `BackendUnavailableError` before it reaches the message.

    Args:
        errors: The exceptions to map (usually `connection_errors`).
        raise_as: The package's `BackendUnavailableError` subclass.
        backend: A short name of the backend (``"redis"``, ``"postgresql"``).
        address: Its URL or DSN; credentials never reach the message.
    """
    try:
        yield
    except errors as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise raise_as(backend, address, reason) from exc
