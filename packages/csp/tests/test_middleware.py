"""The ASGI and WSGI middleware, current_nonce() and the Jinja2 helper."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import jinja2
import pytest

from buttress.csp import (
    NONCE_ENVIRON_KEY,
    CSPMiddleware,
    CSPTypeError,
    CSPWSGIMiddleware,
    NonceUnavailableError,
    Policy,
    current_nonce,
    install_jinja2,
    strict,
)

type Message = dict[str, Any]


async def call_asgi(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(**extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], **extra}


class Page:
    """An ASGI app that renders the nonce it was given into the body, and can set its own policy."""

    def __init__(self, own_policy: bytes | None = None) -> None:
        self.own_policy = own_policy
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from_state = scope["state"]["csp_nonce"]
        from_context = current_nonce()
        self.seen.append((from_state, from_context))
        headers = [(b"content-type", b"text/html")]
        if self.own_policy is not None:
            headers.append((b"content-security-policy", self.own_policy))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": f'<script nonce="{from_state}"></script>'.encode()})


def header(messages: list[Message], name: bytes) -> list[bytes]:
    return [v for k, v in messages[0]["headers"] if k == name]


async def test_asgi_sets_the_header_and_exposes_the_same_nonce() -> None:
    page = Page()
    app = CSPMiddleware(page, strict(report_to=("csp", "/csp")))
    messages = await call_asgi(app, http_scope())
    (value,) = header(messages, b"content-security-policy")
    ((from_state, from_context),) = page.seen
    assert from_state == from_context
    assert f"'nonce-{from_state}'".encode() in value
    assert from_state.encode() in messages[1]["body"]
    assert header(messages, b"reporting-endpoints") == [b'csp="/csp"']
    assert header(messages, b"content-type") == [b"text/html"]


async def test_asgi_nonce_differs_per_request_and_keeps_existing_state() -> None:
    page = Page()
    app = CSPMiddleware(page, strict())
    scope = http_scope(state={"user": "kept"})
    await call_asgi(app, scope)
    await call_asgi(app, http_scope())
    assert scope["state"]["user"] == "kept"
    assert page.seen[0][0] != page.seen[1][0]


async def test_asgi_report_only_header_name() -> None:
    app = CSPMiddleware(Page(), strict(report_only=True).compile())
    messages = await call_asgi(app, http_scope())
    assert header(messages, b"content-security-policy-report-only")
    assert not header(messages, b"content-security-policy")


async def test_asgi_respects_a_policy_the_app_set_unless_told_otherwise() -> None:
    kept = await call_asgi(CSPMiddleware(Page(b"default-src 'none'"), strict()), http_scope())
    assert header(kept, b"content-security-policy") == [b"default-src 'none'"]
    replaced = await call_asgi(
        CSPMiddleware(Page(b"default-src 'none'"), strict(), respect_existing=False), http_scope()
    )
    assert len(header(replaced, b"content-security-policy")) == 2  # ours added beside it


async def test_asgi_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert "state" not in scope
        with pytest.raises(NonceUnavailableError):
            current_nonce()

    await CSPMiddleware(app, strict())({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


async def test_concurrent_requests_each_see_their_own_nonce() -> None:
    page = Page()

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01)
        await page(scope, receive, send)

    app = CSPMiddleware(slow, strict())
    await asyncio.gather(*(call_asgi(app, http_scope()) for _ in range(50)))
    assert all(state == context for state, context in page.seen)
    assert len({state for state, _ in page.seen}) == 50


def test_current_nonce_outside_a_request() -> None:
    with pytest.raises(NonceUnavailableError, match="wrap the application") as caught:
        current_nonce()
    assert isinstance(caught.value, LookupError)


def wsgi_call(app: Any, environ: dict[str, Any] | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    env: dict[str, Any] = environ or {}
    setup_testing_defaults(env)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    body = b"".join(app(env, start_response))
    return captured["status"], captured["headers"], body


def test_wsgi_sets_the_header_and_the_environ_key() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        nonce = environ[NONCE_ENVIRON_KEY]
        assert current_nonce() == nonce
        seen.append(nonce)
        start_response("200 OK", [("Content-Type", "text/html")])
        return [nonce.encode()]

    wrapped = CSPWSGIMiddleware(app, strict(report_to=("csp", "/csp")))
    status, headers, body = wsgi_call(wrapped)
    assert status == "200 OK"
    values = dict(headers)
    assert f"'nonce-{seen[0]}'" in values["Content-Security-Policy"]
    assert values["Reporting-Endpoints"] == 'csp="/csp"'
    assert body == seen[0].encode()
    wsgi_call(wrapped)
    assert seen[0] != seen[1]


def test_wsgi_respects_an_existing_policy_and_passes_exc_info() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys  # noqa: PLC0415

            start_response(
                "500 Internal Server Error",
                [("content-security-policy", "default-src 'none'")],
                sys.exc_info(),
            )
        return [b""]

    calls: list[tuple[Any, ...]] = []

    def start_response(*args: Any) -> Any:
        calls.append(args)
        return lambda data: None

    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    list(CSPWSGIMiddleware(app, strict())(env, start_response))
    ((_status, headers, exc_info),) = calls
    assert headers == [("content-security-policy", "default-src 'none'")]
    assert exc_info[0] is RuntimeError


def test_jinja2_helper_renders_the_request_nonce() -> None:
    environment = jinja2.Environment(autoescape=True)
    install_jinja2(environment)
    template = environment.from_string('<script nonce="{{ csp_nonce() }}">go()</script>')

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [template.render().encode()]

    _, headers, body = wsgi_call(CSPWSGIMiddleware(app, strict()))
    nonce = body.decode().split('"')[1]
    assert f"'nonce-{nonce}'" in dict(headers)["Content-Security-Policy"]
    with pytest.raises(NonceUnavailableError):
        template.render()


async def test_jinja2_helper_under_asgi() -> None:
    environment = jinja2.Environment(autoescape=True)
    install_jinja2(environment, name="nonce")
    template = environment.from_string("{{ nonce() }}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": template.render().encode()})

    messages = await call_asgi(CSPMiddleware(app, strict()), http_scope())
    assert (
        f"'nonce-{messages[1]['body'].decode()}'".encode() in header(messages, b"content-security-policy")[0]
    )


def test_bad_arguments() -> None:
    with pytest.raises(CSPTypeError, match=r"a jinja2\.Environment"):
        install_jinja2(object())  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="identifier"):
        install_jinja2(jinja2.Environment(autoescape=True), name="not valid")
    with pytest.raises(CSPTypeError, match="a Policy or a CompiledPolicy"):
        CSPMiddleware(Page(), "default-src 'self'")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="an ASGI application"):
        CSPMiddleware(None, strict())  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="a WSGI application"):
        CSPWSGIMiddleware(None, strict())  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        CSPWSGIMiddleware(lambda e, s: [], Policy)  # type: ignore[arg-type]


def test_wsgi_body_stream_is_left_alone() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return io.BytesIO(b"abc")

    _, _, body = wsgi_call(CSPWSGIMiddleware(app, strict()))
    assert body == b"abc"
