"""The canonical encoding of a request's components and its HMAC-SHA256, with key rotation.

A fingerprint's digest is the HMAC of one message: a format tag, the number of fields, then each
component used, in `Component` order, as its length-prefixed name and length-prefixed value. No two
sets of components share an encoding. Each component also gets its own keyed hash (what
`Fingerprinter.similarity` compares). The key is derived from the secret and the declared purpose,
so one secret used for two purposes yields unlinkable values.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from ._components import Component
from ._memo import COOKIES, HINTS, MISSING, TEXT, VALUE, Memo
from .exceptions import FingerprintConfigurationError, FingerprintTypeError

__all__ = [
    "BITS",
    "HEADS",
    "MIN_SECRET_BYTES",
    "Encoder",
    "Entry",
    "Key",
    "Keyring",
    "Verification",
    "canonical",
    "check_secret",
    "decoded",
]

MIN_SECRET_BYTES: Final = 32
"""The shortest secret accepted: 256 bits, the size of an HMAC-SHA256 key."""

FORMAT: Final = b"buttress.fingerprint/v1"
_BLOCK: Final = 64  # SHA-256's block size, for HMAC's pads

# Each component's name, length-prefixed, as it opens its field in the canonical encoding.
FIELD_NAMES: Final = {c: len(c.value).to_bytes(1, "big") + c.value.encode("ascii") for c in Component}
# What the canonical encoding starts with, for each number of fields.
HEADS: Final = tuple(FORMAT + n.to_bytes(1, "big") for n in range(len(Component) + 1))
# What each component's own keyed hash is taken over, before its value.
COMPONENT_LABELS: Final = {c: b"component\x00" + c.value.encode("ascii") + b"\x00" for c in Component}
BITS: Final = {c: 1 << i for i, c in enumerate(Component)}

type Entry = tuple[Component, bytes, str, int]
"""A component: itself, its field of the canonical encoding, its own keyed hash, its presence bit."""

type Verification = Literal["match", "old_key", "mismatch"]
"""How a digest compared: made with the current key, with a previous key, or with neither."""


def check_secret(secret: object, parameter: str) -> None:
    """Refuse a secret that is not bytes, or shorter than `MIN_SECRET_BYTES`."""
    if not isinstance(secret, (bytes, bytearray)):
        raise FingerprintTypeError(parameter, "bytes", secret)
    if len(secret) < MIN_SECRET_BYTES:
        raise FingerprintConfigurationError(
            parameter,
            secret,
            f"a secret needs at least {MIN_SECRET_BYTES} bytes; make one with secrets.token_bytes(32)",
            show_value=False,
        )


class Key:
    """HMAC-SHA256 with one key, its pads hashed once so each message costs two hash continuations."""

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, secret: bytes, purpose: str) -> None:
        # One subkey per (secret, purpose): the same secret used for two purposes yields unlinkable values.
        subkey = hmac.digest(secret, FORMAT + b"\x00purpose\x00" + purpose.encode("utf-8"), "sha256")
        padded = subkey.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy
        self.key_id: str = self.mac(b"key-id")[:6].hex()

    def mac(self, message: bytes) -> bytes:
        inner = self._inner()
        inner.update(message)
        outer = self._outer()
        outer.update(inner.digest())
        return outer.digest()


class Keyring:
    """The current key, which makes fingerprints, and the keys before a rotation, which still verify."""

    __slots__ = ("current", "previous")

    def __init__(self, secret: bytes, previous_secrets: Sequence[bytes], purpose: str) -> None:
        self.current: Final = Key(secret, purpose)
        self.previous: Final = tuple(Key(old, purpose) for old in previous_secrets)

    def verify(self, message: bytes, expected: bytes) -> Verification:
        """Compare ``expected`` with the HMAC of ``message`` under every key, each in constant time."""
        current = hmac.compare_digest(self.current.mac(message), expected)
        old = False
        for key in self.previous:
            old |= hmac.compare_digest(key.mac(message), expected)
        if current:
            return "match"
        return "old_key" if old else "mismatch"


def canonical(encoded: Mapping[Component, bytes]) -> bytes:
    """Length-prefixed fields in `Fingerprinter.used` order, which is fixed: no two sets share an encoding."""
    parts = [FORMAT, len(encoded).to_bytes(1, "big")]
    for component, value in encoded.items():
        parts += (FIELD_NAMES[component], len(value).to_bytes(4, "big"), value)
    return b"".join(parts)


def decoded(value: bytes | str) -> str:
    """Header bytes as latin-1 text; text as it is."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


class Encoder:
    """Makes each component's `Entry` under the current key, remembering those seen before in a `Memo`.

    The client address is never remembered.
    """

    __slots__ = ("_key", "_memo")

    def __init__(self, key: Key, memo: Memo) -> None:
        self._key = key
        self._memo = memo

    def entry(self, component: Component, encoded: bytes) -> Entry:
        """A component's field of the canonical encoding, its own keyed hash and its presence bit."""
        field = FIELD_NAMES[component] + len(encoded).to_bytes(4, "big") + encoded
        digest = self._key.mac(COMPONENT_LABELS[component] + encoded)[:16].hex()
        return component, field, digest, BITS[component]

    def text_entry(self, component: Component, text: str) -> Entry:
        """The entry of a component's canonical text (as `Components.text` has it)."""
        if component is Component.IP or not self._memo.size:  # the address is never kept
            return self.entry(component, text.encode("utf-8", "surrogatepass"))
        memo_key = (TEXT, component, text)
        entry: Entry | None = self._memo.get(memo_key)
        if entry is None:
            entry = self.entry(component, text.encode("utf-8", "surrogatepass"))
            self._memo.keep(memo_key, entry)
        return entry

    def value_entry(self, component: Component, value: bytes | str) -> Entry | None:
        """The entry of a header's value as received, or ``None`` when it is only whitespace."""
        memo_key = (VALUE, component, value)
        entry: Entry | None = self._memo.get(memo_key, MISSING)
        if entry is MISSING:
            text = " ".join(decoded(value).split())
            entry = self.entry(component, text.encode("utf-8", "surrogatepass")) if text else None
            self._memo.keep(memo_key, entry)
        return entry

    def hints_entry(self, names: tuple[str, ...], values: tuple[Any, ...]) -> Entry:
        """The `Component.CLIENT_HINTS` entry of the hints ``names`` (sorted) with their ``values``."""
        memo_key = (HINTS, names, values)
        entry: Entry | None = self._memo.get(memo_key)
        if entry is None:
            text = "\n".join(
                [
                    f"{n}={' '.join((v.decode('latin-1') if v.__class__ is bytes else v).split())}"
                    for n, v in zip(names, values, strict=True)
                ]
            )
            entry = self.entry(Component.CLIENT_HINTS, text.encode("utf-8", "surrogatepass"))
            self._memo.keep(memo_key, entry)
        return entry

    def cookies_entry(self, names: bytes | str) -> Entry | None:
        """The `Component.COOKIE_NAMES` entry of cookie names joined by commas, or ``None`` for none."""
        memo_key = (COOKIES, names)
        entry: Entry | None = self._memo.get(memo_key, MISSING)
        if entry is MISSING:
            text = decoded(names)
            entry = (
                self.entry(Component.COOKIE_NAMES, text.encode("utf-8", "surrogatepass")) if text else None
            )
            self._memo.keep(memo_key, entry)
        return entry
