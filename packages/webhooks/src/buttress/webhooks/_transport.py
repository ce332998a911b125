"""The SSRF guard for httpx: `SafeNetworkBackend`, `SafeTransport` and `safe_client` (extra ``httpx``)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Final, Protocol, runtime_checkable

from ._checks import positive_int, positive_number, text
from ._ssrf import NetworkPolicy
from .exceptions import (
    MissingExtraError,
    UnsafeDestinationError,
    WebhooksConfigurationError,
    WebhooksTypeError,
)

try:
    import httpcore
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
    raise MissingExtraError("SafeTransport", "httpx") from exc

__all__ = ["Resolver", "SafeNetworkBackend", "SafeTransport", "SystemResolver", "safe_client"]


@runtime_checkable
class Resolver(Protocol):
    """**Protocol**: turns a host name into IP addresses.

    Methods:
        resolve: Return every address ``host`` resolves to for TCP ``port`` (IP literals resolve to
            themselves); raise `OSError` when it does not resolve.
    """

    async def resolve(self, host: str, port: int) -> list[str]:
        """Return the addresses of ``host``."""
        ...


class SystemResolver:
    """Resolves with the operating system's resolver (``getaddrinfo`` in the event loop's executor)."""

    __slots__ = ()

    async def resolve(self, host: str, port: int) -> list[str]:
        """Return the addresses of ``host``, in the resolver's order, without duplicates.

        Raises:
            WebhooksConfigurationError: ``host`` is not a str or ``port`` not a TCP port.
            OSError: The name does not resolve (or cannot be a host name at all).
        """
        _check_host_and_port(host, port)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError as exc:  # the IDNA codec refused the name: it resolves to nothing
            raise socket.gaierror(socket.EAI_NONAME, f"{host!r} is not a valid host name") from exc
        seen: dict[str, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            seen.setdefault(str(sockaddr[0]), None)
        return list(seen)

    def __repr__(self) -> str:
        return "SystemResolver()"


class SafeNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves once, checks every address, and connects to a checked one.

    The host is resolved here, not by the socket layer, so the address that was checked is the address
    that is connected to: a DNS answer that changes between the check and the connect (DNS rebinding)
    cannot slip through. If any address of a host is refused, the host is refused. The request keeps
    its host name, so the ``Host`` header and TLS SNI/certificate checks are unchanged.

    Args:
        policy: The address rules; `NetworkPolicy()` (public addresses only) by default.
        resolver: How host names are resolved; `SystemResolver` by default.
        inner: The backend that opens the checked connections; httpcore's default when omitted.
    """

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        if policy is not None and not isinstance(policy, NetworkPolicy):
            raise WebhooksConfigurationError(
                "policy", type(policy).__name__, "must be a NetworkPolicy or None"
            )
        if resolver is not None and not isinstance(resolver, Resolver):
            raise WebhooksTypeError("resolver", "a Resolver or None", resolver)
        if inner is not None and not isinstance(inner, httpcore.AsyncNetworkBackend):
            raise WebhooksConfigurationError(
                "inner", type(inner).__name__, "must be an httpcore.AsyncNetworkBackend or None"
            )
        self._policy = policy if policy is not None else NetworkPolicy()
        self._resolver: Resolver = resolver if resolver is not None else SystemResolver()
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    @property
    def policy(self) -> NetworkPolicy:
        """The address rules in force."""
        return self._policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``; unless every address passes the policy, refuse; else connect to one.

        Raises:
            UnsafeDestinationError: An address of ``host`` is refused by the policy.
            WebhooksConfigurationError: An argument has the wrong type or is out of range.
            httpcore.ConnectError: The name does not resolve, or no address accepts the connection.
            httpcore.ConnectTimeout: Resolving or connecting took longer than ``timeout``.
        """
        _check_host_and_port(host, port)
        if timeout is not None:
            timeout = positive_number("timeout", timeout, zero=True)
        if local_address is not None:
            text("local_address", local_address)
        options = _socket_options(socket_options)
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            self._policy.check(host, address)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # noqa: S101 - _resolve never returns an empty list
        raise last

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        literal = host.strip("[]")
        try:
            return [str(ipaddress.ip_address(literal.split("%", 1)[0]))]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolver.resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        if not isinstance(addresses, list | tuple) or not addresses:
            raise UnsafeDestinationError(host, None, "the host resolved to no address")
        return [a if isinstance(a, str) else repr(a) for a in addresses]

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refuse: webhooks go over TCP only."""
        raise UnsafeDestinationError(path, None, "unix sockets are not a webhook destination")

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's pause between connection retries: at most 32 s with 8 retries).

        Raises:
            WebhooksConfigurationError: ``seconds`` is not a number from 0 to 60.
        """
        await self._inner.sleep(positive_number("seconds", seconds, zero=True, maximum=_MAX_SLEEP))


class _ConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, handing an idle connection to one waiting request at a time.

    httpcore 1.0 gives every queued request the first idle connection, including one it already
    handed to a request whose task has not run yet. All but one of those requests then fail with
    ``ConnectionNotAvailable`` and queue again, each retry rescanning the pool and polling every idle
    socket for a server hang-up. Under steady load that is two or three wasted passes per request,
    the largest single CPU cost of `DeliveryWorker` after the HTTP exchange itself.

    Here a connection already handed out is skipped, and the connection about to be handed out is
    checked (keep-alive expiry, server hang-up) right then; the other idle connections are swept by
    the same check at most every `_SWEEP_INTERVAL` seconds instead of on every request. Closed and
    surplus idle connections are dropped as before, and new connections still go through the
    guarded network backend.
    """

    _swept_at = float("-inf")

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now - self._swept_at >= _SWEEP_INTERVAL
        if sweep:
            self._swept_at = now
        idle = sum(1 for c in self._connections if c.is_idle())
        for existing in list(self._connections):
            if existing.is_closed():
                self._connections.remove(existing)
            elif (sweep and existing.has_expired()) or (
                existing.is_idle() and idle > self._max_keepalive_connections
            ):
                # As in httpcore: expired connections go, and idle ones beyond the keep-alive limit.
                if existing.is_idle():
                    idle -= 1
                self._connections.remove(existing)
                closing.append(existing)
        # A connection given to a request that has not started on it yet still looks idle.
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        for pool_request in self._requests:
            if pool_request.is_queued():
                connection = self._pick(pool_request.request.url.origin, taken, closing)
                if connection is not None:
                    taken.add(id(connection))
                    pool_request.assign_to_connection(connection)
        return closing

    def _pick(
        self, origin: httpcore.Origin, taken: set[int], closing: list[httpcore.AsyncConnectionInterface]
    ) -> httpcore.AsyncConnectionInterface | None:
        """Return a connection for ``origin`` (reused, or new), or ``None`` when the request must wait."""
        for connection in list(self._connections):
            if id(connection) in taken or not connection.can_handle_request(origin):
                continue
            if connection.is_available():
                if not connection.has_expired():
                    return connection
                self._connections.remove(connection)
                closing.append(connection)
        if len(self._connections) >= self._max_connections:
            idle = next((c for c in self._connections if id(c) not in taken and c.is_idle()), None)
            if idle is None:
                return None  # it waits for a request to finish
            self._connections.remove(idle)
            closing.append(idle)
        connection = self.create_connection(origin)
        self._connections.append(connection)
        return connection


