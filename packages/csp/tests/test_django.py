"""buttress-csp in Django, under ASGI and WSGI, as the guide shows it; and beside Django 6's own CSP."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import django
import httpx
import pytest
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import path
from django.utils.csp import CSP
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from buttress.csp import (
    CSPMiddleware,
    CSPReport,
    CSPWSGIMiddleware,
    ReportError,
    ReportTooLargeError,
    UnsupportedReportTypeError,
    current_nonce,
    parse_reports,
    strict,
)

URLS = "buttress_csp_django_test_urls"
PAGE = '<script nonce="{{ csp_nonce }}">go()</script>'
RECEIVED: list[Any] = []


def store(reports: Sequence[CSPReport]) -> None:
    RECEIVED.extend(reports)


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(engines["django"].from_string(PAGE).render({}, request))


# The Django recipe of the guide starts here.
def csp(request: HttpRequest) -> dict[str, Any]:
    """A context processor: templates write the request's nonce as {{ csp_nonce }}."""
    return {"csp_nonce": current_nonce}  # called when a template shows it


@csrf_exempt
@require_POST
def csp_reports(request: HttpRequest) -> HttpResponse:
    """The view at the URL the policy names (report_to=("csp", "/csp-reports"))."""
    try:
        reports = parse_reports(request.body, request.content_type or "")
    except ReportTooLargeError:
        return HttpResponse(status=413)
    except UnsupportedReportTypeError:
        return HttpResponse(status=415)
    except ReportError:
        return HttpResponse(status=400)
    store(reports)  # your handler
    return HttpResponse(status=204)


# The recipe ends here.


def _configure() -> None:
    urls = types.ModuleType(URLS)
    urls.urlpatterns = [path("", page), path("csp-reports", csp_reports)]  # type: ignore[attr-defined]
    urls.csp = csp  # type: ignore[attr-defined]
    sys.modules[URLS] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="a test key, not a secret",  # noqa: S106
            ALLOWED_HOSTS=["testserver", "127.0.0.1", "test"],
            ROOT_URLCONF=URLS,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            TEMPLATES=[
                {
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "OPTIONS": {"context_processors": [f"{URLS}.csp"]},
                }
            ],
        )
        django.setup()


_configure()
POLICY = strict()
# Django 6's own middleware and policy (its settings are read while each response is made).
DJANGOS_OWN = override_settings(
    MIDDLEWARE=["django.middleware.csp.ContentSecurityPolicyMiddleware"],
    SECURE_CSP={"default-src": [CSP.SELF]},
)


@pytest.fixture(autouse=True)
def _received() -> Iterator[None]:
    RECEIVED.clear()
    yield
    RECEIVED.clear()


def _nonce_of(response: httpx.Response) -> str:
    header = response.headers["content-security-policy"]
    return header.split("'nonce-", 1)[1].split("'", 1)[0]


async def test_asgi_nonce_in_header_and_template() -> None:
    application = CSPMiddleware(get_asgi_application(), POLICY)  # asgi.py
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first, second = await client.get("/"), await client.get("/")
    for response in (first, second):
        assert response.status_code == 200
        assert response.text == f'<script nonce="{_nonce_of(response)}">go()</script>'
    assert _nonce_of(first) != _nonce_of(second)


def test_wsgi_nonce_in_header_and_template() -> None:
    application = CSPWSGIMiddleware(get_wsgi_application(), POLICY)  # wsgi.py
    with httpx.Client(transport=httpx.WSGITransport(app=application), base_url="http://test") as client:
        response = client.get("/")
    assert response.status_code == 200
    assert response.text == f'<script nonce="{_nonce_of(response)}">go()</script>'


async def test_asgi_report_view() -> None:
    transport = httpx.ASGITransport(app=CSPMiddleware(get_asgi_application(), POLICY))
    body = b'{"csp-report": {"document-uri": "https://a.example/", "effective-directive": "img-src"}}'
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        accepted = await client.post(
            "/csp-reports", content=body, headers={"content-type": "application/csp-report"}
        )
        refused = await client.post("/csp-reports", content=b"{}", headers={"content-type": "text/plain"})
    assert (accepted.status_code, refused.status_code) == (204, 415)
    assert [r.effective_directive for r in RECEIVED] == ["img-src"]


