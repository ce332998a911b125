"""Django settings of the example: no database, no sessions, one template directory.

CSP, idempotency and the fingerprint are not in ``MIDDLEWARE``: they wrap Django's application in
``asgi.py`` and ``wsgi.py``. ``MIDDLEWARE`` holds the views' own: problem details for persistence
errors, and buttress-observability's ``DjangoRouteMiddleware``, which hands the resolved route to the
tracing middleware (spans named ``GET /products/<str:product_id>``). Django 6's own
``ContentSecurityPolicyMiddleware`` stays out (one policy, not two: see buttress-csp's guide).
"""

from __future__ import annotations

from pathlib import Path

SECRET_KEY = "an example's key: read yours from the environment"  # noqa: S105 - the example's own
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "frameworks.django.urls"
INSTALLED_APPS = ["frameworks.django.apps.ShopConfig"]
MIDDLEWARE = [
    "buttress.observability.DjangoRouteMiddleware",  # the resolved route, for the tracing middleware
    "frameworks.django.views.ProblemDetails",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "templates"],
        "OPTIONS": {"context_processors": ["frameworks.django.views.csp"]},
    }
]
USE_TZ = True
