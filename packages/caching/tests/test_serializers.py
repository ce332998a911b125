"""Serializers: signed pickle and msgpack."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from buttress.caching import (
    CacheSerializationError,
    CachingConfigurationError,
    MsgpackSerializer,
    PickleSerializer,
    SignatureMismatchError,
)
from buttress.core import SerializationError, Serializer

SECRET = b"s" * 32
OTHER = b"o" * 32


def test_pickle_round_trips_python_objects() -> None:
    serializer = PickleSerializer[object](SECRET)
    value = {"when": datetime(2026, 1, 1, tzinfo=UTC), "ids": {1, 2}, "pair": (1, "a")}
    assert serializer.loads(serializer.dumps(value)) == value
    assert isinstance(serializer, Serializer)
    assert "s" * 32 not in repr(serializer)


def test_pickle_refuses_what_it_did_not_sign() -> None:
    ours = PickleSerializer[object](SECRET)
    theirs = PickleSerializer[object](OTHER)
    with pytest.raises(SignatureMismatchError) as info:
        ours.loads(theirs.dumps("forged"))
    assert isinstance(info.value, CacheSerializationError)
    assert isinstance(info.value, SerializationError)
    with pytest.raises(SignatureMismatchError):
        ours.loads(pickle.dumps("unsigned"))
    with pytest.raises(SignatureMismatchError):
        ours.loads(b"short")
    tampered = bytearray(ours.dumps("value"))
    tampered[-2] ^= 1
    with pytest.raises(SignatureMismatchError):
        ours.loads(bytes(tampered))


def test_pickle_accepts_previous_secrets_for_rotation() -> None:
    old = PickleSerializer[str](OTHER)
    rotated = PickleSerializer[str](SECRET, previous_secrets=(OTHER,))
    assert rotated.loads(old.dumps("before rotation")) == "before rotation"
    with pytest.raises(SignatureMismatchError):
        old.loads(rotated.dumps("after"))  # new writes are signed with the new secret only


@pytest.mark.parametrize("secret", [b"short", "s" * 32, b""])
def test_pickle_needs_a_long_byte_secret_and_never_shows_it(secret: object) -> None:
    with pytest.raises(CachingConfigurationError) as info:
        PickleSerializer[object](secret)  # type: ignore[arg-type]
    assert info.value.parameter == "secret"
    assert repr(secret) not in str(info.value)


def test_pickle_reports_unpicklable_values() -> None:
    with pytest.raises(CacheSerializationError, match="generator"):
        PickleSerializer[object](SECRET).dumps(x for x in ())


def test_msgpack_round_trip_and_errors() -> None:
    serializer = MsgpackSerializer[object]()
    value = {"a": [1, 2.5, None, True], "b": b"\x00bytes", "c": "text"}
    assert serializer.loads(serializer.dumps(value)) == value
    with pytest.raises(CacheSerializationError) as info:
        serializer.dumps({1, 2})
    assert info.value.type_name == "set"
    with pytest.raises(CacheSerializationError):
        serializer.loads(b"\xc1")
