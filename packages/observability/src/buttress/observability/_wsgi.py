"""`WSGITracingMiddleware`: the WSGI twin of `TracingMiddleware`, with the same conventions.

The span starts when the server calls the application and ends when the server closes the
response iterable (so streaming a body is inside the request's duration, as the conventions define
it); the span is current while the application runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any, Final

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind

from buttress.core import ExcInfo, StartResponse, WSGIApp, WSGIEnviron

from ._asgi import TracingBase, finish, resolve
from ._http import normalize_method, redact_query

__all__ = ["WSGITracingMiddleware"]

_MAX_HEADER: Final = 8192
_FIELDS: Final = {
    "traceparent": "HTTP_TRACEPARENT",
    "tracestate": "HTTP_TRACESTATE",
    "baggage": "HTTP_BAGGAGE",
}


def _environ_text(environ: WSGIEnviron, key: str) -> str | None:
    value = environ.get(key)
    return value[:_MAX_HEADER] if isinstance(value, str) else None


class _Response:
    """The application's body iterable; closing it ends the request's span and records its duration."""

    __slots__ = ("_body", "_done", "_end")

    def __init__(self, body: Iterable[bytes], end: Any) -> None:  # noqa: ANN401 - the closure below
        self._body = body
        self._end = end
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException as exc:
            self._close(exc)
            raise

    def close(self) -> None:
        self._close(None)

    def _close(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._end(error)


class WSGITracingMiddleware(TracingBase[WSGIApp]):
    """Trace every request a WSGI app serves, by the stable HTTP semantic conventions.

    Args:
        app: The WSGI application.
        excluded_paths: Anchored globs of paths to leave untraced.
        route_resolver: Reads the matched route from the environ after the app ran; by default the
            environ's `ROUTE_KEY`, which `DjangoRouteMiddleware` sets.
        ok_status: Set status OK on answers below 400.
        tracer_provider: The tracer provider; the global one by default.
        meter_provider: The meter provider; the global one by default.

    Raises:
        ObservabilityTypeError: ``app`` or ``route_resolver`` is not callable, or a provider is not one.
        ObservabilityConfigurationError: An exclusion glob that does not start with ``/``.
    """

    _kind = "a WSGI application"

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request, traced unless its path is excluded."""
        if not isinstance(environ, dict) or environ.get("PATH_INFO") in self._excluded:
            return self.app(environ, start_response)
        started = perf_counter()
        method_in = environ.get("REQUEST_METHOD")
        method, original = normalize_method(method_in if isinstance(method_in, str) else "")
        attributes = self._attributes(environ, method, original)
        carrier = {name: value for name, key in _FIELDS.items() if (value := _environ_text(environ, key))}
        parent = propagate.extract(carrier) if carrier else None
        span = self._tracer.start_span(
            "HTTP" if method == "_OTHER" else method, parent, SpanKind.SERVER, attributes
        )
        status: list[int] = []

        def traced_start_response(
            line: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
        ) -> Any:  # noqa: ANN401 - the server's write callable
            code = line[:3] if isinstance(line, str) else ""
            if code.isascii() and code.isdigit():
                status[:] = [int(code)]
            return start_response(line, headers, exc_info)

        def end(error: BaseException | None) -> None:
            route = resolve(self._resolver, environ)
            code = status[0] if status else None
            metric = finish(
                span, attributes, method=method, route=route, status=code, error=error, ok_status=self._ok
            )
            self._duration.record(perf_counter() - started, metric)

        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            body = self.app(environ, traced_start_response)
        except BaseException as exc:
            end(exc)
            raise
        finally:
            context.detach(token)
        return _Response(body, end)

    @staticmethod
    def _attributes(environ: WSGIEnviron, method: str, original: str | None) -> dict[str, Any]:
        path = _environ_text(environ, "PATH_INFO") or ""
        scheme = _environ_text(environ, "wsgi.url_scheme") or "http"
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": (_environ_text(environ, "SCRIPT_NAME") or "") + path,
            "url.scheme": scheme,
        }
        if original is not None:
            attributes["http.request.method_original"] = original[:_MAX_HEADER]
        query = _environ_text(environ, "QUERY_STRING")
        if query:
            attributes["url.query"] = redact_query(query)
        protocol = _environ_text(environ, "SERVER_PROTOCOL")
        if protocol and protocol.startswith("HTTP/"):
            attributes["network.protocol.version"] = protocol[5:]
        client = _environ_text(environ, "REMOTE_ADDR")
        if client:
            attributes["client.address"] = client
            attributes["network.peer.address"] = client
        agent = _environ_text(environ, "HTTP_USER_AGENT")
        if agent is not None:
            attributes["user_agent.original"] = agent
        host = _environ_text(environ, "HTTP_HOST") or _environ_text(environ, "SERVER_NAME")
        if host:
            name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
            if name and port.isascii() and port.isdigit() and len(port) <= 5:
                attributes["server.address"] = name
                attributes["server.port"] = int(port)
            else:
                attributes["server.address"] = host
        return attributes
