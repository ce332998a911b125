"""`AesGcmCipher`: AES-256-GCM encryption of stored payloads (extra ``encryption``)."""

from __future__ import annotations

import secrets

from .exceptions import (
    EventSerializationError,
    EventSourcingConfigurationError,
    EventSourcingTypeError,
    MissingExtraError,
)

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as exc:  # pragma: no cover - exercised by the bare install check
    raise MissingExtraError("AesGcmCipher", "encryption") from exc

__all__ = ["AesGcmCipher"]

_NONCE = 12


class AesGcmCipher:
    """A `Cipher` using AES-GCM with a fresh random 96-bit nonce per payload.

    The nonce is stored in front of the ciphertext; the 16-byte tag authenticates both the payload and
    the associated data (`EventCodec` passes the event id), so a payload copied onto another event, or
    changed by one bit, fails to decrypt.

    Args:
        key: 16, 24 or 32 bytes (AES-128/192/256). Keep it out of the database; use `generate_key`.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise EventSourcingTypeError("key", "bytes", key)
        if len(key) not in (16, 24, 32):
            raise EventSourcingConfigurationError(
                "key", "<redacted>", "must be 16, 24 or 32 bytes", show_value=False
            )
        self._aead = AESGCM(key)

    @staticmethod
    def generate_key(bits: int = 256) -> bytes:
        """Return a new random key of ``bits`` (128, 192 or 256) bits."""
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise EventSourcingTypeError("bits", "an int", bits)
        if bits not in (128, 192, 256):
            raise EventSourcingConfigurationError("bits", bits, "must be 128, 192 or 256")
        return secrets.token_bytes(bits // 8)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Return nonce + ciphertext + tag."""
        _check_bytes(plaintext, "plaintext")
        _check_bytes(associated_data, "associated_data")
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """Return the plaintext.

        Raises:
            EventSerializationError: The data was changed, belongs to other associated data, or was
                encrypted with another key.
        """
        _check_bytes(ciphertext, "ciphertext")
        _check_bytes(associated_data, "associated_data")
        if len(ciphertext) < _NONCE + 16:
            raise EventSerializationError("aes-gcm", "loads", "the ciphertext is too short")
        try:
            return self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], associated_data)
        except InvalidTag as exc:
            raise EventSerializationError(
                "aes-gcm", "loads", "authentication failed (wrong key, or the data was changed)"
            ) from exc

    def __repr__(self) -> str:
        return "AesGcmCipher(key=<redacted>)"


def _check_bytes(value: object, parameter: str) -> None:
    if not isinstance(value, bytes):
        raise EventSourcingTypeError(parameter, "bytes", value)
