"""Litestar: every web-facing buttress package in one app, on embedded defaults.

    uv run uvicorn --app-dir examples frameworks.litestar.app:app

Litestar runs its ``middleware`` list outermost first: fingerprint, idempotency, CSP. The webhook
endpoint and the CSP report receiver are ASGI apps under ``asgi(..., is_mount=True)``, which takes
the exact URL and its trailing-slash form alike.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, WebSocket, asgi, get, head, post, websocket
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Stream, Template
from litestar.template.config import TemplateConfig
from strawberry.litestar import make_graphql_controller

from buttress.caching import cached
from buttress.csp import CSPMiddleware, ReportReceiver, install_jinja2
from buttress.fingerprint import FingerprintMiddleware
from buttress.idempotency import IdempotencyMiddleware
from buttress.webhooks import WebhookEndpoint

from ..shop import BETA, REPORTS_URL, Shop, download, policy, strawberry_schema, user

TEMPLATES = Path(__file__).parent.parent / "templates"


def create_app(shop: Shop | None = None, *, root_path: str = "") -> Litestar:
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

    @get("/products/{product_id:str}")
    @cached(shop.cache, ttl=60)  # under the route decorator: the parameters are the key
    async def product(product_id: FromPath[str]) -> dict[str, str | int]:
        return shop.product(product_id)

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
    return Litestar(
        route_handlers=[
            page,
            page_headers,
            place_order,
            upload,
            download_file,
            product,
            echo,
            webhooks,
            reports,
            make_graphql_controller(strawberry_schema(), path="/graphql"),
        ],
        # Litestar types ASGI messages as TypedDicts, which mypy cannot match to the mutable
        # mappings buttress's middlewares take: hence the ignores, with no effect at run time.
        middleware=[
            DefineMiddleware(FingerprintMiddleware, fingerprinter=shop.fingerprinter),  # type: ignore[arg-type]
            DefineMiddleware(IdempotencyMiddleware, store=shop.idempotency),  # type: ignore[arg-type]
            DefineMiddleware(CSPMiddleware, policy=shop.policy),  # type: ignore[arg-type]
        ],
        template_config=TemplateConfig(
            directory=TEMPLATES,
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: install_jinja2(engine.engine),  # {{ csp_nonce() }}
        ),
        on_startup=[shop.start],
        on_shutdown=[shop.stop],
    )


app = create_app()
