"""The compact JWS serialization (RFC 7515 section 7.1): base64url, JSON, and the parts of a token.

Parsing is strict where leniency has bitten other libraries: the token is exactly three segments of
the base64url alphabet without padding, the signature's encoding is canonical (so one signature has
one spelling), header and payload are UTF-8 JSON objects with no duplicate member names (RFC 7515
section 5.2, RFC 8725 section 3.8 asks to refuse them rather than guess), and NaN or Infinity are
not JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from .exceptions import MalformedTokenError

__all__ = [
    "Parsed",
    "b64decode",
    "b64encode",
    "canonical_signature",
    "decode_segments",
    "dumps",
    "loads_claims",
    "loads_object",
    "parse",
    "split",
]

_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def b64encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_PADDING: Final = ("", "", "==", "=")
_VALUE: Final = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# The bits of the last character that no byte uses, by the segment's length modulo 4.
_UNUSED_BITS: Final = (0, 0, 0b1111, 0b11)


def b64decode(segment: str, what: str) -> bytes:
    """Decode a base64url segment without padding, refusing any other character or a bad length.

    ``+``, ``/`` and ``=`` are refused before the alphabet is mapped to standard base64, whose
    strict decoder then refuses everything else (whitespace, other characters, a bad length).

    Raises:
        MalformedTokenError: The segment is not base64url.
    """
    if "+" in segment or "/" in segment or "=" in segment or len(segment) % 4 == 1:
        raise MalformedTokenError(f"the token's {what} is not base64url without padding")
    try:
        # replace() twice: str.translate is an order of magnitude slower on these lengths
        standard = segment.replace("-", "+").replace("_", "/")
        return binascii.a2b_base64(standard + _PADDING[len(segment) % 4], strict_mode=True)
    except (binascii.Error, ValueError):  # a character outside the alphabet, non-ASCII included
        raise MalformedTokenError(f"the token's {what} is not base64url") from None


def dumps(value: Mapping[str, object]) -> bytes:
    """Compact UTF-8 JSON, as tokens carry it."""
    return _ENCODER.encode(value).encode("utf-8")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)


def loads_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object from UTF-8 bytes.

    Raises:
        MalformedTokenError: Not UTF-8, not JSON, a duplicate member name, or not an object.
    """
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedTokenError(f"the token's {what} is not a UTF-8 JSON object") from None
    if not isinstance(value, dict):
        raise MalformedTokenError(f"the token's {what} is not a JSON object")
    return value


def loads_claims(data: bytes) -> dict[str, Any] | None:
    """`loads_object` for the common case: ``None`` where `loads_object` must decide (and raise).

    The same decoder's scanner (duplicate names and NaN refused alike), called on a text that is one
    object from its first character to its last: the whitespace `loads_object` also accepts around
    it, and anything the scanner refuses, are left to `loads_object`.
    """
    try:
        text = data.decode("utf-8")
        if text[:1] != "{" or text[-1:] != "}":
            return None
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, StopIteration):  # refused: loads_object says how
        return None
    return value if end == len(text) else None


_SCAN: Final[Callable[[str, int], tuple[dict[str, Any], int]]] = _DECODER.scan_once  # type: ignore[attr-defined]


class Parsed:
    """The three parts of a compact JWS, decoded, and the bytes its signature covers."""

    __slots__ = ("header", "header_segment", "payload", "signature", "signing_input")

    def __init__(
        self,
        header_segment: str,
        header: dict[str, Any],
        payload: bytes,
        signing_input: bytes,
        signature: bytes,
    ) -> None:
        self.header_segment = header_segment
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = signature


def decode_segments(payload_segment: str, signature_segment: str) -> tuple[bytes, bytes]:
    """The payload and signature, decoded; the signature's encoding must be canonical.

    Raises:
        MalformedTokenError: Either is not base64url, or the signature's spelling is not canonical.
    """
    payload = b64decode(payload_segment, "payload")
    signature = b64decode(signature_segment, "signature")
    if not canonical_signature(signature_segment):
        raise MalformedTokenError("the token's signature is not canonical base64url")
    return payload, signature


def canonical_signature(segment: str) -> bool:
    """Whether the bits of the last character that no byte uses are zero: one signature, one spelling.

    ``segment`` decoded already (it is base64url).
    """
    unused = _UNUSED_BITS[len(segment) % 4]
    return not (unused and _VALUE[segment[-1]] & unused)


def split(token: str) -> tuple[str, str, str]:
    """The three segments of a compact JWS.

    Raises:
        MalformedTokenError: Not exactly three segments.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedTokenError(f"a compact JWS has 3 segments, this token has {min(len(parts), 99)}")
    return parts[0], parts[1], parts[2]


def parse(token: str, headers: Mapping[str, dict[str, Any]]) -> Parsed:
    """Split and decode a compact JWS; ``headers`` caches the headers of tokens already verified.

    Raises:
        MalformedTokenError: Anything but a well-formed compact JWS.
    """
    header_segment, payload_segment, signature_segment = split(token)
    header = headers.get(header_segment)
    if header is None:
        header = loads_object(b64decode(header_segment, "header"), "header")
    payload, signature = decode_segments(payload_segment, signature_segment)
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    return Parsed(header_segment, header, payload, signing_input, signature)
