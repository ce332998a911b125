"""buttress-webhooks in every example: signed deliveries handled once, forged ones refused."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from buttress.webhooks import WebhookSigner
from frameworks.shop import WEBHOOK_SECRET
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_signed_webhook_is_handled_once(target: Target, servers: Servers) -> None:
    base = servers(target)
    body = json.dumps({"type": "invoice.paid", "id": str(uuid.uuid4())}).encode()
    signed = WebhookSigner(WEBHOOK_SECRET).headers(body)
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as client:
        first = client.post("/webhooks", content=body, headers=signed)
        again = client.post("/webhooks", content=body, headers=signed)
        forged = client.post("/webhooks", content=body + b" ", headers=signed)
        unsigned = client.post("/webhooks", content=body)
    assert first.status_code == 204  # handled
    assert again.status_code == 200  # handled already: the sender stops retrying
    assert forged.status_code == 401
    assert unsigned.status_code == 400
