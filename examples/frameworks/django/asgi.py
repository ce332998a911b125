"""Django under ASGI: buttress's ASGI middlewares around Django's application, and the probes.

    uv run uvicorn --app-dir examples frameworks.django.asgi:application

Outermost first: request ids and tracing (buttress-observability), in-flight counting (buttress-health's
shutdown), fingerprint, idempotency (the async `MemoryStore`), CSP. The probes answer at ``/health``
before Django sees the request. Django speaks no ASGI lifespan, so the example answers it: the flags
start in the app's ``ready``, and the lifespan's shutdown runs the shutdown coordinator, which closes
what it was given.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameworks.django.settings")

from django.core.asgi import get_asgi_application

from buttress.core import ASGIApp, Receive, Scope, Send
from buttress.csp import CSPMiddleware
from buttress.fingerprint import FingerprintMiddleware
from buttress.health import HealthApp, HealthRegistry, InFlightMiddleware, ShutdownCoordinator
from buttress.idempotency import IdempotencyMiddleware, MemoryStore
from buttress.observability import RequestIdMiddleware, TracingMiddleware

from ..shop import HEALTH, TRACED_EXCEPT, beside_probes, health_checks, policy, tenant_route
from .views import shop

django_application = get_asgi_application()


def create_app(*, root_path: str = "", health: HealthRegistry | None = None) -> ASGIApp:
    """Django's ASGI application in buttress's middlewares, for an app served under ``root_path``.

    ``health`` is the probes' registry (`health_checks` of the shop's flags by default); the
    lifespan's shutdown closes it.
    """
    # innermost: buttress-tenancy's middleware around Django, for TENANT_PATH only
    tenanted = tenant_route(django_application, shop.tenants)
    csp = CSPMiddleware(tenanted, policy(root_path) if root_path else shop.policy)
    site = FingerprintMiddleware(IdempotencyMiddleware(csp, MemoryStore()), shop.fingerprinter)
    health = health if health is not None else health_checks(shop.flags)
    probes = HealthApp(health)
    shutdown = ShutdownCoordinator(health, drain_delay=5, grace=20)
    shutdown.register(health, name="health")

    routed = beside_probes(site, probes)

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, shutdown)
        else:
            await routed(scope, receive, send)

    served = InFlightMiddleware(application, shutdown, exempt=(HEALTH,))
    # outermost: request ids, then one server span per request, named by the route that Django
    # resolved (DjangoRouteMiddleware in MIDDLEWARE hands it over)
    return RequestIdMiddleware(TracingMiddleware(served, excluded_paths=TRACED_EXCEPT))


async def lifespan(receive: Receive, send: Send, shutdown: ShutdownCoordinator) -> None:
    """The ASGI lifespan Django does not speak: nothing to start, the coordinator at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown.shutdown(drain=False)  # the server stopped accepting: no drain
            await send({"type": "lifespan.shutdown.complete"})
            return


application = create_app()
