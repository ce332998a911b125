"""buttress-csp in every example: a fresh nonce per request, the same in the header and the page."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target

NONCE_IN_HEADER = re.compile(r"'nonce-([A-Za-z0-9_\-+/=]+)'")
NONCE_IN_PAGE = re.compile(r'<script nonce="([^"]+)">')
REPORT = json.dumps(
    {"csp-report": {"document-uri": "https://shop.example/", "effective-directive": "script-src-elem"}}
).encode()


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_nonce_in_the_header_is_the_one_in_the_page(target: Target, servers: Servers) -> None:
    base = servers(target)
    pages = [httpx.get(f"{base}/", timeout=30) for _ in range(2)]
    nonces = []
    for page in pages:
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        header = page.headers["content-security-policy"]
        assert "'strict-dynamic'" in header
        (in_header,) = NONCE_IN_HEADER.findall(header)
        (in_page,) = NONCE_IN_PAGE.findall(page.text)
        assert in_header == in_page
        nonces.append(in_page)
        assert page.headers["reporting-endpoints"] == 'csp="/csp-reports"'
    assert nonces[0] != nonces[1]


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_violation_report_is_received_at_the_exact_url(target: Target, servers: Servers) -> None:
    base = servers(target)
    headers = {"content-type": "application/csp-report"}
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as client:
        accepted = client.post("/csp-reports", content=REPORT, headers=headers)
        malformed = client.post("/csp-reports", content=b"{", headers=headers)
        unsupported = client.post("/csp-reports", content=REPORT, headers={"content-type": "text/plain"})
    assert (accepted.status_code, malformed.status_code, unsupported.status_code) == (204, 400, 415)
