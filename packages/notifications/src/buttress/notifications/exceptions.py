"""Errors raised by buttress-notifications.

::

    ButtressError                                   (buttress.core)
    └── NotificationsError                          every error this package raises
        ├── NotificationsConfigurationError         (also ConfigurationError, ValueError) a bad value
        │   └── InvalidAddressError                 a recipient's address is not one valid address
        ├── NotificationsTypeError                  (also ArgumentTypeError, TypeError) a wrong type
        ├── TemplateError                           a template cannot be registered or rendered
        │   ├── TemplateDefinitionError             (also ValueError) bad syntax or an undeclared variable
        │   ├── TemplateContextError                (also TypeError) the context is not the template's model
        │   └── TemplateRenderError                 rendering failed; names the template and the field
        ├── UnknownTemplateError                    (also NotFoundError, LookupError) no such template
        ├── UnknownChannelError                     (also NotFoundError, LookupError) no such channel
        ├── NotificationNotFoundError               (also NotFoundError, LookupError) no such notification
        ├── DeliveryError                           a channel could not deliver
        │   ├── TransientDeliveryError              worth retrying (timeouts, 4xx SMTP, HTTP 429/5xx)
        │   └── PermanentDeliveryError              retrying will not help (550, HTTP 4xx)
        │       └── SubscriptionGoneError           a push subscription answered 404/410
        ├── NotificationsUnavailableError           (also BackendUnavailableError, ConnectionError) the
        │                                           outbox's, a store's or the rate limiter's server is down
        └── MissingExtraError                       (also ImportError) a feature whose extra is missing

Messages name the template, field, channel or recipient involved; they never contain a password, a
push key or the rendered body.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    NotFoundError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "DeliveryError",
    "InvalidAddressError",
    "MissingExtraError",
    "NotificationNotFoundError",
    "NotificationsConfigurationError",
    "NotificationsError",
    "NotificationsTypeError",
    "NotificationsUnavailableError",
    "PermanentDeliveryError",
    "SubscriptionGoneError",
    "TemplateContextError",
    "TemplateDefinitionError",
    "TemplateError",
    "TemplateRenderError",
    "TransientDeliveryError",
    "UnknownChannelError",
    "UnknownTemplateError",
]


class NotificationsError(ButtressError):
    """Root of every error buttress-notifications raises."""


class NotificationsConfigurationError(NotificationsError, ConfigurationError):
    """An argument or setting is invalid; the message names it and says why."""

    def __init__(self, parameter: str, value: object, reason: str, *, show_value: bool = True) -> None:
        # Only a real True shows the value: anything else (a value passed in the wrong place) hides it.
        super().__init__(parameter, value, reason, show_value=show_value is True)


class NotificationsTypeError(NotificationsError, ArgumentTypeError):
    """An argument has the wrong type; the message names it, what it should be and the type given.

    Only the given value's type name is kept (``actual``), never the value.
    """


class InvalidAddressError(NotificationsConfigurationError):
    """A recipient's address is not exactly one valid address for its channel.

    Raised by `Notifier.send` (before anything is stored) and by the channels' payloads: an email
    address with a display name or a second address, a phone number that is not E.164, a URL that
    is not http(s). The message says what is wrong but never shows the address (personal data);
    programs find it on ``value``.

    Attributes:
        kind: What the address should have been (``"email"``, ``"phone number"``, ``"webhook URL"``).
        channel: The channel it was given for, when known.
        value: The rejected address.
        reason: What is wrong with it.
    """

    def __init__(self, kind: str, value: object, reason: str, *, channel: str | None = None) -> None:
        where = f" for channel {channel!r}" if channel is not None else ""
        super().__init__(f"{kind} address{where}", value, reason, show_value=False)
        self.kind = kind
        self.channel = channel


class TemplateError(NotificationsError):
    """A template could not be registered or rendered.

    Attributes:
        template: The template's name.
    """

    def __init__(self, template: str, message: str) -> None:
        super().__init__(f"template {template!r}: {message}")
        self.template = template


class TemplateDefinitionError(TemplateError, ValueError):
    """A template has a syntax error or uses a variable its context model does not declare.

    Attributes:
        part: ``"subject"``, ``"text"`` or ``"html"``.
        field: The undeclared variable, or ``None`` for a syntax error.
        line: The line of a syntax error, when known.
    """

    def __init__(
        self, template: str, part: str, reason: str, *, field: str | None = None, line: int | None = None
    ) -> None:
        where = f"{part}" + (f" line {line}" if line is not None else "")
        super().__init__(template, f"{where}: {reason}")
        self.part = part
        self.field = field
        self.line = line


class TemplateContextError(TemplateError, TypeError):
    """The context given to a template is not an instance of its context model.

    Attributes:
        expected: The model's name.
        actual: The given value's type name.
    """

    def __init__(self, template: str, expected: str, actual: str) -> None:
        super().__init__(template, f"context must be a {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class TemplateRenderError(TemplateError):
    """Rendering failed (an undefined attribute, a sandbox violation, a filter error).

    Attributes:
        part: ``"subject"``, ``"text"`` or ``"html"``.
        field: The variable or attribute involved, when it can be named.
    """

    def __init__(self, template: str, part: str, reason: str, *, field: str | None = None) -> None:
        named = f" (field {field!r})" if field is not None else ""
        super().__init__(template, f"rendering {part} failed{named}: {reason}")
        self.part = part
        self.field = field


class UnknownTemplateError(NotificationsError, NotFoundError):
    """No template is registered under this name."""

    def __init__(self, name: str) -> None:
        NotFoundError.__init__(self, "template", name)
        self.name = name


class UnknownChannelError(NotificationsError, NotFoundError):
    """No channel is registered under this name."""

    def __init__(self, name: str) -> None:
        NotFoundError.__init__(self, "channel", name)
        self.name = name


class NotificationNotFoundError(NotificationsError, NotFoundError):
    """No notification with this id is in the outbox."""

    def __init__(self, notification_id: str) -> None:
        NotFoundError.__init__(self, "notification", notification_id)
        self.notification_id = notification_id


class DeliveryError(NotificationsError):
    """A channel could not deliver to a recipient.

    Attributes:
        channel: The channel's name.
        reason: What the server or provider said (never the message body).
        code: The SMTP or HTTP status code, when there was one.
    """

    retryable: bool = False

    def __init__(self, channel: str, reason: str, *, code: int | None = None) -> None:
        super().__init__(f"{channel}: {reason}" + (f" ({code})" if code is not None else ""))
        self.channel = channel
        self.reason = reason
        self.code = code


class TransientDeliveryError(DeliveryError):
    """A failure worth retrying later: a timeout, a dropped connection, SMTP 4xx, HTTP 429 or 5xx."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """A failure retrying will not fix: SMTP 5xx, HTTP 4xx other than 408/429."""


class SubscriptionGoneError(PermanentDeliveryError):
    """A push service answered 404 or 410: the subscription no longer exists and was removed."""


class NotificationsUnavailableError(NotificationsError, BackendUnavailableError):
    """The outbox's, a store's or the rate limiter's server cannot be reached.

    Attributes:
        backend: ``"postgresql"`` or ``"redis"``.
        address: Where it was looked for, with any password redacted.
        reason: What the driver reported.
    """


class MissingExtraError(NotificationsError, CoreMissingExtraError):
    """A feature needs an optional dependency that is not installed.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-notifications"
