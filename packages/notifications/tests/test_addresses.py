"""Recipients are checked at send(), per channel, before anything is stored: one address, strict syntax."""

from __future__ import annotations

import re
import unicodedata
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from buttress.notifications import (
    DeliveryWorker,
    InvalidAddressError,
    MemoryOutbox,
    MemoryPushSubscriptionStore,
    Message,
    NotificationsConfigurationError,
    Notifier,
    PushSubscription,
    Recipient,
    Rendered,
    Sms,
    SmsChannel,
    SmtpChannel,
    VapidKey,
    WebhookChannel,
    WebhookPost,
    WebPushChannel,
)
from buttress.notifications._address import check_email, unsafe_text

from .conftest import PASSWORD, USER, MailServer, ScriptedChannel
from .test_delivery import note, registry
from .test_webpush import Browser

_BROWSER = Browser("https://push.example/sub/1").subscription
P256DH, AUTH = _BROWSER.p256dh, _BROWSER.auth


class NoProvider:
    async def send(self, sms: Sms) -> str:
        return "SM1"


def channels() -> list[Any]:
    push = WebPushChannel(VapidKey.generate(subject="mailto:ops@example.com"), MemoryPushSubscriptionStore())
    return [
        SmtpChannel("127.0.0.1", 25, sender="notify@example.com"),
        SmsChannel(NoProvider()),
        WebhookChannel(),
        push,
    ]


@pytest.mark.parametrize(
    ("channel", "address", "reason"),
    [
        # The reported three: a list, a display name, and header injection.
        ("email", "u@example.com, evil@attacker.test", "one bare address"),
        ("email", "Ann <evil@attacker.test>", "one bare address"),
        ("email", "u@example.com>\r\nBcc: evil@attacker.test", "control character"),
        ("email", "u@example.com\x00", "control character"),
        ("email", '"evil@attacker.test"@example.com', "one bare address"),  # a quoted local part
        ("email", "u@[127.0.0.1]", "one bare address"),  # an address literal
        # An encoded-word that Python's own parser decodes into evil@attacker.test:
        ("email", "=?utf-8?b?ZXZpbEBhdHRhY2tlci50ZXN0?=@example.com", "encoded-word"),
        ("email", "=?utf-8?q?evil?=@example.com", "encoded-word"),
        ("email", "u@127.0.0.1", "end in a number"),
        ("email", "u(comment)@example.com", "one bare address"),
        ("email", "u@example.com;evil@attacker.test", "one bare address"),
        ("email", "u..v@example.com", "local part"),
        ("email", ".u@example.com", "local part"),
        ("email", "u@-example.com", "labels"),
        ("email", "u@example..com", "labels"),
        ("email", "u@bücher.example", "A-label"),  # Unicode domains: give the A-label
        ("email", "ü@example.com", "ASCII"),
        ("email", "u@xn--zz.example", "does not decode"),
        ("email", "x" * 65 + "@example.com", "local part"),
        ("email", "u@" + "a" * 250 + ".com", "1-254 characters"),
        ("email", "nobody", "one bare address"),
        ("sms", "+1 555 123 4567", "E.164"),
        ("sms", "+15551234567, +15557654321", "E.164"),
        ("sms", "+\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", "E.164"),  # Arabic-Indic digits
        ("sms", "+01234567", "E.164"),
        ("sms", "15551234567", "E.164"),
        ("webhook", "ftp://hooks.example/x", "http(s)"),
        ("webhook", "https://user:secret@hooks.example/x", "credentials"),
        ("webhook", "https:///path-only", "http(s) URL with a host"),
        ("webhook", "https://hooks.example/a b", "without spaces"),
        ("webhook", "https://hooks.example:99999/", "not a valid URL"),
        ("webhook", "javascript:alert(1)", "http(s)"),
        ("push", "x" * 201, "1-200"),
    ],
)
async def test_a_bad_address_is_refused_at_send_and_nothing_is_stored(
    channel: str, address: str, reason: str
) -> None:
    outbox = MemoryOutbox()
    notifier = Notifier(templates=registry(), channels=channels(), outbox=outbox)
    with pytest.raises(InvalidAddressError, match=re.escape(reason)) as info:
        await notifier.send(note(Recipient("alice", {channel: address})))
    assert outbox.snapshot() == []
    assert address not in str(info.value), "the address is personal data: never in the message"
    assert info.value.value == address


