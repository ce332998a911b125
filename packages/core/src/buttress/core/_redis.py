"""What every Redis backend of the suite shares: the tuned client (owned or borrowed), outages.

A backend is built around a client the application owns (``X(client, prefix=...)``, never closed by
the backend) or opens its own (``X.from_url(url, prefix=...)``, closed by ``aclose``). `RedisBackend`
is that base; each package gives it its own error classes through `BackendErrors`, so a bad argument
is the package's configuration or type error and a server that cannot be reached is its unavailable
error::

    class RedisStore(RedisBackend):
        errors = BackendErrors(StoreConfigurationError, StoreTypeError, StoreUnavailableError)

        def __init__(self, client: Redis, *, prefix: str = "store:") -> None:
            super().__init__(client, prefix=prefix)

        @classmethod
        def from_url(cls, url: str, *, prefix: str = "store:", **options: Unpack[RedisOptions]) -> Self:
            return cls._from_url(url, lambda client: cls(client, prefix=prefix), **options)

        async def get(self, key: str) -> bytes | None:
            with self._unavailable():
                return await self.client.get(self.prefix + key)

`open_redis` is the one place the suite's client is built: a ``BlockingConnectionPool`` (callers
queue for a connection instead of failing), socket timeouts, and one immediate retry on a connection
error (a pooled connection the server closed reconnects instead of failing the call). The timeouts
are kept by one watchdog per client rather than a timer per command (see `_redis_deadlines`), so
they cost a hit next to nothing.

redis-py is imported only when a client is opened or checked, so core keeps no runtime dependency: a
package's backend module imports redis itself (behind its ``redis`` extra) before it gets here.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final, Self, TypedDict, Unpack
from urllib.parse import urlsplit

from ._backends import CORE_ERRORS, BackendErrors, check_address, check_errors
from ._checks import check_count, check_seconds, check_text
from ._redis_deadlines import deadline_pool_class
from ._resources import AsyncResource, Owned
from ._telemetry import Telemetry
from ._unavailable import connection_errors
from .exceptions import BackendUnavailableError, ConfigurationError, redact_url

__all__ = ["RedisBackend", "RedisOptions", "open_redis"]

MAX_PREFIX: Final = 1_024
"""The longest key prefix a Redis backend takes, in UTF-8 bytes."""

MAX_CONNECTIONS: Final = 100_000
"""The most connections `open_redis` lets one client open."""

_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})
_BORROWED: Final = "the application's client"
# The error reply a server gives when the URL's database number is past its `databases` setting.
_NO_DATABASE: Final = "DB index is out of range"


def _module(name: str) -> Any:  # noqa: ANN401 - a redis-py module, imported only where it is used
    return importlib.import_module(name)


class RedisOptions(TypedDict, total=False):
    """How `open_redis` tunes a client: every Redis backend's ``from_url`` takes these keywords.

    Attributes:
        socket_timeout: Seconds a connect or a reply may take (default 1).
        max_connections: The most connections open at once, from 1 to 100,000 (default 50); beyond
            them callers queue.
        pool_timeout: Seconds a call waits for a free connection (default 5).

    Examples:
        >>> options: RedisOptions = {"socket_timeout": 0.5, "max_connections": 10}
    """

    socket_timeout: float
    max_connections: int
    pool_timeout: float


def _check_url(url: object, errors: BackendErrors) -> str:
    text = check_address("url", url, errors)
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:  # an unbalanced bracket in the host, say
        scheme = ""
    if scheme not in _SCHEMES:
        raise errors.configuration(
            "url", redact_url(text), "must be a redis://, rediss:// or unix:// URL", show_value=False
        )
    return text


def _check_cluster(cluster: object, errors: BackendErrors) -> bool:
    if cluster is not True and cluster is not False:  # an option, like the numbers: a bad value
        raise errors.configuration("cluster", cluster, f"must be True or False, not {type(cluster).__name__}")
    return cluster


def open_redis(
    url: str,
    *,
    socket_timeout: float = 1.0,
    max_connections: int = 50,
    pool_timeout: float = 5.0,
    cluster: bool = False,
    errors: BackendErrors = CORE_ERRORS,
) -> Any:  # noqa: ANN401 - a redis.asyncio.Redis or RedisCluster; core does not depend on redis
    """A ``redis.asyncio`` client for ``url`` (``redis://``, ``rediss://``, ``unix://``), tuned for backends.

    Everything is checked before the client is made, and it connects on first use. At most
    ``max_connections`` calls are in flight; beyond that callers queue, each waiting up to
    ``pool_timeout`` seconds for a connection, so a burst of concurrent calls is served rather than
    dropped. ``socket_timeout`` bounds how long a call hangs on a server that stopped answering (and
    how long connecting may take). A pooled connection the server closed (a restart, a failover, an
    idle timeout) is retried once at once. With ``cluster=True`` the client is a ``RedisCluster``
    (``max_connections`` per node). The URL never reaches a message, not even redacted.

    Args:
        url: Where the server is; a password in it stays out of every error.
        socket_timeout: Seconds a connect or a reply may take.
        max_connections: The most connections open at once, from 1 to 100,000.
        pool_timeout: Seconds a call waits for a free connection.
        cluster: Make a ``RedisCluster`` client (``redis://`` or ``rediss://`` only).
        errors: The package's error classes.

    Raises:
        ConfigurationError: ``url`` is not a Redis URL redis-py can use (a bad scheme, port or query
            option), a timeout or ``max_connections`` is out of range, or ``cluster`` is not a bool
            (as ``errors.configuration``).
        ArgumentTypeError: ``url`` is not a str (as ``errors.type_error``).
    """
    errors = check_errors(errors)
    text = _check_url(url, errors)
    timeout = check_seconds("socket_timeout", socket_timeout, error=errors.configuration)
    connections = check_count(
        "max_connections", max_connections, minimum=1, maximum=MAX_CONNECTIONS, error=errors.configuration
    )
    waiting = check_seconds("pool_timeout", pool_timeout, error=errors.configuration)
    if _check_cluster(cluster, errors) and text[:7].lower() == "unix://":
        raise errors.configuration(
            "url", redact_url(text), "must be redis:// or rediss:// for a Redis Cluster", show_value=False
        )
    exceptions = _module("redis.exceptions")
    timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    try:
        if cluster:
            cluster_class = _module("redis.asyncio.cluster").RedisCluster
            return cluster_class.from_url(text, max_connections=connections, **timeouts)
        pool = deadline_pool_class().from_url(
            text,
            max_connections=connections,
            timeout=waiting,
            retry=_module("redis.asyncio.retry").Retry(_module("redis.backoff").NoBackoff(), 1),
            retry_on_error=[exceptions.ConnectionError],
            **timeouts,
        )
        return _module("redis.asyncio").Redis.from_pool(pool)
    except (
        ValueError,
        TypeError,
        UnicodeError,
        exceptions.RedisError,
        exceptions.RedisClusterException,
    ) as exc:
        # redis-py's message may quote the URL and its password: say what is wrong, not what was given.
        raise errors.configuration(
            "url",
            redact_url(text),
            f"is not a Redis URL redis-py can use ({type(exc).__name__}); check its scheme, port and "
            "query options",
            show_value=False,
        ) from None


def _reason(exc: BaseException) -> str:
    """The exception's type, and for an error reply its code (``OOM``, ``READONLY``), never more.

    The driver's messages may quote a key or a value of the caller's, so only these reach an error.
    """
    kind = type(exc).__name__
    if isinstance(exc, _module("redis.exceptions").ResponseError):
        code = str(exc).split(" ", 1)[0]
        if code.isupper() and code.isalpha():
            return f"{kind} {code}"
    return kind


def _client_address(client: Any) -> str:  # noqa: ANN401 - a redis.asyncio client
    """Where a borrowed client connects, without credentials (it holds them apart from host and port)."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        return _BORROWED
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    scheme = "rediss" if "ssl_cert_reqs" in kwargs else "redis"
    return f"{scheme}://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisBackend(AsyncResource):
    """Base of the suite's Redis backends: the client, owned or borrowed, its prefix, and outages mapped.

    Subclasses set `errors` to their package's classes, `outages` to the redis-py errors beyond
    ``connection_errors("redis")`` that mean the server cannot serve them (``RedisError`` for a
    backend for which any error reply means that), `accepts_cluster` once they have been proven
    on Redis Cluster, and `telemetry` to their package's `Telemetry` (bound when a backend is
    made). Built with a client (``X(client)``), the backend borrows it and never closes it;
    `_from_url` (behind each backend's ``from_url``) opens one with `open_redis` that the backend
    owns, closed by `aclose`.

    Args:
        client: A ``redis.asyncio.Redis`` (or a ``RedisCluster`` where `accepts_cluster`), made with
            ``decode_responses=False`` (redis-py's default): backends read bytes.
        prefix: Prepended to every key the backend writes; at most 1,024 UTF-8 bytes, never empty.

    Raises:
        ArgumentTypeError: ``client`` is not such a client, or ``prefix`` not a str (as
            ``errors.type_error``).
        ConfigurationError: ``client`` decodes responses, or ``prefix`` is empty, too long, or holds
            NUL or a lone surrogate (as ``errors.configuration``).
    """

    errors: ClassVar[BackendErrors] = CORE_ERRORS
    #: redis-py errors that also mean an outage for this backend (``RedisError``: any error reply).
    outages: ClassVar[tuple[type[BaseException], ...]] = ()
    #: Whether the backend takes a ``RedisCluster`` (set once it has been proven on one).
    accepts_cluster: ClassVar[bool] = False
    #: The package's `Telemetry`, bound (`Telemetry.bind`) when a backend is made, by ``from_url`` or
    #: around the application's client: the application waits at start-up, not on its first
    #: request, for the instruments. ``None``: nothing is bound early.
    telemetry: ClassVar[Telemetry | None] = None

    def __init__(self, client: Any, *, prefix: str) -> None:  # noqa: ANN401 - a redis.asyncio client
        super().__init__()
        self._check_client(client)
        self._prefix = check_text(
            "prefix",
            prefix,
            max_bytes=MAX_PREFIX,
            error=self.errors.configuration,
            type_error=self.errors.type_error,
        )
        if self.telemetry is not None:
            self.telemetry.bind()
        self._owned: Owned[Any] = Owned(client)
        self._address = _client_address(client)
        cluster = _module("redis.asyncio.cluster").RedisCluster
        self._discovery: asyncio.Lock | None = asyncio.Lock() if isinstance(client, cluster) else None

    def _check_client(self, client: Any) -> None:  # noqa: ANN401 - checked here
        asyncio_module = _module("redis.asyncio")
        kinds: tuple[type, ...] = (asyncio_module.Redis,)
        expected = "a redis.asyncio.Redis"
        if self.accepts_cluster:
            kinds += (_module("redis.asyncio.cluster").RedisCluster,)
            expected += " or RedisCluster"
        if not isinstance(client, kinds):
            if isinstance(client, _module("redis.asyncio.cluster").RedisCluster):
                expected += f": {type(self).__name__} does not run on Redis Cluster"
            else:
                expected += " (or use from_url)"
            raise self.errors.type_error("client", expected, client)
        checked: Any = client  # one of redis-py's clients, whose types core does not import
        if checked.get_encoder().decode_responses:
            raise self.errors.configuration(
                "client", client, "must be made with decode_responses=False: the backend reads bytes"
            )

    @property
    def client(self) -> Any:  # noqa: ANN401 - the redis.asyncio client
        """The client in use (the application's, or the one `from_url` opened)."""
        return self._owned.value

    @property
    def owns_client(self) -> bool:
        """Whether `aclose` closes the client (it was opened by ``from_url``)."""
        return self._owned.owned

    @property
    def prefix(self) -> str:
        """The prefix of every key the backend writes."""
        return self._prefix

    @classmethod
    def _from_url(
        cls, url: str, build: Callable[[Any], Self], *, cluster: bool = False, **options: Unpack[RedisOptions]
    ) -> Self:
        """Open a client on ``url`` with `open_redis` and ``build`` the backend around it, which owns it.

        ``options`` tune the client (`RedisOptions`). Everything is checked before the client is
        made. If ``build`` raises, nothing is left open: the client has made no connection
        (redis-py connects on first use, and a synchronous ``build`` cannot), so it goes with the
        error, as a closed one would.

        Raises:
            ConfigurationError: As `open_redis`, or ``cluster=True`` on a backend that does not
                accept Redis Cluster (as ``errors.configuration``).
        """
        if _check_cluster(cluster, cls.errors) and not cls.accepts_cluster:
            raise cls.errors.configuration(
                "cluster", cluster, f"{cls.__name__} does not run on Redis Cluster"
            )
        client = open_redis(url, cluster=cluster, errors=cls.errors, **options)
        backend = build(client)  # on failure the unused client goes with it: it opened nothing
        backend._owned = Owned(client, client.aclose)
        backend._address = redact_url(url)
        return backend

    async def _discover(self) -> None:
        """On a ``RedisCluster`` client, find the nodes once before the first command (else nothing).

        A fresh cluster client that receives many first commands at once can race while it
        discovers the nodes; a backend awaits this (inside `_unavailable`) before its calls.
        """
        lock = self._discovery
        if lock is None:
            return
        async with lock:
            if self._discovery is not None:
                await self.client.initialize()
                self._discovery = None

    def _outages(self) -> tuple[type[BaseException], ...]:
        return (*connection_errors("redis"), *self.outages)

    def _outage(self, exc: BaseException) -> BackendUnavailableError:
        """The package's error for an outage (override to refine it, as caching's busy pool is)."""
        return self.errors.unavailable("redis", self._address, _reason(exc))

    def _refused(self, exc: BaseException) -> ConfigurationError | None:
        """A credential or database the server refuses: the URL's (or the client's) fault, not an outage."""
        exceptions = _module("redis.exceptions")
        parameter = "url" if self.owns_client else "client"
        if isinstance(exc, exceptions.AuthenticationError):
            reason = f"the server refused its credentials ({type(exc).__name__}): check the user and password"
        elif isinstance(exc, exceptions.ResponseError) and str(exc).startswith(_NO_DATABASE):
            reason = "names a database the server does not have (see its `databases` setting)"
        else:
            return None
        return self.errors.configuration(parameter, self._address, reason, show_value=False)

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """Map an outage inside the block to ``errors.unavailable`` (the address redacted).

        The reason kept is the exception's type and an error reply's code, never the driver's
        message, which may quote a key or a value of the caller's. Credentials or a database the
        server refuses are ``errors.configuration``. A driver error that is also a ``ValueError`` or
        ``TypeError`` is the caller's input and passes through unchanged.
        """
        exceptions = _module("redis.exceptions")
        try:
            yield
        except (*self._outages(), exceptions.ResponseError) as exc:
            refused = self._refused(exc)
            if refused is not None:
                raise refused from None
            if isinstance(exc, ValueError | TypeError) or not isinstance(exc, self._outages()):
                raise
            raise self._outage(exc) from exc

    async def _aclose(self) -> None:
        await self._owned.release()
