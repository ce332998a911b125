"""The report receiver routed in Starlette, FastAPI and Litestar under uvicorn, as the guide shows it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from litestar import Litestar, asgi
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from buttress.csp import CSPReport, ReportReceiver
from buttress.testing import serve_asgi

LEGACY = json.dumps(
    {
        "csp-report": {
            "document-uri": "https://shop.example/cart",
            "effective-directive": "script-src-elem",
            "blocked-uri": "inline",
            "original-policy": "script-src 'nonce-abc'",
        }
    }
).encode()
REPORTING = json.dumps(
    [
        {
            "type": "csp-violation",
            "age": 10,
            "url": "https://shop.example/cart",
            "user_agent": "Mozilla/5.0",
            "body": {
                "documentURL": "https://shop.example/cart",
                "effectiveDirective": "img-src",
                "blockedURL": "https://tracker.example/p.gif",
                "disposition": "enforce",
            },
        }
    ]
).encode()


class Store:
    def __init__(self) -> None:
        self.reports: list[CSPReport] = []

    async def __call__(self, reports: Sequence[CSPReport]) -> None:
        self.reports.extend(reports)


def starlette_app(receiver: ReportReceiver) -> Starlette:
    # The guide's form: a Route at the exact URL the policy names.
    return Starlette(routes=[Route("/csp-reports", receiver, methods=["POST"])])


def fastapi_app(receiver: ReportReceiver) -> FastAPI:
    app = FastAPI()
    app.router.add_route("/csp-reports", receiver, methods=["POST"])
    return app


def litestar_app(receiver: ReportReceiver) -> Litestar:
    return Litestar(route_handlers=[asgi("/csp-reports", is_mount=True, copy_scope=True)(receiver)])


APPS = {"starlette": starlette_app, "fastapi": fastapi_app, "litestar": litestar_app}


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (buttress-testing's serve_asgi); yields its URL."""
    with serve_asgi(app) as base:
        yield f"{base}"


@pytest.mark.parametrize("framework", sorted(APPS))
async def test_a_browser_report_reaches_the_receiver_under_uvicorn(framework: str) -> None:
    store = Store()
    with serving(APPS[framework](ReportReceiver(store))) as base:
        # A browser does not follow redirects for reports: the first answer is the one that counts.
        async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10) as client:
            legacy = await client.post(
                "/csp-reports", content=LEGACY, headers={"content-type": "application/csp-report"}
            )
            batch = await client.post(
                "/csp-reports", content=REPORTING, headers={"content-type": "application/reports+json"}
            )
            refused = await client.get("/csp-reports")
    assert (legacy.status_code, batch.status_code) == (204, 204)
    assert refused.status_code == 405
    assert [(r.effective_directive, r.format) for r in store.reports] == [
        ("script-src-elem", "csp-report"),
        ("img-src", "reports+json"),
    ]


@pytest.mark.parametrize("framework", sorted(APPS))
async def test_the_trailing_slash_form(framework: str) -> None:
    """Litestar's mount takes both; Starlette and FastAPI redirect to the exact path the policy names."""
    store = Store()
    transport = httpx.ASGITransport(app=APPS[framework](ReportReceiver(store)))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/csp-reports/", content=LEGACY, headers={"content-type": "application/csp-report"}
        )
    if framework == "litestar":
        assert response.status_code == 204
        assert len(store.reports) == 1
    else:
        assert response.status_code == 307
        assert response.headers["location"] == "http://test/csp-reports"
        assert store.reports == []


async def test_a_starlette_mount_redirects_the_report_so_the_guide_does_not_use_one() -> None:
    """``Mount("/csp-reports", ...)`` serves only paths below it: the report URL itself is a 307."""
    store = Store()
    app = Starlette(routes=[Mount("/csp-reports", app=ReportReceiver(store))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/csp-reports", content=LEGACY, headers={"content-type": "application/csp-report"}
        )
    assert response.status_code == 307
    assert store.reports == []
