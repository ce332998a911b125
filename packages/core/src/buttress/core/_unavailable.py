"""Turning a driver's connection errors into the package's own "unavailable" error.

Each backend maps the exceptions its driver raises when the server cannot be reached (refused,
reset, timed out, shut down) to its package's `BackendUnavailableError` subclass, with the address
redacted. `connection_errors` names those exceptions once for every driver the suite uses, and
`unavailable_on` does the mapping::

    from buttress.core import connection_errors, unavailable_on

    _DOWN = connection_errors("redis")

    with unavailable_on(_DOWN, IdempotencyUnavailableError, backend="redis", address=url):
        value = await client.get(key)

A client's bad input is never reported as an outage: only failures of the server or the path to it.
A driver error that is also a ``ValueError`` or ``TypeError`` (asyncpg files some input errors
under ``InterfaceError``) passes through `unavailable_on` as the caller's error instead.
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
        # A connection left mid-operation by a cut ("cannot switch to state ...; another operation
        # is in progress"): what a terminated backend looks like to the next call on it.
        ("asyncpg.exceptions", "InternalClientError"),
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
    try:
        known = _FOUND.get(drivers)
    except TypeError:  # an unhashable driver: the checks below name it
        known = None
    if known is not None:
        return known
    found: list[type[BaseException]] = list(_NETWORK)
    complete = True
    for driver in drivers:
        if not isinstance(driver, str) or driver not in _DRIVER_ERRORS:
            raise ConfigurationError("driver", driver, f"must be one of {sorted(_DRIVER_ERRORS)}")
        for module_name, attribute in _DRIVER_ERRORS[driver]:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                complete = False  # installed later, perhaps: asked again next time
                break
            error = getattr(module, attribute, None)
            if isinstance(error, type) and issubclass(error, BaseException) and error not in found:
                found.append(error)
    result = tuple(found)
    if complete:
        _FOUND[drivers] = result  # backends call this per operation: the imports are made once
    return result


_FOUND: dict[tuple[str, ...], tuple[type[BaseException], ...]] = {}


@contextmanager
def unavailable_on(
    errors: tuple[type[BaseException], ...],
    raise_as: Callable[[str, str, str], BaseException] = BackendUnavailableError,
    *,
    backend: str,
    address: str,
    bad_input: Callable[[BaseException], BaseException] | None = None,
) -> Iterator[None]:
    r"""Re-raise any of ``errors`` as ``raise_as(backend, address, reason)``, chained to the cause.

    Works around ``await`` inside ``async def`` too. ``address`` is redacted by
    `BackendUnavailableError` before it reaches the message.

    Args:
        errors: The exceptions to map (usually `connection_errors`).
        raise_as: The package's `BackendUnavailableError` subclass.
        backend: A short name of the backend (``"redis"``, ``"postgresql"``).
        address: Its URL or DSN; credentials never reach the message.
        bad_input: Builds the package's error for a driver error that is the caller's input, not an
            outage. Drivers put some of those under their connection errors (asyncpg's ``DataError``
            for a value it cannot encode and ``ClientConfigurationError`` for a DSN it cannot use are
            ``InterfaceError``\ s, as a lost connection is): any error that is also a ``ValueError``
            or ``TypeError`` is never reported as unavailable. It is raised as ``bad_input(exc)``,
            or unchanged without ``bad_input``.
    """
    try:
        yield
    except errors as exc:
        if isinstance(exc, ValueError | TypeError):
            if bad_input is None:
                raise
            raise bad_input(exc) from exc
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise raise_as(backend, address, reason) from exc
