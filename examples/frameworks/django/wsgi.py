"""Django under WSGI: buttress's WSGI middlewares around Django's application, and the probes.

    uv run granian --interface wsgi --working-dir examples frameworks.django.wsgi:application

Outermost first: request ids and tracing (buttress-observability), fingerprint, idempotency (the
synchronous `SyncMemoryStore`), CSP. The probes (buttress-health's WSGI twin) answer at ``/health``
before Django sees the request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameworks.django.settings")

from django.core.wsgi import get_wsgi_application

from buttress.core import StartResponse, WSGIApp, WSGIEnviron
from buttress.csp import CSPWSGIMiddleware
from buttress.fingerprint import FingerprintWSGIMiddleware
from buttress.health import WSGIHealthApp
from buttress.idempotency import IdempotencyWSGIMiddleware
from buttress.observability import WSGIRequestIdMiddleware, WSGITracingMiddleware

from ..shop import HEALTH, TRACED_EXCEPT, health_checks, policy, wsgi_tenant_route
from .views import shop

django_application = get_wsgi_application()


def create_app(*, root_path: str = "") -> WSGIApp:
    """Django's WSGI application in buttress's WSGI middlewares, the probes beside it."""
    # innermost: buttress-tenancy's WSGI middleware around Django, for TENANT_PATH only
    tenanted = wsgi_tenant_route(django_application, shop.tenants)
    csp = CSPWSGIMiddleware(tenanted, policy(root_path) if root_path else shop.policy)
    site = FingerprintWSGIMiddleware(IdempotencyWSGIMiddleware(csp, shop.idempotency), shop.fingerprinter)
    probes = WSGIHealthApp(health_checks(shop.flags))

    def application(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(f"{HEALTH}/"):
            return probes(environ, start_response)
        return site(environ, start_response)

    # outermost: request ids, then one server span per request, named by the route that Django
    # resolved (DjangoRouteMiddleware in MIDDLEWARE hands it over)
    return WSGIRequestIdMiddleware(WSGITracingMiddleware(application, excluded_paths=TRACED_EXCEPT))


application = create_app()
