"""The endpoints routed as the guide shows: Starlette, FastAPI and Litestar under uvicorn; Flask and
Django under a real WSGI server (wsgiref). Every request is real HTTP from httpx, never following a
redirect: a sender's POST gets one answer, and that is the one that counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from fastapi import FastAPI
from flask import Flask, request
from litestar import Litestar, asgi
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from buttress.testing import check_hostile_wsgi, django_urls, serve_asgi, serve_wsgi
from buttress.webhooks import (
    MemoryReplayGuard,
    SyncMemoryReplayGuard,
    SyncWebhookReceiver,
    VerifiedWebhook,
    WebhookEndpoint,
    WebhookReceiver,
    WebhookSigner,
    WebhookVerifier,
    WSGIWebhookEndpoint,
    generate_secret,
)

SECRET = generate_secret()
BODY = b'{"type": "invoice.paid", "id": "in_1"}'
RECEIVED: list[bytes] = []


async def handle(webhook: VerifiedWebhook) -> None:
    RECEIVED.append(webhook.body)


def handle_sync(webhook: VerifiedWebhook) -> None:
    RECEIVED.append(webhook.body)


@pytest.fixture(autouse=True)
def _received() -> Iterator[None]:
    RECEIVED.clear()
    yield
    RECEIVED.clear()


def asgi_endpoint() -> WebhookEndpoint:
    return WebhookEndpoint(handle, WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard()))


def wsgi_endpoint() -> WSGIWebhookEndpoint:
    receiver = SyncWebhookReceiver(WebhookVerifier(SECRET), replay_guard=SyncMemoryReplayGuard())
    return WSGIWebhookEndpoint(handle_sync, receiver)


# The guide's routing, one function per framework.
def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks", asgi_endpoint(), methods=["POST"])])


def fastapi_app() -> FastAPI:
    app = FastAPI()
    app.router.add_route("/webhooks", asgi_endpoint(), methods=["POST"])
    return app


def litestar_app() -> Litestar:
    return Litestar(route_handlers=[asgi("/webhooks", is_mount=True, copy_scope=True)(asgi_endpoint())])


def flask_app() -> Flask:
    app = Flask(__name__)
    endpoint = wsgi_endpoint()

    @app.post("/hooks/view")
    def webhooks() -> tuple[bytes, int, list[tuple[str, str]]]:  # a view of your own: the same answers
        answer = endpoint.answer(request.headers, request.get_data())
        return answer.body, answer.status, list(answer.headers)

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/webhooks": endpoint})  # type: ignore[method-assign]
    return app


ASGI_APPS = {"starlette": starlette_app, "fastapi": fastapi_app, "litestar": litestar_app}


def deliver(client: httpx.Client, url: str, body: bytes = BODY, **headers: str) -> httpx.Response:
    return client.post(url, content=body, headers={**WebhookSigner(SECRET).headers(body), **headers})


def check_the_answers(base: str, url: str) -> None:
    """A signed POST is handled once; its replay is a 200; a forged one a 401; a GET is never handled."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as client:
        headers = WebhookSigner(SECRET).headers(BODY)
        first = client.post(url, content=BODY, headers=headers)
        replay = client.post(url, content=BODY, headers=headers)
        forged = client.post(url, content=BODY, headers=WebhookSigner(generate_secret()).headers(BODY))
        unsigned = client.post(url, content=BODY)
        big = deliver(client, url, b"x" * (1024 * 1024 + 1))
        got = client.get(url)
    assert (first.status_code, replay.status_code) == (204, 200), first.text
    assert (forged.status_code, unsigned.status_code, big.status_code) == (401, 400, 413)
    assert got.status_code == 405
    assert RECEIVED == [BODY]


@pytest.mark.parametrize("framework", sorted(ASGI_APPS))
def test_the_asgi_endpoint_routed_as_the_guide_shows(framework: str) -> None:
    with serve_asgi(ASGI_APPS[framework]()) as base:
        check_the_answers(base, "/webhooks")


def test_a_starlette_mount_redirects_so_the_guide_does_not_use_one() -> None:
    """``Mount("/webhooks", ...)`` serves only paths below it: the URL itself is a 307, unhandled."""
    with serve_asgi(Starlette(routes=[Mount("/webhooks", app=asgi_endpoint())])) as base:
        response = httpx.post(
            f"{base}/webhooks", content=BODY, headers=WebhookSigner(SECRET).headers(BODY), timeout=10
        )
    assert response.status_code == 307
    assert RECEIVED == []


@pytest.mark.parametrize("url", ["/webhooks", "/hooks/view"])
def test_flask_under_a_wsgi_server(url: str) -> None:
    with serve_wsgi(flask_app()) as base:
        check_the_answers(base, url)


def test_flask_never_answers_5xx_to_a_client() -> None:
    check_hostile_wsgi(flask_app())


# --- Django (WSGI): a view on the endpoint's answer --------------------------------------------------

DJANGO_ENDPOINT = wsgi_endpoint()


@csrf_exempt
def django_webhooks(request: HttpRequest) -> HttpResponse:
    """The guide's Django view: the endpoint's rules, Django's request and response."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"allow": "POST"})
    answer = DJANGO_ENDPOINT.answer(request.headers, request.body)
    return HttpResponse(answer.body, status=answer.status, headers=dict(answer.headers))


def _django() -> AbstractContextManager[None]:
    return django_urls([path("webhooks", django_webhooks)])


def test_django_under_a_wsgi_server() -> None:
    with _django(), serve_wsgi(get_wsgi_application()) as base:
        check_the_answers(base, "/webhooks")


def test_django_never_answers_5xx_to_a_client() -> None:
    with _django():
        check_hostile_wsgi(get_wsgi_application())
