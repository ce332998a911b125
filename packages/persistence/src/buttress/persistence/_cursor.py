"""Opaque, tamper-evident cursors for keyset pagination.

A cursor holds the sort values and the primary key of the last row of a page, and a fingerprint of
the query it belongs to (its filter and sort). It is signed with HMAC-SHA256 under the application's
key: a client can pass it back but cannot forge or alter one, nor reuse it on another query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from .exceptions import InvalidCursorError, PersistenceConfigurationError, PersistenceTypeError

__all__ = ["CursorCodec", "CursorPosition", "fingerprint"]

_MAX_TOKEN: Final = 4096
_MAC_BYTES: Final = 16
_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """Where a page ended: the last row's sort values then its primary key, for one query.

    Attributes:
        values: The sort values of the last row, then its primary key.
        query: The fingerprint of the filter and sort the cursor was made for.
    """

    values: tuple[object, ...]
    query: str


# (type, tag, to JSON); bool before int (a bool is an int), datetime before date (likewise).
_ENCODERS: Final[tuple[tuple[type, str, Callable[[Any], object]], ...]] = (
    (bool, "b", lambda v: v),
    (int, "i", str),
    (float, "f", float.hex),
    (Decimal, "d", str),
    (str, "s", lambda v: v),
    (datetime, "dt", lambda v: v.isoformat()),
    (date, "da", lambda v: v.isoformat()),
    (time, "t", lambda v: v.isoformat()),
    (timedelta, "td", lambda v: [v.days, v.seconds, v.microseconds]),
    (UUID, "u", str),
)


def _encode_value(value: object) -> list[object]:
    if value is None:
        return ["n"]
    for kind, tag, encode in _ENCODERS:
        if isinstance(value, kind):
            return [tag, encode(value)]
    raise PersistenceTypeError("sort value", "a str, number, bool, date, time or UUID", value)


def _decode_value(item: object) -> object:
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise ValueError("not a tagged value")
    tag, rest = item[0], item[1:]
    if tag == "n" and not rest:
        return None
    if len(rest) != 1:
        raise ValueError("a tagged value has one payload")
    payload = rest[0]
    if tag == "b" and isinstance(payload, bool):
        return payload
    if tag == "td" and isinstance(payload, list) and len(payload) == 3:
        days, seconds, micros = (int(part) for part in payload)
        return timedelta(days=days, seconds=seconds, microseconds=micros)
    if not isinstance(payload, str):
        raise ValueError("payload is not text")  # noqa: TRY004 - as above
    decoders: dict[str, Callable[[str], object]] = {
        "i": int,
        "f": float.fromhex,
        "d": Decimal,
        "s": str,
        "dt": datetime.fromisoformat,
        "da": date.fromisoformat,
        "t": time.fromisoformat,
        "u": UUID,
    }
    decoder = decoders.get(tag)
    if decoder is None:
        raise ValueError("unknown tag")
    value = decoder(payload)
    if isinstance(value, Decimal) and value.is_snan():
        raise ValueError("a signalling NaN is no sort value")  # it raises when compared
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and checks cursors with one secret key (HMAC-SHA256, truncated to 128 bits).

    Args:
        key: At least 16 bytes from a secret source (``secrets.token_bytes(32)``); rotate it and every
            cursor handed out before becomes invalid, which a client sees as a 400.

    Raises:
        PersistenceTypeError: ``key`` is not bytes.
        PersistenceConfigurationError: ``key`` is shorter than 16 bytes.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise PersistenceTypeError("key", "bytes", key)
        if len(key) < 16:
            raise PersistenceConfigurationError("key", None, "must be at least 16 bytes", show_value=False)
        self._key = bytes(key)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: CursorPosition) -> str:
        """The opaque token for ``position``."""
        if not isinstance(position, CursorPosition):
            raise PersistenceTypeError("position", "a CursorPosition", position)
        body = {"v": _VERSION, "q": position.query, "k": [_encode_value(v) for v in position.values]}
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, *, query: str) -> CursorPosition:
        """The position in ``token``, if this codec signed it for ``query``.

        Raises:
            InvalidCursorError: The token is garbled, its signature does not match, or it was made
                for another query (another filter or sort).
        """
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN or not token.isascii():
            raise InvalidCursorError("is not a cursor this API handed out")
        body_text, _, mac_text = token.partition(".")
        try:
            payload, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidCursorError("is not a cursor this API handed out") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidCursorError("is not a cursor this API handed out")
        try:
            body = json.loads(payload)
            version, made_for = body.get("v"), body["q"]
            values = tuple(_decode_value(item) for item in body["k"])
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            ArithmeticError,  # InvalidOperation, and OverflowError from a timedelta or float out of range
            RecursionError,
        ):
            raise InvalidCursorError("is not a cursor this API handed out") from None
        if version != _VERSION:
            raise InvalidCursorError("is not a cursor this API handed out")
        if made_for != query:
            raise InvalidCursorError("was made for another filter or sort; start again from the first page")
        return CursorPosition(values, query)


def fingerprint(parts: Sequence[str]) -> str:
    """A short digest naming one query (its canonical filter and sort)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]
