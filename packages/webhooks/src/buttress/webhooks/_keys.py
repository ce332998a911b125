"""Secrets and keys of the Standard Webhooks scheme: ``whsec_`` (HMAC), ``whsk_``/``whpk_`` (ed25519)."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from .exceptions import InvalidSecretError, MissingExtraError, WebhooksConfigurationError

_openssl_hmac: Callable[..., Any] | None
try:
    # OpenSSL's HMAC object, whose copy() is a single C call; hmac.new wraps the same object in Python.
    from _hashlib import hmac_new as _openssl_hmac
except ImportError:  # pragma: no cover - Python built without OpenSSL
    _openssl_hmac = None

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "HMAC_PREFIX",
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "PRIVATE_KEY_PREFIX",
    "PUBLIC_KEY_PREFIX",
    "Ed25519SigningKey",
    "Ed25519VerifyKey",
    "HmacKey",
    "generate_secret",
    "generate_signing_keypair",
    "parse_key",
]

HMAC_PREFIX: Final = "whsec_"
PRIVATE_KEY_PREFIX: Final = "whsk_"
PUBLIC_KEY_PREFIX: Final = "whpk_"
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64


def _not_bytes(parameter: str, value: object) -> WebhooksConfigurationError:
    return WebhooksConfigurationError(parameter, type(value).__name__, "must be bytes", show_value=False)


def _raw_key(key: object, prefix: str, parameter: str) -> bytes:
    """The key bytes of a ``whsk_``/``whpk_`` string, or of raw bytes."""
    if isinstance(key, str):
        return _b64decode(parameter, key.removeprefix(prefix))
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    raise InvalidSecretError(parameter, f"must be a {prefix} str or 32 bytes, got {type(key).__name__}")


def _b64decode(parameter: str, text: str) -> bytes:
    body = text.strip()
    # Secrets are often copied without their padding; put it back before a strict decode.
    body += "=" * (-len(body) % 4)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretError(parameter, "is not valid base64 after its prefix") from None


class HmacKey:
    """A ``whsec_`` secret, ready to sign: its HMAC-SHA256 state is computed once and copied per message.

    Args:
        secret: ``whsec_<base64>`` (the prefix may be left out) or the raw key bytes; 24 to 64 bytes.
        parameter: The argument's name, for error messages.

    Raises:
        InvalidSecretError: Not base64, or not 24 to 64 bytes long.
    """

    __slots__ = ("_base", "_key")

    version: Final = "v1"

    def __init__(self, secret: str | bytes, *, parameter: str = "secret") -> None:
        if isinstance(secret, str):
            key = _b64decode(parameter, secret.removeprefix(HMAC_PREFIX))
        elif isinstance(secret, bytes | bytearray):
            key = bytes(secret)
        else:
            raise InvalidSecretError(parameter, f"must be a str or bytes, got {type(secret).__name__}")
        if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
            raise InvalidSecretError(
                parameter, f"must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, got {len(key)}"
            )
        self._key = key
        self._base = _new_mac(key)

    def digest(self, content: bytes) -> bytes:
        """Return HMAC-SHA256 of ``content`` (bytes-like) under this key.

        Raises:
            WebhooksConfigurationError: ``content`` is not bytes-like.
        """
        mac = self._base.copy()
        try:
            mac.update(content)
        except TypeError:
            raise _not_bytes("content", content) from None
        return mac.digest()

    def signature(self, content: bytes) -> str:
        """Return the ``v1,<base64>`` signature of ``content`` (bytes-like).

        Raises:
            WebhooksConfigurationError: ``content`` is not bytes-like.
        """
        mac = self._base.copy()
        try:
            mac.update(content)
        except TypeError:
            raise _not_bytes("content", content) from None
        return "v1," + binascii.b2a_base64(mac.digest(), newline=False).decode("ascii")

    def export(self) -> str:
        """Return the key as a ``whsec_`` string."""
        return HMAC_PREFIX + base64.b64encode(self._key).decode("ascii")

    def __repr__(self) -> str:
        return "HmacKey(whsec_***)"


class _Mac(Protocol):
    """What the HMAC state offers: copy, update, digest (hmac.HMAC or OpenSSL's object)."""

    def copy(self) -> _Mac:
        """Return an independent copy of the state."""
        ...

    def update(self, data: bytes, /) -> None:
        """Feed bytes."""
        ...

    def digest(self) -> bytes:
        """Return the MAC."""
        ...


def _new_mac(key: bytes) -> _Mac:
    if _openssl_hmac is not None:
        try:
            mac: _Mac = _openssl_hmac(key, digestmod="sha256")
        except (TypeError, ValueError):  # pragma: no cover - a FIPS build refusing the call
            pass
        else:
            return mac
    return hmac.new(key, digestmod="sha256")


def _ed25519() -> tuple[type[Ed25519PrivateKey], type[Ed25519PublicKey]]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
            Ed25519PrivateKey,
            Ed25519PublicKey,
        )
    except ImportError as exc:  # pragma: no cover - exercised by the bare-install session
        raise MissingExtraError("v1a (ed25519) signatures", "ed25519") from exc
    return Ed25519PrivateKey, Ed25519PublicKey


