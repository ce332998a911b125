"""Static checks of buttress.webhooks' synchronous face (WSGI); run by mypy only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_type

from flask import request
from werkzeug.datastructures import Headers as WerkzeugHeaders

from buttress.core import StartResponse, WSGIApp, WSGIEnviron
from buttress.webhooks import (
    ReplayClaim,
    SyncMemoryReplayGuard,
    SyncReplayGuard,
    SyncWebhookReceiver,
    VerifiedWebhook,
    WebhookAnswer,
    WebhookEndpoint,
    WebhookVerifier,
    WSGIWebhookEndpoint,
)


def handle(webhook: VerifiedWebhook) -> int | None:
    return None


def sync_face(secret: str, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
    guard: SyncReplayGuard = SyncMemoryReplayGuard(max_entries=1000)
    assert_type(guard.claim("msg_1", 60.0), ReplayClaim)
    receiver = SyncWebhookReceiver(WebhookVerifier(secret), replay_guard=guard, lease=30.0)
    assert_type(receiver.receive({"webhook-id": "msg_1"}, b"{}"), VerifiedWebhook)
    with receiver.accept(request.headers, request.get_data()) as webhook:
        assert_type(webhook, VerifiedWebhook)
    assert_type(receiver.settle(webhook, handled=True), bool)
    endpoint = WSGIWebhookEndpoint(handle, receiver, max_body_size=65536)
    app: WSGIApp = endpoint
    answer = endpoint.answer(WerkzeugHeaders({"webhook-id": "msg_1"}), b"{}")
    assert_type(answer, WebhookAnswer)
    assert_type(answer.status, int)
    assert_type(answer.headers, tuple[tuple[str, str], ...])
    return app(environ, start_response)


async def async_answer(endpoint: WebhookEndpoint) -> None:
    assert_type(await endpoint.answer({"webhook-id": "msg_1"}, b"{}"), WebhookAnswer)
