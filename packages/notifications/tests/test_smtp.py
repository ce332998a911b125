"""SmtpChannel against a real aiosmtpd server with STARTTLS and AUTH."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme
from aiosmtpd.controller import Controller

from buttress.notifications import (
    DeliveryWorker,
    Email,
    Message,
    Notification,
    NotificationsConfigurationError,
    NotificationStatus,
    NotificationsTypeError,
    Notifier,
    PermanentDeliveryError,
    Recipient,
    Rendered,
    SmtpChannel,
    Template,
    TemplateRegistry,
    TransientDeliveryError,
)
from buttress.testing import FakeClock, eventually, free_port, open_connections

from .conftest import PASSWORD, USER, MailHandler, MailServer
from .test_templates import Order


def channel(server: MailServer, **options: object) -> SmtpChannel:
    options.setdefault("username", USER)
    options.setdefault("password", PASSWORD)
    options.setdefault("tls_context", server.client_tls)
    return SmtpChannel(
        "127.0.0.1",
        server.port,
        sender="notify@example.com",
        security="starttls",
        **options,  # type: ignore[arg-type]
    )


async def test_envelope_mime_parts_and_headers(mail_server: MailServer) -> None:
    async with channel(mail_server) as smtp:
        email = Email(
            to=("a@example.com", "b@example.com"),
            subject="Your order #7 - shipped",
            text="Plain body",
            html="<p>HTML <b>body</b></p>",
            headers={"List-Unsubscribe": "<mailto:unsub@example.com>"},
        )
        results = await smtp.deliver(email)
    assert [(r.address, r.ok) for r in results] == [("a@example.com", True), ("b@example.com", True)]
    (got,) = mail_server.handler.received
    assert got.sender == "notify@example.com"
    assert got.recipients == ["a@example.com", "b@example.com"]
    msg = got.message
    assert msg["Subject"] == "Your order #7 - shipped"
    assert msg["From"] == "notify@example.com"
    assert msg["List-Unsubscribe"] == "<mailto:unsub@example.com>"
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in msg.iter_parts()}
    assert parts["text/plain"].strip() == "Plain body"
    assert parts["text/html"].strip() == "<p>HTML <b>body</b></p>"


async def test_text_only_is_not_multipart(mail_server: MailServer) -> None:
    async with channel(mail_server) as smtp:
        await smtp.deliver(Email(to=("a@example.com",), subject="s", text="only text"))
    (got,) = mail_server.handler.received
    assert got.message.get_content_type() == "text/plain"


async def test_a_550_for_one_recipient_is_reported_for_that_one(mail_server: MailServer) -> None:
    mail_server.handler.refuse["gone@example.com"] = "550 5.1.1 no such user"
    mail_server.handler.refuse["full@example.com"] = "452 4.2.2 mailbox full"
    async with channel(mail_server) as smtp:
        results = await smtp.deliver(
            Email(to=("a@example.com", "gone@example.com", "full@example.com"), subject="s", text="t")
        )
    by = {r.address: r.error for r in results}
    assert by["a@example.com"] is None
    assert isinstance(by["gone@example.com"], PermanentDeliveryError)
    assert by["gone@example.com"].code == 550
    assert isinstance(by["full@example.com"], TransientDeliveryError)
    (got,) = mail_server.handler.received
    assert got.recipients == ["a@example.com"]


async def test_all_recipients_refused_sends_nothing(mail_server: MailServer) -> None:
    mail_server.handler.refuse["gone@example.com"] = "550 no such user"
    async with channel(mail_server) as smtp:
        (result,) = await smtp.deliver(Email(to=("gone@example.com",), subject="s", text="t"))
        assert isinstance(result.error, PermanentDeliveryError)
        (ok,) = await smtp.deliver(Email(to=("a@example.com",), subject="s", text="t"))
    assert ok.ok
    assert len(mail_server.handler.received) == 1


async def test_a_dropped_connection_mid_batch_loses_nothing_and_sends_nothing_twice(
    mail_server: MailServer,
) -> None:
    mail_server.handler.drop_once = {
        "u4@example.com",
        "u11@example.com",
        "u12@example.com",
        "u29@example.com",
    }
    emails = [Email(to=(f"u{i}@example.com",), subject=f"n{i}", text=f"body {i}") for i in range(30)]
    async with channel(mail_server, pool_size=3) as smtp:
        outcomes = await smtp.deliver_many(emails)
    assert all(isinstance(o, list) and o[0].ok for o in outcomes), outcomes
    assert mail_server.handler.drop_once == set(), "every planned drop happened"
    subjects = sorted(str(r.message["Subject"]) for r in mail_server.handler.received)
    assert subjects == sorted(f"n{i}" for i in range(30))


async def test_connections_are_reused(mail_server: MailServer) -> None:
    async with channel(mail_server, pool_size=2) as smtp:
        for i in range(10):
            await smtp.deliver(Email(to=(f"u{i}@example.com",), subject="s", text="t"))
        await smtp.deliver_many([Email(to=(f"v{i}@example.com",), subject="s", text="t") for i in range(10)])
    assert len(mail_server.handler.received) == 20
    assert mail_server.handler.logins <= 2


async def test_wrong_password_is_permanent(mail_server: MailServer) -> None:
    async with channel(mail_server, password="wrong") as smtp:  # noqa: S106 - a test password
        with pytest.raises(PermanentDeliveryError, match="authentication"):
            await smtp.deliver(Email(to=("a@example.com",), subject="s", text="t"))
    assert mail_server.handler.received == []


async def test_an_untrusted_certificate_is_refused(mail_server: MailServer) -> None:
    async with channel(mail_server, tls_context=ssl.create_default_context()) as smtp:
        with pytest.raises(TransientDeliveryError, match="cannot connect"):
            await smtp.deliver(Email(to=("a@example.com",), subject="s", text="t"))


async def test_a_server_that_is_gone_is_transient() -> None:
    smtp = SmtpChannel("127.0.0.1", free_port(), sender="n@example.com", security="none", timeout=2)
    with pytest.raises(TransientDeliveryError):
        await smtp.deliver(Email(to=("a@example.com",), subject="s", text="t"))


async def test_through_the_notifier_and_worker(mail_server: MailServer, fake_clock: FakeClock) -> None:
    templates = TemplateRegistry()
    templates.register(
        Template(
            "order", Order, subject="Order {{ number }}", text="Hi {{ name }}", html="<p>Hi {{ name }}</p>"
        )
    )
    async with channel(mail_server) as smtp:
        notifier = Notifier(templates=templates, channels=[smtp], clock=fake_clock)
        recipients = [Recipient(f"user{i}", {"email": f"user{i}@example.com"}) for i in range(3)]
        sent = [
            await notifier.send(Notification(r, "orders", "order", Order(number=i, name="<Ann>")))
            for i, r in enumerate(recipients)
        ]
        assert await DeliveryWorker(notifier).drain() == 3
        for (job,) in sent:
            (stored,) = await notifier.outbox.jobs(job.notification_id)
            assert stored.status is NotificationStatus.SENT
    htmls = sorted(
        part.get_content() for r in mail_server.handler.received for part in r.message.iter_parts()
        if part.get_content_type() == "text/html"
    )  # fmt: skip
    assert all("&lt;Ann&gt;" in h for h in htmls)
    assert sorted(mail_server.handler.ids()) == sorted(job.notification_id for (job,) in sent)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(NotificationsConfigurationError, match="security"):
        SmtpChannel("h", 25, sender="a@b.c", security="ssl")  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="pool_size"):
        SmtpChannel("h", 25, sender="a@b.c", pool_size=0)
    with pytest.raises(NotificationsConfigurationError, match="sender"):
        SmtpChannel("h", 25, sender="nobody")
    with pytest.raises(NotificationsConfigurationError, match="username"):
        SmtpChannel("h", 25, sender="a@b.c", username="u")
    with pytest.raises(NotificationsTypeError, match="to"):
        Email(to="a@b.c", subject="s", text="t")  # type: ignore[arg-type]
    with pytest.raises(NotificationsConfigurationError, match="headers"):
        Email(to=("a@b.c",), subject="s", text="t", headers={"X": "a\r\nBcc: evil@x"})
    smtp = SmtpChannel("h", 25, sender="a@b.c")
    email = smtp.prepare(Message("n1", "u1", "a@b.c", Rendered("s", "t")))
    assert email.to == ("a@b.c",)


def test_critical_messages_are_marked_important() -> None:
    smtp = SmtpChannel("h", 25, sender="a@b.c")
    urgent = smtp.prepare(Message("n1", "u1", "a@b.c", Rendered("s", "t"), critical=True))
    assert urgent.headers["Importance"] == "high"
    assert "Importance" not in smtp.prepare(Message("n1", "u1", "a@b.c", Rendered("s", "t"))).headers


async def test_aclose_leaves_no_socket_open(mail_server: MailServer) -> None:
    """A TLS close waits for the server's close_notify; returning before it left the socket to the
    garbage collector (a ResourceWarning in whatever test ran next). Closing after QUIT drops the
    socket, as smtplib does."""
    async with channel(mail_server, pool_size=3) as smtp:
        await smtp.deliver_many([Email(to=(f"u{i}@example.com",), subject="s", text="t") for i in range(6)])
        assert open_connections(mail_server.port) >= 1
    assert open_connections(mail_server.port) == 0


@pytest.mark.parametrize("failure", ["password", "certificate"])
async def test_a_refused_connection_leaves_no_socket_open(mail_server: MailServer, failure: str) -> None:
    options: dict[str, object] = (
        {"password": "wrong"} if failure == "password" else {"tls_context": ssl.create_default_context()}
    )
    smtp = channel(mail_server, **options)
    with pytest.raises((PermanentDeliveryError, TransientDeliveryError)):
        await smtp.deliver(Email(to=("a@example.com",), subject="s", text="t"))
    assert open_connections(mail_server.port) == 0
    await smtp.aclose()


async def test_a_connect_cancelled_after_starttls_leaves_no_socket_open(mail_server: MailServer) -> None:
    mail_server.handler.tls_ehlo_delay = 2.0
    smtp = channel(mail_server)
    sending = asyncio.create_task(smtp.deliver(Email(to=("a@example.com",), subject="s", text="t")))
    await eventually(lambda: mail_server.handler.tls_ehlos == 1, what="the EHLO after STARTTLS")
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert open_connections(mail_server.port) == 0
    await smtp.aclose()


async def test_a_send_cancelled_during_data_leaves_no_socket_open(mail_server: MailServer) -> None:
    mail_server.handler.data_delay = 2.0
    async with channel(mail_server) as smtp:
        sending = asyncio.create_task(smtp.deliver(Email(to=("a@example.com",), subject="s", text="t")))
        await eventually(lambda: mail_server.handler.datas == 1, what="the message is being accepted")
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert open_connections(mail_server.port) == 0, "a cancelled send keeps no connection"
        mail_server.handler.data_delay = 0.0
        (result,) = await smtp.deliver(Email(to=("b@example.com",), subject="s", text="t"))
        assert result.ok


async def test_implicit_tls(ca: trustme.CA) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx)
    controller.start()
    try:
        smtp = SmtpChannel("127.0.0.1", port, sender="n@example.com", security="tls", tls_context=client_ctx)
        async with smtp:
            (result,) = await smtp.deliver(Email(to=("a@example.com",), subject="over TLS", text="t"))
    finally:
        controller.stop()
    assert result.ok
    assert [str(r.message["Subject"]) for r in handler.received] == ["over TLS"]


async def test_a_send_that_ends_after_aclose_keeps_no_connection_open(mail_server: MailServer) -> None:
    """aclose runs once: a connection returned by a send still in flight is quit, not kept idle."""
    quits: list[str] = []

    async def handle_QUIT(server: object, session: object, envelope: object) -> str:  # noqa: N802
        quits.append("QUIT")
        return "221 Bye"

    mail_server.handler.handle_QUIT = handle_QUIT  # type: ignore[attr-defined]
    smtp = channel(mail_server, pool_size=1)
    sending = asyncio.create_task(smtp.deliver(Email(to=("a@example.com",), subject="late", text="t")))
    await asyncio.sleep(0)  # the send has started: it is connecting
    await smtp.aclose()
    (result,) = await sending
    assert result.ok
    assert smtp.closed
    assert quits == ["QUIT"]
