"""serve_asgi: an ASGI app under a real uvicorn on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from buttress.testing import (
    ServerError,
    TestingConfigurationError,
    TestingTypeError,
    check_hostile,
    serve_asgi,
)


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = f"{scope['method']} {scope['path']} {scope.get('root_path', '')!r}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def test_an_app_is_served_over_real_http_and_stopped_after() -> None:
    with serve_asgi(hello) as base:
        assert base.startswith("http://127.0.0.1:")
        response = httpx.post(f"{base}/reports/", timeout=5)
        assert (response.status_code, response.text) == (200, "POST /reports/ ''")
    with pytest.raises(httpx.ConnectError):
        httpx.get(base, timeout=2)


def test_lifespan_can_be_on() -> None:
    with serve_asgi(hello, lifespan="on") as base:
        assert httpx.get(f"{base}/x", timeout=5).text == "GET /x ''"


def test_an_app_under_a_root_path_sees_it_as_a_proxy_that_strips_it_would_give_it() -> None:
    with serve_asgi(hello, root_path="/shop") as base:
        assert httpx.get(f"{base}/x", timeout=5).text == "GET /shop/x '/shop'"


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(TestingTypeError):
        serve_asgi(42).__enter__()  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError):
        serve_asgi(hello, lifespan="maybe").__enter__()
    with pytest.raises(TestingTypeError):
        serve_asgi(hello, root_path=b"/shop").__enter__()  # type: ignore[arg-type]
    for bad in ("shop", "/shop/", "/", "/a b", "/shop?x=1", "/\x00"):
        with pytest.raises(TestingConfigurationError):
            serve_asgi(hello, root_path=bad).__enter__()


def test_an_app_that_never_starts_is_a_server_error() -> None:
    async def broken_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("startup failed")

    with pytest.raises(ServerError), serve_asgi(broken_lifespan, lifespan="on", startup_timeout=3):
        pass


def test_serve_asgi_raises_only_typed_errors() -> None:
    def served(app: Any, lifespan: str = "off", startup_timeout: float = 5.0, root_path: str = "") -> None:
        with serve_asgi(app, lifespan=lifespan, startup_timeout=startup_timeout, root_path=root_path):
            pass

    check_hostile(served, hello, lifespan="off", startup_timeout=5.0, keep=("app",), max_examples=25)
    check_hostile(
        served,
        hello,
        lifespan="off",
        startup_timeout=5.0,
        keep=("lifespan", "startup_timeout"),
        max_examples=10,
    )
    check_hostile(served, hello, root_path="/shop", keep=("app",), max_examples=10)
