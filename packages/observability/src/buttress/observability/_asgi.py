"""`TracingMiddleware`: one server span and one duration measurement per HTTP request, pure ASGI.

By the stable HTTP server semantic conventions: the span is named ``{method} {route}`` once the
framework has routed the request (``{method}`` alone when no route is known; never the raw path),
continues a W3C ``traceparent`` the client sent, and carries the ``http.*``, ``url.*``, ``server.*``,
``client.*``, ``network.*`` and ``user_agent.original`` attributes. A 5xx answer sets status ERROR
and ``error.type`` to the status code; a 4xx leaves the status unset (a client's mistake is not the
server's error); an exception sets ERROR and ``error.type`` to its class. ``http.server.request.duration``
is recorded in seconds with ``http.route`` and the conventional buckets.

The cost is one span and one histogram record: no spans per ``send``/``receive`` call, no per-request
header copies beyond the few headers the span reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import Any, ClassVar, Final

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from buttress.core import ASGIApp, Message, Receive, Scope, Send

from ._http import ExcludedPaths, RouteResolver, check_providers, normalize_method, redact_query
from ._routes import framework_route
from ._traced import error_type
from .exceptions import ObservabilityTypeError

__all__ = ["TracingMiddleware"]

_SERVER: Final = SpanKind.SERVER
_MAX_HEADER: Final = 8192


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value[:_MAX_HEADER].decode("latin-1")
    return None


def check_options(
    excluded_paths: Iterable[str],
    route_resolver: object,
    ok_status: object,
) -> tuple[ExcludedPaths, RouteResolver]:
    """Check the options both middleware take."""
    excluded = ExcludedPaths(excluded_paths)
    if route_resolver is not None and not callable(route_resolver):
        raise ObservabilityTypeError("route_resolver", "a callable taking the scope, or None", route_resolver)
    if ok_status is not True and ok_status is not False:
        raise ObservabilityTypeError("ok_status", "a bool", ok_status)
    return excluded, route_resolver or framework_route


def resolve(resolver: RouteResolver, scope: Any) -> str | None:  # noqa: ANN401 - a scope or an environ
    """The resolver's route, or ``None`` when it fails or gives something that is not a template."""
    try:
        route = resolver(scope)
    except Exception:  # noqa: BLE001 - a resolver's failure costs the route, never the request
        return None
    return route if isinstance(route, str) and route.startswith("/") and len(route) <= _MAX_HEADER else None


def finish(
    span: trace.Span,
    attributes: dict[str, Any],
    *,
    method: str,
    route: str | None,
    status: int | None,
    error: BaseException | None,
    ok_status: bool,
) -> dict[str, Any]:
    """Complete the span (name, status, error) and return the duration metric's attributes."""
    metric = {"http.request.method": method, "url.scheme": attributes.get("url.scheme", "http")}
    if "network.protocol.version" in attributes:
        metric["network.protocol.version"] = attributes["network.protocol.version"]
    if route is not None:
        span.update_name(f"{'HTTP' if method == '_OTHER' else method} {route}")
        span.set_attribute("http.route", route)
        metric["http.route"] = route
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        metric["http.response.status_code"] = status
    if error is not None and type(error).__name__ != "CancelledError":
        kind = error_type(error)
        span.record_exception(error)
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR, kind))
        metric["error.type"] = kind
    elif status is not None and status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
        metric["error.type"] = str(status)
    elif ok_status and status is not None and status < 400:
        span.set_status(Status(StatusCode.OK))
    span.end()
    return metric


class TracingBase[A]:
    """What `TracingMiddleware` and `WSGITracingMiddleware` share: their arguments and the checks.

    A subclass names the kind of application it wraps, for the error a wrong ``app`` gets.
    """

    _kind: ClassVar[str]

    def __init__(
        self,
        app: A,
        *,
        excluded_paths: Iterable[str] = (),
        route_resolver: RouteResolver | None = None,
        ok_status: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: Any = None,  # noqa: ANN401 - the API's MeterProvider
    ) -> None:
        if not callable(app):
            raise ObservabilityTypeError("app", self._kind, app)
        self.app: A = app
        self._excluded, self._resolver = check_options(excluded_paths, route_resolver, ok_status)
        self._ok = ok_status
        self._tracer, self._duration = check_providers(tracer_provider, meter_provider)


