"""FastAPI: every web-facing buttress package in one app, on embedded defaults.

    uv run uvicorn --app-dir examples frameworks.fastapi.app:app

``add_middleware`` wraps what is already there, so the last one added is the outermost: CSP is
added first (innermost), then idempotency, the fingerprint, and the in-flight counting of
buttress-health's shutdown. The webhook endpoint and the CSP report receiver are ASGI apps routed at
their exact URLs through ``app.router.add_route``; the probes are mounted at ``/health``. A
persistence error raised by a view is answered as RFC 9457 problem+json by an exception handler.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.routing import request_response
from strawberry.fastapi import GraphQLRouter

from buttress.auth import VerifiedToken
from buttress.caching import cached
from buttress.csp import CSPMiddleware, ReportReceiver, install_jinja2
from buttress.fingerprint import FingerprintMiddleware
from buttress.health import HealthApp, InFlightMiddleware
from buttress.idempotency import IdempotencyMiddleware
from buttress.observability import RequestIdMiddleware, TracingMiddleware
from buttress.persistence import PersistenceError
from buttress.tenancy import TenantMiddleware
from buttress.webhooks import WebhookEndpoint

from ..shop import (
    BETA,
    HEALTH,
    REPORTS_URL,
    TENANT_PATH,
    TRACED_EXCEPT,
    Shop,
    Unauthorized,
    download,
    policy,
    principal,
    problem,
    strawberry_schema,
    tenant_resolver,
    user,
    which_tenant,
    whoami,
)

TEMPLATES = Path(__file__).parent.parent / "templates"


def create_app(shop: Shop | None = None, *, root_path: str = "") -> FastAPI:
    """A new app around ``shop`` (a new `Shop` by default); ``root_path`` is the prefix it is served under."""
    shop = shop or Shop(policy=policy(root_path))
    templates = Jinja2Templates(directory=TEMPLATES)
    install_jinja2(templates.env)  # {{ csp_nonce() }} in templates

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await shop.start()
        yield
        await shop.stop()

    # buttress-observability's middleware makes the server span: FastAPI's own would be a second one
    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False})
    app.add_middleware(CSPMiddleware, policy=shop.policy)
    app.add_middleware(IdempotencyMiddleware, store=shop.idempotency)
    app.add_middleware(FingerprintMiddleware, fingerprinter=shop.fingerprinter)
    app.add_middleware(InFlightMiddleware, coordinator=shop.shutdown, exempt=(HEALTH,))
    app.add_middleware(TracingMiddleware, excluded_paths=TRACED_EXCEPT)  # spans: "GET /products/{product_id}"
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer has its X-Request-ID
    app.mount(HEALTH, HealthApp(shop.health))

    async def caller(request: Request) -> VerifiedToken:
        """The dependency of protected routes: buttress-auth's ``authenticate`` behind ``Depends``."""
        try:
            return await principal(request.scope, shop.tokens)
        except Unauthorized as exc:
            raise HTTPException(401, headers={"WWW-Authenticate": exc.challenge}) from exc

    @app.post("/token")
    async def token(payload: dict[str, Any]) -> JSONResponse:
        status, body = shop.login(payload)
        return JSONResponse(body, status_code=status)

    @app.get("/me")
    async def me(verified: VerifiedToken = Depends(caller)) -> dict[str, Any]:  # noqa: B008 - FastAPI's way
        return whoami(verified)

    @app.exception_handler(PersistenceError)
    async def problem_details(request: Request, error: PersistenceError) -> Response:
        status, body, media_type = problem(error)
        return Response(body, status_code=status, media_type=media_type)

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)  # HEAD is not implied
    async def page(request: Request, user_id: str | None = None) -> HTMLResponse:
        beta = shop.flags.is_enabled(BETA, user(user_id))
        context = {"beta": beta, "fingerprint": request.state.fingerprint.digest}
        return templates.TemplateResponse(request, "page.html", context)

    @app.post("/orders", status_code=201)
    async def place_order(payload: dict[str, Any]) -> dict[str, Any]:
        return shop.order(payload)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @app.get("/download")
    async def download_file() -> StreamingResponse:
        return StreamingResponse(download(), media_type="application/octet-stream")

    @app.get("/products")
    async def products(request: Request) -> dict[str, Any]:
        return await shop.list_products(request.url.query)  # a bad query: problem+json, 400

    @app.get("/products/{product_id}")
    @cached(shop.cache, ttl=60)  # under the route decorator: the parameters are the key
    async def product(product_id: str) -> dict[str, str | int]:
        return shop.product(product_id)

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text} ({websocket.state.fingerprint.confidence:.2f})")
        await websocket.close()

    # ASGI apps at exact paths: Starlette's Route runs them as apps (FastAPI's types expect a view)
    webhooks = WebhookEndpoint(shop.handle_webhook, shop.webhooks)
    app.router.add_route("/webhooks", webhooks, methods=["POST"])  # type: ignore[arg-type]
    app.router.add_route(REPORTS_URL, ReportReceiver(shop.store_reports), methods=["POST"])  # type: ignore[arg-type]

    async def tenant(request: Request) -> Response:
        return JSONResponse(which_tenant())  # in the scope TenantMiddleware entered

    # the one route behind buttress-tenancy's middleware, as an ASGI app (no other route needs a tenant)
    scoped = TenantMiddleware(request_response(tenant), resolver=tenant_resolver(), directory=shop.tenants)
    app.router.add_route(TENANT_PATH, scoped)  # type: ignore[arg-type]
    app.include_router(GraphQLRouter(strawberry_schema()), prefix="/graphql")
    return app


app = create_app()