async def test_control_characters_are_refused_when_the_recipient_is_made() -> None:
    for address in ("a@example.com\r\n", "a@example.com\nBcc: b@example.com", "+15551234567\x00", "\x85"):
        with pytest.raises(InvalidAddressError, match="control character") as info:
            Recipient("alice", {"email": address})
        assert info.value.channel == "email"
    with pytest.raises(InvalidAddressError, match="lone surrogate"):
        Recipient("alice", {"email": "a\udcff@example.com"})
    with pytest.raises(InvalidAddressError, match="string"):
        Recipient("alice", {"email": ["a@example.com"]})  # type: ignore[dict-item]


async def test_a_bad_failover_address_is_refused_too() -> None:
    outbox = MemoryOutbox()
    notifier = Notifier(templates=registry(), channels=channels(), outbox=outbox, failover={"push": "email"})
    recipient = Recipient("alice", {"push": "alice", "email": "Alice <a@example.com>"})
    with pytest.raises(InvalidAddressError, match="channel 'email'"):
        await notifier.send(note(recipient), channels=["push"])
    assert outbox.snapshot() == []


async def test_a_third_party_channel_refusing_an_address_is_a_typed_error() -> None:
    class Picky(ScriptedChannel):
        def prepare(self, message: Message) -> Message:
            if not message.address.startswith("ok"):
                raise ValueError("nope")
            return message

    notifier = Notifier(templates=registry(), channels=[Picky("chat")])
    with pytest.raises(InvalidAddressError, match="channel 'chat'"):
        await notifier.send(note(Recipient("alice", {"chat": "bad"})))
    (job,) = await notifier.send(note(Recipient("alice", {"chat": "ok-1"})))
    assert job.address == "ok-1"


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'hara@example.com",
        "!#$%&'*+/?=^_`{|}~-@example.com",  # every atext character ('=?' would open an encoded-word)
        "user@xn--bcher-kva.example",  # bücher.example, as its A-label
        "u@localhost",
        "x" * 64 + "@example.com",
    ],
)
def test_good_email_addresses_pass_unchanged(address: str) -> None:
    assert check_email(address) == address


def test_push_subscriptions_are_strict() -> None:
    good = PushSubscription("https://push.example/sub/1", P256DH, AUTH)
    assert good.endpoint == "https://push.example/sub/1"
    PushSubscription("http://127.0.0.1:8080/sub", P256DH, AUTH)  # a local test server
    for endpoint in (
        "http://push.example/sub",
        "https://u:p@push.example/",
        "wss://push.example/",
        "https://",
    ):
        with pytest.raises(InvalidAddressError):
            PushSubscription(endpoint, P256DH, AUTH)
    for p256dh, auth in (
        (P256DH + "A", AUTH),  # 66 bytes
        (P256DH, AUTH[:-2]),  # 15 bytes
        (P256DH[:40] + "*" + P256DH[41:], AUTH),  # not base64url: refused, not skipped
        (P256DH, AUTH[:10] + "+" + AUTH[11:]),  # base64, not base64url
        ("C" + P256DH[1:], AUTH),  # not an uncompressed point
    ):
        with pytest.raises(NotificationsConfigurationError):
            PushSubscription("https://push.example/sub/1", p256dh, auth)


def test_channel_payloads_check_their_address_too() -> None:
    with pytest.raises(InvalidAddressError):
        Sms(to="+1555123456\uff17", body="hi")  # a fullwidth digit seven
    with pytest.raises(InvalidAddressError):
        WebhookPost(url="https://a.example/hook\r\nX: 1", body={})
    with pytest.raises(NotificationsConfigurationError, match="JSON"):
        WebhookPost(url="https://a.example/hook", body={"x": {1, 2}})
    smtp = SmtpChannel("127.0.0.1", 25, sender="notify@example.com")
    with pytest.raises(InvalidAddressError):
        smtp.prepare(Message("n", "u", "a@example.com, b@example.com", Rendered("s", "t")))


# --- Property: whatever is accepted reaches the SMTP server as exactly that one recipient -------

ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
valid = st.from_regex(
    rf"[{ATEXT}]{{1,12}}(\.[{ATEXT}]{{1,8}}){{0,2}}@([a-z0-9]([a-z0-9-]{{0,8}}[a-z0-9])?\.){{1,3}}[a-z]{{2,6}}",
    fullmatch=True,
)
INJECTIONS = [
    ",", ", ", ";", " ", "<", ">", '"', "(", ")", "\\", ":", "@", "[", "]", "\r\n", "\n", "\r", "\x00",
    "\t", "=?utf-8?q?x?=", "\r\nBcc: evil@attacker.test", ", evil@attacker.test", " <evil@attacker.test>",
    "é", "ß", "\u2028", "\x85", "%0d%0a", ".",
]  # fmt: skip


