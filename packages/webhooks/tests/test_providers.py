"""Stripe and GitHub verifiers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.testing import FakeClock
from buttress.webhooks import (
    GitHubVerifier,
    InvalidBodyError,
    InvalidSecretError,
    MalformedHeaderError,
    MissingHeaderError,
    SignatureMismatchError,
    StripeVerifier,
    TimestampOutsideToleranceError,
    Verifier,
    WebhookVerificationError,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
STRIPE_SECRET = "whsec_test_secret"  # noqa: S105 - a test secret
BODY = b'{"id": "evt_1", "object": "event"}'


def stripe_header(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest},v0=deadbeef"


def test_stripe_signatures_computed_by_hand_verify() -> None:
    stamp = int(NOW.timestamp())
    verifier = StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW))
    webhook = verifier.verify({"Stripe-Signature": stripe_header(BODY, stamp)}, BODY)
    assert webhook.scheme == "stripe"
    assert webhook.timestamp == NOW
    assert webhook.id is None
    assert webhook.replay_key.startswith("stripe:")
    assert isinstance(verifier, Verifier)


def test_stripe_sign_matches_the_hand_computation_and_rotation_works() -> None:
    stamp = int(NOW.timestamp())
    old = StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW))
    assert old.sign(BODY, stamp) == stripe_header(BODY, stamp).removesuffix(",v0=deadbeef")
    both = StripeVerifier(["whsec_new", STRIPE_SECRET], clock=FakeClock(NOW))
    header = both.sign(BODY, stamp)
    assert header.count("v1=") == 2
    assert old.verify({"stripe-signature": header}, BODY).body == BODY


@pytest.mark.parametrize("offset", [-301, 301])
def test_stripe_tolerance_both_directions(offset: int) -> None:
    stamp = int(NOW.timestamp()) + offset
    with pytest.raises(TimestampOutsideToleranceError):
        StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW)).verify(
            {"stripe-signature": stripe_header(BODY, stamp)}, BODY
        )


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("v1=abc", MalformedHeaderError),
        ("t=abc,v1=abc", MalformedHeaderError),
        (f"t={int(NOW.timestamp())}", MalformedHeaderError),
        (f"t={int(NOW.timestamp())},v1=" + "0" * 64, SignatureMismatchError),
        ("t=1,v1=é", MalformedHeaderError),
        ("", MissingHeaderError),
    ],
)
def test_stripe_bad_headers(header: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        StripeVerifier(STRIPE_SECRET, clock=FakeClock(NOW)).verify({"stripe-signature": header}, BODY)


def test_github_documented_vector() -> None:
    # The example from GitHub's documentation on validating webhook deliveries.
    verifier = GitHubVerifier("It's a Secret to Everybody")
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    webhook = verifier.verify({"X-Hub-Signature-256": header, "X-GitHub-Delivery": "d-1"}, b"Hello, World!")
    assert (webhook.scheme, webhook.id, webhook.timestamp, webhook.replay_key) == (
        "github",
        "d-1",
        None,
        "d-1",
    )
    assert verifier.sign(b"Hello, World!") == header
    assert verifier.replay_window is None
    upper = header.upper().replace("SHA256=", "sha256=")
    assert verifier.verify({"x-hub-signature-256": upper}, b"Hello, World!").replay_key.startswith("github:")


@pytest.mark.parametrize(
    "header",
    ["sha1=757107ea0eb2509fc211221cce984b8a37570b6d", "sha256=xyz", "sha256=" + "g" * 64, "757107ea"],
)
def test_github_malformed(header: str) -> None:
    with pytest.raises(MalformedHeaderError):
        GitHubVerifier("s").verify({"x-hub-signature-256": header}, b"x")


def test_github_mismatch_missing_and_body() -> None:
    verifier = GitHubVerifier(["new", "It's a Secret to Everybody"])
    with pytest.raises(SignatureMismatchError):
        verifier.verify({"x-hub-signature-256": "sha256=" + "0" * 64}, b"Hello, World!")
    with pytest.raises(MissingHeaderError):
        verifier.verify({}, b"x")
    with pytest.raises(InvalidBodyError):
        verifier.verify({"x-hub-signature-256": "sha256=" + "0" * 64}, b"\xff")
    for bad in ([], "", [""], [3]):
        with pytest.raises(InvalidSecretError):
            GitHubVerifier(bad)  # type: ignore[arg-type]


@given(
    header=st.one_of(st.text(max_size=120), st.binary(max_size=20), st.integers(), st.none()),
    body=st.one_of(st.binary(max_size=40), st.text(max_size=40)),
    name=st.sampled_from(["stripe-signature", "x-hub-signature-256", "Stripe-Signature", "other"]),
)
def test_fuzzed_provider_headers_only_raise_verification_errors(
    header: object, body: object, name: str
) -> None:
    """Property: Stripe and GitHub verifiers raise nothing but WebhookVerificationError subclasses."""
    for verifier in (StripeVerifier("s", clock=FakeClock(NOW)), GitHubVerifier("s")):
        with contextlib.suppress(WebhookVerificationError):
            verifier.verify({name: header}, body)  # type: ignore[dict-item, arg-type]


@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=100), skew=st.integers(-300, 300))
def test_stripe_round_trip(secret: str, body: bytes, skew: int) -> None:
    """Property: what StripeVerifier.sign produces, it verifies, within the tolerance."""
    text = body.decode("latin-1").encode()
    signer = StripeVerifier(secret, clock=FakeClock(NOW + timedelta(seconds=skew)))
    verifier = StripeVerifier(secret, clock=FakeClock(NOW))
    assert verifier.verify({"stripe-signature": signer.sign(text)}, text).body == text
