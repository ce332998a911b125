"""AppriseChannel: Apprise's mailto:// plugin, run in a thread, against a local aiosmtpd."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
from aiosmtpd.smtp import Envelope, Session

from buttress.notifications import (
    AppriseChannel,
    AppriseMessage,
    InvalidAddressError,
    Message,
    PermanentDeliveryError,
    Rendered,
    TransientDeliveryError,
)
from buttress.testing import free_port

# Apprise's email plugin imports the stdlib's deprecated imghdr on Python 3.12.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


class Plain:
    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = (envelope.original_content or b"").decode(errors="replace")
        with self.lock:
            self.subjects += [line[9:] for line in content.splitlines() if line.startswith("Subject: ")]
        return "250 OK"


@pytest.fixture
def plain_smtp() -> Iterator[tuple[Plain, int]]:
    handler = Plain()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_mailto_through_apprise(plain_smtp: tuple[Plain, int]) -> None:
    handler, port = plain_smtp
    url = f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&from=n@example.com&to=a@example.com&mode=insecure"
    channel = AppriseChannel(throttle=False)
    for i in range(3):
        (result,) = await channel.deliver(
            channel.prepare(Message("n", "u", url, Rendered(f"Hello {i}", "body")))
        )
        assert result.ok
    assert handler.subjects == ["Hello 0", "Hello 1", "Hello 2"]


async def test_invalid_url_and_unreachable_service() -> None:
    channel = AppriseChannel(throttle=False)
    with pytest.raises(InvalidAddressError, match="Apprise URL"):
        channel.prepare(Message("n", "u", "nonsense://", Rendered("s", "t")))
    (bad,) = await channel.deliver(AppriseMessage("nonsense://", "s", "t"))
    assert isinstance(bad.error, PermanentDeliveryError)
    down = f"json://127.0.0.1:{free_port()}/hook"
    (failed,) = await channel.deliver(channel.prepare(Message("n", "u", down, Rendered("s", "t"))))
    assert isinstance(failed.error, TransientDeliveryError)


@pytest.mark.parametrize(
    "url",
    [
        "json://a.example/hook json://b.example/hook",  # Apprise reads two services from one string
        "json://a.example/hook,json://b.example/hook",
        "mailto://a.example?to=x@example.com\r\nBcc: y@example.com",
        "not a url",
        "",
    ],
)
def test_an_address_must_be_exactly_one_apprise_url(url: str) -> None:
    with pytest.raises(InvalidAddressError):
        AppriseChannel().prepare(Message("n", "u", url, Rendered("s", "t")))


def test_throttle_false_turns_off_apprises_pause() -> None:
    from buttress.notifications._apprise import _target  # noqa: PLC0415 - the private helper under test

    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"  # Apprise paces Slack at 1.2 s
    (kept,) = _target(slack) or ()
    (off,) = _target(slack, throttle=False) or ()
    assert kept.request_rate_per_sec > 0
    assert off.request_rate_per_sec == 0
