"""Shared pieces of every verifier: the result type, the Protocol and header/body checks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from buttress.core import ArgumentTypeError

from ._checks import positive_number
from .exceptions import (
    InvalidBodyError,
    MalformedHeaderError,
    MissingHeaderError,
    WebhooksConfigurationError,
)

__all__ = [
    "MAX_TIMESTAMP",
    "Headers",
    "VerifiedWebhook",
    "Verifier",
    "body_bytes",
    "header",
    "parse_unix_seconds",
    "signing_time",
    "tolerance_seconds",
    "utc",
]

# The last second a datetime can hold, 9999-12-31T23:59:59Z: a later "timestamp" names no time, and
# is refused as malformed before any arithmetic (12 digits reach 999999999999, the year 33658).
MAX_TIMESTAMP: Final = 253_402_300_799
# Signed timestamps are ASCII digits; twelve are enough for any time up to MAX_TIMESTAMP.
_MAX_TIMESTAMP_DIGITS: Final = 12


class Headers(Protocol):
    """**Protocol**: a request's headers, as every framework hands them over.

    A ``Mapping[str, str]`` (a dict, Starlette's and Django's headers) is one, and so are werkzeug's
    ``Headers`` (Flask's ``request.headers``) and other multi-dicts: lookups are case-insensitive
    either way.

    Methods:
        get: The value of one header, or ``None``.
        items: Every (name, value) pair.
    """

    def get(self, key: str, /) -> str | None:
        """The value of header ``key``, or ``None``."""
        ...

    def items(self) -> Iterable[tuple[str, str]]:
        """Every (name, value) pair."""
        ...


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A webhook whose signature checked out.

    Attributes:
        scheme: Which scheme verified it: ``"standard"``, ``"stripe"`` or ``"github"``.
        id: The sender's message id (``webhook-id``, ``X-GitHub-Delivery``), or ``None`` when the scheme
            has none in its headers (Stripe puts it in the body).
        timestamp: The signed timestamp, or ``None`` for schemes that sign none (GitHub).
        body: The raw body that was signed.
        replay_key: What a replay guard remembers: the id when there is one, otherwise the signature.
        claim_token: The replay guard's token for this delivery's claim, set by
            `WebhookReceiver.receive` (``None`` from a bare verifier, or without a guard). Give the
            webhook back to `WebhookReceiver.complete` or `WebhookReceiver.forget`. Not compared, not shown.
    """

    scheme: str
    id: str | None
    timestamp: datetime | None
    body: bytes
    replay_key: str
    claim_token: str | None = field(default=None, repr=False, compare=False)

    def json(self) -> object:
        """Return the body parsed as JSON.

        Raises:
            InvalidBodyError: The body is not JSON (or nests deeper than the parser can follow).
        """
        try:
            return json.loads(self.body)
        except (ValueError, TypeError, RecursionError):
            raise InvalidBodyError("the webhook body is not valid JSON") from None


@runtime_checkable
class Verifier(Protocol):
    """**Protocol**: checks that a received webhook is authentic.

    `WebhookVerifier` (Standard Webhooks), `StripeVerifier` and `GitHubVerifier` implement it, and
    `WebhookReceiver` / `WebhookEndpoint` accept any of them.

    Attributes:
        replay_window: How many seconds a captured webhook would keep verifying (twice the tolerance,
            since it is enforced both ways), or ``None`` when the scheme signs no timestamp. A replay
            guard must remember ids at least this long.

    Methods:
        verify: Return the `VerifiedWebhook`, or raise a `WebhookVerificationError` subclass.
    """

    @property
    def replay_window(self) -> float | None:
        """Seconds a captured webhook keeps verifying; ``None`` when unbounded."""
        ...

    def verify(self, headers: Headers, body: bytes | str) -> VerifiedWebhook:
        """Verify ``body`` against ``headers``; raise a `WebhookVerificationError` subclass if it fails."""
        ...


def header(headers: Headers, name: str, *aliases: str) -> str:
    """Return the non-empty value of header ``name`` (lower-case), looked up case-insensitively."""
    if not isinstance(headers, Mapping) and not (
        callable(getattr(headers, "get", None)) and callable(getattr(headers, "items", None))
    ):
        raise ArgumentTypeError("headers", "a mapping of header names to values", headers)
    for candidate in (name, *aliases):
        value: object = headers.get(candidate)
        if value is None:
            value = _scan(headers, candidate)
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str):
            raise MalformedHeaderError(name, f"must be a str, got {type(value).__name__}")
        if value:
            return value
    raise MissingHeaderError(name)


def _scan(headers: Headers, name: str) -> object:
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    """Return ``body`` as bytes, checking that it is UTF-8."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, bytearray | memoryview):
        data = bytes(body)
    elif isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBodyError("the webhook body contains lone surrogates; it is not UTF-8") from None
    else:
        raise InvalidBodyError(f"the webhook body must be bytes or str, got {type(body).__name__}")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidBodyError("the webhook body is not valid UTF-8") from None
    return data


def tolerance_seconds(tolerance: float | timedelta | None) -> float | None:
    """Validate a tolerance argument and return it in seconds."""
    if tolerance is None:
        return None
    seconds = tolerance.total_seconds() if isinstance(tolerance, timedelta) else tolerance
    return positive_number("tolerance", seconds)


def parse_unix_seconds(name: str, text: str) -> int:
    """Return the Unix seconds in header ``name``'s ``text``: 1 to 12 ASCII digits, at most `MAX_TIMESTAMP`.

    Raises:
        MalformedHeaderError: Anything else: a sign, a fraction, a non-ASCII digit, whitespace, more
            than 12 digits, or a time after the year 9999.
    """
    if not (0 < len(text) <= _MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()):
        raise MalformedHeaderError(name, "must be Unix seconds as 1 to 12 ASCII digits")
    seconds = int(text)
    if seconds > MAX_TIMESTAMP:
        raise MalformedHeaderError(name, "must be Unix seconds before the year 10000")
    return seconds


def utc(seconds: float) -> datetime:
    """Return the aware UTC datetime of Unix ``seconds`` (clamped to what a datetime can hold)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        # A clock far outside 1970..9999; never a received timestamp, which parse_unix_seconds bounds.
        return datetime.min.replace(tzinfo=UTC) if seconds < 0 else datetime.max.replace(tzinfo=UTC)


def signing_time(timestamp: object) -> int:
    """Return the Unix seconds a signer puts in its header: from 0 to `MAX_TIMESTAMP`, as verifiers accept.

    Args:
        timestamp: Unix seconds (an int), or an aware datetime.

    Raises:
        WebhooksConfigurationError: Not an int or aware datetime, or outside 1970..9999.
    """
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            raise WebhooksConfigurationError("timestamp", timestamp, "must be timezone-aware")
        seconds = int(timestamp.timestamp())
    elif isinstance(timestamp, int) and not isinstance(timestamp, bool):
        seconds = timestamp
    else:
        raise WebhooksConfigurationError(
            "timestamp", timestamp, "must be Unix seconds (an int) or a datetime"
        )
    if not 0 <= seconds <= MAX_TIMESTAMP:
        raise WebhooksConfigurationError("timestamp", timestamp, "must be a time from 1970 to the year 9999")
    return seconds