# httpcore pauses 0, 0.5, 1, 2... seconds between connection retries: 32 s before the 8th.
_MAX_RETRIES: Final = 8
_MAX_SLEEP: Final = 60.0


def _check_host_and_port(host: object, port: object) -> None:
    text("host", host, max_length=1024)
    positive_int("port", port, minimum=0, maximum=65535)


def _socket_options(options: object) -> list[httpcore.SOCKET_OPTION] | None:
    if options is None:
        return None
    if isinstance(options, str | bytes) or not isinstance(options, Iterable):
        raise WebhooksTypeError("socket_options", "tuples or None", options)
    checked = list(options)
    for option in checked:
        if (
            not isinstance(option, tuple)
            or len(option) not in {3, 4}
            or not all(isinstance(part, int) and not isinstance(part, bool) for part in option[:2])
        ):
            raise WebhooksConfigurationError("socket_options", option, "each must be (level, option, value)")
    return checked


def _ssl_context(verify: object) -> ssl.SSLContext:
    """The TLS context for ``verify``: on (certifi's CAs), off, a CA file or directory, or a context."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, bool):
        return httpx.create_ssl_context(verify=verify, trust_env=False)
    where = text("verify", verify, max_length=4096)
    try:
        if os.path.isdir(where):
            return ssl.create_default_context(capath=where)
        return ssl.create_default_context(cafile=where)
    except (OSError, ssl.SSLError, ValueError):
        raise WebhooksConfigurationError(
            "verify", where, "must be True, False, an ssl.SSLContext, or a readable CA file or directory"
        ) from None


# The override follows httpcore 1.0's private pool internals; other versions keep their own pool.
_HTTPCORE_1_0: Final = httpcore.__version__.startswith("1.0.")
# Seconds between checks of the idle connections that are not being handed out.
_SWEEP_INTERVAL: Final = 1.0


class SafeTransport(httpx.AsyncHTTPTransport):
    """An `httpx.AsyncHTTPTransport` whose every connection goes through `SafeNetworkBackend`.

    Each new connection is checked, so a redirect followed by the client (``follow_redirects=True``)
    is checked like the first request. Proxies and ``HTTP(S)_PROXY`` variables are ignored (a proxy
    would connect on our behalf, out of the guard's sight).

    Args:
        policy: The address rules; public addresses only by default.
        resolver: How host names are resolved.
        verify: TLS verification: ``True`` (certifi's CAs), ``False``, a CA file or directory, or an
            ``ssl.SSLContext``.
        http2: Enable HTTP/2 (needs ``h2``).
        limits: Connection pool limits.
        retries: Connection retries, as for httpx.
    """

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        verify: bool | str | ssl.SSLContext = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        retries: int = 0,
    ) -> None:
        if limits is None:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        elif not isinstance(limits, httpx.Limits):
            raise WebhooksConfigurationError(
                "limits", type(limits).__name__, "must be an httpx.Limits or None"
            )
        if not isinstance(http2, bool):
            raise WebhooksConfigurationError("http2", http2, "must be a bool")
        retries = positive_int("retries", retries, minimum=0, maximum=_MAX_RETRIES)
        self._backend = SafeNetworkBackend(policy, resolver=resolver)
        context = _ssl_context(verify)
        try:
            super().__init__(verify=context, trust_env=False, http2=http2, limits=limits, retries=retries)
        except ImportError:
            raise WebhooksConfigurationError(
                "http2", http2, "needs the h2 package (pip install h2)"
            ) from None
        # HTTP/2 connections take many requests at once, so they keep httpcore's own pool.
        pool = _ConnectionPool if _HTTPCORE_1_0 and not http2 else httpcore.AsyncConnectionPool
        self._pool = pool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            retries=retries,
            network_backend=self._backend,
        )

    @property
    def policy(self) -> NetworkPolicy:
        """The address rules in force."""
        return self._backend.policy


def safe_client(
    policy: NetworkPolicy | None = None,
    *,
    resolver: Resolver | None = None,
    timeout: float = 15.0,
    follow_redirects: bool = False,
    verify: bool | str | ssl.SSLContext = True,
) -> httpx.AsyncClient:
    """Return an `httpx.AsyncClient` with the SSRF guard on.

    Args:
        policy: The address rules; public addresses only by default.
        resolver: How host names are resolved.
        timeout: Seconds for each of connect, read, write and pool.
        follow_redirects: Whether to follow redirects (each hop is checked by the guard).
        verify: TLS verification: ``True`` (certifi's CAs), ``False``, a CA file or directory, or an
            ``ssl.SSLContext``.
    """
    timeout = positive_number("timeout", timeout)
    if not isinstance(follow_redirects, bool):
        raise WebhooksConfigurationError("follow_redirects", follow_redirects, "must be a bool")
    return httpx.AsyncClient(
        transport=SafeTransport(policy, resolver=resolver, verify=verify),
        timeout=timeout,
        follow_redirects=follow_redirects,
        trust_env=False,
    )
