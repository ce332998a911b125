"""Hostile HTTP requests for ASGI and WSGI applications: no exception escapes, no 5xx, valid HTTP.

The request side of `buttress.testing`'s hostile-argument helpers (see ``_hostile``): a middleware or
endpoint of the suite must answer a client's bad input with a 4xx or pass it on, never with a 5xx
or an exception that reaches the server.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from buttress.core import ButtressError

from ._hostile import DEFAULT_TIMEOUT, ErrorLogs, checked_timeout, hostile_settings, run_quietly
from .exceptions import TestingTypeError

__all__ = ["check_hostile_asgi", "check_hostile_wsgi"]


_HEADER_NAMES: tuple[bytes, ...] = (
    b"host",
    b"content-type",
    b"content-length",
    b"transfer-encoding",
    b"accept",
    b"accept-encoding",
    b"accept-language",
    b"user-agent",
    b"cookie",
    b"authorization",
    b"origin",
    b"referer",
    b"forwarded",
    b"x-forwarded-for",
    b"x-real-ip",
    b"if-none-match",
    b"if-match",
    b"idempotency-key",
    b"webhook-id",
    b"webhook-timestamp",
    b"webhook-signature",
    b"stripe-signature",
    b"x-hub-signature-256",
    b"x-github-event",
    b"x-github-delivery",
    b"sec-ch-ua",
    b"sec-fetch-site",
    b"dnt",
    b"x-request-id",
    b"traceparent",
    b"baggage",
    b"",
    b"\xff\xfe",
    b"x-\x00",
)
_METHODS = (
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "get",
    "",
    "P\x00ST",
)
_PATHS = (
    "/",
    "",
    "//",
    "/a/../b",
    "/%00",
    "/\x00",
    "/\ud800",
    "/\u00fc",
    "/" + "a" * 10_000,
    "/csp-report",
    "/reports",
    "/webhooks",
    "/graphql",
    "/orders",
    "/health",
    "*",
    "http://evil.test/",
)


def _header_value() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        st.sampled_from(
            (
                b"",
                b"\x00",
                b"\xff\xfe",
                b"\r\nX: 1",
                b"-1",
                b"99999999999999999999999999",
                b"1e400",
                b"123456789012",
                b"application/json",
                b"application/csp-report",
                b"application/reports+json",
                b"text/plain; charset=utf-\xff",
                b"multipart/form-data; boundary=",
                b'"\x00"',
                b"v1,@@@",
                b"t=123456789012,v1=00",
                b"sha256=zz",
                b"fe80::1%\xc3\xbc",
                b"a" * 20_000,
            )
        ),
    )


def _client() -> st.SearchStrategy[object]:
    host = st.one_of(
        st.sampled_from(
            ("127.0.0.1", "::1", "fe80::1%eth0", "fe80::1%\u00fc", "", "not an ip", "\x00", "\ud800")
        ),
        st.text(max_size=20),
    )
    port = st.one_of(st.integers(min_value=0, max_value=65535), st.sampled_from((-1, 2**40)))
    return st.one_of(st.none(), st.tuples(host, port))


@st.composite
def _http_request(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    method = draw(st.one_of(st.sampled_from(_METHODS), st.text(max_size=10)))
    path = draw(st.one_of(st.sampled_from(_PATHS), st.text(max_size=30).map(lambda p: "/" + p)))
    headers = draw(
        st.lists(
            st.tuples(st.one_of(st.sampled_from(_HEADER_NAMES), st.binary(max_size=12)), _header_value()),
            max_size=12,
        )
    )
    body = draw(st.lists(st.binary(max_size=256), max_size=3))
    disconnect_early = draw(st.booleans())
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": draw(st.sampled_from(("1.0", "1.1", "2"))),
        "method": method,
        "scheme": draw(st.sampled_from(("http", "https"))),
        "path": path,
        "raw_path": draw(st.one_of(st.just(path.encode("utf-8", "surrogatepass")), st.binary(max_size=40))),
        "query_string": draw(
            st.one_of(st.binary(max_size=64), st.sampled_from((b"", b"a=%ff&b=\x00", b"%")))
        ),
        "root_path": "",
        "headers": headers,
        "client": draw(_client()),
        "server": draw(st.sampled_from((("127.0.0.1", 8000), None, ("example.test", 443)))),
        "state": {},
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
        for i, chunk in enumerate(body)
    ]
    if not messages:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    if disconnect_early:
        messages = messages[:1]
        messages[0]["more_body"] = True
    return scope, messages


class _Response:
    """What an ASGI app sent, checked against what HTTP allows."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.problems: list[str] = []

    def record(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self.status is not None:
                self.problems.append("sent http.response.start twice")
            status = message.get("status")
            if not isinstance(status, int) or isinstance(status, bool):
                self.problems.append(f"status is not an int: {status!r}")
                return
            self.status = status
            raw_headers = message.get("headers", [])
            for pair in raw_headers:
                name, value = pair
                if not isinstance(name, bytes) or not isinstance(value, bytes):
                    self.problems.append(f"header is not bytes: {pair!r:.80}")
                elif any(c in value for c in b"\r\n\x00"):
                    self.problems.append(f"header {name!r} carries CR, LF or NUL")
            self.headers = [(n, v) for n, v in raw_headers if isinstance(n, bytes) and isinstance(v, bytes)]
        elif kind == "http.response.body":
            if self.status is None:
                self.problems.append("sent a body before http.response.start")
            body = message.get("body", b"")
            if not isinstance(body, (bytes, bytearray)):
                self.problems.append(f"body is not bytes: {type(body).__name__}")
            else:
                self.body += body

    def verdict(self, method: object) -> list[str]:
        problems = list(self.problems)
        if self.status is None:
            problems.append("returned without starting a response")
            return problems
        if self.status >= 500:
            problems.append(f"answered {self.status} to a client's input")
        no_body = self.status in (204, 304) or 100 <= self.status < 200
        if no_body and self.body:
            problems.append(f"sent a body with {self.status}")
        forbids_length = self.status == 204 or 100 <= self.status < 200
        if forbids_length and any(name.lower() == b"content-length" for name, _ in self.headers):
            problems.append(f"sent content-length with {self.status} (RFC 9110 section 8.6)")
        declared = [v for n, v in self.headers if n.lower() == b"content-length"]
        if declared and method != "HEAD" and not no_body and declared[0] != str(len(self.body)).encode():
            problems.append(f"content-length {declared[0]!r} but {len(self.body)} body bytes")
        return problems


async def _drive_asgi(
    app: Callable[..., Awaitable[None]],
    scope: dict[str, Any],
    messages: list[dict[str, Any]],
    timeout: float,
) -> list[str]:
    pending = list(messages)
    response = _Response()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        response.record(message)

    try:
        async with asyncio.timeout(timeout):
            await app(scope, receive, send)
    except TimeoutError:
        return ["did not finish in time"]
    except Exception as exc:  # noqa: BLE001 - any escaping exception is the finding
        return [f"raised {type(exc).__module__}.{type(exc).__qualname__}: {exc!s:.300}"]
    return response.verdict(scope["method"])


async def check_hostile_asgi(
    app: Callable[..., Awaitable[None]],
    *,
    max_examples: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Send hostile HTTP requests into an ASGI application; fail on an escaping exception or a 5xx.

    Requests vary the method, path, raw path, query string, header names and byte values (NUL,
    CR/LF, non-UTF-8, huge, malformed numbers, signatures and timestamps), the body and its chunks,
    an early disconnect, and the client address (IPv6 zones, garbage). Wrap a benign inner app that
    answers 200, so every 5xx is the code under test's. Each response is also checked against HTTP:
    one start, bytes headers without CR/LF/NUL, no body or ``content-length`` on a 204, and a
    ``content-length`` that matches the body.

    Args:
        app: The ASGI application (a middleware around a benign app, or an endpoint).
        max_examples: How many requests; the loaded hypothesis profile's count by default.
        timeout: Seconds one request may take.

    Raises:
        AssertionError: A request found a problem; hypothesis reports the smallest such request.
        TestingTypeError: ``app`` is not callable, or an option has the wrong type.
        TestingConfigurationError: ``max_examples`` or ``timeout`` is out of range.
    """
    if not callable(app):
        raise TestingTypeError("app", "an ASGI application", app)
    timeout = checked_timeout(timeout)
    loop = asyncio.get_running_loop()

    @hostile_settings(max_examples)
    @given(_http_request())
    def run(request: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        scope, messages = request
        logs = ErrorLogs((ButtressError,))
        root = logging.getLogger()
        root.addHandler(logs)
        try:
            problems = asyncio.run_coroutine_threadsafe(
                _drive_asgi(app, scope, messages, timeout), loop
            ).result()
        finally:
            root.removeHandler(logs)
        if logs.untyped:
            problems.append(f"logged an untyped exception: {logs.untyped[0]:.300}")
        if problems:
            raise AssertionError(f"{scope['method']!r} {scope['path']!r:.60}: " + "; ".join(problems))

    await asyncio.to_thread(run_quietly, run)


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")


@st.composite
def _wsgi_environ(draw: st.DrawFn) -> dict[str, Any]:
    scope, messages = draw(_http_request())
    body = b"".join(m["body"] for m in messages)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": _latin1(scope["path"].encode("utf-8", "surrogatepass")),
        "QUERY_STRING": _latin1(scope["query_string"]),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope["scheme"],
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    client = scope["client"]
    if client is not None:
        environ["REMOTE_ADDR"] = _latin1(str(client[0]).encode("utf-8", "surrogatepass"))
    for name, value in scope["headers"]:
        key = _latin1(name).upper().replace("-", "_")
        if key in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            environ[key] = _latin1(value)
        elif key:
            environ[f"HTTP_{key}"] = _latin1(value)
    return environ


def check_hostile_wsgi(
    app: Callable[..., Iterable[bytes]],
    *,
    max_examples: int | None = None,
) -> None:
    """Send hostile requests into a WSGI application; fail on an escaping exception or a 5xx.

    The environ follows PEP 3333 (latin-1 native strings) while its values carry the same hostile
    content as `check_hostile_asgi`'s requests. The response is iterated and closed.

    Args:
        app: The WSGI application (a middleware around a benign app, or an endpoint).
        max_examples: How many requests; the loaded hypothesis profile's count by default.

    Raises:
        AssertionError: A request found a problem; hypothesis reports the smallest such request.
        TestingTypeError: ``app`` is not callable, or ``max_examples`` has the wrong type.
        TestingConfigurationError: ``max_examples`` is out of range.
    """
    if not callable(app):
        raise TestingTypeError("app", "a WSGI application", app)

    @hostile_settings(max_examples)
    @given(_wsgi_environ())
    def run(environ: dict[str, Any]) -> None:
        started: list[str] = []
        headers_seen: list[tuple[str, str]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], None]:
            started.append(status)
            headers_seen[:] = headers
            return lambda _data: None

        logs = ErrorLogs((ButtressError,))
        root = logging.getLogger()
        root.addHandler(logs)
        problems: list[str] = []
        try:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # noqa: BLE001 - any escaping exception is the finding
            problems.append(f"raised {type(exc).__module__}.{type(exc).__qualname__}: {exc!s:.300}")
            body = b""
        finally:
            root.removeHandler(logs)
        if not problems:
            if not started:
                problems.append("returned without calling start_response")
            else:
                code = str(started[-1]).split(" ", 1)[0]
                if not code.isdigit() or int(code) >= 500:
                    problems.append(f"answered {started[-1]!r} to a client's input")
                elif int(code) == 204 and (
                    body or any(n.lower() == "content-length" for n, _ in headers_seen)
                ):
                    problems.append("sent a body or content-length with 204")
        if logs.untyped:
            problems.append(f"logged an untyped exception: {logs.untyped[0]:.300}")
        if problems:
            raise AssertionError(
                f"{environ['REQUEST_METHOD']!r} {environ['PATH_INFO']!r:.60}: " + "; ".join(problems)
            )

    run_quietly(run)
