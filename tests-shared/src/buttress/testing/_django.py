"""Serve a few Django views in a test: settings made once per process, URLs swapped per test."""

from __future__ import annotations

import importlib
import itertools
import sys
import types
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from .exceptions import TestingTypeError

__all__ = ["django_urls"]

_HOSTS: Final = ["127.0.0.1", "localhost", "testserver"]
_NAMES = itertools.count()


def django_urls(urlpatterns: Sequence[object], **settings: Any) -> AbstractContextManager[None]:  # noqa: ANN401 - Django settings are any values
    """Route ``urlpatterns`` in Django for the ``with`` block; configure Django first if nobody has.

    Django's settings can be configured once per process. The first call configures the minimum a
    test app needs (no middleware, no installed apps, the local hosts allowed) and runs
    ``django.setup()``; every call then overrides, for its block only, the URL configuration with
    a fresh module holding ``urlpatterns`` plus any ``settings`` given (``MIDDLEWARE``,
    ``TEMPLATES``...). Serve it with `serve_wsgi` (``get_wsgi_application()``) or `serve_asgi`
    (``get_asgi_application()``)::

        with django_urls([path("orders", orders)]), serve_wsgi(get_wsgi_application()) as base:
            httpx.post(f"{base}/orders")

    Args:
        urlpatterns: Django's ``path(...)`` entries.
        settings: Further settings for the block.

    Raises:
        TestingTypeError: ``urlpatterns`` is not a sequence.
        ImportError: Django is not installed (it is the caller's test dependency).
    """
    if isinstance(urlpatterns, str | bytes) or not isinstance(urlpatterns, Sequence):
        raise TestingTypeError("urlpatterns", "a sequence of Django URL patterns", urlpatterns)
    django = importlib.import_module("django")
    conf = importlib.import_module("django.conf")
    test_utils = importlib.import_module("django.test.utils")
    name = f"buttress_testing_django_urls_{next(_NAMES)}"
    module = types.ModuleType(name)
    module.urlpatterns = list(urlpatterns)  # type: ignore[attr-defined]
    sys.modules[name] = module
    if not conf.settings.configured:
        conf.settings.configure(
            DEBUG=False,
            SECRET_KEY="a test setting, it signs nothing",  # noqa: S106 - not a secret
            ALLOWED_HOSTS=_HOSTS,
            ROOT_URLCONF=name,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
    overrides: dict[str, Any] = {"ROOT_URLCONF": name, "ALLOWED_HOSTS": _HOSTS, "MIDDLEWARE": []}
    overrides.update(settings)
    manager: AbstractContextManager[None] = test_utils.override_settings(**overrides)
    return manager
