"""Litestar: every web-facing buttress package in one app, on embedded defaults.

    uv run uvicorn --app-dir examples frameworks.litestar.app:app

Litestar runs its ``middleware`` list outermost first: fingerprint, idempotency, CSP. The webhook
endpoint, the CSP report receiver and the probes are ASGI apps under ``asgi(..., is_mount=True)``,
which takes the exact URL and its trailing-slash form alike. The in-flight counting of
buttress-health's shutdown wraps the whole app: Litestar runs its middleware per route, where a
mounted app's path has lost its prefix (``exempt=("/health",)`` would not match the probes). Litestar
answers a view's exception inside the route, so a persistence error becomes RFC 9457 problem+json
through ``exception_handlers``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, WebSocket, asgi, get, head, post, websocket
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Stream, Template
from litestar.template.config import TemplateConfig
from strawberry.litestar import make_graphql_controller

from buttress.auth import VerifiedToken
from buttress.caching import cached
from buttress.core import ASGIApp
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


def create_app(shop: Shop | None = None, *, root_path: str = "") -> ASGIApp:
    """A new app around ``shop`` (a new `Shop` by default); ``root_path`` is the prefix it is served under."""
    shop = shop or Shop(policy=policy(root_path))

    @get("/")
    async def page(request: Request[Any, Any, Any], user_id: FromQuery[str | None] = None) -> Template:
        beta = shop.flags.is_enabled(BETA, user(user_id))
        context = {"beta": beta, "fingerprint": request.state.fingerprint.digest}
        return Template("page.html", context=context)

    @head("/")  # Litestar answers HEAD only where a handler says so, and with no body
    async def page_headers() -> Response[None]:
        return Response(content=None, media_type=MediaType.HTML)

    @post("/orders", status_code=201)
    async def place_order(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        return shop.order(data)

    @post("/upload", status_code=200)
    async def upload(request: Request[Any, Any, Any]) -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @get("/download")
    async def download_file() -> Stream:
        return Stream(download(), media_type="application/octet-stream")

    @get("/products")
    async def products(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return await shop.list_products(request.url.query)  # a bad query: problem+json, 400

    def problem_details(request: Request[Any, Any, Any], error: PersistenceError) -> Response[bytes]:
        status, body, media_type = problem(error)
        return Response(body, status_code=status, media_type=media_type)

    @get("/products/{product_id:str}")
    @cached(shop.cache, ttl=60)  # under the route decorator: the parameters are the key
    async def product(product_id: FromPath[str]) -> dict[str, str | int]:
        return shop.product(product_id)

    async def caller(request: Request[Any, Any, Any]) -> VerifiedToken:
        """The dependency of protected handlers: buttress-auth's ``authenticate`` behind ``Provide``."""
        try:
            return await principal(request.scope, shop.tokens)
        except Unauthorized as exc:
            raise NotAuthorizedException(headers={"WWW-Authenticate": exc.challenge}) from exc

    @post("/token", status_code=200)
    async def token(data: JSONBody[dict[str, Any]]) -> Response[dict[str, str]]:
        status, body = shop.login(data)
        return Response(body, status_code=status)

    @get("/me", dependencies={"verified": Provide(caller)})
    async def me(verified: NamedDependency[VerifiedToken]) -> dict[str, Any]:
        return whoami(verified)

    # buttress-tenancy's middleware on this route alone (Litestar's per-route middleware)
    scoped = DefineMiddleware(TenantMiddleware, resolver=tenant_resolver(), directory=shop.tenants)

    @get(TENANT_PATH, middleware=[scoped])
    async def tenant() -> dict[str, str]:
        return which_tenant()  # in the scope TenantMiddleware entered

    @websocket("/ws")
    async def echo(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        text = await socket.receive_text()
        await socket.send_text(f"{text} ({socket.state.fingerprint.confidence:.2f})")
        await socket.close()

    webhooks = asgi("/webhooks", is_mount=True, copy_scope=True)(
        WebhookEndpoint(shop.handle_webhook, shop.webhooks)
    )
    reports = asgi(REPORTS_URL, is_mount=True, copy_scope=True)(ReportReceiver(shop.store_reports))
    probes = asgi(HEALTH, is_mount=True, copy_scope=True)(HealthApp(shop.health))
    app = Litestar(
        route_handlers=[
            page,
            page_headers,
            place_order,
            upload,
            download_file,
            products,
            product,
            token,
            me,
            tenant,
            echo,
            webhooks,
            reports,
            probes,
            make_graphql_controller(strawberry_schema(), path="/graphql"),
        ],
        middleware=[
            DefineMiddleware(FingerprintMiddleware, fingerprinter=shop.fingerprinter),
            DefineMiddleware(IdempotencyMiddleware, store=shop.idempotency),
            DefineMiddleware(CSPMiddleware, policy=shop.policy),
        ],
        template_config=TemplateConfig(
            directory=TEMPLATES,
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: install_jinja2(engine.engine),  # {{ csp_nonce() }}
        ),
        exception_handlers={PersistenceError: problem_details},
        on_startup=[shop.start],
        on_shutdown=[shop.stop],
    )
    served = InFlightMiddleware(app, shop.shutdown, exempt=(HEALTH,))
    # outermost: request ids, then one server span per request named by Litestar's path template
    return RequestIdMiddleware(TracingMiddleware(served, excluded_paths=TRACED_EXCEPT))


app = create_app()
