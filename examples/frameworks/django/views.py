"""The example's views: plain Django views, the same under ASGI and WSGI.

The views use the synchronous objects of `SyncShop` (Django runs a sync view in a thread under ASGI);
the cached view and strawberry's GraphQL view are async (Django runs them in an event loop under
WSGI). What the middlewares put in the request is read from the scope under ASGI and from the environ
(``request.META``) under WSGI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe
from strawberry.django.views import AsyncGraphQLView

from buttress.caching import cached
from buttress.csp import current_nonce
from buttress.fingerprint import Fingerprint
from buttress.persistence import PersistenceError
from buttress.webhooks import WSGIWebhookEndpoint

from ..shop import (
    BETA,
    SyncShop,
    Unauthorized,
    authorization_scope,
    download,
    principal,
    problem,
    strawberry_schema,
    user,
    which_tenant,
    whoami,
)

shop = SyncShop()
endpoint = WSGIWebhookEndpoint(shop.handle, shop.webhooks)


def csp(request: HttpRequest) -> dict[str, Callable[[], str]]:
    """A context processor: templates write the request's nonce as ``{{ csp_nonce }}``."""
    return {"csp_nonce": current_nonce}  # called when a template shows it


def fingerprint_of(request: HttpRequest) -> Fingerprint:
    """What `FingerprintMiddleware` (ASGI) or `FingerprintWSGIMiddleware` (WSGI) made of the request."""
    if isinstance(request, ASGIRequest):
        return request.scope["state"]["fingerprint"]  # type: ignore[no-any-return]
    return request.META["buttress.fingerprint"]  # type: ignore[no-any-return]


@require_safe  # GET and HEAD
def page(request: HttpRequest) -> HttpResponse:
    beta = shop.flags.is_enabled(BETA, user(request.GET.get("user_id")))
    return render(request, "page.html", {"beta": beta, "fingerprint": fingerprint_of(request).digest})


@csrf_exempt
@require_POST
def place_order(request: HttpRequest) -> HttpResponse:
    return JsonResponse(shop.order(json.loads(request.body)), status=201)


@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    digest, size = hashlib.sha256(), 0
    while chunk := request.read(64 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse({"bytes": size, "sha256": digest.hexdigest()})


@require_safe
def download_file(request: HttpRequest) -> HttpResponse:
    # Django streams an async iterator under ASGI and a sync one under WSGI (either way, it warns).
    chunks: Any = _async(download()) if isinstance(request, ASGIRequest) else download()
    return StreamingHttpResponse(chunks, content_type="application/octet-stream")


@require_safe
def products(request: HttpRequest) -> HttpResponse:
    return JsonResponse(shop.list_products(request.META.get("QUERY_STRING", "")))  # bad query: 400


class ProblemDetails:
    """Django middleware (in ``MIDDLEWARE``): a persistence error a view raises is RFC 9457 problem+json."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PersistenceError):
            return None
        status, body, media_type = problem(exception)
        return HttpResponse(body, status=status, content_type=media_type)


@cached(shop.cache, ttl=60, key=lambda request, product_id: product_id)  # the request is no key
async def product(request: HttpRequest, product_id: str) -> HttpResponse:
    return JsonResponse(shop.product(product_id))


type AsyncView = Callable[[HttpRequest], Awaitable[HttpResponse]]


def requires_token(view: AsyncView) -> AsyncView:
    """A view decorator around buttress-auth's ``authenticate``: the principal in ``request.verified``.

    The view is async under ASGI and WSGI alike (Django runs it in an event loop under WSGI).
    """

    @wraps(view)
    async def protected(request: HttpRequest) -> HttpResponse:
        scope = authorization_scope(request.headers.get("Authorization"))
        try:
            request.verified = await principal(scope, shop.tokens)
        except Unauthorized as exc:
            response = JsonResponse({"error": "unauthorized"}, status=401)
            response["WWW-Authenticate"] = exc.challenge
            return response
        return await view(request)

    return protected


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    status, body = shop.login(payload)
    return JsonResponse(body, status=status)


@require_safe
@requires_token
async def me(request: HttpRequest) -> HttpResponse:
    return JsonResponse(whoami(request.verified))


@require_safe
def tenant(request: HttpRequest) -> HttpResponse:
    """In the tenant's scope: buttress-tenancy's middleware wraps Django for this path (asgi.py, wsgi.py)."""
    return JsonResponse(which_tenant())


@csrf_exempt
@require_POST
def webhooks(request: HttpRequest) -> HttpResponse:
    answer = endpoint.answer(request.headers, request.body)
    return HttpResponse(answer.body, status=answer.status, headers=dict(answer.headers))


@csrf_exempt
@require_POST
def csp_reports(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=shop.read_reports(request.body, request.content_type or ""))


graphql = csrf_exempt(AsyncGraphQLView.as_view(schema=strawberry_schema()))


async def _async(chunks: Any) -> AsyncIterator[bytes]:  # noqa: ANN401 - any iterable of bytes
    for chunk in chunks:
        yield chunk
