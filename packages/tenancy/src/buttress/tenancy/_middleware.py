"""ASGI and WSGI middleware: resolve the tenant, check it in the directory, run the request in its scope."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from buttress.core import (
    ASGIApp,
    BackendUnavailableError,
    LoopThread,
    Receive,
    Scope,
    Send,
    StartResponse,
    WSGIApp,
    WSGIEnviron,
    check_seconds,
    respond,
    wsgi_headers,
    wsgi_respond,
)

from ._context import _enter, check_tenant_id, tenant_scope
from ._directory import Tenant, TenantDirectory
from ._metrics import REQUESTS, Outcome
from ._resolvers import TenantRequest, TenantResolver
from .exceptions import TenancyConfigurationError, TenancyError, TenancyTypeError, TenantTokenError

__all__ = ["TenantMiddleware", "WSGITenantMiddleware"]

logger = logging.getLogger(__name__)

_PROBLEM: Final = "application/problem+json"


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    title: str
    detail: str
    outcome: Outcome

    def body(self) -> bytes:
        problem = {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail}
        return json.dumps(problem).encode()


_MISSING: Final = _Refusal(400, "Bad Request", "the request names no tenant", "missing")
_UNKNOWN: Final = _Refusal(404, "Not Found", "no such tenant", "unknown")
_SUSPENDED: Final = _Refusal(403, "Forbidden", "the tenant is suspended", "suspended")
_UNAVAILABLE: Final = _Refusal(
    503, "Service Unavailable", "the tenant directory is unavailable", "unavailable"
)


def _unauthenticated(error: TenantTokenError) -> _Refusal:
    return _Refusal(401, "Unauthorized", error.message, "unauthenticated")


def _check_parts(resolver: object, directory: object) -> None:
    if not callable(getattr(resolver, "resolve", None)):
        raise TenancyTypeError("resolver", "a TenantResolver (with resolve(request))", resolver)
    if not callable(getattr(directory, "get", None)):
        raise TenancyTypeError("directory", "a TenantDirectory (with async get(tenant_id))", directory)


def _identify(resolver: TenantResolver, request: TenantRequest) -> str | _Refusal:
    """The well-formed tenant id the request names, or why it is refused (before any lookup)."""
    try:
        tenant_id = resolver.resolve(request)
    except TenantTokenError as exc:
        return _unauthenticated(exc)
    except TenancyError:
        return _MISSING
    if tenant_id is None:
        return _MISSING
    try:
        return check_tenant_id(tenant_id)
    except (TenancyConfigurationError, TenancyTypeError):
        return _UNKNOWN  # no tenant can have that id


def _judge(tenant: object) -> Tenant | _Refusal:
    if not isinstance(tenant, Tenant):
        return _UNKNOWN
    return tenant if tenant.active else _SUSPENDED


def _first_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    return headers


def _host(value: str) -> str:
    host = value.strip().lower()
    if host.startswith("["):  # an IPv6 literal keeps its colons
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def _asgi_request(scope: Scope) -> TenantRequest:
    raw = scope.get("headers") or ()
    pairs = [
        (pair[0].decode("latin-1").lower(), pair[1].decode("latin-1"))
        for pair in (raw if isinstance(raw, Iterable) else ())
        if isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(p, bytes) for p in pair)
    ]
    headers = _first_headers(pairs)
    path = scope.get("path")
    return TenantRequest(_host(headers.get("host", "")), path if isinstance(path, str) else "", headers)


class TenantMiddleware:
    """ASGI middleware: each request runs inside ``tenant_scope`` of the tenant it names.

    The resolver finds the tenant id; the directory says whether the tenant exists and is active.
    Answers, as ``application/problem+json`` (WebSocket handshakes are closed with code 1008): 400
    when the request names no tenant, 401 when its token fails verification, 404 for an id no
    tenant has (or could have), 403 for a suspended tenant, 503 when the directory cannot be
    reached. The body never repeats what the client sent. Lifespan events pass through::

        app = TenantMiddleware(app, resolver=SubdomainResolver("example.com"), directory=directory)

    Downstream, `current_tenant` names the tenant and ``scope["state"]["tenant"]`` holds its
    `Tenant`.

    Args:
        app: The ASGI application to wrap.
        resolver: A `TenantResolver`.
        directory: A `TenantDirectory`.

    Raises:
        TenancyTypeError: ``app`` is not callable, or ``resolver``/``directory`` lack their method.
    """

    __slots__ = ("app", "directory", "resolver")

    def __init__(self, app: ASGIApp, *, resolver: TenantResolver, directory: TenantDirectory) -> None:
        if not callable(app):
            raise TenancyTypeError("app", "an ASGI application", app)
        _check_parts(resolver, directory)
        self.app = app
        self.resolver = resolver
        self.directory = directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type") if isinstance(scope, Mapping) else None
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        decided = await self._decide(_asgi_request(scope))
        if isinstance(decided, _Refusal):
            REQUESTS.add(1, {"tenancy.outcome": decided.outcome})
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": decided.title})
                return
            await respond(
                send, decided.status, headers=[(b"content-type", _PROBLEM.encode())], body=decided.body()
            )
            return
        REQUESTS.add(1, {"tenancy.outcome": "resolved"})
        state = scope.get("state")
        inner = dict(scope)
        inner["state"] = {**(state if isinstance(state, MutableMapping) else {}), "tenant": decided}
        async with tenant_scope(decided.id):
            await self.app(inner, receive, send)

    async def _decide(self, request: TenantRequest) -> Tenant | _Refusal:
        tenant_id = _identify(self.resolver, request)
        if isinstance(tenant_id, _Refusal):
            return tenant_id
        try:
            found = await self.directory.get(tenant_id)
        except BackendUnavailableError:
            logger.warning("the tenant directory is unavailable", exc_info=True)
            return _UNAVAILABLE
        return _judge(found)


class WSGITenantMiddleware:
    """WSGI middleware: the twin of `TenantMiddleware` for synchronous servers.

    The directory is async; its lookups run on ``runner``, a `LoopThread` (one of the middleware's
    own when not given, started on the first request and stopped by `close`). A directory bound to
    a loop (`PostgresTenantDirectory`) is built on that runner's loop. The response body is produced
    in the tenant's scope too, however the server iterates it.

    Args:
        app: The WSGI application to wrap.
        resolver: A `TenantResolver`.
        directory: A `TenantDirectory`.
        runner: The loop the directory's lookups run on.
        timeout: Seconds a lookup may take before the request is answered 503.

    Raises:
        TenancyTypeError: A part of the wrong type.
        TenancyConfigurationError: ``timeout`` is not a positive number of seconds.
    """

    __slots__ = ("_owned", "app", "directory", "resolver", "runner", "timeout")

    def __init__(
        self,
        app: WSGIApp,
        *,
        resolver: TenantResolver,
        directory: TenantDirectory,
        runner: LoopThread | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not callable(app):
            raise TenancyTypeError("app", "a WSGI application", app)
        _check_parts(resolver, directory)
        if runner is not None and not isinstance(runner, LoopThread):
            raise TenancyTypeError("runner", "a LoopThread or None", runner)
        self.timeout = check_seconds("timeout", timeout, error=TenancyConfigurationError)
        self.app = app
        self.resolver = resolver
        self.directory = directory
        self._owned = runner is None
        self.runner = runner if runner is not None else LoopThread("buttress-tenancy")

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if not isinstance(environ, dict):
            raise TenancyTypeError("environ", "a WSGI environ (a dict)", environ)
        decided = self._decide(_wsgi_request(environ))
        if isinstance(decided, _Refusal):
            REQUESTS.add(1, {"tenancy.outcome": decided.outcome})
            headers = [("Content-Type", _PROBLEM)]
            return wsgi_respond(start_response, decided.status, headers=headers, body=decided.body())
        REQUESTS.add(1, {"tenancy.outcome": "resolved"})
        context = contextvars.copy_context()
        context.run(_enter, decided.id)
        environ["buttress.tenant"] = decided
        return _Scoped(context, context.run(self.app, environ, start_response))

    def _decide(self, request: TenantRequest) -> Tenant | _Refusal:
        tenant_id = _identify(self.resolver, request)
        if isinstance(tenant_id, _Refusal):
            return tenant_id
        if self._owned and not self.runner.running:
            self.runner.start()
        try:
            found = self.runner.run(self.directory.get(tenant_id), timeout=self.timeout)
        except (BackendUnavailableError, TimeoutError):
            logger.warning("the tenant directory is unavailable", exc_info=True)
            return _UNAVAILABLE
        return _judge(found)

    def close(self) -> None:
        """Stop the middleware's own loop thread (a runner that was given is left running)."""
        if self._owned:
            self.runner.stop()


def _wsgi_request(environ: WSGIEnviron) -> TenantRequest:
    headers = _first_headers(wsgi_headers(environ))
    host = headers.get("host") or environ.get("SERVER_NAME") or ""
    path = environ.get("PATH_INFO")
    return TenantRequest(
        _host(host if isinstance(host, str) else ""), path if isinstance(path, str) else "", headers
    )


class _Scoped:
    """A WSGI body iterable whose iteration (and close) runs in the tenant's context."""

    __slots__ = ("_body", "_context", "_iterator")

    def __init__(self, context: contextvars.Context, body: Iterable[bytes]) -> None:
        self._context = context
        self._body = body
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = self._context.run(iter, self._body)
        return self._context.run(next, self._iterator)

    def close(self) -> None:
        close: Any = getattr(self._body, "close", None)
        if callable(close):
            self._context.run(close)
