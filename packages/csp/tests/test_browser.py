"""A real browser agrees: headless Chromium (Debian's) under the strict preset, driven by selenium.

Needs ``chromium`` and ``chromium-driver`` from apt, or the browser and driver named by
``BUTTRESS_CHROMIUM`` and ``BUTTRESS_CHROMEDRIVER`` (GitHub's ubuntu-24.04 runners, where apt's
``chromium`` is only a snap stub, set them from a browser set-up step). Without them the test skips,
or fails when ``BUTTRESS_REQUIRE_SERVICES=1`` (as in CI). The tests never download a browser.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from buttress.csp import NONCE_ENVIRON_KEY, CSPReport, CSPWSGIMiddleware, WSGIReportReceiver, strict

CHROMIUM = os.environ.get("BUTTRESS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BUTTRESS_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>buttress-csp</title></head><body>
<script nonce="{nonce}">
  window.violations = [];
  document.addEventListener("securitypolicyviolation", (e) => {{
    const v = {{directive: e.effectiveDirective, blocked: e.blockedURI, disposition: e.disposition}};
    window.violations.push(v);
  }});
  window.noncedRan = true;
</script>
<script>window.unnoncedRan = true;</script>
<script nonce="{nonce}">
  const s = document.createElement("script"); s.src = "/dynamic.js"; document.body.appendChild(s);
</script>
<script src="/static.js"></script>
</body></html>
"""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Site:
    """The test site: a page under the strict preset, two scripts, and a report receiver."""

    def __init__(self) -> None:
        self.reports: list[CSPReport] = []
        self.nonces: list[str] = []
        receiver = WSGIReportReceiver(self._collect)
        page = CSPWSGIMiddleware(self._page, strict(report_uri="/csp-report"))
        self._routes = {"/csp-report": receiver}
        self._default = page

    def _collect(self, reports: Sequence[CSPReport], /) -> None:
        self.reports.extend(reports)

    def _page(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if path.endswith(".js"):
            name = path.removeprefix("/").removesuffix(".js")
            start_response("200 OK", [("Content-Type", "text/javascript")])
            return [f"window.{name}Ran = true;".encode()]
        if path != "/":
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        nonce = environ[NONCE_ENVIRON_KEY]
        self.nonces.append(nonce)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [PAGE.format(nonce=nonce).encode()]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self._routes.get(environ["PATH_INFO"], self._default)
        return app(environ, start_response)


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    app = Site()
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def browser(unavailable: Any, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        unavailable(
            f"{' and '.join(missing)} not installed: apt-get install -y chromium chromium-driver",
        )
    options = Options()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _state(driver: webdriver.Chrome) -> dict[str, Any]:
    result = driver.execute_script(
        "return JSON.stringify({nonced: !!window.noncedRan, unnonced: !!window.unnoncedRan,"
        " dynamic: !!window.dynamicRan, static: !!window.staticRan, violations: window.violations || []});"
    )
    assert isinstance(result, str)
    state: dict[str, Any] = json.loads(result)
    return state


def test_chromium_enforces_the_strict_preset(site: tuple[Site, str], browser: webdriver.Chrome) -> None:
    app, url = site
    browser.get(url + "/")
    WebDriverWait(browser, 20).until(lambda d: _state(d)["dynamic"] and len(_state(d)["violations"]) >= 2)
    state = _state(browser)
    assert state["nonced"], "the script carrying the request's nonce must run"
    assert not state["unnonced"], "an inline script without the nonce must be blocked"
    assert state["dynamic"], "'strict-dynamic' lets a nonced script load another"
    assert not state["static"], "a parser-inserted script without the nonce must be blocked"
    blocked = {(v["directive"], v["blocked"]) for v in state["violations"]}
    assert ("script-src-elem", "inline") in blocked
    assert ("script-src-elem", url + "/static.js") in blocked
    assert all(v["disposition"] == "enforce" for v in state["violations"])

    # The browser also reports the violations to report-uri, where WSGIReportReceiver reads them.
    deadline = time.monotonic() + 20
    while len(app.reports) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {r.blocked_uri for r in app.reports} >= {"inline", url + "/static.js"}
    assert all(r.effective_directive == "script-src-elem" for r in app.reports)
    assert all(f"'nonce-{app.nonces[0]}'" in r.original_policy for r in app.reports)


def test_each_page_load_gets_a_new_nonce(site: tuple[Site, str], browser: webdriver.Chrome) -> None:
    app, url = site
    for _ in range(3):
        browser.get(url + "/")
        WebDriverWait(browser, 20).until(lambda d: _state(d)["nonced"])
    assert len(set(app.nonces)) == 3
