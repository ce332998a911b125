"""serve_wsgi: a WSGI app under the standard library's wsgiref on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

from buttress.testing import (
    TestingConfigurationError,
    TestingTypeError,
    check_hostile,
    django_urls,
    serve_wsgi,
)


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} ".encode() + environ["wsgi.input"].read(
        length
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def test_an_app_is_served_over_real_http_and_stopped_after() -> None:
    with serve_wsgi(hello) as base:
        assert base.startswith("http://127.0.0.1:")
        response = httpx.post(f"{base}/hooks", content=b"body", timeout=5)
        assert (response.status_code, response.text) == (200, "POST /hooks body")
    with pytest.raises(httpx.ConnectError):
        httpx.get(base, timeout=2)


def test_requests_are_served_at_once_in_threads() -> None:
    """Two requests that each wait for the other finish only if they run at the same time."""
    barrier = threading.Barrier(2, timeout=10)

    def meet(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        barrier.wait()
        start_response("204 No Content", [])
        return []

    with serve_wsgi(meet) as base:
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(httpx.get(base, timeout=15).status_code))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [204, 204]


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(TestingTypeError):
        serve_wsgi(42).__enter__()  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError):
        serve_wsgi(hello, threaded="yes").__enter__()  # type: ignore[arg-type]


def test_serve_wsgi_raises_only_typed_errors() -> None:
    def served(app: Any, threaded: bool = True) -> None:
        with serve_wsgi(app, threaded=threaded):
            pass

    check_hostile(served, hello, threaded=False, max_examples=25)


def test_django_urls_routes_each_block_s_own_views() -> None:
    """Two blocks in a row each serve their own URL set from one process-wide Django configuration."""

    def first(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"first")

    def second(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"second")

    for name, view in (("first", first), ("second", second)):
        with django_urls([path("page", view)]), serve_wsgi(get_wsgi_application()) as base:
            response = httpx.get(f"{base}/page")
            assert (response.status_code, response.text) == (200, name)


def test_django_urls_refuses_what_is_not_a_sequence_of_patterns() -> None:
    for bad in ("page", b"page", 3, None):
        with pytest.raises(TestingTypeError):
            django_urls(bad)  # type: ignore[arg-type]
    check_hostile(django_urls, [])
