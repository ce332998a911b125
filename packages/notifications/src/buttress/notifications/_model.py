"""The values that flow through the package: `Notification`, `NotificationStatus`, `Rendered`, `Job`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel

from buttress.core import check_count, check_text

from ._address import unsafe_text
from .exceptions import InvalidAddressError, NotificationsConfigurationError, NotificationsTypeError

__all__ = [
    "DigestContext",
    "DigestEntry",
    "Job",
    "Notification",
    "NotificationStatus",
    "Recipient",
    "Rendered",
]

_Config = NotificationsConfigurationError
_MAX_JOB_TEXT: Final = 4096
_MAX_ATTEMPTS: Final = 2**31 - 1
_NAME: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")
_MAX_ID: Final = 200
_MAX_ADDRESS: Final = 4096


def check_name(parameter: str, value: object) -> str:
    """Return ``value`` when it is a short identifier (letters, digits, ``_.:-``); raise otherwise."""
    if not isinstance(value, str):
        raise NotificationsTypeError(parameter, "a str", value)
    if not _NAME.fullmatch(value):
        shown = value if len(value) <= _MAX_ID else f"<{len(value)} characters>"
        raise NotificationsConfigurationError(parameter, shown, "must be 1-100 characters of [A-Za-z0-9_.:-]")
    return value


def check_instant(parameter: str, value: object) -> datetime:
    """Return ``value`` when it is a timezone-aware datetime; raise otherwise."""
    if not isinstance(value, datetime):
        raise NotificationsTypeError(parameter, "a timezone-aware datetime", value)
    if value.utcoffset() is None:
        raise NotificationsConfigurationError(parameter, value, "must be timezone-aware")
    return value


def check_protocol(parameter: str, value: object, members: tuple[str, ...], protocol: str) -> None:
    """Raise unless ``value`` has every one of ``members`` (a structural check of a Protocol argument)."""
    if not all(hasattr(value, member) for member in members):
        raise NotificationsTypeError(parameter, f"a {protocol}", value)


def check_mapping(parameter: str, value: object) -> dict[Any, Any]:
    """A dict copy of ``value`` when it is a mapping (``None`` is empty); raise otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotificationsTypeError(parameter, "a mapping", value)
    return dict(value.items())


def check_id(parameter: str, value: object, *, max_length: int = _MAX_ID) -> str:
    """Return ``value`` when it is 1-200 characters with no control character or lone surrogate."""
    if not isinstance(value, str):
        raise NotificationsTypeError(parameter, "a str", value)
    if not value or len(value) > max_length or unsafe_text(value) is not None:
        shown = value if len(value) <= max_length else f"<{len(value)} characters>"
        raise NotificationsConfigurationError(
            parameter,
            shown,
            f"must be 1-{max_length} characters, without control characters or lone surrogates",
        )
    return value


class NotificationStatus(StrEnum):
    """Where one notification stands on one channel.

    ``PENDING`` waits in the outbox (possibly held by quiet hours until ``available_at``); ``BATCHED``
    waits for its digest; ``SENDING`` is claimed by a worker; ``SENT``, ``FAILED`` (a permanent
    rejection, or failed over to another channel), ``SUPPRESSED`` (with a reason) and ``DEAD``
    (retries exhausted; `requeue` brings it back) are final.
    """

    PENDING = "pending"
    BATCHED = "batched"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    DEAD = "dead"

    @classmethod
    def _missing_(cls, value: object) -> NotificationStatus:
        raise NotificationsConfigurationError(
            "status",
            value if isinstance(value, str) and len(value) <= _MAX_ID else type(value).__name__,
            "must be one of " + ", ".join(s.value for s in cls),
        )

    @property
    def final(self) -> bool:
        """Whether nothing more will happen to a job in this state (unless requeued)."""
        return self in _FINAL


