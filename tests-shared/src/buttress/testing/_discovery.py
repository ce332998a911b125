"""Finding a Redis and a PostgreSQL server for a test session.

Order, for each service: the URL in the environment variable; else the usual local port; else a
throwaway server started from binaries on PATH; else the service is unavailable, with a reason that
says how to provide one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from buttress.core import redact_url

from ._resp import ping
from ._servers import PostgresServer, RedisServer, checked_text
from .exceptions import ServerError, TestingConfigurationError, TestingTypeError

__all__ = [
    "POSTGRES_ENV",
    "REDIS_ENV",
    "REQUIRE_ENV",
    "PostgresService",
    "RedisService",
    "ServiceUnavailable",
    "discover_postgres",
    "discover_redis",
    "run_async",
]

REDIS_ENV = "BUTTRESS_REDIS_URL"
POSTGRES_ENV = "BUTTRESS_POSTGRES_DSN"
REQUIRE_ENV = "BUTTRESS_REQUIRE_SERVICES"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

type Origin = Literal["env", "local", "throwaway"]


@dataclass(frozen=True)
class ServiceUnavailable:
    """Why a service could not be found, and how to provide one.

    Attributes:
        service: The service's name, such as ``"Redis"``.
        reasons: What was tried and why each step failed; a sequence of str, kept as a tuple.

    Raises:
        TestingTypeError: An attribute has the wrong type.
        TestingConfigurationError: A str holds NUL or a lone surrogate, or ``service`` is empty.
    """

    service: str
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        checked_text("service", self.service)
        reasons: object = self.reasons
        if isinstance(reasons, str | bytes | bytearray) or not isinstance(reasons, Sequence):
            raise TestingTypeError("reasons", "a tuple of str", reasons)
        checked = tuple(
            checked_text(f"reasons[{index}]", reason, allow_empty=True)
            for index, reason in enumerate(reasons)
        )
        object.__setattr__(self, "reasons", checked)

    def message(self) -> str:
        """A message for a skip or a failure."""
        tried = "; ".join(self.reasons)
        return f"no {self.service} server for the tests ({tried})"


@dataclass(frozen=True)
class RedisService:
    """A Redis server the tests may use.

    Attributes:
        url: A ``redis://`` URL for it.
        origin: Where it came from: ``"env"``, ``"local"`` (the default port) or ``"throwaway"``.
        server: The throwaway server, for its owner to close; ``None`` otherwise.

    Raises:
        TestingTypeError: An attribute has the wrong type.
        TestingConfigurationError: ``url`` is empty or holds NUL or a lone surrogate, or ``origin`` is
            none of the three.
    """

    url: str
    origin: Origin
    server: RedisServer | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_service("url", self.url, self.origin, self.server, RedisServer)


@dataclass(frozen=True)
class PostgresService:
    """A PostgreSQL server the tests may use.

    Attributes:
        dsn: A ``postgresql://`` DSN for it, to a database the tests may create schemas in.
        origin: Where it came from: ``"env"``, ``"local"`` (the default port) or ``"throwaway"``.
        server: The throwaway server, for its owner to close; ``None`` otherwise.

    Raises:
        TestingTypeError: An attribute has the wrong type.
        TestingConfigurationError: ``dsn`` is empty or holds NUL or a lone surrogate, or ``origin`` is
            none of the three.
    """

    dsn: str
    origin: Origin
    server: PostgresServer | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_service("dsn", self.dsn, self.origin, self.server, PostgresServer)


_ORIGINS: tuple[Origin, ...] = ("env", "local", "throwaway")


def _check_service(
    name: str, address: object, origin: object, server: object, kind: type[RedisServer | PostgresServer]
) -> None:
    checked_text(name, address, show_value=False)
    if not isinstance(origin, str):
        raise TestingTypeError("origin", "a str", origin)
    if origin not in _ORIGINS:
        raise TestingConfigurationError("origin", origin, f"must be one of {', '.join(_ORIGINS)}")
    if server is not None and not isinstance(server, kind):
        raise TestingTypeError("server", f"a {kind.__name__} or None", server)


def discover_redis(
    environ: Mapping[str, str],
    *,
    local_url: str | None = LOCAL_REDIS_URL,
    start_throwaway: bool = True,
) -> RedisService | ServiceUnavailable:
    """Find a Redis server, in the documented order.

    A URL set in the environment is used or reported, never silently replaced by another server.

    Args:
        environ: The environment to read `REDIS_ENV` from (``os.environ``, or a dict in tests).
        local_url: The URL of the usual local server, tried next; ``None`` skips that step.
        start_throwaway: Whether to start a throwaway ``redis-server`` as the last resort; the caller
            then closes ``found.server``.

    Raises:
        TestingTypeError: An argument (or the environment's value) has the wrong type.
        TestingConfigurationError: A URL holds NUL or a lone surrogate, or ``local_url`` is empty.
    """
    configured = _configured(environ, REDIS_ENV)
    local_url = _local("local_url", local_url)
    _flag("start_throwaway", start_throwaway)
    if configured:
        problem = ping(configured)
        if problem is None:
            return RedisService(configured, "env")
        return ServiceUnavailable(
            "Redis", (f"{REDIS_ENV}={redact_url(configured)} does not answer: {problem}",)
        )
    reasons: list[str] = [f"{REDIS_ENV} is not set"]
    if local_url is not None:
        problem = ping(local_url)
        if problem is None:
            return RedisService(local_url, "local")
        reasons.append(f"nothing answers at {redact_url(local_url)} ({problem})")
    if start_throwaway:
        try:
            server = RedisServer()
        except ServerError as exc:
            reasons.append(str(exc))
        else:
            try:
                server.start()
            except ServerError as exc:
                server.close()
                reasons.append(str(exc))
            else:
                return RedisService(server.url, "throwaway", server)
    return ServiceUnavailable("Redis", (*reasons, f"set {REDIS_ENV}=redis://host:port/db to use one"))


def discover_postgres(
    environ: Mapping[str, str],
    *,
    local_dsn: str | None = LOCAL_POSTGRES_DSN,
    start_throwaway: bool = True,
) -> PostgresService | ServiceUnavailable:
    """Find a PostgreSQL server, in the documented order. Needs asyncpg (``buttress-testing[postgres]``).

    A DSN set in the environment is used or reported, never silently replaced by another server.

    Args:
        environ: The environment to read `POSTGRES_ENV` from (``os.environ``, or a dict in tests).
        local_dsn: The DSN of the usual local server, tried next; ``None`` skips that step.
        start_throwaway: Whether to start a throwaway cluster (``initdb`` + ``pg_ctl``) as the last
            resort; the caller then closes ``found.server``.

    Raises:
        TestingTypeError: An argument (or the environment's value) has the wrong type.
        TestingConfigurationError: A DSN holds NUL or a lone surrogate, or ``local_dsn`` is empty.
    """
    configured = _configured(environ, POSTGRES_ENV)
    local_dsn = _local("local_dsn", local_dsn)
    _flag("start_throwaway", start_throwaway)
    if importlib.util.find_spec("asyncpg") is None:
        return ServiceUnavailable(
            "PostgreSQL", ("the PostgreSQL fixtures need asyncpg: install 'buttress-testing[postgres]'",)
        )
    if configured:
        problem = probe_postgres(configured)
        if problem is None:
            return PostgresService(configured, "env")
        return ServiceUnavailable(
            "PostgreSQL", (f"{POSTGRES_ENV}={redact_url(configured)} does not answer: {problem}",)
        )
    reasons: list[str] = [f"{POSTGRES_ENV} is not set"]
    if local_dsn is not None:
        problem = probe_postgres(local_dsn)
        if problem is None:
            return PostgresService(local_dsn, "local")
        reasons.append(f"nothing answers at {redact_url(local_dsn)} ({problem})")
    if start_throwaway:
        try:
            server = PostgresServer()
        except ServerError as exc:
            reasons.append(str(exc))
        else:
            try:
                server.start()
            except ServerError as exc:
                server.close()
                reasons.append(str(exc))
            else:
                return PostgresService(server.dsn, "throwaway", server)
    return ServiceUnavailable(
        "PostgreSQL", (*reasons, f"set {POSTGRES_ENV}=postgresql://user@host:port/db to use one")
    )


def _configured(environ: object, variable: str) -> str | None:
    """The URL the environment sets for ``variable``: checked like an argument, and never shown."""
    if not isinstance(environ, Mapping):
        raise TestingTypeError("environ", "a mapping such as os.environ", environ)
    value = environ.get(variable)
    return None if value is None else checked_text(variable, value, allow_empty=True, show_value=False)


def _local(parameter: str, value: object) -> str | None:
    return None if value is None else checked_text(parameter, value, show_value=False)


def _flag(parameter: str, value: object) -> bool:
    if value is not True and value is not False:
        raise TestingTypeError(parameter, "a bool", value)
    return value


def probe_postgres(dsn: str, *, timeout: float = 3.0) -> str | None:
    """Return ``None`` if PostgreSQL at ``dsn`` answers ``SELECT 1``, else the reason it did not."""

    async def probe() -> None:
        import asyncpg  # noqa: PLC0415 - optional extra, imported only when PostgreSQL is asked for

        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        run_async(probe)
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable", and says why
        return f"{type(exc).__name__}: {exc}"
    return None


def run_async[R](factory: Callable[[], Coroutine[object, object, R]]) -> R:
    """Run a coroutine to completion on a private event loop in a helper thread.

    Sync fixtures use it so they never collide with an event loop the test runner owns.
    """
    result: list[R] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="buttress-testing-sync", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
