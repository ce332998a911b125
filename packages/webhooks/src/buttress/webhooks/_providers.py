"""Verifiers for Stripe (``Stripe-Signature``) and GitHub (``X-Hub-Signature-256``) webhooks."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from buttress.core import Clock

from ._checks import clock_or_system
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
    WebhookVerificationError,
)

__all__ = ["GitHubVerifier", "StripeVerifier"]

_MAX_HEADER = 8192
_MAX_ID_LENGTH = 256
# Explicit ASCII ranges: re's \d, like str.isdigit, would also take other scripts' digits.
_HEX_DIGEST: Final = re.compile(r"[0-9a-fA-F]{64}")


def _secrets(secrets: str | bytes | Sequence[str | bytes], parameter: str) -> tuple[bytes, ...]:
    items: Sequence[str | bytes] = [secrets] if isinstance(secrets, str | bytes) else secrets
    if not isinstance(items, Sequence) or not items:
        raise InvalidSecretError(parameter, "must be a secret or a non-empty sequence of secrets")
    keys: list[bytes] = []
    for index, item in enumerate(items):
        try:
            key = item.encode("utf-8") if isinstance(item, str) else item
        except UnicodeEncodeError:
            raise InvalidSecretError(f"{parameter}[{index}]", "must be encodable as UTF-8") from None
        if not isinstance(key, bytes) or not key:
            raise InvalidSecretError(f"{parameter}[{index}]", "must be a non-empty str or bytes")
        keys.append(key)
    return tuple(keys)


def _hex_digest(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


class StripeVerifier:
    """Verifies Stripe webhooks: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

    The signed content is ``{t}.{body}`` under HMAC-SHA256 with the endpoint's ``whsec_...`` secret,
    used as-is (Stripe does not base64-decode it). Any ``v1`` entry may match (Stripe sends one per
    active secret while you roll it). The timestamp must be within the tolerance in both directions.

    Args:
        secrets: The endpoint's signing secret(s).
        tolerance: Allowed distance of ``t`` from now (default 300 s; ``None`` disables the check).
        clock: The receiver's clock.
    """

    __slots__ = ("_clock", "_keys", "_tolerance")

    def __init__(
        self,
        secrets: str | bytes | Sequence[str | bytes],
        *,
        tolerance: float | timedelta | None = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self._keys = _secrets(secrets, "secrets")
        self._tolerance = tolerance_seconds(tolerance)
        self._clock: Clock = clock_or_system(clock)

    @property
    def replay_window(self) -> float | None:
        """Twice the tolerance."""
        return None if self._tolerance is None else 2 * self._tolerance

    def sign(self, body: bytes | str, timestamp: int | None = None) -> str:
        """Return a ``Stripe-Signature`` value for ``body`` (for tests and local senders)."""
        data = body_bytes(body)
        when = signing_time(self._clock.now() if timestamp is None else timestamp)
        content = b"%d.%s" % (when, data)
        return ",".join([f"t={when}", *(f"v1={_hex_digest(k, content)}" for k in self._keys)])

    @counted_verifications("stripe")
    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify a Stripe webhook.

        Raises:
            MissingHeaderError: No ``Stripe-Signature`` header.
            MalformedHeaderError: No ``t=`` timestamp or no ``v1=`` signature in it.
            InvalidBodyError: The body is not UTF-8.
            TimestampOutsideToleranceError: ``t`` is outside the tolerance.
            SignatureMismatchError: No ``v1`` signature matches.
        """
        data = body_bytes(body)
        value = header(headers, "stripe-signature")
        if len(value) > _MAX_HEADER or not value.isascii():
            raise MalformedHeaderError("stripe-signature", "too long or not ASCII")
        stamp: str | None = None
        signatures: list[str] = []
        for item in value.split(","):
            name, eq, text = item.strip().partition("=")
            if not eq:
                continue
            if name == "t":
                stamp = text
            elif name == "v1":
                signatures.append(text.lower())
        if stamp is None:
            raise MalformedHeaderError("stripe-signature", "no t=<unix seconds> timestamp")
        seconds = parse_unix_seconds("stripe-signature", stamp)
        if not signatures:
            raise MalformedHeaderError("stripe-signature", "no v1=<hex> signature")
        if self._tolerance is not None:
            now = self._clock.now()
            if abs(now.timestamp() - seconds) > self._tolerance:
                raise TimestampOutsideToleranceError(utc(seconds), now, self._tolerance)
        content = b"%s.%s" % (stamp.encode("ascii"), data)
        for key in self._keys:
            expected = _hex_digest(key, content)
            for candidate in signatures:
                if hmac.compare_digest(expected, candidate):
                    return VerifiedWebhook("stripe", None, utc(seconds), data, f"stripe:{candidate}")
        raise SignatureMismatchError("no v1 signature in the Stripe-Signature header matches any secret")

    def __repr__(self) -> str:
        return f"StripeVerifier(secrets={len(self._keys)}, tolerance={self._tolerance})"


class GitHubVerifier:
    """Verifies GitHub webhooks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``.

    GitHub signs no timestamp, so a captured delivery verifies forever: pair it with a replay guard on
    ``X-GitHub-Delivery`` (the id this verifier returns).

    Args:
        secrets: The webhook secret(s) configured on GitHub (several while you rotate).
    """

    __slots__ = ("_keys",)

    def __init__(self, secrets: str | bytes | Sequence[str | bytes]) -> None:
        self._keys = _secrets(secrets, "secrets")

    @property
    def replay_window(self) -> float | None:
        """``None``: GitHub signs no timestamp."""
        return None

    def sign(self, body: bytes | str) -> str:
        """Return an ``X-Hub-Signature-256`` value for ``body`` under the first secret."""
        return "sha256=" + _hex_digest(self._keys[0], body_bytes(body))

    @counted_verifications("github")
    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify a GitHub webhook.

        Raises:
            MissingHeaderError: No ``X-Hub-Signature-256`` header.
            MalformedHeaderError: It is not ``sha256=<64 hex digits>``.
            InvalidBodyError: The body is not UTF-8.
            SignatureMismatchError: The signature does not match.
        """
        data = body_bytes(body)
        value = header(headers, "x-hub-signature-256")
        prefix, eq, digest = value.partition("=")
        if prefix != "sha256" or not eq or not _HEX_DIGEST.fullmatch(digest):
            raise MalformedHeaderError("x-hub-signature-256", "must be sha256=<64 hex digits>")
        candidate = digest.lower()
        for key in self._keys:
            if hmac.compare_digest(_hex_digest(key, data), candidate):
                delivery = _optional(headers, "x-github-delivery")
                return VerifiedWebhook("github", delivery, None, data, delivery or f"github:{candidate}")
        raise SignatureMismatchError("the X-Hub-Signature-256 signature does not match any secret")

    def __repr__(self) -> str:
        return f"GitHubVerifier(secrets={len(self._keys)})"


def _optional(headers: Headers, name: str) -> str | None:
    try:
        value = header(headers, name)
    except WebhookVerificationError:
        return None
    # Used as the replay key: one that is not a short printable ASCII id is ignored (the signature is used).
    return value if len(value) <= _MAX_ID_LENGTH and value.isascii() and value.isprintable() else None
