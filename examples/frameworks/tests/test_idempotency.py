"""buttress-idempotency in every example: a retried POST is answered from the store."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from frameworks.shop import STREAM_BYTES, download, download_digest
from frameworks.tests.conftest import Servers
from frameworks.tests.serving import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_retried_order_is_replayed_not_placed_again(target: Target, servers: Servers) -> None:
    base = servers(target)
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.post("/orders", json={"item": "teapot"}, headers=key)
        retry = client.post("/orders", json={"item": "teapot"}, headers=key)
        other_body = client.post("/orders", json={"item": "kettle"}, headers=key)
        unkeyed = [client.post("/orders", json={"item": "mug"}) for _ in range(2)]
        bad_key = client.post("/orders", json={"item": "mug"}, headers={"Idempotency-Key": '"a b"'})
    assert first.status_code == 201
    assert first.json()["item"] == "teapot"
    assert "idempotent-replayed" not in first.headers
    assert (retry.status_code, retry.content) == (201, first.content)
    assert retry.headers["idempotent-replayed"] == "true"
    # the stored response is replayed whole: its CSP header too, with the nonce it was sent with
    assert retry.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert other_body.status_code == 422
    assert other_body.headers["content-type"] == "application/problem+json"
    assert [r.status_code for r in unkeyed] == [201, 201]
    assert unkeyed[0].json()["order"] != unkeyed[1].json()["order"]
    assert bad_key.status_code == 400


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_a_one_mebibyte_body_streams_through_every_middleware(target: Target, servers: Servers) -> None:
    base = servers(target)
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    # chunked (no Content-Length), except to wsgiref, which cannot read it (the test below)
    body = b"".join(download()) if target.server == "wsgiref" else download()
    with httpx.Client(base_url=base, timeout=60) as client:
        upload = client.post("/upload", content=body, headers=key)  # read whole by the middleware first
        replay = client.post("/upload", content=b"".join(download()), headers=key)
        with client.stream("GET", "/download") as response:
            received = hashlib.sha256()
            size = 0
            for chunk in response.iter_raw():
                received.update(chunk)
                size += len(chunk)
    assert upload.status_code == 200
    assert upload.json() == {"bytes": STREAM_BYTES, "sha256": download_digest()}
    assert replay.headers["idempotent-replayed"] == "true"
    assert response.status_code == 200
    assert (size, received.hexdigest()) == (STREAM_BYTES, download_digest())


@pytest.mark.parametrize("target", [t for t in TARGETS if t.server == "wsgiref"], ids=str)
def test_a_chunked_upload_under_wsgiref_is_refused_with_411(target: Target, servers: Servers) -> None:
    """wsgiref hands a chunked body over undecoded and without a length: the middleware asks for one.

    Servers that decode chunked uploads for WSGI apps (granian) pass them intact (the test above).
    """
    base = servers(target)
    key = {"Idempotency-Key": f'"{uuid.uuid4()}"'}
    response = httpx.post(f"{base}/upload", content=download(), headers=key, timeout=60)
    assert response.status_code == 411
