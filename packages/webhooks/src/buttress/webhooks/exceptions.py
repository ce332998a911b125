"""Errors raised by buttress-webhooks.

::

    ButtressError                                   (buttress.core)
    └── WebhooksError                               every error this package raises
        ├── WebhookVerificationError                a received webhook must not be trusted
        │   ├── MissingHeaderError                  a required header is absent or empty
        │   ├── MalformedHeaderError                a header is present but cannot be parsed
        │   ├── InvalidBodyError                    the body is not bytes, or not UTF-8
        │   ├── TimestampOutsideToleranceError      the timestamp is too old or too far in the future
        │   ├── SignatureMismatchError              no signature matches any of the keys
        │   └── ReplayedWebhookError                this webhook was accepted once already
        ├── WebhookInFlightError                    another delivery of this webhook is being handled
        ├── WebhooksConfigurationError              (also ConfigurationError, ValueError) a bad argument
        │   └── InvalidSecretError                  a secret or key that cannot be used
        ├── WebhooksTypeError                       (also ArgumentTypeError, TypeError) a wrong type
        ├── EndpointNotFoundError                   (also NotFoundError, LookupError) no such endpoint
        ├── MessageNotFoundError                    (also NotFoundError, LookupError) no such message
        ├── EndpointConflictError                   (also ConflictError) an endpoint id that exists already
        ├── UnsafeDestinationError                  the SSRF guard refused an address
        ├── WebhooksUnavailableError                (also BackendUnavailableError, ConnectionError)
        └── MissingExtraError                       (also ImportError) a feature whose extra is missing

Every way a received webhook can be wrong ends in a `WebhookVerificationError`: catch that one class
in a receiver and answer 4xx. `WebhookInFlightError` and `WebhooksUnavailableError` say nothing is wrong
with the webhook: answer 503 with ``Retry-After``, so the sender retries. No ``ValueError``,
``binascii.Error`` or ``UnicodeDecodeError`` escapes the verifiers. Messages never contain a
secret, a signature or the body.
"""

from __future__ import annotations

from datetime import datetime

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError
from buttress.core.exceptions import safe_repr

__all__ = [
    "EndpointConflictError",
    "EndpointNotFoundError",
    "InvalidBodyError",
    "InvalidSecretError",
    "MalformedHeaderError",
    "MessageNotFoundError",
    "MissingExtraError",
    "MissingHeaderError",
    "ReplayedWebhookError",
    "SignatureMismatchError",
    "TimestampOutsideToleranceError",
    "UnsafeDestinationError",
    "WebhookInFlightError",
    "WebhookVerificationError",
    "WebhooksConfigurationError",
    "WebhooksError",
    "WebhooksTypeError",
    "WebhooksUnavailableError",
]


class WebhooksError(ButtressError):
    """Root of every error buttress-webhooks raises."""


class WebhookVerificationError(WebhooksError):
    """A received webhook failed verification and must not be processed.

    Answer 400 (malformed) or 401 (not authentic); `WebhookEndpoint` does that for you.
    """


class MissingHeaderError(WebhookVerificationError):
    """A header the scheme requires is absent or empty.

    Attributes:
        header: The header's name, lower-case.
    """

    def __init__(self, header: str) -> None:
        super().__init__(f"the {header!r} header is missing or empty")
        self.header = header


class MalformedHeaderError(WebhookVerificationError):
    """A header is present but is not in the scheme's format.

    Attributes:
        header: The header's name, lower-case.
        reason: What is wrong with it (the value itself is not repeated).
    """

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"the {header!r} header is malformed: {reason}")
        self.header = header
        self.reason = reason


class InvalidBodyError(WebhookVerificationError):
    """The body is not ``bytes``/``str``, or is not valid UTF-8 (webhook payloads are JSON)."""


class TimestampOutsideToleranceError(WebhookVerificationError):
    """The signed timestamp is further from now than the tolerance, in either direction.

    Attributes:
        timestamp: The timestamp the sender signed.
        now: The receiver's time at verification.
        tolerance: The allowed distance, in seconds.
    """

    def __init__(self, timestamp: datetime, now: datetime, tolerance: float) -> None:
        try:
            direction = "too old" if timestamp < now else "too far in the future"
        except (TypeError, ArithmeticError):  # not two comparable times: say so rather than fail here
            direction = "outside the tolerance"
        try:
            limit = f"{tolerance:g}"
        except (TypeError, ValueError, ArithmeticError):
            limit = safe_repr(tolerance)
        super().__init__(
            f"the webhook timestamp {_when(timestamp)} is {direction}: more than {limit} s "
            f"from {_when(now)}; check both clocks, or this is a replay"
        )
        self.timestamp = timestamp
        self.now = now
        self.tolerance = tolerance


