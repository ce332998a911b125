"""Starlette: every web-facing buttress package in one app, on embedded defaults.

    uv run uvicorn --app-dir examples frameworks.starlette.app:app

Middlewares, outermost first: request ids and tracing (buttress-observability), in-flight counting
(buttress-health's shutdown), fingerprint, idempotency, CSP (so a replayed response carries the CSP
header and nonce it was first sent with), problem details (a persistence error raised by a view becomes
RFC 9457 problem+json). The webhook endpoint and the CSP report receiver are ASGI apps routed at their
exact URLs (a ``Mount`` would answer 307 to the trailing-slash form); the probes are mounted at
``/health``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import ariadne.asgi
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from buttress.auth import BearerAuthMiddleware
from buttress.caching import cached
from buttress.csp import CSPMiddleware, ReportReceiver, install_jinja2
from buttress.fingerprint import FingerprintMiddleware
from buttress.health import HealthApp, InFlightMiddleware
from buttress.idempotency import IdempotencyMiddleware
from buttress.observability import RequestIdMiddleware, TracingMiddleware
from buttress.persistence import ProblemDetailsMiddleware
from buttress.tenancy import TenantMiddleware
from buttress.webhooks import WebhookEndpoint

from ..shop import (
    BETA,
    HEALTH,
    REPORTS_URL,
    TENANT_PATH,
    TRACED_EXCEPT,
    Shop,
    ariadne_schema,
    download,
    graphql_validation_rules,
    policy,
    tenant_resolver,
    user,
    which_tenant,
    whoami,
)

TEMPLATES = Path(__file__).parent.parent / "templates"


def create_app(shop: Shop | None = None, *, root_path: str = "") -> Starlette:
    """A new app around ``shop`` (a new `Shop` by default); ``root_path`` is the prefix it is served under."""
    shop = shop or Shop(policy=policy(root_path))
    templates = Jinja2Templates(directory=TEMPLATES)
    install_jinja2(templates.env)  # {{ csp_nonce() }} in templates

    async def page(request: Request) -> Response:
        beta = shop.flags.is_enabled(BETA, user(request.query_params.get("user_id")))
        context = {"beta": beta, "fingerprint": request.state.fingerprint.digest}
        return templates.TemplateResponse(request, "page.html", context)

    async def place_order(request: Request) -> Response:
        return JSONResponse(shop.order(await request.json()), status_code=201)

    async def upload(request: Request) -> Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return JSONResponse({"bytes": size, "sha256": digest.hexdigest()})

    async def download_file(request: Request) -> Response:
        return StreamingResponse(download(), media_type="application/octet-stream")

    async def products(request: Request) -> Response:
        return JSONResponse(await shop.list_products(request.url.query))  # a bad query: problem+json, 400

    @cached(shop.cache, ttl=60, key=lambda request: request.url.path)  # the request is no key
    async def product(request: Request) -> JSONResponse:
        return JSONResponse(shop.product(request.path_params["product_id"]))

    async def token(request: Request) -> Response:
        status, body = shop.login(await request.json())
        return JSONResponse(body, status_code=status)

    async def me(request: Request) -> Response:
        return JSONResponse(whoami(request.scope["auth"]))  # put there by BearerAuthMiddleware

    async def tenant(request: Request) -> Response:
        return JSONResponse(which_tenant())  # in the scope TenantMiddleware entered

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text} ({websocket.state.fingerprint.confidence:.2f})")
        await websocket.close()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await shop.start()
        yield
        await shop.stop()

    graphql = ariadne.asgi.GraphQL(ariadne_schema(), validation_rules=graphql_validation_rules())
    return Starlette(
        routes=[
            Route("/", page),
            Route("/orders", place_order, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/download", download_file),
            Route("/products", products),
            Route("/products/{product_id}", product),
            Route("/token", token, methods=["POST"]),
            # the route's app behind buttress-auth's middleware: 401 + WWW-Authenticate without a valid token
            Route("/me", BearerAuthMiddleware(request_response(me), shop.tokens, realm="shop")),
            # the route's app behind buttress-tenancy's middleware: the only route that needs a tenant
            Route(
                TENANT_PATH,
                TenantMiddleware(
                    request_response(tenant), resolver=tenant_resolver(), directory=shop.tenants
                ),
            ),
            Route("/webhooks", WebhookEndpoint(shop.handle_webhook, shop.webhooks), methods=["POST"]),
            Route(REPORTS_URL, ReportReceiver(shop.store_reports), methods=["POST"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/ws", echo),
            Mount(HEALTH, HealthApp(shop.health)),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),  # every answer has its X-Request-ID
            Middleware(TracingMiddleware, excluded_paths=TRACED_EXCEPT),  # "GET /products/{product_id}"
            Middleware(InFlightMiddleware, coordinator=shop.shutdown, exempt=(HEALTH,)),
            Middleware(FingerprintMiddleware, fingerprinter=shop.fingerprinter),
            Middleware(IdempotencyMiddleware, store=shop.idempotency),
            Middleware(CSPMiddleware, policy=shop.policy),
            Middleware(ProblemDetailsMiddleware),
        ],
        lifespan=lifespan,
    )


app = create_app()