class Ed25519VerifyKey:
    """A ``whpk_`` public key: verifies ``v1a`` signatures (needs the ``ed25519`` extra).

    Raises:
        InvalidSecretError: Not base64, or not a 32-byte ed25519 public key.
    """

    __slots__ = ("_key", "_raw")

    version: Final = "v1a"

    def __init__(self, key: str | bytes, *, parameter: str = "key") -> None:
        raw = _raw_key(key, PUBLIC_KEY_PREFIX, parameter)
        if len(raw) != 32:
            raise InvalidSecretError(parameter, f"an ed25519 public key is 32 bytes, got {len(raw)}")
        _, public = _ed25519()
        self._raw = bytes(raw)
        self._key = public.from_public_bytes(self._raw)

    def verify(self, signature: bytes, content: bytes) -> bool:
        """Return whether ``signature`` is this key's signature of ``content`` (both bytes-like).

        Raises:
            WebhooksConfigurationError: An argument is not bytes-like.
        """
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

        for name, value in (("signature", signature), ("content", content)):
            if not isinstance(value, bytes | bytearray | memoryview):
                raise _not_bytes(name, value)
        try:
            self._key.verify(bytes(signature), bytes(content))
        except InvalidSignature:
            return False
        return True

    def export(self) -> str:
        """Return the key as a ``whpk_`` string."""
        return PUBLIC_KEY_PREFIX + base64.b64encode(self._raw).decode("ascii")

    def __repr__(self) -> str:
        return f"Ed25519VerifyKey({self.export()!r})"


class Ed25519SigningKey:
    """A ``whsk_`` private key: signs ``v1a`` (needs the ``ed25519`` extra).

    The ``whsk_`` payload is the 32-byte ed25519 seed, base64-encoded.

    Raises:
        InvalidSecretError: Not base64, or not a 32-byte seed.
    """

    __slots__ = ("_key", "_raw")

    version: Final = "v1a"

    def __init__(self, key: str | bytes, *, parameter: str = "key") -> None:
        raw = _raw_key(key, PRIVATE_KEY_PREFIX, parameter)
        if len(raw) != 32:
            raise InvalidSecretError(parameter, f"an ed25519 private key is 32 bytes, got {len(raw)}")
        private, _ = _ed25519()
        self._raw = bytes(raw)
        self._key = private.from_private_bytes(self._raw)

    def signature(self, content: bytes) -> str:
        """Return the ``v1a,<base64>`` signature of ``content`` (bytes-like).

        Raises:
            WebhooksConfigurationError: ``content`` is not bytes-like.
        """
        if not isinstance(content, bytes | bytearray | memoryview):
            raise _not_bytes("content", content)
        return "v1a," + base64.b64encode(self._key.sign(bytes(content))).decode("ascii")

    def public_key(self) -> Ed25519VerifyKey:
        """Return the matching public key, to hand to receivers."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: PLC0415

        return Ed25519VerifyKey(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def export(self) -> str:
        """Return the key as a ``whsk_`` string."""
        return PRIVATE_KEY_PREFIX + base64.b64encode(self._raw).decode("ascii")

    def __repr__(self) -> str:
        return "Ed25519SigningKey(whsk_***)"


def generate_secret(size: int = 32) -> str:
    """Return a new random ``whsec_`` secret of ``size`` bytes (24 to 64), from `secrets`.

    Raises:
        InvalidSecretError: ``size`` is outside 24..64.
    """
    if not isinstance(size, int) or not MIN_SECRET_BYTES <= size <= MAX_SECRET_BYTES:
        raise InvalidSecretError("size", f"must be an int from {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}")
    return HMAC_PREFIX + base64.b64encode(_secrets.token_bytes(size)).decode("ascii")


def generate_signing_keypair() -> tuple[str, str]:
    """Return a new ``(whsk_..., whpk_...)`` ed25519 key pair for ``v1a`` (needs the ``ed25519`` extra)."""
    key = Ed25519SigningKey(_secrets.token_bytes(32))
    return key.export(), key.public_key().export()


type SigningKey = HmacKey | Ed25519SigningKey
type VerifyKey = HmacKey | Ed25519VerifyKey


def parse_key(
    value: str | bytes | HmacKey | Ed25519SigningKey | Ed25519VerifyKey, *, parameter: str
) -> HmacKey | Ed25519SigningKey | Ed25519VerifyKey:
    """Turn a ``whsec_``/``whsk_``/``whpk_`` string (or raw HMAC bytes) into a key object."""
    if isinstance(value, HmacKey | Ed25519SigningKey | Ed25519VerifyKey):
        return value
    if isinstance(value, str):
        if value.startswith(PRIVATE_KEY_PREFIX):
            return Ed25519SigningKey(value, parameter=parameter)
        if value.startswith(PUBLIC_KEY_PREFIX):
            return Ed25519VerifyKey(value, parameter=parameter)
        return HmacKey(value, parameter=parameter)
    if isinstance(value, bytes | bytearray):
        return HmacKey(bytes(value), parameter=parameter)
    raise InvalidSecretError(
        parameter, f"must be a whsec_/whsk_/whpk_ str or bytes, got {type(value).__name__}"
    )