class TracingMiddleware(TracingBase[ASGIApp]):
    """Trace every HTTP request an ASGI app serves, by the stable HTTP semantic conventions.

    Args:
        app: The ASGI application.
        excluded_paths: Anchored globs of paths to leave untraced (``"/health"``, ``"/static/*"``).
        route_resolver: Reads the matched route from the scope after the app ran; `framework_route`
            (Starlette, FastAPI, Litestar, Django through `DjangoRouteMiddleware`) by default.
        ok_status: Set status OK on answers below 400 (the conventions leave it unset by default).
        tracer_provider: The tracer provider; the global one by default.
        meter_provider: The meter provider; the global one by default.

    Raises:
        ObservabilityTypeError: ``app`` or ``route_resolver`` is not callable, or a provider is not one.
        ObservabilityConfigurationError: An exclusion glob that does not start with ``/``.

    Example::

        app = TracingMiddleware(app, excluded_paths=["/health/*"])
    """

    _kind = "an ASGI application"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection: HTTP requests traced, anything else passed through."""
        if scope.get("type") != "http" or scope.get("path") in self._excluded:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        method_in = scope.get("method")
        method, original = normalize_method(method_in if isinstance(method_in, str) else "")
        attributes = self._attributes(scope, method, original)
        parent = self._parent(scope, attributes)
        span = self._tracer.start_span("HTTP" if method == "_OTHER" else method, parent, _SERVER, attributes)
        token = context.attach(trace.set_span_in_context(span, parent))
        status: int | None = None

        async def traced_send(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                code = message.get("status")
                status = code if type(code) is int else None
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            context.detach(token)
            route = resolve(self._resolver, scope)
            metric = finish(
                span, attributes, method=method, route=route, status=status, error=error, ok_status=self._ok
            )
            self._duration.record(perf_counter() - started, metric)

    @staticmethod
    def _attributes(scope: Scope, method: str, original: str | None) -> dict[str, Any]:
        path = scope.get("path")
        scheme = scope.get("scheme")
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path if isinstance(path, str) else "",
            "url.scheme": scheme if isinstance(scheme, str) else "http",
        }
        if original is not None:
            attributes["http.request.method_original"] = original[:_MAX_HEADER]
        query = _text(scope.get("query_string"))
        if query:
            attributes["url.query"] = redact_query(query)
        version = scope.get("http_version")
        if isinstance(version, str):
            attributes["network.protocol.version"] = version
        client = scope.get("client")
        if isinstance(client, list | tuple) and len(client) == 2 and isinstance(client[0], str):
            attributes["client.address"] = client[0]
            attributes["network.peer.address"] = client[0]
            if type(client[1]) is int:
                attributes["network.peer.port"] = client[1]
        server = scope.get("server")
        if isinstance(server, list | tuple) and len(server) == 2 and isinstance(server[0], str):
            attributes["server.address"] = server[0]
            if type(server[1]) is int:
                attributes["server.port"] = server[1]
        return attributes

    @staticmethod
    def _parent(scope: Scope, attributes: dict[str, Any]) -> Any:  # noqa: ANN401 - the API's Context
        """Read the headers the span needs; extract the propagated context when there is one."""
        headers = scope.get("headers")
        if not isinstance(headers, list | tuple):
            return None
        carrier: dict[str, str] = {}
        fields = propagate.get_global_textmap().fields
        for pair in headers:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                continue
            name = _text(pair[0])
            if name is None:
                continue
            name = name.lower()
            if name == "user-agent":
                value = _text(pair[1])
                if value is not None:
                    attributes["user_agent.original"] = value
            elif name == "host":
                value = _text(pair[1])
                if value is not None:
                    host, _, port = value.rpartition(":") if not value.endswith("]") else (value, "", "")
                    if host and port.isascii() and port.isdigit() and len(port) <= 5:
                        attributes["server.address"] = host
                        attributes["server.port"] = int(port)
                    else:
                        attributes["server.address"] = value
            elif name in fields:
                value = _text(pair[1])
                if value is not None:
                    carrier[name] = value
        return propagate.extract(carrier) if carrier else None
