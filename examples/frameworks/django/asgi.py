"""Django under ASGI: buttress's ASGI middlewares around Django's application.

    uv run uvicorn --app-dir examples frameworks.django.asgi:application

Outermost first: fingerprint, idempotency (the async `MemoryStore`), CSP. Django speaks no ASGI
lifespan (uvicorn says so and goes on): the flags start in the app's ``ready``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameworks.django.settings")

from django.core.asgi import get_asgi_application

from buttress.csp import CSPMiddleware
from buttress.fingerprint import FingerprintMiddleware
from buttress.idempotency import IdempotencyMiddleware, MemoryStore

from ..shop import policy
from .views import shop

django_application = get_asgi_application()


def create_app(*, root_path: str = "") -> Any:  # noqa: ANN401 - an ASGI application
    """Django's ASGI application in buttress's middlewares, for an app served under ``root_path``."""
    csp = CSPMiddleware(django_application, policy(root_path) if root_path else shop.policy)
    return FingerprintMiddleware(IdempotencyMiddleware(csp, MemoryStore()), shop.fingerprinter)


application = create_app()
