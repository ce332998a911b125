"""Every header parser and verifier under hostile headers: typed errors and 4xx, never 500 (issue 17)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from buttress.testing import FakeClock
from buttress.webhooks import (
    GitHubVerifier,
    HmacKey,
    MalformedHeaderError,
    MemoryReplayGuard,
    MissingHeaderError,
    StripeVerifier,
    TimestampOutsideToleranceError,
    VerifiedWebhook,
    Verifier,
    WebhookEndpoint,
    WebhookReceiver,
    WebhooksConfigurationError,
    WebhookSigner,
    WebhookVerificationError,
    WebhookVerifier,
    generate_signing_keypair,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published test secret
STRIPE_SECRET = "whsec_stripe_test"  # noqa: S105 - a test secret
BODY = b'{"type": "invoice.paid"}'
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# The last second a datetime holds; one more is the year 10000.
LAST_SECOND = 253_402_300_799
_PRIVATE, _PUBLIC = generate_signing_keypair()


def standard_headers(timestamp: str, signature: str | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    if signature is None:  # signed over the header's exact text, leading zeros and all
        signature = HmacKey(SECRET).signature(f"{msg_id}.{timestamp}.".encode() + BODY)
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def stripe_signature(timestamp: str, body: bytes = BODY) -> str:
    digest = hmac.new(STRIPE_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- Regressions: a 12-digit timestamp raised ValueError from datetime, and the endpoint answered 500.


@pytest.mark.parametrize("tolerance", [300.0, None])
@pytest.mark.parametrize("stamp", ["999999999999", "253402300800", "000999999999999"])
def test_issue_17_a_timestamp_past_the_year_9999_is_malformed_for_standard_webhooks(
    stamp: str, tolerance: float | None
) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": stamp, "webhook-signature": "v1,AAAA"}
    with pytest.raises(MalformedHeaderError) as caught:
        WebhookVerifier(SECRET, tolerance=tolerance, clock=FakeClock(NOW)).verify(headers, BODY)
    assert caught.value.header == "webhook-timestamp"


@pytest.mark.parametrize("tolerance", [300.0, None])
@pytest.mark.parametrize("stamp", ["999999999999", "253402300800"])
def test_issue_17_a_timestamp_past_the_year_9999_is_malformed_for_stripe(
    stamp: str, tolerance: float | None
) -> None:
    verifier = StripeVerifier(STRIPE_SECRET, tolerance=tolerance, clock=FakeClock(NOW))
    with pytest.raises(MalformedHeaderError):
        verifier.verify({"stripe-signature": stripe_signature(stamp)}, BODY)


@pytest.mark.parametrize(
    "verifier",
    [
        WebhookVerifier(SECRET, clock=FakeClock(NOW)),
        StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW)),
    ],
)
async def test_issue_17_the_endpoint_answers_400_not_500_to_a_12_digit_timestamp(verifier: Verifier) -> None:
    seen: list[VerifiedWebhook] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        seen.append(webhook)

    app = WebhookEndpoint(handler, WebhookReceiver(verifier, replay_guard=MemoryReplayGuard()))
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "999999999999",
        "webhook-signature": "v1,AAAA",
        "stripe-signature": stripe_signature("999999999999"),
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/hook", headers=headers, content=BODY)
    assert response.status_code == 400
    assert seen == []


def test_the_last_second_of_9999_still_verifies_when_the_tolerance_is_off() -> None:
    webhook = WebhookVerifier(SECRET, tolerance=None).verify(standard_headers(str(LAST_SECOND)), BODY)
    assert webhook.timestamp == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(TimestampOutsideToleranceError):
        WebhookVerifier(SECRET, clock=FakeClock(NOW)).verify(standard_headers(str(LAST_SECOND)), BODY)


def test_signers_refuse_times_no_verifier_accepts() -> None:
    for bad in (LAST_SECOND + 1, -1, 10**400, datetime(1900, 1, 1, tzinfo=UTC), 1.5, "1"):
        with pytest.raises(WebhooksConfigurationError):
            WebhookSigner(SECRET).sign("msg_1", bad, BODY)  # type: ignore[arg-type]
        with pytest.raises(WebhooksConfigurationError):
            StripeVerifier(STRIPE_SECRET).sign(BODY, bad)  # type: ignore[arg-type]
    assert WebhookSigner(SECRET).headers(BODY, timestamp=LAST_SECOND)["webhook-timestamp"] == str(LAST_SECOND)


# --- Properties: header parsing, for every kind of timestamp, signature list and digest.

timestamps = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.integers(min_value=0, max_value=LAST_SECOND).map(lambda n: str(n).zfill(12)),
    st.integers(max_value=-1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    # ASCII digits, Arabic-Indic and fullwidth digits, signs, separators, NUL.
    st.text(alphabet="0123456789\u0660\u0661\u0665\uff10\uff11 +-.e_\t\x00", max_size=20),
    st.text(max_size=20),
)


def _accepted_timestamp(text: str) -> int | None:
    """What the documented rule says: 1 to 12 ASCII digits, at most the last second of 9999."""
    if 0 < len(text) <= 12 and text.isascii() and text.isdigit() and int(text) <= LAST_SECOND:
        return int(text)
    return None


@given(stamp=timestamps)
@example(stamp="999999999999")
@example(stamp="253402300800")
@example(stamp=str(LAST_SECOND))
@example(stamp="-1")
@example(stamp="1e3")
@example(stamp="١٢٣")
def test_standard_timestamps_verify_exactly_when_the_rule_accepts_them(stamp: str) -> None:
    """Property: a timestamp verifies (tolerance off) iff it is 1-12 ASCII digits up to 9999-12-31;
    otherwise the verifier raises MalformedHeaderError, never ValueError or OverflowError."""
    accepted = _accepted_timestamp(stamp)
    signature = None if accepted is not None else "v1,AAAA"
    verifier = WebhookVerifier(SECRET, tolerance=None)
    if accepted is None:
        with pytest.raises(MissingHeaderError if stamp == "" else MalformedHeaderError):
            verifier.verify(standard_headers(stamp, signature), BODY)
    else:
        webhook = verifier.verify(standard_headers(stamp), BODY)
        assert webhook.timestamp == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=accepted)


@given(stamp=timestamps, tolerance=st.sampled_from([None, 1.0, 300.0, 1e9]))
@example(stamp="999999999999", tolerance=300.0)
def test_stripe_timestamps_only_raise_verification_errors(stamp: str, tolerance: float | None) -> None:
    """Property: a Stripe ``t=`` of any form verifies or raises a WebhookVerificationError subclass;
    one the rule refuses is MalformedHeaderError."""
    verifier = StripeVerifier(STRIPE_SECRET, tolerance=tolerance, clock=FakeClock(NOW))
    header = f"t={stamp},v1=" + "0" * 64
    # The header's items are stripped, so trailing whitespace is not part of the timestamp.
    if _accepted_timestamp(stamp.rstrip()) is None and "," not in stamp and "=" not in stamp:
        with pytest.raises(MalformedHeaderError):
            verifier.verify({"stripe-signature": header}, BODY)
    else:
        with contextlib.suppress(WebhookVerificationError):
            verifier.verify({"stripe-signature": header}, BODY)


signature_entries = st.one_of(
    st.sampled_from(
        ["v1,", "v1a,", ",", "v1", "v2,AAAA", "v1,AAAA", "v1a,AAAA", "v1,@@@@", "v1a,====", "v1,\u00fc"]
    ),
    st.binary(min_size=0, max_size=70).map(lambda raw: "v1," + base64.b64encode(raw).decode()),
    st.binary(min_size=60, max_size=70).map(lambda raw: "v1a," + base64.b64encode(raw).decode()),
    st.text(max_size=30),
)


@given(entries=st.lists(signature_entries, max_size=40), valid_at=st.none() | st.integers(0, 40))
def test_any_list_of_signatures_verifies_or_raises_a_typed_error(
    entries: list[str], valid_at: int | None
) -> None:
    """Property: whatever the signature entries (non-base64, non-ASCII, unknown versions, up to 40), the
    verifier raises a WebhookVerificationError subclass, or verifies when a valid one is among at most 32."""
    good = WebhookSigner([SECRET, _PRIVATE]).sign("msg_1", 1_700_000_000, BODY).split(" ")
    if valid_at is not None:
        entries = [*entries[:valid_at], good[valid_at % 2], *entries[valid_at:]]
    headers = standard_headers("1700000000", " ".join(entries))
    verifier = WebhookVerifier([SECRET, _PUBLIC], tolerance=None)
    passes = valid_at is not None and len(" ".join(entries).split(" ")) <= 32
    try:
        verifier.verify(headers, BODY)
    except WebhookVerificationError:
        assert not passes
    else:
        assert passes


digests = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68),
    st.text(alphabet="0123456789abcdef \u0660\u0661\x00g", min_size=64, max_size=64),
    st.text(max_size=80),
)


@given(digest=digests, prefix=st.sampled_from(["sha256=", "sha1=", "SHA256=", "", "sha256"]))
def test_github_digests_verify_or_raise_a_typed_error(digest: str, prefix: str) -> None:
    """Property: X-Hub-Signature-256 is ``sha256=`` and 64 ASCII hex digits, or MalformedHeaderError."""
    well_formed = (
        prefix == "sha256="
        and len(digest) == 64
        and digest.isascii()
        and all(c in "0123456789abcdefABCDEF" for c in digest)
    )
    try:
        GitHubVerifier("s").verify({"x-hub-signature-256": prefix + digest}, BODY)
    except MissingHeaderError:
        assert not prefix + digest
    except MalformedHeaderError:
        assert not well_formed
    except WebhookVerificationError:
        assert well_formed


@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "stripe-signature",
                "x-hub-signature-256",
            ]
        ),
        st.one_of(
            timestamps,
            st.text(max_size=60),
            st.sampled_from(["v1,AAAA", "t=999999999999,v1=00", "sha256=" + "0" * 64, "msg_\u00e9"]),
        ),
        max_size=5,
    ),
    body=st.binary(max_size=64),
)
async def test_every_verifier_behind_the_endpoint_answers_4xx_to_bad_headers(
    headers: dict[str, str], body: bytes
) -> None:
    """Property: for every scheme, an unauthenticated request gets 400 or 401, never a 5xx."""

    async def handler(webhook: VerifiedWebhook) -> None:
        raise AssertionError("the handler saw an unverified webhook")

    for verifier in (
        WebhookVerifier(SECRET, clock=FakeClock(NOW)),
        StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW)),
        GitHubVerifier("s"),
    ):
        app = WebhookEndpoint(handler, verifier)
        raw = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in headers.items()]
        status = await _post_raw(app, raw, body)
        assert status in {400, 401}


async def _post_raw(app: WebhookEndpoint, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    statuses: list[int] = []
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    scope = {"type": "http", "method": "POST", "path": "/hook", "headers": headers}
    await app(scope, receive, send)  # type: ignore[arg-type]
    (status,) = statuses
    return status


def test_a_huge_body_verifies_or_fails_typed() -> None:
    body = b"x" * (8 * 1024 * 1024)
    headers = WebhookSigner(SECRET).headers(body, msg_id="msg_big")
    assert WebhookVerifier(SECRET).verify(headers, body).id == "msg_big"
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(SECRET).verify(headers, body + b"\xff")


class _BrokenVerifier:
    """A verifier of a user's own whose parser has the bug issue 17 found in ours."""

    replay_window = 600.0

    def verify(self, headers: object, body: bytes | str) -> VerifiedWebhook:
        return VerifiedWebhook("broken", "x", datetime.fromtimestamp(999999999999, UTC), b"", "x")


async def test_a_custom_verifier_that_raises_an_untyped_error_is_refused_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(webhook: VerifiedWebhook) -> None:
        raise AssertionError("the handler saw an unverified webhook")

    receiver = WebhookReceiver(_BrokenVerifier())
    with pytest.raises(WebhookVerificationError) as caught:
        receiver.verify({}, b"")
    assert isinstance(caught.value.__cause__, ValueError)
    status = await _post_raw(WebhookEndpoint(handler, receiver), [], b"")
    assert status == 401
    assert "_BrokenVerifier.verify raised ValueError" in caplog.text
