"""Shared pieces of every verifier: the result type, the Protocol and header/body checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from buttress.core import ArgumentTypeError

from .exceptions import (
    InvalidBodyError,
    MalformedHeaderError,
    MissingHeaderError,
    WebhookConfigurationError,
)

__all__ = ["Headers", "VerifiedWebhook", "Verifier", "body_bytes", "header", "tolerance_seconds"]

type Headers = Mapping[str, str]


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
    """

    scheme: str
    id: str | None
    timestamp: datetime | None
    body: bytes
    replay_key: str

    def json(self) -> object:
        """Return the body parsed as JSON.

        Raises:
            InvalidBodyError: The body is not JSON.
        """
        try:
            return json.loads(self.body)
        except ValueError:
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
    if not isinstance(headers, Mapping):
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
    if isinstance(tolerance, timedelta):
        seconds = tolerance.total_seconds()
    elif isinstance(tolerance, int | float) and not isinstance(tolerance, bool):
        seconds = float(tolerance)
    else:
        raise WebhookConfigurationError(
            "tolerance", tolerance, "must be seconds (a number), a timedelta or None"
        )
    if not 0 < seconds < float("inf"):
        raise WebhookConfigurationError("tolerance", tolerance, "must be positive and finite")
    return seconds
