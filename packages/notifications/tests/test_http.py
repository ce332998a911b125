"""SMS (Twilio-style form POST) and the generic webhook channel, against a local HTTP server."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import httpx
import pytest

from buttress.notifications import (
    DeliveryWorker,
    Message,
    Notification,
    NotificationsConfigurationError,
    NotificationStatus,
    Notifier,
    PermanentDeliveryError,
    Recipient,
    Rendered,
    RetryPolicy,
    Sms,
    SmsChannel,
    Template,
    TemplateRegistry,
    TransientDeliveryError,
    TwilioSmsProvider,
    WebhookChannel,
)
from buttress.testing import FakeClock, free_port

from .conftest import HttpRequest, HttpServer
from .test_templates import Order


def twilio_route(statuses: list[int]):  # type: ignore[no-untyped-def]
    async def respond(request: HttpRequest) -> tuple[int, bytes]:
        status = statuses.pop(0) if statuses else 201
        return status, json.dumps({"sid": f"SM{len(statuses)}"}).encode()

    return respond


async def test_sms_is_a_form_post_with_basic_auth(http_server: HttpServer) -> None:
    http_server.routes["/2010-04-01/Accounts/AC123/Messages.json"] = twilio_route([])
    async with TwilioSmsProvider(
        "AC123", "token", sender="+15550000000", base_url=f"{http_server.base}/2010-04-01"
    ) as provider:
        sms = SmsChannel(provider)
        (result,) = await sms.deliver(
            sms.prepare(Message("n1", "u1", "+15551234567", Rendered("s", "Your code is 42")))
        )
        assert await provider.send(Sms("+15557654321", "hi")) == "SM0"
    assert result.ok
    request = http_server.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": ["+15551234567"],
        "From": ["+15550000000"],
        "Body": ["Your code is 42"],
    }
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:token").decode()


async def test_sms_errors_are_classified(http_server: HttpServer) -> None:
    http_server.routes["/Accounts/AC1/Messages.json"] = twilio_route([500, 429, 400])
    async with TwilioSmsProvider("AC1", "t", sender="+1", base_url=http_server.base) as provider:
        for expected in (TransientDeliveryError, TransientDeliveryError, PermanentDeliveryError):
            with pytest.raises(expected):
                await provider.send(Sms("+15551234567", "x"))
    async with TwilioSmsProvider("AC1", "t", sender="+1", base_url=f"http://127.0.0.1:{free_port()}") as down:
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await down.send(Sms("+15551234567", "x"))


async def test_sms_retried_by_the_worker(http_server: HttpServer, fake_clock: FakeClock) -> None:
    http_server.routes["/Accounts/AC1/Messages.json"] = twilio_route([503])
    templates = TemplateRegistry()
    templates.register(Template("order", Order, subject="s", text="Order {{ number }} for {{ name }}"))
    async with TwilioSmsProvider("AC1", "t", sender="+1", base_url=http_server.base) as provider:
        notifier = Notifier(templates=templates, channels=[SmsChannel(provider)], clock=fake_clock)
        (job,) = await notifier.send(
            Notification(
                Recipient("u", {"sms": "+15551234567"}), "orders", "order", Order(number=3, name="Bo")
            )
        )
        worker = DeliveryWorker(notifier, retry=RetryPolicy((30,), jitter=0))
        await worker.drain()
        fake_clock.advance(30)
        await worker.drain()
    (stored,) = await notifier.outbox.jobs(job.notification_id)
    assert (stored.status, stored.attempts) == (NotificationStatus.SENT, 2)
    assert len(http_server.requests) == 2


async def test_webhook_channel_posts_json(http_server: HttpServer) -> None:
    async def ok(request: HttpRequest) -> tuple[int, bytes]:
        return 200, b"{}"

    http_server.routes["/hook"] = ok
    async with WebhookChannel(headers={"X-Api-Key": "k"}) as hook:
        msg = Message("n1", "u1", f"{http_server.base}/hook", Rendered("Subj", "Text", "<p>H</p>"))
        (result,) = await hook.deliver(hook.prepare(msg))
    assert result.ok
    request = http_server.requests[0]
    assert request.headers["x-api-key"] == "k"
    assert json.loads(request.body) == {
        "id": "n1",
        "recipient": "u1",
        "subject": "Subj",
        "text": "Text",
        "html": "<p>H</p>",
    }


async def test_webhook_channel_custom_body_and_failures(http_server: HttpServer) -> None:
    async def fail(request: HttpRequest) -> tuple[int, bytes]:
        return 502, b""

    http_server.routes["/chat"] = fail
    client = httpx.AsyncClient()
    try:
        hook = WebhookChannel(body=lambda m: {"text": f"*{m.content.subject}*"}, client=client, name="chat")
        (result,) = await hook.deliver(
            hook.prepare(Message("n", "u", f"{http_server.base}/chat", Rendered("S", "T")))
        )
        assert isinstance(result.error, TransientDeliveryError)
        assert result.error.code == 502
        (missing,) = await hook.deliver(
            hook.prepare(Message("n", "u", f"{http_server.base}/none", Rendered("S", "T")))
        )
        assert isinstance(missing.error, PermanentDeliveryError)
        await hook.aclose()
        assert not client.is_closed, "a given client is the caller's to close"
    finally:
        await client.aclose()
    assert json.loads(http_server.requests[0].body) == {"text": "*S*"}


def test_bad_input() -> None:
    with pytest.raises(NotificationsConfigurationError, match=r"E\.164"):
        Sms("5551234", "x")
    with pytest.raises(NotificationsConfigurationError, match="body"):
        Sms("+15551234567", "")
    with pytest.raises(NotificationsConfigurationError, match="account_sid"):
        TwilioSmsProvider("", "t", sender="+1")
    hook = WebhookChannel()
    with pytest.raises(NotificationsConfigurationError, match="address"):
        hook.prepare(Message("n", "u", "mailto:x@y.z", Rendered("s", "t")))
