"""An ASGI application as a fuzz target: inputs become HTTP requests; 5xx and exceptions are crashes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from ._checks import positive_int, strings
from .exceptions import FuzzingConfigurationError, FuzzingTypeError, ServerErrorResponse

__all__ = ["AsgiTarget", "HttpRequest"]

type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HEADER_NAMES: Final = (
    b"content-type", b"accept", b"authorization", b"cookie", b"x-request-id", b"if-none-match",
    b"range", b"accept-language", b"user-agent", b"x-forwarded-for",
)  # fmt: skip
_CONTENT_TYPES: Final = (
    b"application/json", b"application/x-www-form-urlencoded", b"text/plain",
    b"multipart/form-data; boundary=x", b"application/octet-stream",
)  # fmt: skip
_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
_SERVER_ERROR: Final = 500


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request decoded from fuzz input (what the app was sent).

    Attributes:
        method: The method.
        route: The route template it was made from.
        path: The concrete path, with template parameters filled in.
        query_string: The raw query string.
        headers: Header name/value pairs.
        body: The body.
    """

    method: str
    route: str
    path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def __repr__(self) -> str:
        query = f"?{self.query_string.decode('latin-1')}" if self.query_string else ""
        return f"HttpRequest({self.method} {self.path}{query}, headers={self.headers!r}, body={self.body!r})"


class _Reader:
    """Consumes fuzz bytes as small integers and strings; past the end everything reads as zero."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        at = self._at
        if at >= len(self._data):
            return 0
        self._at = at + 1
        return self._data[at]

    def small(self, limit: int) -> int:
        value = self.byte()
        return value if value <= limit else 0

    def take(self, limit: int) -> bytes:
        return self.chunk(self.byte() % (limit + 1))

    def chunk(self, size: int) -> bytes:
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk

    def rest(self) -> bytes:
        chunk = self._data[self._at :]
        self._at = len(self._data)
        return chunk


# An HTTP method is a token (RFC 9110 section 9.1): visible ASCII without separators.
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _visible(raw: bytes) -> bytes:
    """Header values: map every byte to visible ASCII, as servers reject control characters."""
    return bytes(32 + b % 95 for b in raw)


class AsgiTarget:
    """Fuzz an ASGI application: each input becomes one HTTP request sent to it directly.

    An input decides the method, the route (from ``routes``), the values of the route's
    ``{parameters}``, a query string, up to four headers (from a list of common names, values from
    the input) and the body. A 5xx response, a request the app never answers, and an exception out of
    the app are crashes; other statuses are fine. The app runs on the campaign's one event loop; its
    lifespan is not run, so set up what it needs before fuzzing.

    For apps built with a framework, set ``FuzzingConfig(scope=["myapp"])``: by default the scope is
    the package that defines the app object, which for a framework's app class is the framework.

    Args:
        app: The ASGI 3 application.
        routes: Paths or templates to request, such as ``"/items/{item_id}"``.
        methods: Methods to use.
        max_body: Longest body sent.

    Raises:
        FuzzingTypeError: ``app`` is not callable or a route is not a str.
        FuzzingConfigurationError: ``routes`` or ``methods`` is empty, or a route does not start with ``/``.
    """

    is_async = True

    def __init__(
        self,
        app: AsgiApp,
        routes: Sequence[str],
        *,
        methods: Sequence[str] = _METHODS,
        max_body: int = 4096,
    ) -> None:
        if not callable(app):
            raise FuzzingTypeError("app", "an ASGI application (a callable)", app)
        if isinstance(routes, str) or not isinstance(routes, Sequence):
            raise FuzzingTypeError("routes", "a sequence of paths", routes)
        if not routes:
            raise FuzzingConfigurationError("routes", list(routes), "give at least one path to request")
        for route in routes:
            if not isinstance(route, str):
                raise FuzzingTypeError("routes", "a sequence of str paths", route)
            if not route.startswith("/"):
                raise FuzzingConfigurationError("routes", route, "paths must start with '/'")
            if not route.isprintable() or not route.encode("utf-8", "replace").decode("utf-8") == route:
                raise FuzzingConfigurationError("routes", route, "paths must be printable Unicode")
        names = strings("methods", methods)
        if not names or not all(_TOKEN.fullmatch(m) for m in names):
            raise FuzzingConfigurationError("methods", names, "give at least one HTTP method name (a token)")
        self.app = app
        self.routes = tuple(routes)
        self.methods = tuple(m.upper() for m in names)
        self.max_body = positive_int("max_body", max_body, minimum=0)
        self.spec = f"asgi:{getattr(app, '__module__', None) or type(app).__module__}"

    def scope_objects(self) -> tuple[object, ...]:
        """The app (its package is the default scope)."""
        return (self.app,)

    def request(self, data: bytes) -> HttpRequest:
        """Decode an input into the request it stands for.

        Layout: four fixed bytes (method, route, query length, header count; a length or count byte
        above its limit means none), then each route parameter (a length byte and its text), the
        query, the headers (a name byte and a value), and the rest is the body. The fixed preamble
        keeps the body's offset stable under mutation.
        """
        if not isinstance(data, bytes | bytearray):
            raise FuzzingTypeError("data", "bytes", data)
        reader = _Reader(bytes(data))
        method = self.methods[reader.byte() % len(self.methods)]
        route = self.routes[reader.byte() % len(self.routes)]
        # Out-of-range bytes mean "none", so most inputs keep their body at offset 4.
        query_length = reader.small(48)
        header_count = reader.small(4)

        def fill(match: re.Match[str]) -> str:
            return quote(reader.take(24).decode("utf-8", "replace"), safe="")

        path = _PARAM.sub(fill, route)
        query = quote(reader.chunk(query_length).decode("latin-1"), safe="=&").encode("ascii")
        headers = [(b"host", b"testserver")]
        for _ in range(header_count):
            name = _HEADER_NAMES[reader.byte() % len(_HEADER_NAMES)]
            value = (
                _CONTENT_TYPES[reader.byte() % len(_CONTENT_TYPES)]
                if name == b"content-type"
                else _visible(reader.take(32))
            )
            headers.append((name, value))
        body = reader.rest()[: self.max_body]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        return HttpRequest(method, route, path, query, headers, body)

    def describe(self, data: bytes) -> str:
        """The request an input stands for, as text for reproducer notes."""
        return f"request: {self.request(data)!r}"

    async def __call__(self, data: bytes) -> None:
        """Send the request an input stands for; raise `ServerErrorResponse` on a 5xx or no response."""
        request = self.request(data)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.path.encode("ascii"),
            "query_string": request.query_string,
            "root_path": "",
            "headers": request.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        sent_request = False
        status: list[int] = []

        async def receive() -> Message:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))

        await self.app(scope, receive, send)
        if not status:
            raise ServerErrorResponse(None, request.method, request.route)
        if status[0] >= _SERVER_ERROR:
            raise ServerErrorResponse(status[0], request.method, request.route)
