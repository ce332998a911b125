"""Web Push to a local HTTP endpoint: decrypt with http_ece, verify the VAPID JWT, 404/410 unsubscribe."""

from __future__ import annotations

import json
import time
from typing import Any

import asyncpg
import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from buttress.notifications import (
    DeliveryWorker,
    MemoryPushSubscriptionStore,
    Message,
    Notification,
    NotificationsConfigurationError,
    NotificationStatus,
    NotificationsTypeError,
    Notifier,
    PermanentDeliveryError,
    PostgresPushSubscriptionStore,
    PushSubscription,
    Recipient,
    Rendered,
    SubscriptionGoneError,
    Template,
    TemplateRegistry,
    TransientDeliveryError,
    VapidKey,
    WebPushChannel,
)
from buttress.notifications._webpush import b64url, unb64url
from buttress.testing import FakeClock

from .conftest import HttpRequest, HttpServer
from .test_templates import Order


class Browser:
    """What a browser keeps for one subscription: its P-256 key pair and the 16-byte auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = b"\x00" * 8 + time.time_ns().to_bytes(8, "big")
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = PushSubscription(endpoint, b64url(public), b64url(self.auth))

    def decrypt(self, body: bytes) -> bytes:
        return bytes(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


def verify_vapid(header: str, audience: str) -> dict[str, object]:
    """Check ``vapid t=<jwt>, k=<key>`` the way a push service does; return the claims."""
    scheme, rest = header.split(" ", 1)
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    token, key = fields["t"], fields["k"]
    head, body, signature = token.split(".")
    assert json.loads(unb64url(head)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, object] = json.loads(unb64url(body))
    assert claims["aud"] == audience
    return claims


def status_route(status: int):  # type: ignore[no-untyped-def]
    async def respond(request: HttpRequest) -> tuple[int, bytes]:
        return status, b""

    return respond


async def test_push_is_encrypted_for_the_browser_and_signed_with_vapid(http_server: HttpServer) -> None:
    vapid = VapidKey.generate(subject="mailto:ops@example.com")
    store = MemoryPushSubscriptionStore()
    http_server.routes["/push/a"] = status_route(201)
    http_server.routes["/push/b"] = status_route(201)
    browsers = [Browser(f"{http_server.base}/push/a"), Browser(f"{http_server.base}/push/b")]
    for browser in browsers:
        await store.add("alice", browser.subscription)
    async with WebPushChannel(vapid, store) as push:
        payload = push.prepare(Message("n1", "alice", "alice", Rendered("Hello", "Your order shipped ✓")))
        results = await push.deliver(payload)
    assert [r.ok for r in results] == [True, True]
    for request, browser in zip(http_server.requests, browsers, strict=True):
        assert request.headers["content-encoding"] == "aes128gcm"
        assert request.headers["ttl"] == "86400"
        claims = verify_vapid(request.headers["authorization"], http_server.base)
        assert claims["sub"] == "mailto:ops@example.com"
        assert int(str(claims["exp"])) - time.time() <= 24 * 3600
        assert request.headers["authorization"].endswith(vapid.application_server_key)
        assert json.loads(browser.decrypt(request.body)) == {
            "id": "n1",
            "title": "Hello",
            "body": "Your order shipped ✓",
        }
    assert http_server.requests[0].body != http_server.requests[1].body


async def test_a_forged_vapid_signature_is_detected(http_server: HttpServer) -> None:
    header = VapidKey.generate(subject="mailto:a@b.c").authorization(f"{http_server.base}/x")
    other = VapidKey.generate(subject="mailto:a@b.c").application_server_key
    forged = header.rsplit("k=", 1)[0] + "k=" + other
    with pytest.raises(InvalidSignature):
        verify_vapid(forged, http_server.base)


@pytest.mark.parametrize("status", [404, 410])
async def test_a_gone_subscription_is_removed(http_server: HttpServer, status: int) -> None:
    store = MemoryPushSubscriptionStore()
    http_server.routes["/gone"] = status_route(status)
    http_server.routes["/live"] = status_route(201)
    gone, live = Browser(f"{http_server.base}/gone"), Browser(f"{http_server.base}/live")
    await store.add("alice", gone.subscription)
    await store.add("alice", live.subscription)
    async with WebPushChannel(VapidKey.generate(subject="mailto:a@b.c"), store) as push:
        results = await push.deliver(push.prepare(Message("n", "alice", "alice", Rendered("s", "t"))))
    errors = {r.address: r.error for r in results}
    assert isinstance(errors[gone.subscription.endpoint], SubscriptionGoneError)
    assert errors[live.subscription.endpoint] is None
    assert await store.subscriptions("alice") == [live.subscription]


async def test_status_codes_map_to_transient_and_permanent(http_server: HttpServer) -> None:
    store = MemoryPushSubscriptionStore()
    for path, status in {"/busy": 429, "/bad": 400, "/down": 503}.items():
        http_server.routes[path] = status_route(status)
        await store.add(path, Browser(f"{http_server.base}{path}").subscription)
    async with WebPushChannel(VapidKey.generate(subject="mailto:a@b.c"), store) as push:
        kinds = {}
        for path in ("/busy", "/bad", "/down"):
            (r,) = await push.deliver(push.prepare(Message("n", path, path, Rendered("s", "t"))))
            kinds[path] = type(r.error)
        with pytest.raises(PermanentDeliveryError, match="no push subscriptions"):
            await push.deliver(push.prepare(Message("n", "nobody", "nobody", Rendered("s", "t"))))
    assert kinds == {
        "/busy": TransientDeliveryError,
        "/bad": PermanentDeliveryError,
        "/down": TransientDeliveryError,
    }


async def test_through_the_worker_a_410_fails_over_to_email(
    http_server: HttpServer, fake_clock: FakeClock
) -> None:
    from .conftest import ScriptedChannel  # noqa: PLC0415

    store = MemoryPushSubscriptionStore()
    http_server.routes["/gone"] = status_route(410)
    await store.add("alice", Browser(f"{http_server.base}/gone").subscription)
    templates = TemplateRegistry()
    templates.register(Template("order", Order, subject="Order {{ number }}", text="for {{ name }}"))
    email = ScriptedChannel("email")
    async with WebPushChannel(VapidKey.generate(subject="mailto:a@b.c"), store) as push:
        notifier = Notifier(
            templates=templates, channels=[push, email], failover={"push": "email"}, clock=fake_clock
        )
        recipient = Recipient("alice", {"push": "alice", "email": "alice@example.com"})
        (job,) = await notifier.send(
            Notification(recipient, "orders", "order", Order(number=1, name="A")), channels=["push"]
        )
        await DeliveryWorker(notifier).drain()
    statuses = {j.channel: j.status for j in await notifier.outbox.jobs(job.notification_id)}
    assert statuses == {"push": NotificationStatus.FAILED, "email": NotificationStatus.SENT}
    assert await store.subscriptions("alice") == []


def test_bad_subscriptions_and_keys() -> None:
    good = Browser("https://push.example.com/x").subscription
    with pytest.raises(NotificationsConfigurationError, match="endpoint"):
        PushSubscription("ftp://x", good.p256dh, good.auth)
    with pytest.raises(NotificationsConfigurationError, match="p256dh"):
        PushSubscription("https://x", "not-a-key", good.auth)
    with pytest.raises(NotificationsConfigurationError, match="auth"):
        PushSubscription("https://x", good.p256dh, b64url(b"short"))
    assert (
        PushSubscription.from_json(
            {"endpoint": good.endpoint, "keys": {"p256dh": good.p256dh, "auth": good.auth}}
        )
        == good
    )
    with pytest.raises(NotificationsConfigurationError, match="subscription"):
        PushSubscription.from_json({"endpoint": "https://x"})
    with pytest.raises(NotificationsConfigurationError, match="subject"):
        VapidKey.generate(subject="ops@example.com")
    with pytest.raises(NotificationsConfigurationError, match="private_key"):
        VapidKey(ec.generate_private_key(ec.SECP384R1()), subject="mailto:a@b.c")
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert len(unb64url(VapidKey.from_pem(pem, subject="mailto:a@b.c").application_server_key)) == 65


def test_a_long_body_is_cut_to_fit_one_record() -> None:
    push = WebPushChannel(VapidKey.generate(subject="mailto:a@b.c"), MemoryPushSubscriptionStore())
    payload = push.prepare(Message("n", "u", "u", Rendered("title", "é" * 5000)))
    assert len(payload.data) <= 3993
    assert json.loads(payload.data)["title"] == "title"


@pytest.mark.postgres
async def test_postgres_subscription_store_and_410(
    http_server: HttpServer, postgres_pool: asyncpg.Pool[Any], postgres_table: str
) -> None:
    store = PostgresPushSubscriptionStore(postgres_pool, table=postgres_table)
    await store.create_schema()
    http_server.routes["/gone"] = status_route(410)
    http_server.routes["/live"] = status_route(201)
    gone, live = Browser(f"{http_server.base}/gone"), Browser(f"{http_server.base}/live")
    await store.add("alice", gone.subscription)
    await store.add("bob", live.subscription)
    await store.add("alice", live.subscription)  # the browser now belongs to alice
    assert await store.subscriptions("bob") == []
    assert {s.endpoint for s in await store.subscriptions("alice")} == {
        gone.subscription.endpoint,
        live.subscription.endpoint,
    }
    async with WebPushChannel(VapidKey.generate(subject="mailto:a@b.c"), store) as push:
        results = await push.deliver(push.prepare(Message("n", "alice", "alice", Rendered("s", "t"))))
    assert sorted(r.ok for r in results) == [False, True]
    assert await store.subscriptions("alice") == [live.subscription]
    assert await store.remove(gone.subscription.endpoint) is False
    with pytest.raises(NotificationsTypeError, match="subscription"):
        await store.add("alice", {"endpoint": "x"})  # type: ignore[arg-type]
