"""Flask: every web-facing buttress package in one WSGI app, on embedded defaults.

    uv run flask --app examples/frameworks/flask/app.py run

The WSGI twins wrap ``app.wsgi_app`` (outermost first: fingerprint, idempotency, CSP), over the
synchronous store, receiver and flag client of `SyncShop`: no event loop, no thread glue. werkzeug's
``DispatcherMiddleware`` serves the webhook endpoint and the CSP report receiver at their exact URLs,
and the probes (buttress-health's WSGI twin) at ``/health``. WSGI has no lifespan and the in-flight
counting is ASGI: a WSGI server drains on its own (see buttress-health's guide). A persistence error
raised by a view becomes RFC 9457 problem+json in an ``errorhandler``. The cached view and the
GraphQL view are async views (``flask[async]``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template, request
from strawberry.flask.views import AsyncGraphQLView
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from buttress.caching import cached
from buttress.csp import CSPWSGIMiddleware, WSGIReportReceiver, install_jinja2
from buttress.fingerprint import FingerprintWSGIMiddleware
from buttress.health import WSGIHealthApp
from buttress.idempotency import IdempotencyWSGIMiddleware
from buttress.observability import ROUTE_KEY, WSGIRequestIdMiddleware, WSGITracingMiddleware
from buttress.persistence import PersistenceError
from buttress.webhooks import WSGIWebhookEndpoint

from ..shop import (
    BETA,
    HEALTH,
    REPORTS_URL,
    TENANT_PATH,
    TRACED_EXCEPT,
    SyncShop,
    Unauthorized,
    authorization_scope,
    download,
    policy,
    principal,
    problem,
    strawberry_schema,
    user,
    which_tenant,
    whoami,
    wsgi_tenant_route,
)

TEMPLATES = Path(__file__).parent.parent / "templates"


def create_app(shop: SyncShop | None = None, *, root_path: str = "") -> Flask:
    """A new app around ``shop`` (a new `SyncShop` by default), its flags loaded."""
    shop = shop or SyncShop(policy=policy(root_path))
    shop.start()  # the flags' first load; they refresh in a thread of their own from now on
    app = Flask(__name__, template_folder=str(TEMPLATES))
    install_jinja2(app.jinja_env)  # {{ csp_nonce() }} in templates
    # innermost: buttress-tenancy's WSGI middleware around Flask, for TENANT_PATH only
    tenanted = wsgi_tenant_route(app.wsgi_app, shop.tenants)
    routed = DispatcherMiddleware(
        tenanted,
        {
            "/webhooks": WSGIWebhookEndpoint(shop.handle, shop.webhooks),
            REPORTS_URL: WSGIReportReceiver(shop.store_reports),
            HEALTH: WSGIHealthApp(shop.health),
        },
    )
    site = FingerprintWSGIMiddleware(
        IdempotencyWSGIMiddleware(CSPWSGIMiddleware(routed, shop.policy), shop.idempotency),
        shop.fingerprinter,
    )
    # outermost: request ids, then one server span per request named by the rule set below
    traced = WSGITracingMiddleware(site, excluded_paths=TRACED_EXCEPT)
    app.wsgi_app = WSGIRequestIdMiddleware(traced)  # type: ignore[method-assign]

    @app.before_request
    def route_for_tracing() -> None:
        """Hand Flask's matched rule to the tracing middleware: spans are named by route, not path."""
        if request.url_rule is not None:
            request.environ[ROUTE_KEY] = request.url_rule.rule

    def requires_token(view: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        """A view decorator around buttress-auth's ``authenticate``: the principal in ``g.verified``."""

        @wraps(view)
        async def protected() -> Any:  # noqa: ANN401 - what the view returns
            scope = authorization_scope(request.headers.get("Authorization"))
            try:
                g.verified = await principal(scope, shop.tokens)
            except Unauthorized as exc:
                return {"error": "unauthorized"}, 401, {"WWW-Authenticate": exc.challenge}
            return await view()

        return protected

    @app.post("/token")
    def token() -> tuple[dict[str, str], int]:
        status, body = shop.login(request.get_json(silent=True))
        return body, status

    @app.get("/me")
    @requires_token
    async def me() -> dict[str, Any]:
        return whoami(g.verified)

    @app.get(TENANT_PATH)
    def tenant() -> dict[str, str]:
        return which_tenant()  # in the scope WSGITenantMiddleware entered

    @app.get("/")
    def page() -> str:
        beta = shop.flags.is_enabled(BETA, user(request.args.get("user_id")))
        fingerprint = request.environ["buttress.fingerprint"]
        return render_template("page.html", beta=beta, fingerprint=fingerprint.digest)

    @app.post("/orders")
    def place_order() -> tuple[dict[str, Any], int]:
        return shop.order(request.get_json()), 201

    @app.post("/upload")
    def upload() -> dict[str, Any]:
        digest, size = hashlib.sha256(), 0
        while chunk := request.stream.read(64 * 1024):
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    @app.get("/download")
    def download_file() -> Response:
        return Response(download(), mimetype="application/octet-stream")

    @app.get("/products")
    def products() -> dict[str, Any]:
        return shop.list_products(request.query_string)  # a bad query: problem+json, 400

    @app.errorhandler(PersistenceError)
    def problem_details(error: PersistenceError) -> Response:
        status, body, media_type = problem(error)
        return Response(body, status=status, mimetype=media_type)

    @app.get("/products/<product_id>")
    @cached(shop.cache, ttl=60)  # under the route decorator: the parameters are the key
    async def product(product_id: str) -> dict[str, str | int]:
        return shop.product(product_id)

    graphql = AsyncGraphQLView.as_view("graphql", schema=strawberry_schema())
    app.add_url_rule("/graphql", view_func=graphql, methods=["GET", "POST"])
    return app


app = create_app()