_FINAL: Final = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.FAILED,
        NotificationStatus.SUPPRESSED,
        NotificationStatus.DEAD,
    }
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a notification is for: a user id, and the address each channel should use.

    Args:
        id: The user's id (1-200 characters, no control characters); preferences and rate limits
            are keyed by it.
        addresses: Channel name to address: an email address, a phone number, a webhook URL, or
            for Web Push the user id its subscriptions are stored under. An empty string means
            "none". Each channel checks its own syntax when the notification is sent.

    Raises:
        InvalidAddressError: An address is not a string, is over 4096 characters, or holds a
            control character (CR, LF, NUL...) or a lone surrogate.
    """

    id: str
    addresses: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_id("recipient.id", self.id)
        if not isinstance(self.addresses, Mapping):
            raise NotificationsTypeError(
                "addresses", "a mapping of channel names to addresses", self.addresses
            )
        addresses: dict[str, str] = {}
        for channel, address in self.addresses.items():
            check_name("addresses", channel)
            if not isinstance(address, str):
                raise InvalidAddressError(
                    "recipient", address, f"must be a string, not {type(address).__name__}", channel=channel
                )
            if len(address) > _MAX_ADDRESS:
                raise InvalidAddressError(
                    "recipient", address, f"is over {_MAX_ADDRESS} characters", channel=channel
                )
            bad = unsafe_text(address)
            if bad is not None:
                raise InvalidAddressError("recipient", address, f"contains {bad}", channel=channel)
            addresses[channel] = address
        object.__setattr__(self, "addresses", addresses)


@dataclass(frozen=True, slots=True)
class Notification[TContext: BaseModel]:
    """One thing to tell one recipient.

    Args:
        recipient: Who, and where.
        category: What kind of message (``"billing"``, ``"security"``); preferences are per category.
        template: The registered template's name.
        context: An instance of that template's context model.
        critical: Bypasses quiet hours and digests (never an opt-out).
        dedupe_key: Sending twice with the same key (per channel) enqueues once.
        id: Generated when not given.
    """

    recipient: Recipient
    category: str
    template: str
    context: TContext
    critical: bool = False
    dedupe_key: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not isinstance(self.recipient, Recipient):
            raise NotificationsTypeError("recipient", "a Recipient", self.recipient)
        check_name("category", self.category)
        check_name("template", self.template)
        if not isinstance(self.context, BaseModel):
            raise NotificationsTypeError("context", "a pydantic model instance", self.context)
        if self.dedupe_key is not None:
            check_id("dedupe_key", self.dedupe_key)
        check_id("id", self.id)
        if not isinstance(self.critical, bool):
            raise NotificationsTypeError("critical", "a bool", self.critical)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered template: subject line, plain text and (optionally) HTML."""

    subject: str
    text: str
    html: str | None = None

    def __post_init__(self) -> None:
        for part in ("subject", "text", "html"):
            value = getattr(self, part)
            if value is not None or part != "html":
                check_text(
                    part,
                    value,
                    allow_empty=True,
                    show_value=False,
                    error=_Config,
                    type_error=NotificationsTypeError,
                )


class DigestEntry(BaseModel):
    """One notification inside a digest (what its own template rendered)."""

    notification_id: str
    category: str
    subject: str
    text: str
    html: str | None = None
    created_at: datetime


class DigestContext(BaseModel):
    """The context a digest template receives: the entries of one window, oldest first."""

    key: str
    count: int
    entries: list[DigestEntry]


@dataclass(frozen=True, slots=True)
class Job:
    """One notification on one channel, as the outbox stores it.

    Attributes:
        digest_group: Jobs sharing it are sent as one digest; ``None`` for a single message.
        digest_template: The template that renders the digest.
        fallback_channel: Where to fail over on a permanent failure or exhausted retries.
    """

    id: str
    notification_id: str
    recipient_id: str
    channel: str
    address: str
    category: str
    content: Rendered
    created_at: datetime
    available_at: datetime
    status: NotificationStatus = NotificationStatus.PENDING
    critical: bool = False
    dedupe_key: str | None = None
    attempts: int = 0
    reason: str | None = None
    digest_group: str | None = None
    digest_key: str | None = None
    digest_template: str | None = None
    fallback_channel: str | None = None
    fallback_address: str | None = None
    lease_until: datetime | None = None

    def __post_init__(self) -> None:
        # Checked here, so a job built by hand cannot carry what the outbox's database refuses.
        for name in ("id", "notification_id", "recipient_id", "channel", "category"):
            check_text(
                name,
                getattr(self, name),
                max_bytes=_MAX_JOB_TEXT,
                error=_Config,
                type_error=NotificationsTypeError,
            )
        for name in _OPTIONAL_TEXT:
            value = getattr(self, name)
            if value is not None:
                check_text(name, value, allow_empty=True, error=_Config, type_error=NotificationsTypeError)
        if not isinstance(self.content, Rendered):
            raise NotificationsTypeError("content", "a Rendered", self.content)
        for name in ("created_at", "available_at", "lease_until"):
            value = getattr(self, name)
            if value is not None or name != "lease_until":
                check_instant(name, value)
        if not isinstance(self.status, NotificationStatus):
            raise NotificationsTypeError("status", "a NotificationStatus", self.status)
        if not isinstance(self.critical, bool):
            raise NotificationsTypeError("critical", "a bool", self.critical)
        check_count("attempts", self.attempts, maximum=_MAX_ATTEMPTS, error=_Config)

    def but(self, **changes: object) -> Job:
        """Return a copy with ``changes``.

        Raises:
            NotificationsConfigurationError: A change names no field of `Job`, or has a bad value.
        """
        unknown = sorted(set(changes) - _JOB_FIELDS)
        if unknown:
            raise _Config("changes", unknown[0], "names no field of Job")
        return replace(self, **changes)  # type: ignore[arg-type]


_JOB_FIELDS: Final = frozenset(f.name for f in fields(Job))
_OPTIONAL_TEXT: Final = (
    "address", "dedupe_key", "reason", "digest_group", "digest_key", "digest_template",
    "fallback_channel", "fallback_address",
)  # fmt: skip
