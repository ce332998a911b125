"""A ``@cached`` view in Starlette, FastAPI, Litestar, Quart, Flask and Django, each under a real server.

Issue #19: the decorated view was a callable object, not a coroutine function, so Starlette answered
500 (it routed the object as an ASGI app), Quart and Flask returned a coroutine as the response,
Django complained of an unawaited coroutine and Litestar failed at startup resolving ``P``. Each test
below serves a cached view (ASGI apps under uvicorn, WSGI apps under wsgiref: buttress-testing's
serve_asgi and serve_wsgi, on 127.0.0.1) and asks for it twice over HTTP: the same answer both
times, the view's body run once.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path
from fastapi import FastAPI
from flask import Flask
from litestar import Litestar, get
from litestar.params import FromPath
from quart import Quart
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buttress.caching import MemoryCache, cached
from buttress.testing import django_urls, serve_asgi, serve_wsgi


@dataclass(frozen=True)
class Profile:
    """What the views answer; FastAPI and Litestar read it from the view's return annotation."""

    user_id: int
    name: str


class Views:
    """One cache and a count of the view bodies that ran, per test."""

    def __init__(self) -> None:
        self.cache = MemoryCache[Any](max_size=100, ttl=60, jitter=None)
        self.runs: list[int] = []

    def profile(self, user_id: int) -> Profile:
        self.runs.append(user_id)
        return Profile(user_id, f"user-{user_id}")


@pytest.fixture
def views() -> Views:
    return Views()


def twice(base: str, url: str) -> list[httpx.Response]:
    with httpx.Client(base_url=base, timeout=10) as client:
        return [client.get(url), client.get(url)]


def assert_cached_view(responses: list[httpx.Response], views: Views) -> None:
    first, second = responses
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert first.json() == second.json() == {"user_id": 7, "name": "user-7"}
    assert views.runs == [7], "the second request was a hit: the view's body ran once"
    assert views.cache.stats.hits == 1


def test_starlette(views: Views) -> None:
    @cached(views.cache, key=lambda request: request.url.path)
    async def user(request: Request) -> JSONResponse:
        profile = views.profile(int(request.path_params["user_id"]))
        return JSONResponse({"user_id": profile.user_id, "name": profile.name})

    assert inspect.iscoroutinefunction(user)
    app = Starlette(routes=[Route("/users/{user_id:int}", user)])
    with serve_asgi(app) as base:
        assert_cached_view(twice(base, "/users/7"), views)


def test_fastapi(views: Views) -> None:
    app = FastAPI()

    @app.get("/users/{user_id}")
    @cached(views.cache)
    async def user(user_id: int) -> Profile:
        return views.profile(user_id)

    with serve_asgi(app) as base:
        assert_cached_view(twice(base, "/users/7"), views)
        assert httpx.get(f"{base}/users/x").status_code == 422, "the signature still validates the path"


def test_litestar(views: Views) -> None:
    """Litestar resolves the view's annotations at startup (it failed on ``P``): here they name this
    module's ``FromPath`` and ``Profile``."""

    @get("/users/{user_id:int}")
    @cached(views.cache)
    async def user(user_id: FromPath[int]) -> Profile:
        return views.profile(user_id)

    app = Litestar(route_handlers=[user])
    with serve_asgi(app, lifespan="on") as base:
        assert_cached_view(twice(base, "/users/7"), views)


def flask_style[App: Flask | Quart](app: App, views: Views) -> App:
    """The same app in Quart and Flask (whose async views need its ``async`` extra)."""

    @app.get("/users/<int:user_id>")
    @cached(views.cache)
    async def user(user_id: int) -> dict[str, Any]:
        profile = views.profile(user_id)
        return {"user_id": profile.user_id, "name": profile.name}

    return app


def test_quart(views: Views) -> None:
    with serve_asgi(flask_style(Quart(__name__), views), lifespan="on") as base:
        assert_cached_view(twice(base, "/users/7"), views)


def test_flask_async_view_under_a_wsgi_server(views: Views) -> None:
    with serve_wsgi(flask_style(Flask(__name__), views)) as base:
        assert_cached_view(twice(base, "/users/7"), views)


# --- Django: an async view, under WSGI (wsgiref) and ASGI (uvicorn) -------------------------------


@pytest.fixture
def django_views(views: Views) -> Iterator[Views]:
    @cached(lambda: views.cache, key=lambda request, user_id: f"user:{user_id}")
    async def user(request: HttpRequest, user_id: int) -> JsonResponse:
        profile = views.profile(user_id)
        return JsonResponse({"user_id": profile.user_id, "name": profile.name})

    with django_urls([path("users/<int:user_id>", user)]):
        yield views


def test_django_async_view_under_a_wsgi_server(django_views: Views) -> None:
    with serve_wsgi(get_wsgi_application()) as base:
        assert_cached_view(twice(base, "/users/7"), django_views)


def test_django_async_view_under_an_asgi_server(django_views: Views) -> None:
    with serve_asgi(get_asgi_application()) as base:
        assert_cached_view(twice(base, "/users/7"), django_views)
