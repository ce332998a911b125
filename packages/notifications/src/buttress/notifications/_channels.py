"""The `NotificationChannel` Protocol and the values a channel receives and returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._model import Rendered
from .exceptions import DeliveryError, NotificationsTypeError

__all__ = ["Message", "NotificationChannel", "RecipientResult"]


@dataclass(frozen=True, slots=True)
class Message:
    """What a worker hands a channel: one rendered notification for one address.

    ``critical`` lets a channel raise the priority (Web Push ``Urgency: high``, email ``Importance``).
    """

    notification_id: str
    recipient_id: str
    address: str
    content: Rendered
    critical: bool = False

    def __post_init__(self) -> None:
        for name in ("notification_id", "recipient_id", "address"):
            if not isinstance(getattr(self, name), str):
                raise NotificationsTypeError(name, "a string", getattr(self, name))
        if not isinstance(self.content, Rendered):
            raise NotificationsTypeError("content", "a Rendered", self.content)


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The outcome for one recipient: delivered (``error is None``) or the error for that recipient."""

    address: str
    error: DeliveryError | None = None

    @property
    def ok(self) -> bool:
        """Whether the message was accepted for this recipient."""
        return self.error is None


class NotificationChannel[TPayload](Protocol):
    """**Protocol**: a way to reach people (email, push, SMS, a chat webhook).

    A channel turns a `Message` into its own payload type, then delivers it and reports one
    `RecipientResult` per recipient: a failure for one recipient (an SMTP 550) is reported for that
    recipient, not raised. Raise `TransientDeliveryError` for failures of the whole attempt worth
    retrying (a dropped connection, a timeout), `PermanentDeliveryError` for the rest.
    """

    @property
    def name(self) -> str:
        """The channel's name, as preferences and recipients' addresses refer to it."""
        ...

    def prepare(self, message: Message) -> TPayload:
        """Build this channel's payload for ``message`` (synchronous, no I/O)."""
        ...

    async def deliver(self, payload: TPayload) -> list[RecipientResult]:
        """Send ``payload``; return one result per recipient."""
        ...
