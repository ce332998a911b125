"""Key parsing, the stored form, and StoredResponse construction: bad input gets typed errors."""

from __future__ import annotations

import pytest

from buttress.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConfigurationError,
    IdempotencyTypeError,
    InvalidKeyError,
    StoredRecordError,
    StoredResponse,
    decode_response,
    encode_response,
    parse_idempotency_key,
)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("abc", "abc"),
        ('"abc"', "abc"),
        (b'"abc"', "abc"),
        ('  "abc"  ', "abc"),
        ('"abc";expires=1', "abc"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("a" * MAX_KEY_LENGTH, "a" * MAX_KEY_LENGTH),
        ("dGVzdA==", "dGVzdA=="),
    ],
)
def test_valid_keys(raw: str | bytes, key: str) -> None:
    assert parse_idempotency_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ('""', "empty"),
        ("a" * (MAX_KEY_LENGTH + 1), "at most 255"),
        ('"abc', "closing quote"),
        ('"a\\bc"', "backslash"),
        ('"abc"x', "after the closing quote"),
        ('"a\tb"', "printable ASCII"),
        ("a b", "may hold only"),
        ('"a\\"b"', "may hold only"),
        ("ключ", "may hold only"),
        ("ключ".encode(), "ASCII"),
        ("a\x00b", "may hold only"),
    ],
)
def test_invalid_keys_are_rejected_with_a_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason) as info:
        parse_idempotency_key(raw)
    assert isinstance(info.value, ValueError)
    # The rejected key is never echoed into the message (it is the client's data).
    assert str(raw) not in str(info.value) or not raw


def test_a_key_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(IdempotencyTypeError):
        parse_idempotency_key(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01\x00",
        b"\x02" + b"\x00" * 10,
        encode_response(StoredResponse(200, ((b"a", b"b"),), b""))[:-1],
    ],
    ids=["empty", "short", "version", "truncated-header"],
)
def test_corrupt_stored_records_raise(data: bytes) -> None:
    with pytest.raises(StoredRecordError) as info:
        decode_response(data)
    assert isinstance(info.value, ValueError)


def test_stored_response_of_accepts_str_and_bytes_headers() -> None:
    response = StoredResponse.of(201, [("content-type", b"text/plain"), (b"x-a", "é")], b"body")
    assert response.headers == ((b"content-type", b"text/plain"), (b"x-a", "é".encode("latin-1")))


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [(1000, [], b""), (-1, [], b""), (True, [], b""), (200, [(1, b"v")], b""), (200, [], "text")],
)
def test_stored_response_of_rejects_bad_parts(status: object, headers: object, body: object) -> None:
    with pytest.raises(IdempotencyConfigurationError):
        StoredResponse.of(status, headers, body)  # type: ignore[arg-type]