@st.composite
def hostile_addresses(draw: st.DrawFn) -> str:
    address = draw(valid)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return address
    if kind == 1:  # something spliced in somewhere
        at = draw(st.integers(0, len(address)))
        return address[:at] + draw(st.sampled_from(INJECTIONS)) + address[at:]
    if kind == 2:  # a display name
        return f"{draw(st.text(max_size=8))} <{address}>"
    if kind == 3:  # a list
        return f"{address}{draw(st.sampled_from([',', ', ', ';', ' ']))}{draw(valid)}"
    if kind == 4:  # an RFC 2047 encoded-word as the local part
        word = draw(st.sampled_from(["ZXZpbEBhdHRhY2tlci50ZXN0", "evil", "x_y", "=40"]))
        charset = draw(st.sampled_from(["utf-8", "us-ascii"]))
        return f"=?{charset}?{draw(st.sampled_from('qbQB'))}?{word}?={address}"
    return draw(st.text(max_size=40))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=hostile_addresses())
async def test_property_an_accepted_address_is_exactly_one_envelope_recipient(
    mail_server: MailServer, address: str
) -> None:
    """Property: an accepted address is exactly one envelope recipient, equal to it; no header injection."""
    assume(address != "")  # "" means "no address": the job is suppressed, nothing is sent
    try:
        recipient = Recipient("alice", {"email": address})
    except InvalidAddressError:
        return
    smtp = SmtpChannel(
        "127.0.0.1",
        mail_server.port,
        sender="notify@example.com",
        username=USER,
        password=PASSWORD,
        tls_context=mail_server.client_tls,
    )
    outbox = MemoryOutbox()
    notifier = Notifier(templates=registry(), channels=[smtp], outbox=outbox)
    before = len(mail_server.handler.received)
    try:
        await notifier.send(note(recipient))
    except InvalidAddressError:
        assert outbox.snapshot() == []
        return
    async with smtp:
        assert await DeliveryWorker(notifier).drain() == 1
    (got,) = mail_server.handler.received[before:]
    assert got.recipients == [address]
    to = got.message["To"]
    assert [a.addr_spec for a in to.addresses] == [address]
    expected = {"From", "To", "Subject", "Date", "Message-ID", "X-Notification-Id", "Content-Type",
                "Content-Transfer-Encoding", "MIME-Version"}  # fmt: skip
    assert set(got.message.keys()) <= expected
    assert got.message.get_all("To") == [address]


@given(address=hostile_addresses())
def test_property_accepted_addresses_survive_the_mime_round_trip(address: str) -> None:
    """Property: the To header written for an accepted address parses back to that one address."""
    try:
        check_email(address)
    except InvalidAddressError:
        assume(False)
        raise
    smtp = SmtpChannel("127.0.0.1", 25, sender="notify@example.com")
    email = smtp.prepare(Message("n1", "u1", address, Rendered("s", "t")))
    parsed = message_from_bytes(smtp.mime(email), policy=default_policy)
    assert [a.addr_spec for a in parsed["To"].addresses] == [address]
    assert parsed.get_all("Bcc") is None
    assert parsed.get_all("Cc") is None


def _unsafe_by_definition(value: str) -> str | None:
    if any(unicodedata.category(char) == "Cc" for char in value):
        return "a control character (CR, LF, NUL, ...)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not valid UTF-8)"
    return None


@given(
    st.text(st.characters(codec=None, exclude_categories=()))
    | st.text(st.sampled_from("a\x00\x1f\x7f\x9f\xa0\ud800\udfff\u2028"))
)
def test_property_unsafe_text_is_category_cc_then_surrogates(value: str) -> None:
    """Property: unsafe_text names a control character exactly for Unicode category Cc, else a surrogate."""
    assert unsafe_text(value) == _unsafe_by_definition(value)


def test_unsafe_text_agrees_with_unicodedata_on_every_code_point() -> None:
    for code in range(0x110000):
        char = chr(code)
        assert unsafe_text("x" + char) == _unsafe_by_definition(char), hex(code)
