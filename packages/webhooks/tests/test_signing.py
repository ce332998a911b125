"""Standard Webhooks signing and verification: vectors, interop, rotation, tolerance, typed errors."""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import ArgumentTypeError
from buttress.testing import FakeClock
from buttress.webhooks import (
    Ed25519SigningKey,
    HmacKey,
    InvalidBodyError,
    InvalidSecretError,
    MalformedHeaderError,
    MissingHeaderError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    WebhooksConfigurationError,
    WebhookSigner,
    WebhooksTypeError,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
    generate_signing_keypair,
    new_message_id,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published test secret
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT_VECTOR = datetime.fromtimestamp(TIMESTAMP, UTC)


def vector_headers(signature: str = EXPECTED) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": signature}


def test_the_known_vector_signs_as_published() -> None:
    assert WebhookSigner(SECRET).sign(MSG_ID, TIMESTAMP, PAYLOAD) == EXPECTED
    assert WebhookSigner(SECRET).sign(MSG_ID, AT_VECTOR, PAYLOAD.decode()) == EXPECTED


def test_the_known_vector_verifies_at_its_time() -> None:
    verifier = WebhookVerifier(SECRET, clock=FakeClock(AT_VECTOR))
    webhook = verifier.verify(vector_headers(), PAYLOAD)
    assert (webhook.id, webhook.timestamp, webhook.body, webhook.scheme) == (
        MSG_ID,
        AT_VECTOR,
        PAYLOAD,
        "standard",
    )
    assert webhook.json() == {"test": 2432232314}
    assert webhook.replay_key == MSG_ID


def test_header_names_are_case_insensitive_and_svix_names_are_accepted() -> None:
    verifier = WebhookVerifier(SECRET, tolerance=None)
    upper = {k.upper(): v for k, v in vector_headers().items()}
    assert verifier.verify(upper, PAYLOAD).id == MSG_ID
    svix = {k.replace("webhook-", "svix-"): v for k, v in vector_headers().items()}
    assert verifier.verify(svix, PAYLOAD).id == MSG_ID
    with pytest.raises(MissingHeaderError):
        WebhookVerifier(SECRET, tolerance=None, accept_svix_headers=False).verify(svix, PAYLOAD)


def test_a_changed_body_id_or_timestamp_fails() -> None:
    verifier = WebhookVerifier(SECRET, tolerance=None)
    with pytest.raises(SignatureMismatchError):
        verifier.verify(vector_headers(), PAYLOAD + b" ")
    with pytest.raises(SignatureMismatchError):
        verifier.verify({**vector_headers(), "webhook-id": MSG_ID + "x"}, PAYLOAD)
    with pytest.raises(SignatureMismatchError):
        verifier.verify({**vector_headers(), "webhook-timestamp": str(TIMESTAMP + 1)}, PAYLOAD)
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(generate_secret(), tolerance=None).verify(vector_headers(), PAYLOAD)


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_the_tolerance_is_enforced_in_both_directions(offset: int) -> None:
    clock = FakeClock(AT_VECTOR + timedelta(seconds=offset))
    with pytest.raises(TimestampOutsideToleranceError) as caught:
        WebhookVerifier(SECRET, clock=clock).verify(vector_headers(), PAYLOAD)
    assert caught.value.tolerance == 300
    assert ("old" in str(caught.value)) is (offset > 0)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamps_inside_the_tolerance_pass(offset: int) -> None:
    clock = FakeClock(AT_VECTOR + timedelta(seconds=offset))
    assert WebhookVerifier(SECRET, clock=clock).verify(vector_headers(), PAYLOAD).id == MSG_ID


def test_a_configured_tolerance_is_used() -> None:
    clock = FakeClock(AT_VECTOR + timedelta(seconds=30))
    verifier = WebhookVerifier(SECRET, clock=clock, tolerance=timedelta(seconds=10))
    assert verifier.replay_window == 20
    with pytest.raises(TimestampOutsideToleranceError):
        verifier.verify(vector_headers(), PAYLOAD)


def test_rotation_every_key_signs_and_either_key_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = WebhookSigner([new, old]).headers(PAYLOAD)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for keys in ([old], [new], [generate_secret(), old]):
        assert WebhookVerifier(keys).verify(headers, PAYLOAD).body == PAYLOAD
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(generate_secret()).verify(headers, PAYLOAD)


def test_unknown_versions_and_junk_entries_are_skipped() -> None:
    verifier = WebhookVerifier(SECRET, tolerance=None)
    header = f"v2,abc junk v1,!!notbase64 {EXPECTED}"
    assert verifier.verify(vector_headers(header), PAYLOAD).id == MSG_ID


def test_v1a_ed25519_signs_and_verifies() -> None:
    private, public = generate_signing_keypair()
    assert private.startswith("whsk_")
    assert public.startswith("whpk_")
    headers = WebhookSigner(private).headers(PAYLOAD)
    assert headers["webhook-signature"].startswith("v1a,")
    assert WebhookVerifier(public).verify(headers, PAYLOAD).body == PAYLOAD
    assert WebhookVerifier(private).verify(headers, PAYLOAD).body == PAYLOAD  # public half derived
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(public).verify(headers, PAYLOAD + b"x")
    _, other = generate_signing_keypair()
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(other).verify(headers, PAYLOAD)
    with pytest.raises(InvalidSecretError):
        WebhookSigner(public)


def test_mixed_v1_and_v1a_keys() -> None:
    private, public = generate_signing_keypair()
    secret = generate_secret()
    headers = WebhookSigner([secret, private]).headers(PAYLOAD)
    assert WebhookVerifier(public).verify(headers, PAYLOAD).body == PAYLOAD
    assert WebhookVerifier(secret).verify(headers, PAYLOAD).body == PAYLOAD


def test_keys_round_trip_through_export() -> None:
    key = HmacKey(SECRET)
    assert HmacKey(key.export()).digest(b"x") == key.digest(b"x")
    signing = Ed25519SigningKey(generate_signing_keypair()[0])
    assert Ed25519SigningKey(signing.export()).export() == signing.export()
    assert "***" in repr(key)
    assert "***" in repr(signing)


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + base64.b64encode(b"x" * 23).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
        "whsec_not*base64",
        "",
        b"short",
        123,
    ],
)
def test_bad_secrets_are_refused_without_echoing_them(secret: object) -> None:
    with pytest.raises(InvalidSecretError) as caught:
        WebhookVerifier(secret)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    if isinstance(secret, str) and secret:
        assert secret.removeprefix("whsec_") not in str(caught.value)