def test_wsgi_report_view() -> None:
    application = CSPWSGIMiddleware(get_wsgi_application(), POLICY)
    body = b'{"csp-report": {"document-uri": "https://a.example/", "effective-directive": "img-src"}}'
    with httpx.Client(transport=httpx.WSGITransport(app=application), base_url="http://test") as client:
        accepted = client.post(
            "/csp-reports", content=body, headers={"content-type": "application/csp-report"}
        )
        malformed = client.post(
            "/csp-reports", content=b"{", headers={"content-type": "application/csp-report"}
        )
    assert (accepted.status_code, malformed.status_code) == (204, 400)
    assert len(RECEIVED) == 1


@DJANGOS_OWN
async def test_asgi_beside_djangos_own_middleware_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """Django's header is kept; the nonce current_nonce() handed out is in no header: said, once."""
    application = CSPMiddleware(get_asgi_application(), POLICY)
    transport = httpx.ASGITransport(app=application)
    with caplog.at_level(logging.WARNING, logger="buttress.csp"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = [await client.get("/"), await client.get("/")]
    assert [r.headers["content-security-policy"] for r in responses] == ["default-src 'self'"] * 2
    warnings = [r for r in caplog.records if r.name == "buttress.csp._middleware"]
    assert len(warnings) == 1
    assert "Django's ContentSecurityPolicyMiddleware" in warnings[0].getMessage()
    assert "nonce" in warnings[0].getMessage()


@DJANGOS_OWN
def test_wsgi_beside_djangos_own_middleware_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    application = CSPWSGIMiddleware(get_wsgi_application(), POLICY)
    with (
        caplog.at_level(logging.WARNING, logger="buttress.csp"),
        httpx.Client(transport=httpx.WSGITransport(app=application), base_url="http://test") as client,
    ):
        responses = [client.get("/"), client.get("/")]
    assert [r.headers["content-security-policy"] for r in responses] == ["default-src 'self'"] * 2
    assert len([r for r in caplog.records if r.name == "buttress.csp._middleware"]) == 1


@DJANGOS_OWN
async def test_no_warning_when_the_nonce_was_not_handed_out(caplog: pytest.LogCaptureFixture) -> None:
    """Django's policy on a page that uses no nonce of ours is not a mistake."""
    application = CSPMiddleware(get_asgi_application(), POLICY)
    transport = httpx.ASGITransport(app=application)
    with caplog.at_level(logging.WARNING, logger="buttress.csp"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/csp-reports", content=b"{", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert [r for r in caplog.records if r.name == "buttress.csp._middleware"] == []


@DJANGOS_OWN
async def test_replacing_djangos_header_sends_ours(caplog: pytest.LogCaptureFixture) -> None:
    application = CSPMiddleware(get_asgi_application(), POLICY, respect_existing=False)
    transport = httpx.ASGITransport(app=application)
    with caplog.at_level(logging.WARNING, logger="buttress.csp"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/")
    assert f"'nonce-{_nonce_of(response)}'" in response.headers["content-security-policy"]
    assert response.text == f'<script nonce="{_nonce_of(response)}">go()</script>'
    assert [r for r in caplog.records if r.name == "buttress.csp._middleware"] == []


GUIDE = Path(__file__).parents[3] / "docs" / "packages" / "csp" / "index.md"


@pytest.mark.skipif(not GUIDE.exists(), reason="the guide is not beside the tests (an sdist)")
def test_the_guide_shows_this_recipe() -> None:
    text = Path(__file__).read_text(encoding="utf-8")
    start = text.index("# The Django recipe of the guide starts here.\n") + len(
        "# The Django recipe of the guide starts here.\n"
    )
    recipe = text[start : text.index("# The recipe ends here.", start)].strip()
    assert recipe in GUIDE.read_text(encoding="utf-8")
