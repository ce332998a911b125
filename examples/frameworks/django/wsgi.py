"""Django under WSGI: buttress's WSGI middlewares around Django's application.

    uv run granian --interface wsgi --working-dir examples frameworks.django.wsgi:application

Outermost first: fingerprint, idempotency (the synchronous `SyncMemoryStore`), CSP.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frameworks.django.settings")

from django.core.wsgi import get_wsgi_application

from buttress.csp import CSPWSGIMiddleware
from buttress.fingerprint import FingerprintWSGIMiddleware
from buttress.idempotency import IdempotencyWSGIMiddleware

from ..shop import policy
from .views import shop

django_application = get_wsgi_application()


def create_app(*, root_path: str = "") -> Any:  # noqa: ANN401 - a WSGI application
    """Django's WSGI application in buttress's WSGI middlewares."""
    csp = CSPWSGIMiddleware(django_application, policy(root_path) if root_path else shop.policy)
    return FingerprintWSGIMiddleware(IdempotencyWSGIMiddleware(csp, shop.idempotency), shop.fingerprinter)


application = create_app()