def test_secret_sizes_and_bad_arguments() -> None:
    for size in (24, 64):
        assert len(base64.b64decode(generate_secret(size).removeprefix("whsec_"))) == size
    for bad in (23, 65, 1.5):
        with pytest.raises(InvalidSecretError):
            generate_secret(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSecretError):
        WebhookVerifier([])
    with pytest.raises(WebhooksConfigurationError):
        WebhookVerifier(SECRET, tolerance=0)
    with pytest.raises(WebhooksConfigurationError):
        WebhookVerifier(SECRET, tolerance="5")  # type: ignore[arg-type]
    signer = WebhookSigner(SECRET)
    with pytest.raises(WebhooksConfigurationError):
        signer.sign("", 1, b"")
    with pytest.raises(WebhooksConfigurationError):
        signer.sign("id", -1, b"")
    with pytest.raises(WebhooksConfigurationError):
        signer.sign("id", datetime(2026, 1, 1), b"")
    with pytest.raises(WebhooksTypeError):
        signer.sign("id", 1, 5)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        WebhookVerifier(SECRET).verify([("webhook-id", "x")], b"")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, MissingHeaderError),
        ({"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}, MissingHeaderError),
        ({**vector_headers(), "webhook-id": ""}, MissingHeaderError),
        ({**vector_headers(), "webhook-timestamp": "12.5"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-timestamp": "-5"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-timestamp": "\uff11\uff12"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-timestamp": "9" * 40}, MalformedHeaderError),
        ({**vector_headers(), "webhook-id": "ü"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-id": "a\nb"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-signature": "nonsense"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-signature": "v1,ü"}, MalformedHeaderError),
        ({**vector_headers(), "webhook-signature": " ".join([EXPECTED] * 40)}, MalformedHeaderError),
        ({**vector_headers(), "webhook-signature": "v1,AAAA"}, SignatureMismatchError),
        ({**vector_headers(), "webhook-id": 5}, MalformedHeaderError),
    ],
)
def test_malformed_headers_raise_typed_errors(headers: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        WebhookVerifier(SECRET, tolerance=None).verify(headers, PAYLOAD)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"\xff\xfe", "\ud800", 42, None])
def test_bodies_that_are_not_utf8_raise_invalid_body(body: object) -> None:
    with pytest.raises(InvalidBodyError):
        WebhookVerifier(SECRET, tolerance=None).verify(vector_headers(), body)  # type: ignore[arg-type]


def test_bytearray_and_memoryview_bodies_are_accepted() -> None:
    verifier = WebhookVerifier(SECRET, tolerance=None)
    assert verifier.verify(vector_headers(), bytearray(PAYLOAD)).body == PAYLOAD  # type: ignore[arg-type]
    assert verifier.verify(vector_headers(), memoryview(PAYLOAD)).body == PAYLOAD  # type: ignore[arg-type]


header_values = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=40),
    st.integers(),
    st.none(),
    st.sampled_from(
        [str(TIMESTAMP), MSG_ID, EXPECTED, "v1,", "v1a,AAAA", "v1," + "A" * 44, "v1a," + "A" * 88]
    ),
)


@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "Webhook-Id", "x", ""]),
        header_values,
        max_size=5,
    ),
    body=st.one_of(st.binary(max_size=64), st.text(max_size=64), st.integers()),
)
def test_fuzzed_headers_only_raise_verification_errors(headers: dict[str, object], body: object) -> None:
    """Property: whatever the headers and body, only a WebhookVerificationError subclass escapes."""
    private, _ = _KEYS
    verifier = WebhookVerifier([SECRET, private], clock=FakeClock(AT_VECTOR))
    with contextlib.suppress(WebhookVerificationError):
        verifier.verify(headers, body)  # type: ignore[arg-type]


