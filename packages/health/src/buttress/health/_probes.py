"""The probes over HTTP: `HealthApp` (pure ASGI) and its WSGI twin `WSGIHealthApp`.

Mounted at ``/health``, they answer ``GET /health/live``, ``/health/ready`` and ``/health/startup``
(and ``/health/<group>`` for a group of your own) with an ``application/health+json`` body: 200 for
pass and warn, 503 for fail. ``HEAD`` answers the same without a body; other methods get 405, other
paths 404. Details (each check, error texts) are shown only to callers ``details`` allows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from buttress.core import (
    ButtressError,
    LoopThread,
    Receive,
    Scope,
    Send,
    StartResponse,
    WSGIEnviron,
    check_seconds,
    respond,
    wsgi_respond,
)

from ._format import CONTENT_TYPE, ServiceInfo, render_health
from ._registry import HealthRegistry, check_group
from ._status import HealthReport, Status
from .exceptions import HealthConfigurationError, HealthError, HealthTypeError

__all__ = ["HealthApp", "WSGIHealthApp"]

logger = logging.getLogger(__name__)

_HEADERS: Final = (
    (b"content-type", CONTENT_TYPE.encode()),
    (b"cache-control", b"no-store"),
)
_NOT_FOUND: Final = b'{"status":"fail","output":"no such probe: use live, ready or startup"}'
_CLOSED: Final = b'{"status":"fail"}'

type ScopeGate = Callable[[Scope], bool]
type EnvironGate = Callable[[WSGIEnviron], bool]


def _check_gate(details: object) -> object:
    if not isinstance(details, bool) and not callable(details):
        raise HealthTypeError("details", "a bool or a callable", details)
    return details


def _allowed(details: object, request: object) -> bool:
    if details is True or details is False:
        return details
    try:
        return bool(details(request))  # type: ignore[operator]
    except Exception:
        logger.warning("the health details gate raised; details hidden", exc_info=True)
        return False


def _group_of(path: str, root: str, registry: HealthRegistry) -> str | None:
    """The group a path asks for (its last segment), or ``None`` for an unknown one."""
    if root and path.startswith(root):
        path = path[len(root) :]
    segment = path.rstrip("/").rpartition("/")[2]
    try:
        group = check_group(segment)
    except HealthError:
        return None
    return group if group in registry.groups() else None


def _settings(
    registry: object, details: object, service: object
) -> tuple[HealthRegistry, object, ServiceInfo | None]:
    """What both apps take, checked: the registry, the details gate and the service fields."""
    if not isinstance(registry, HealthRegistry):
        raise HealthTypeError("registry", "a HealthRegistry", registry)
    if service is not None and not isinstance(service, ServiceInfo):
        raise HealthTypeError("service", "a ServiceInfo or None", service)
    return registry, _check_gate(details), service


class HealthApp:
    """The probes as a pure ASGI application.

    Args:
        registry: The checks to run.
        details: Who sees each check and error text: ``False`` (nobody, the default), ``True``
            (everybody: only behind a private port) or ``details(scope) -> bool``, such as a check of
            the client's address or a token header. A gate that raises hides details.
        service: The service-level fields of every answer (version, release...).

    Raises:
        HealthTypeError: An argument of the wrong type.

    Examples:
        >>> app = HealthApp(HealthRegistry())  # mount it at /health in any ASGI framework
    """

    def __init__(
        self,
        registry: HealthRegistry,
        *,
        details: bool | ScopeGate = False,
        service: ServiceInfo | None = None,
    ) -> None:
        self.registry, self._details, self.service = _settings(registry, details, service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return
        method = scope.get("method")
        if method not in ("GET", "HEAD"):
            await respond(send, 405, headers=[(b"allow", b"GET, HEAD"), *_HEADERS], body=_CLOSED)
            return
        path, root = scope.get("path"), scope.get("root_path", "")
        group = (
            _group_of(path, root if isinstance(root, str) else "", self.registry)
            if isinstance(path, str)
            else None
        )
        if group is None:
            await self._send(send, method, 404, _NOT_FOUND)
            return
        try:
            report = await self.registry.run(group)
        except HealthError:  # a closed registry: the service is going away
            await self._send(send, method, 503, _CLOSED)
            return
        body = render_health(report, details=_allowed(self._details, scope), service=self.service)
        await self._send(send, method, report.http_status, body)

    @staticmethod
    async def _send(send: Send, method: str, status: int, body: bytes) -> None:
        if method == "HEAD":  # the GET's length, no body (RFC 9110 section 9.3.2)
            headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await respond(send, status, headers=_HEADERS, body=body)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol, so the app can be served on its own (a private port)."""
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class WSGIHealthApp:
    """The probes as a WSGI application (Django, Flask, any WSGI server).

    The checks are coroutines: they run on an event loop the app keeps in a thread of its own,
    started on the first request. A check that holds connections (a pool, a client) must be made on
    that loop: build it with `call` (``app.call(PostgresCheck.connect, dsn)``), or use a check
    that connects lazily (``RedisCheck.from_url``).

    Args:
        registry: The checks to run.
        details: Who sees details: ``False``, ``True`` or ``details(environ) -> bool``.
        service: The service-level fields of every answer.
        timeout: Seconds a request waits for the checks (their longest timeout plus 1 s when
            ``None``); past it the probe fails.

    Raises:
        HealthTypeError: An argument of the wrong type.
        HealthConfigurationError: A bad ``timeout``.
    """

    def __init__(
        self,
        registry: HealthRegistry,
        *,
        details: bool | EnvironGate = False,
        service: ServiceInfo | None = None,
        timeout: float | None = None,
    ) -> None:
        self.registry, self._details, self.service = _settings(registry, details, service)
        self._timeout = (
            None if timeout is None else check_seconds("timeout", timeout, error=HealthConfigurationError)
        )
        self._runner = LoopThread("buttress-health")

    def call[T](self, function: Callable[..., Awaitable[T]], /, *args: object) -> T:
        """Run ``function(*args)`` on the app's event loop and return its result (build checks here).

        Raises:
            HealthTypeError: ``function`` is not callable.
        """
        if not callable(function):
            raise HealthTypeError("function", "a coroutine function", function)

        async def run() -> T:
            return await function(*args)

        self._runner.start()
        return self._runner.run(run())

    def close(self) -> None:
        """Close the registry on the app's loop and stop its thread."""
        if not self._runner.running:
            return
        try:
            self._runner.run(self.registry.aclose())
        finally:
            self._runner.stop()

    def _wait(self) -> float:
        if self._timeout is not None:
            return self._timeout
        longest = max((entry.timeout for entry in self.registry._entries.values()), default=0.0)
        return longest + 1.0

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return _wsgi(start_response, method, 405, _CLOSED, extra=(("Allow", "GET, HEAD"),))
        path = environ.get("PATH_INFO", "")
        group = _group_of(path, "", self.registry) if isinstance(path, str) else None
        if group is None:
            return _wsgi(start_response, method, 404, _NOT_FOUND)
        self._runner.start()
        try:
            report: HealthReport = self._runner.run(self.registry.run(group), self._wait())
        except ButtressError:  # the registry, or the app's loop, was closed
            return _wsgi(start_response, method, 503, _CLOSED)
        except TimeoutError:
            report = HealthReport(group, Status.FAIL, output="the checks did not finish in time")
        body = render_health(report, details=_allowed(self._details, environ), service=self.service)
        return _wsgi(start_response, method, report.http_status, body)


def _wsgi(
    start_response: StartResponse,
    method: object,
    status: int,
    body: bytes,
    *,
    extra: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    headers = [("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store"), *extra]
    sent = wsgi_respond(start_response, status, headers=headers, body=body)
    return [] if method == "HEAD" else sent  # HEAD: the GET's Content-Length, no body
