"""Serializers for caches that store bytes: msgpack, and pickle signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from typing import Any, cast

from ._validation import check_bool
from .exceptions import (
    CacheSerializationError,
    CachingConfigurationError,
    CachingTypeError,
    MissingExtraError,
    SignatureMismatchError,
)

_MIN_SECRET_BYTES = 32


class PickleSerializer[T]:
    """Pickles values and signs them, so a poisoned cache cannot run code in your process.

    ``loads`` checks an HMAC-SHA256 signature over the pickle, in constant time, before it unpickles
    anything; bytes written by anyone without ``secret`` raise `SignatureMismatchError` instead. Use it
    for Python objects JSON cannot hold. Every process sharing the cache needs the same secret; rotate
    by passing the old secret in ``previous_secrets`` until old entries have expired.

    Args:
        secret: At least 32 bytes from a secrets manager (``secrets.token_bytes(32)``).
        previous_secrets: Secrets whose signatures are still accepted on read (never used to sign).
        protocol: The pickle protocol, from 0 to `pickle.HIGHEST_PROTOCOL` (-1 means the highest).

    Raises:
        CachingConfigurationError: A secret shorter than 32 bytes or not bytes, or a bad ``protocol``.
    """

    __slots__ = ("_keys", "_protocol")

    format_name = "pickle+hmac-sha256"

    def __init__(
        self,
        secret: bytes,
        *,
        previous_secrets: tuple[bytes, ...] = (),
        protocol: int = pickle.HIGHEST_PROTOCOL,
    ) -> None:
        if not isinstance(previous_secrets, tuple | list):
            raise CachingConfigurationError(
                "previous_secrets", None, "must be a tuple of secrets (bytes)", show_value=False
            )
        for name, value in (("secret", secret), *(("previous_secrets", s) for s in previous_secrets)):
            if not isinstance(value, bytes) or len(value) < _MIN_SECRET_BYTES:
                raise CachingConfigurationError(
                    name, None, f"must be at least {_MIN_SECRET_BYTES} random bytes", show_value=False
                )
        if (
            isinstance(protocol, bool)
            or not isinstance(protocol, int)
            or not -1 <= protocol <= pickle.HIGHEST_PROTOCOL
        ):
            raise CachingConfigurationError(
                "protocol", protocol, f"must be an int from -1 to {pickle.HIGHEST_PROTOCOL}"
            )
        self._keys = (secret, *previous_secrets)
        self._protocol = protocol

    def dumps(self, value: T) -> bytes:
        """Pickle ``value`` and prefix the signature."""
        try:
            body = pickle.dumps(value, protocol=self._protocol)
        except Exception as exc:
            # Whatever the value's own __reduce__ raises, or pickle's errors (PicklingError,
            # TypeError, RecursionError...): the value cannot be stored.
            raise CacheSerializationError(
                self.format_name,
                "dumps",
                f"{type(exc).__name__}: {exc}"[:300],
                type_name=type(value).__name__,
            ) from exc
        return hmac.digest(self._keys[0], body, hashlib.sha256) + body

    def loads(self, data: bytes) -> T:
        """Verify the signature, then unpickle.

        Raises:
            CachingTypeError: ``data`` is not bytes.
            SignatureMismatchError: The signature is missing or was not made with a known secret.
            CacheSerializationError: The signature is good but the pickle cannot be loaded.
        """
        data = _bytes(data)
        signature, body = data[:32], data[32:]
        if len(signature) != 32 or not any(
            hmac.compare_digest(signature, hmac.digest(key, body, hashlib.sha256)) for key in self._keys
        ):
            raise SignatureMismatchError(
                self.format_name, "loads", "signature does not verify; payload not loaded"
            )
        try:
            return cast("T", pickle.loads(body))  # noqa: S301 - signature verified above
        except Exception as exc:
            raise CacheSerializationError(self.format_name, "loads", str(exc)) from exc

    def __repr__(self) -> str:
        return "PickleSerializer(secret=***)"


class MsgpackSerializer[T]:
    """Encodes values with msgpack (extra ``msgpack``): compact and fast for JSON-like data.

    Tuples come back as lists unless ``use_list=False``, and bytes round-trip as bytes.
    """

    __slots__ = ("_msgpack", "_use_list")

    format_name = "msgpack"

    def __init__(self, *, use_list: bool = True) -> None:
        check_bool("use_list", use_list)
        try:
            import msgpack  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise MissingExtraError("MsgpackSerializer", "msgpack") from exc
        self._msgpack: Any = msgpack
        self._use_list = use_list

    def dumps(self, value: T) -> bytes:
        """Encode ``value`` with msgpack."""
        try:
            return cast("bytes", self._msgpack.packb(value, use_bin_type=True))
        except Exception as exc:
            raise CacheSerializationError(
                self.format_name,
                "dumps",
                f"{type(exc).__name__}: {exc}"[:300],
                type_name=type(value).__name__,
            ) from exc

    def loads(self, data: bytes) -> T:
        """Decode msgpack bytes.

        Raises:
            CachingTypeError: ``data`` is not bytes.
            CacheSerializationError: ``data`` is not valid msgpack.
        """
        data = _bytes(data)
        try:
            return cast("T", self._msgpack.unpackb(data, raw=False, use_list=self._use_list))
        except Exception as exc:
            raise CacheSerializationError(self.format_name, "loads", str(exc)) from exc

    def __repr__(self) -> str:
        return "MsgpackSerializer()"


def _bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise CachingTypeError("data", "bytes", data)