_KEYS = generate_signing_keypair()

secrets_strategy = st.binary(min_size=24, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)
payloads = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@given(secret=secrets_strategy, msg_id=ids, payload=payloads, skew=st.integers(-299, 299))
def test_standardwebhooks_verifies_what_buttress_signs(
    secret: str, msg_id: str, payload: str, skew: int
) -> None:
    """Property: interop, buttress -> standardwebhooks."""
    stamp = int(datetime.now(UTC).timestamp()) + skew
    headers = WebhookSigner(secret).headers(payload.encode(), msg_id=msg_id, timestamp=stamp)
    standardwebhooks.Webhook(secret).verify(payload.encode(), headers, json_parse=False)


@given(secret=secrets_strategy, msg_id=ids, payload=payloads, skew=st.integers(-299, 299))
def test_buttress_verifies_what_standardwebhooks_signs(
    secret: str, msg_id: str, payload: str, skew: int
) -> None:
    """Property: interop, standardwebhooks -> buttress."""
    when = NOW + timedelta(seconds=skew)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, when, payload)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }
    webhook = WebhookVerifier(secret, clock=FakeClock(NOW)).verify(headers, payload.encode())
    assert webhook.id == msg_id
    assert webhook.body == payload.encode()


@given(secret=secrets_strategy, msg_id=ids, payload=st.binary(max_size=200))
def test_a_flipped_bit_anywhere_is_rejected(secret: str, msg_id: str, payload: bytes) -> None:
    """Property: changing one byte of the signature never verifies."""
    headers = WebhookSigner(secret).headers(payload.decode("latin-1").encode(), msg_id=msg_id, timestamp=1)
    raw = bytearray(base64.b64decode(headers["webhook-signature"].split(",", 1)[1]))
    raw[len(payload) % len(raw)] ^= 1
    headers["webhook-signature"] = "v1," + base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(secret, tolerance=None).verify(headers, payload.decode("latin-1").encode())


def test_message_ids_are_unique_and_valid() -> None:
    seen = {new_message_id() for _ in range(1000)}
    assert len(seen) == 1000
    assert all(i.startswith("msg_") and i.isascii() for i in seen)


def test_binascii_never_escapes_for_bad_v1a_base64() -> None:
    _, public = generate_signing_keypair()
    headers = vector_headers("v1a,@@@@")
    with pytest.raises(SignatureMismatchError):
        WebhookVerifier(public, tolerance=None).verify(headers, PAYLOAD)
    assert issubclass(binascii.Error, ValueError)
