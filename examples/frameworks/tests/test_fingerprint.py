"""buttress-fingerprint in every example: the request's fingerprint reaches the view."""

from __future__ import annotations

import re

import httpx
import pytest
from httpx_ws import WebSocketSession, connect_ws

from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, WEBSOCKETS, Target

FIREFOX = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "accept-language": "nl-NL,nl;q=0.9,en;q=0.5",
    "accept": "text/html,application/xhtml+xml,*/*;q=0.8",
}
CURL = {"user-agent": "curl/8.11.1", "accept": "*/*"}


def fingerprint(base: str, headers: dict[str, str]) -> str:
    page = httpx.get(f"{base}/", headers=headers, timeout=30)
    assert page.status_code == 200
    (digest,) = re.findall(r'<p id="fingerprint">([0-9a-f]{64})</p>', page.text)
    return str(digest)


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_the_same_browser_has_the_same_fingerprint(target: Target, servers: Servers) -> None:
    base = servers(target)
    first = fingerprint(base, FIREFOX)
    assert fingerprint(base, {**FIREFOX, "cookie": "session=42"}) != first  # cookie names count
    assert fingerprint(base, FIREFOX) == first
    assert fingerprint(base, CURL) != first


@pytest.mark.parametrize("target", WEBSOCKETS, ids=str)
def test_a_websocket_passes_every_middleware_with_its_fingerprint(target: Target, servers: Servers) -> None:
    base = servers(target)
    socket: WebSocketSession
    with httpx.Client(timeout=30) as client, connect_ws(f"{base}/ws", client) as socket:
        socket.send_text("hello")
        answer: str = socket.receive_text()
    assert re.fullmatch(r"hello \(0\.\d\d\)", answer)
