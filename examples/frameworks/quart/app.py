"""Quart: every web-facing buttress package in one app, on embedded defaults.

    uv run uvicorn --app-dir examples frameworks.quart.app:app

The middlewares wrap the Quart app (outermost first: in-flight counting for buttress-health's
shutdown, fingerprint, idempotency, CSP), the way Quart's guide wraps ``app.asgi_app`` but from
outside, so nothing reassigns a method. Quart routes views, not ASGI apps, so the webhook endpoint
answers from a view (``endpoint.answer``) and CSP reports are parsed in one (``parse_reports``);
`beside_probes` sends ``/health/...`` to the probes before Quart sees it, and `tenant_route` puts
buttress-tenancy's middleware around Quart for ``/tenant`` alone. A persistence error raised
by a view becomes RFC 9457 problem+json in an ``errorhandler``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, cast

from quart import Quart, Response, g, render_template, request, websocket
from strawberry.quart.views import GraphQLView

from buttress.caching import cached
from buttress.core import ASGIApp
from buttress.csp import CSPMiddleware, install_jinja2
from buttress.fingerprint import FingerprintMiddleware
from buttress.health import HealthApp, InFlightMiddleware
from buttress.idempotency import IdempotencyMiddleware
from buttress.observability import ROUTE_KEY, RequestIdMiddleware, TracingMiddleware
from buttress.persistence import PersistenceError
from buttress.webhooks import WebhookEndpoint

from ..shop import (
    BETA,
    HEALTH,
    REPORTS_URL,
    TENANT_PATH,
    TRACED_EXCEPT,
    Shop,
    Unauthorized,
    beside_probes,
    download,
    policy,
    principal,
    problem,
    strawberry_schema,
    tenant_route,
    user,
    which_tenant,
    whoami,
)

TEMPLATES = Path(__file__).parent.parent / "templates"


def create_app(shop: Shop | None = None, *, root_path: str = "") -> ASGIApp:
    """A new app around ``shop`` (a new `Shop` by default); ``root_path`` is the prefix it is served under."""
    shop = shop or Shop(policy=policy(root_path))
    app = Quart(__name__, template_folder=str(TEMPLATES))
    install_jinja2(app.jinja_env)  # {{ csp_nonce() }} in templates
    endpoint = WebhookEndpoint(shop.handle_webhook, shop.webhooks)

    app.before_serving(shop.start)
    app.after_serving(shop.stop)

    @app.before_request
    async def route_for_tracing() -> None:
        """Hand Quart's matched rule to the tracing middleware: spans are named by route, not path."""
        if request.url_rule is not None:
            cast("dict[str, Any]", request.scope)[ROUTE_KEY] = request.url_rule.rule

    def requires_token(view: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        """A view decorator around buttress-auth's ``authenticate``: the principal in ``g.verified``."""

        @wraps(view)
        async def protected() -> Any:  # noqa: ANN401 - what the view returns
            try:
                g.verified = await principal(request.scope, shop.tokens)
            except Unauthorized as exc:
                return {"error": "unauthorized"}, 401, {"WWW-Authenticate": exc.challenge}
            return await view()

        return protected

    @app.post("/token")
    async def token() -> tuple[dict[str, str], int]:
        status, body = shop.login(await request.get_json(silent=True))
        return body, status

    @app.get("/me")
    @requires_token
    async def me() -> dict[str, Any]:
        return whoami(g.verified)

    @app.get("/")
    async def page() -> str:
        beta = shop.flags.is_enabled(BETA, user(request.args.get("user_id")))
        fingerprint = request.scope["state"]["fingerprint"]
        return await render_template("page.html", beta=beta, fingerprint=fingerprint.digest)

    @app.post("/orders")
    async def place_order() -> tuple[dict[str, Any], int]:
        return shop.order(await request.get_json()), 201

    @app.post("/upload")
    async def upload() -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.body:
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @app.get("/download")
    async def download_file() -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for chunk in download():
                yield chunk

        return Response(chunks(), mimetype="application/octet-stream")

    @app.get("/products")
    async def products() -> dict[str, Any]:
        return await shop.list_products(request.query_string)  # a bad query: problem+json, 400

    @app.errorhandler(PersistenceError)
    async def problem_details(error: PersistenceError) -> Response:
        status, body, media_type = problem(error)
        return Response(body, status=status, mimetype=media_type)

    @app.get("/products/<product_id>")
    @cached(shop.cache, ttl=60)  # under the route decorator: the parameters are the key
    async def product(product_id: str) -> dict[str, str | int]:
        return shop.product(product_id)

    @app.post("/webhooks")
    async def webhooks() -> tuple[bytes, int, list[tuple[str, str]]]:
        answer = await endpoint.answer(request.headers, await request.body)
        return answer.body, answer.status, list(answer.headers)

    @app.post(REPORTS_URL)
    async def csp_reports() -> tuple[str, int]:
        body = await request.body
        return "", shop.read_reports(body, request.content_type or "")

    @app.get(TENANT_PATH)
    async def tenant() -> dict[str, str]:
        return which_tenant()  # in the scope TenantMiddleware entered (see tenant_route below)

    @app.websocket("/ws")
    async def echo() -> None:
        message = await websocket.receive()
        text = message if isinstance(message, str) else message.decode()
        confidence = websocket.scope["state"]["fingerprint"].confidence
        await websocket.send(f"{text} ({confidence:.2f})")

    app.add_url_rule(
        "/graphql",
        view_func=GraphQLView.as_view("graphql", schema=strawberry_schema()),
        methods=["GET", "POST"],
    )
    # innermost: buttress-tenancy's middleware around Quart, for TENANT_PATH only
    tenanted = tenant_route(app, shop.tenants)
    site = FingerprintMiddleware(
        IdempotencyMiddleware(CSPMiddleware(tenanted, shop.policy), shop.idempotency), shop.fingerprinter
    )
    served = InFlightMiddleware(beside_probes(site, HealthApp(shop.health)), shop.shutdown, exempt=(HEALTH,))
    # outermost: request ids, then one server span per request named by the rule set above
    return RequestIdMiddleware(TracingMiddleware(served, excluded_paths=TRACED_EXCEPT))


app = create_app()