def _when(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else safe_repr(value)


class SignatureMismatchError(WebhookVerificationError):
    """No signature in the header matches the body under any of the verifier's keys."""


class ReplayedWebhookError(WebhookVerificationError):
    """A webhook with this id (or signature) was accepted already within the replay window.

    Attributes:
        replay_key: The id or signature that was seen before.
    """

    def __init__(self, replay_key: str) -> None:
        super().__init__(f"webhook {replay_key!r} was received already (replay)")
        self.replay_key = replay_key


class WebhookInFlightError(WebhooksError):
    """Another delivery of this webhook holds its id: its handler is running and may yet fail.

    Not a verification error: the webhook is authentic and must not be dropped. Answer 503 with
    ``Retry-After`` (`WebhookEndpoint` does), so the sender retries; the retry is a replay if the
    other delivery's handler succeeded, and is handled if it failed or its lease ran out.

    Attributes:
        replay_key: The id (or signature) being handled.
        retry_after: Seconds until the other delivery's lease runs out.
    """

    def __init__(self, replay_key: str, retry_after: float) -> None:
        try:
            wait = f"{retry_after:.3g} s"
        except (TypeError, ValueError, ArithmeticError):
            wait = safe_repr(retry_after)
        super().__init__(
            f"webhook {safe_repr(replay_key)} is being handled by another delivery; retry in {wait}"
        )
        self.replay_key = replay_key
        self.retry_after = retry_after


class WebhooksConfigurationError(WebhooksError, ConfigurationError):
    """An argument is invalid; the message names it.

    The value is shown in the message only when ``show_value`` is exactly ``True``.
    """

    def __init__(self, parameter: str, value: object, reason: str, *, show_value: bool = True) -> None:
        # "is True", not truthiness: NotImplemented or an object with a raising __bool__ hides the value.
        super().__init__(parameter, value, reason, show_value=show_value is True)


class WebhooksTypeError(WebhooksError, ArgumentTypeError):
    """An argument has the wrong type; the message names the argument and the type given (never the value).

    Attributes:
        parameter: The argument's name.
        expected: What it should have been.
        actual: The name of the type that was given.
    """


class InvalidSecretError(WebhooksConfigurationError):
    """A secret or key has the wrong prefix, is not base64, or has the wrong length.

    The message never shows the secret.
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(parameter, None, reason, show_value=False)


class EndpointNotFoundError(WebhooksError, NotFoundError):
    """No endpoint has this id."""

    def __init__(self, endpoint_id: str) -> None:
        super().__init__("endpoint", endpoint_id)
        self.endpoint_id = endpoint_id


class MessageNotFoundError(WebhooksError, NotFoundError):
    """No message has this id."""

    def __init__(self, message_id: str) -> None:
        super().__init__("message", message_id)
        self.message_id = message_id


class EndpointConflictError(WebhooksError, ConflictError):
    """An endpoint with this id exists already."""

    def __init__(self, endpoint_id: str) -> None:
        super().__init__("endpoint", endpoint_id, "exists already; use update() to change it")
        self.endpoint_id = endpoint_id


class UnsafeDestinationError(WebhooksError):
    """The SSRF guard refused to connect: the host resolves to an address that is not public.

    Attributes:
        host: The host name or literal address that was asked for.
        address: The refused address (``None`` when the host did not resolve at all).
        reason: Which range it is in, such as ``"loopback"``.
    """

    def __init__(self, host: str, address: str | None, reason: str) -> None:
        where = f" ({address})" if isinstance(address, str) and address != host else ""
        super().__init__(
            f"refusing to connect to {host!r}{where}: {reason}; add the network to the policy's allow-list "
            "only if this destination is meant to be reachable"
        )
        self.host = host
        self.address = address
        self.reason = reason


class WebhooksUnavailableError(WebhooksError, BackendUnavailableError):
    """The outbox's or endpoint store's database, or the replay guard's server, cannot be reached.

    Attributes:
        backend: ``"postgresql"`` or ``"redis"`` (or ``"replay guard"`` for a guard of your own).
        address: Where it was reached, redacted (no password).
        reason: The driver's error type, and its message when it has one.
    """


class MissingExtraError(WebhooksError, CoreMissingExtraError):
    """A feature was used without the extra that installs its library.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-webhooks"
