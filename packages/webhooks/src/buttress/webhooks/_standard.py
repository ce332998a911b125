"""Standard Webhooks: `WebhookSigner` and `WebhookVerifier` (``v1`` HMAC-SHA256 and ``v1a`` ed25519)."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from buttress.core import Clock, SystemClock

from ._checks import clock_or_system
from ._keys import Ed25519SigningKey, Ed25519VerifyKey, HmacKey, parse_key
from ._metrics import counted_verifications
from ._verify import (
    Headers,
    VerifiedWebhook,
    body_bytes,
    header,
    parse_unix_seconds,
    signing_time,
    tolerance_seconds,
    utc,
)
from .exceptions import (
    InvalidSecretError,
    MalformedHeaderError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    WebhooksConfigurationError,
    WebhooksTypeError,
)

__all__ = ["DEFAULT_TOLERANCE", "WebhookSigner", "WebhookVerifier", "new_message_id"]

DEFAULT_TOLERANCE: Final = 300.0
# A signature header carries one entry per active key; more than this is an attack, not a rotation.
_MAX_SIGNATURES: Final = 32
_MAX_ID_LENGTH: Final = 256

type KeyInput = str | bytes | HmacKey | Ed25519SigningKey | Ed25519VerifyKey


def new_message_id() -> str:
    """Return a fresh, unguessable message id: ``msg_`` and 24 URL-safe characters from `secrets`."""
    return "msg_" + secrets.token_urlsafe(18)


def _key_list(keys: KeyInput | Sequence[KeyInput], parameter: str) -> list[KeyInput]:
    if isinstance(keys, str | bytes | HmacKey | Ed25519SigningKey | Ed25519VerifyKey):
        return [keys]
    if isinstance(keys, Sequence) and keys:
        return [*keys]
    raise InvalidSecretError(parameter, "must be one secret or key, or a non-empty sequence of them")


def _content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return b"%s.%s.%s" % (msg_id.encode("ascii"), timestamp.encode("ascii"), body)


class WebhookSigner:
    """Signs webhooks the Standard Webhooks way.

    Give it one key, or several during a rotation: every key signs, and the ``webhook-signature`` header
    carries all the signatures separated by spaces, so receivers holding either secret accept it.

    Args:
        keys: ``whsec_`` secrets (``v1``, HMAC-SHA256) and/or ``whsk_`` private keys (``v1a``, ed25519).
        clock: Where the default timestamp comes from.

    Raises:
        InvalidSecretError: A key is malformed, or is a ``whpk_`` public key (which cannot sign).

    Examples:
        >>> signer = WebhookSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        >>> signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """

    __slots__ = ("_clock", "_keys")

    def __init__(self, keys: KeyInput | Sequence[KeyInput], *, clock: Clock | None = None) -> None:
        parsed: list[HmacKey | Ed25519SigningKey] = []
        for index, raw in enumerate(_key_list(keys, "keys")):
            key = parse_key(raw, parameter=f"keys[{index}]")
            if isinstance(key, Ed25519VerifyKey):
                raise InvalidSecretError(f"keys[{index}]", "a whpk_ public key verifies but cannot sign")
            parsed.append(key)
        self._keys = tuple(parsed)
        self._clock: Clock = clock_or_system(clock)

    def sign(self, msg_id: str, timestamp: int | datetime, body: bytes | str) -> str:
        """Return the ``webhook-signature`` header value for one message.

        Args:
            msg_id: The ``webhook-id``: 1 to 256 printable ASCII characters.
            timestamp: Unix seconds, or an aware datetime.
            body: The exact bytes that will be sent (a str is encoded as UTF-8).

        Raises:
            WebhooksConfigurationError: ``msg_id`` or ``timestamp`` is invalid.
        """
        if not isinstance(msg_id, str) or not (
            0 < len(msg_id) <= _MAX_ID_LENGTH and msg_id.isascii() and msg_id.isprintable()
        ):
            raise WebhooksConfigurationError("msg_id", msg_id, "must be 1 to 256 printable ASCII characters")
        content = _content(msg_id, str(signing_time(timestamp)), _outgoing_body(body))
        return " ".join(key.signature(content) for key in self._keys)

    def headers(
        self, body: bytes | str, *, msg_id: str | None = None, timestamp: int | datetime | None = None
    ) -> dict[str, str]:
        """Return the three Standard Webhooks headers for ``body``.

        Args:
            body: The exact bytes that will be sent.
            msg_id: The message id; a new one (`new_message_id`) when omitted. Keep it the same across
                retries of one message: receivers deduplicate on it.
            timestamp: The signing time; the clock's now when omitted.
        """
        msg_id = new_message_id() if msg_id is None else msg_id
        when = signing_time(self._clock.now() if timestamp is None else timestamp)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(when),
            "webhook-signature": self.sign(msg_id, when, body),
        }

    def __repr__(self) -> str:
        return f"WebhookSigner(keys={len(self._keys)})"


def _outgoing_body(body: bytes | str) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise WebhooksConfigurationError(
                "body", "str", "is not valid Unicode (a lone surrogate)"
            ) from None
    raise WebhooksTypeError("body", "bytes or str", body)


class WebhookVerifier:
    """Verifies Standard Webhooks: the three headers, the timestamp window and the signatures.

    Every key is tried against every signature in the header, so a receiver can hold the old and the
    new secret while the sender rotates. HMAC signatures are compared in constant time; the HMAC state
    of each key is computed once, here, not per call.

    Args:
        keys: ``whsec_`` secrets (``v1``) and/or ``whpk_`` public keys (``v1a``); a ``whsk_`` private key is
            accepted too and its public half is used.
        tolerance: How far the signed timestamp may be from now, in either direction (seconds or a
            timedelta; ``None`` turns the check off). Defaults to 5 minutes.
        clock: The receiver's clock.
        accept_svix_headers: Also read ``svix-id``/``svix-timestamp``/``svix-signature`` when the
            ``webhook-*`` headers are absent.

    Raises:
        InvalidSecretError: A key is malformed.
        WebhooksConfigurationError: The tolerance is not positive.

    Examples:
        >>> verifier = WebhookVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", tolerance=None)
        >>> verifier.verify(
        ...     {
        ...         "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        ...         "webhook-timestamp": "1614265330",
        ...         "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ...     },
        ...     b'{"test": 2432232314}',
        ... ).id
        'msg_p5jXN8AQM9LWM0D4loKWxJek'
    """

    __slots__ = ("_aliases", "_clock", "_ed25519", "_hmac", "_single", "_system_clock", "_tolerance")

    def __init__(
        self,
        keys: KeyInput | Sequence[KeyInput],
        *,
        tolerance: float | timedelta | None = DEFAULT_TOLERANCE,
        clock: Clock | None = None,
        accept_svix_headers: bool = True,
    ) -> None:
        hmac_keys: list[HmacKey] = []
        ed_keys: list[Ed25519VerifyKey] = []
        for index, raw in enumerate(_key_list(keys, "keys")):
            key = parse_key(raw, parameter=f"keys[{index}]")
            if isinstance(key, HmacKey):
                hmac_keys.append(key)
            elif isinstance(key, Ed25519SigningKey):
                ed_keys.append(key.public_key())
            else:
                ed_keys.append(key)
        self._hmac = tuple(hmac_keys)
        self._ed25519 = tuple(ed_keys)
        self._tolerance = tolerance_seconds(tolerance)
        self._clock: Clock = clock_or_system(clock)
        # The system clock's now() is time.time(); reading it directly saves a datetime per call.
        self._system_clock = type(self._clock) is SystemClock
        if not isinstance(accept_svix_headers, bool):
            raise WebhooksConfigurationError("accept_svix_headers", accept_svix_headers, "must be a bool")
        self._aliases: tuple[str, ...] = (
            ("svix-id", "svix-timestamp", "svix-signature") if accept_svix_headers else ()
        )
        # One HMAC key and a one-signature header is the usual case: compare the whole entry directly.
        self._single = self._hmac[0] if len(self._hmac) == 1 and not self._ed25519 else None

    @property
    def tolerance(self) -> float | None:
        """The timestamp tolerance in seconds, or ``None`` when it is not checked."""
        return self._tolerance

    @property
    def replay_window(self) -> float | None:
        """Twice the tolerance: how long a captured webhook keeps verifying."""
        return None if self._tolerance is None else 2 * self._tolerance

    @counted_verifications("standard")
    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify one received webhook.

        Args:
            headers: The request's headers; names are matched case-insensitively.
            body: The raw request body, exactly as received.

        Returns:
            The verified webhook (id, timestamp, body).

        Raises:
            MissingHeaderError: ``webhook-id``, ``webhook-timestamp`` or ``webhook-signature`` is absent.
            MalformedHeaderError: A header is not in the spec's form.
            InvalidBodyError: The body is not bytes/str, or not UTF-8.
            TimestampOutsideToleranceError: The timestamp is outside the tolerance.
            SignatureMismatchError: No signature matches.
        """
        # The common case (bytes body, lower-case str headers in a dict-like object) runs inline;
        # anything unusual takes the general path, which raises the precise error.
        data = body if type(body) is bytes and body.isascii() else body_bytes(body)
        get = getattr(headers, "get", None)
        msg_id = get("webhook-id") if get is not None else None
        stamp = get("webhook-timestamp") if get is not None else None
        signatures = get("webhook-signature") if get is not None else None
        if type(msg_id) is not str or not msg_id:
            msg_id = header(headers, "webhook-id", *self._aliases[:1])
        if type(stamp) is not str or not stamp:
            stamp = header(headers, "webhook-timestamp", *self._aliases[1:2])
        if type(signatures) is not str or not signatures:
            signatures = header(headers, "webhook-signature", *self._aliases[2:])
        if not (len(msg_id) <= _MAX_ID_LENGTH and msg_id.isascii() and msg_id.isprintable()):
            raise MalformedHeaderError(
                "webhook-id", f"must be 1 to {_MAX_ID_LENGTH} printable ASCII characters"
            )
        seconds = parse_unix_seconds("webhook-timestamp", stamp)
        if self._tolerance is not None:
            now = time.time() if self._system_clock else self._clock.now().timestamp()
            if abs(now - seconds) > self._tolerance:
                raise TimestampOutsideToleranceError(utc(seconds), utc(now), self._tolerance)
        content = b"%s.%s.%s" % (msg_id.encode("ascii"), stamp.encode("ascii"), data)
        single = self._single
        fast = single is not None and " " not in signatures and signatures.isascii()
        if not (fast and hmac.compare_digest(single.signature(content), signatures)):  # type: ignore[union-attr]
            self._check_signatures(signatures, content)
        return VerifiedWebhook("standard", msg_id, utc(seconds), data, msg_id)

    def _check_signatures(self, signatures: str, content: bytes) -> None:
        entries = signatures.split(" ")
        if len(entries) > _MAX_SIGNATURES:
            raise MalformedHeaderError("webhook-signature", f"more than {_MAX_SIGNATURES} signatures")
        expected: list[str] | None = None
        understood = 0
        for entry in entries:
            version, comma, value = entry.partition(",")
            if not comma or not value or not entry.isascii():
                continue
            if version == "v1":
                understood += 1
                if expected is None:
                    expected = [key.signature(content) for key in self._hmac]
                for candidate in expected:
                    if hmac.compare_digest(candidate, entry):
                        return
            elif version == "v1a":
                understood += 1
                if self._ed25519 and self._ed25519_matches(value, content):
                    return
        if not understood:
            raise MalformedHeaderError("webhook-signature", "no 'v1,<base64>' or 'v1a,<base64>' signature")
        raise SignatureMismatchError("no signature in the webhook-signature header matches any key")

    def _ed25519_matches(self, value: str, content: bytes) -> bool:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 64:
            return False
        return any(key.verify(raw, content) for key in self._ed25519)

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(hmac_keys={len(self._hmac)}, ed25519_keys={len(self._ed25519)}, "
            f"tolerance={self._tolerance})"
        )
