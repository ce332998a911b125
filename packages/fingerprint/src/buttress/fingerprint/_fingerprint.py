"""`Fingerprint`: what a `Fingerprinter` returns, and its record for storage.

It holds keyed hashes and a confidence score, nothing of the request itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Self

from ._components import Component
from .exceptions import InvalidFingerprintError

__all__ = [
    "DIGEST_HEX",
    "SET_COMPONENTS",
    "SET_CONFIDENCE",
    "SET_DIGEST",
    "SET_KEY_ID",
    "SET_LOW",
    "SET_PURPOSE",
    "Fingerprint",
]

DIGEST_HEX: Final = re.compile(r"[0-9a-f]{64}")
"""A digest as stored: 64 lower-case hex digits."""
_COMPONENT_HEX: Final = re.compile(r"[0-9a-f]{32}")
_KEY_ID_HEX: Final = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A request's fingerprint: keyed hashes and a confidence score, nothing of the request itself.

    Attributes:
        digest: HMAC-SHA256 of the canonical encoding of every component used, as 64 hex digits.
            Equal digests mean equal components (under the same key and purpose).
        key_id: A short public identifier of the key that made it (not the key, nor derived usefully
            from it), so you can tell fingerprints made before a key rotation.
        purpose: The purpose declared by the `Fingerprinter`.
        components: Each component used, mapped to its own keyed hash (32 hex digits); what
            `Fingerprinter.similarity` compares.
        confidence: From 0 to 1: the estimated bits of the components present, over 33 bits.
        low_confidence: Fewer high-entropy components were present than the `Fingerprinter` asks for:
            many browsers would share this fingerprint.
    """

    digest: str
    key_id: str
    purpose: str
    components: Mapping[Component, str]
    confidence: float
    low_confidence: bool

    def __str__(self) -> str:
        return self.digest

    def __hash__(self) -> int:
        return hash((self.digest, self.key_id, self.purpose))

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready record of the fingerprint, for storage; `from_dict` reads it back."""
        return {
            "digest": self.digest,
            "key_id": self.key_id,
            "purpose": self.purpose,
            "components": {str(c): d for c, d in self.components.items()},
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> Self:
        """Read a record made by `to_dict`.

        Raises:
            InvalidFingerprintError: The record is not shaped like one.
        """
        if not isinstance(record, Mapping):
            raise InvalidFingerprintError("a record must be a mapping")
        digest, key_id, purpose = record.get("digest"), record.get("key_id"), record.get("purpose")
        if not isinstance(digest, str) or not DIGEST_HEX.fullmatch(digest):
            raise InvalidFingerprintError("'digest' must be 64 lower-case hex digits")
        if not isinstance(key_id, str) or not _KEY_ID_HEX.fullmatch(key_id):
            raise InvalidFingerprintError("'key_id' must be 12 lower-case hex digits")
        if not isinstance(purpose, str) or not purpose:
            raise InvalidFingerprintError("'purpose' must be a non-empty string")
        confidence = record.get("confidence")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not 0 <= confidence <= 1
        ):
            raise InvalidFingerprintError("'confidence' must be a number from 0 to 1")
        low = record.get("low_confidence")
        if not isinstance(low, bool):
            raise InvalidFingerprintError("'low_confidence' must be a bool")
        raw = record.get("components")
        if not isinstance(raw, Mapping):
            raise InvalidFingerprintError("'components' must be a mapping")
        components: dict[Component, str] = {}
        for name, value in raw.items():
            try:
                component = Component(name)
            except ValueError:
                raise InvalidFingerprintError("'components' names an unknown component") from None
            if not isinstance(value, str) or not _COMPONENT_HEX.fullmatch(value):
                raise InvalidFingerprintError("a component hash must be 32 lower-case hex digits")
            components[component] = value
        return cls(digest, key_id, purpose, MappingProxyType(components), float(confidence), low)


# The slots' own setters: `Fingerprinter` fills a new Fingerprint through them, skipping the frozen
# __init__'s checks (a fifth of the cost of a fingerprint not seen before) for values it made itself.
SET_DIGEST, SET_KEY_ID, SET_PURPOSE, SET_COMPONENTS, SET_CONFIDENCE, SET_LOW = (
    vars(Fingerprint)[name].__set__
    for name in ("digest", "key_id", "purpose", "components", "confidence", "low_confidence")
)
