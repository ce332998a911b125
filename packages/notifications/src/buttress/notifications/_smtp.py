"""`SmtpChannel`: email over SMTP with a small connection pool, STARTTLS/TLS, AUTH and multipart bodies."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Final, Literal

from buttress.core import AsyncResource, connection_errors

from ._address import check_email, check_line, unsafe_text
from ._channels import Message, RecipientResult
from ._model import check_name
from .exceptions import (
    DeliveryError,
    MissingExtraError,
    NotificationsConfigurationError,
    NotificationsTypeError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("SmtpChannel", "smtp") from exc

__all__ = ["Email", "SmtpChannel"]

_log = logging.getLogger(__name__)
# The connection is gone (refused, reset, timed out, closed by the server): retried on a new one
# before DATA, a transient failure during it.
_DISCONNECTED: Final = connection_errors("aiosmtplib")
_FIELD_NAME: Final = re.compile(r"[!-9;-~]{1,76}")  # RFC 5322 ftext
# Headers the channel writes, or that would name other recipients than the envelope's.
_RESERVED: Final = frozenset(
    {
        "from", "to", "cc", "bcc", "sender", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding",
    }
)  # fmt: skip
_MAX_HEADER: Final = 998  # RFC 5322 section 2.1.1
_MAX_POOL: Final = 1000
_MAX_TIMEOUT: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class Email:
    """An email: one message, one or more envelope recipients.

    Args:
        to: Envelope and ``To:`` recipients.
        subject: The subject line.
        text: The text/plain part.
        html: The text/html alternative, or ``None``.
        sender: The envelope and ``From:`` address; the channel's default when ``None``.
        headers: Extra headers (``List-Unsubscribe``, ``Reply-To``...).
    """

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    sender: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        to: object = self.to
        if not isinstance(to, tuple):
            raise NotificationsTypeError("to", "a tuple of email addresses", to)
        if not to:
            raise NotificationsConfigurationError("to", to, "must hold at least one address")
        for address in to:
            check_email(address)
        if self.sender is not None:
            check_email(self.sender, kind="sender")
        _check_subject(self.subject)
        for part in ("text", "html"):
            value = getattr(self, part)
            if value is None and part == "html":
                continue
            if not isinstance(value, str):
                raise NotificationsTypeError(part, "a str", value)
            if _surrogate(value):
                raise NotificationsConfigurationError(
                    part, "<text>", "must be valid Unicode (no lone surrogates)", show_value=False
                )
        if not isinstance(self.headers, Mapping):
            raise NotificationsTypeError("headers", "a mapping of names to values", self.headers)
        for name, value in self.headers.items():
            _check_header(name, value)
        object.__setattr__(self, "headers", dict(self.headers))


def _check_subject(subject: object) -> None:
    if not isinstance(subject, str):
        raise NotificationsTypeError("subject", "a str", subject)
    if len(subject) > _MAX_HEADER:
        raise NotificationsConfigurationError(
            "subject", len(subject), f"must be at most {_MAX_HEADER} characters"
        )
    if unsafe_text(subject) is not None:
        raise NotificationsConfigurationError(
            "subject", "<subject>", "must be one line without control characters"
        )


def _check_header(name: object, value: object) -> None:
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise NotificationsConfigurationError(
            "headers", "<name>", "names must be printable ASCII without ':'"
        )
    if name.lower() in _RESERVED:
        raise NotificationsConfigurationError("headers", name, "is set by the channel (or names recipients)")
    if not isinstance(value, str) or len(value) > _MAX_HEADER or unsafe_text(value) is not None:
        raise NotificationsConfigurationError(
            "headers",
            name,
            f"values must be one line of at most {_MAX_HEADER} characters, no control characters",
        )


def _surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class SmtpChannel(AsyncResource):
    """Send email through an SMTP server, reusing up to ``pool_size`` authenticated connections.

    Each recipient gets its own ``RCPT TO``: a 550 for one address is reported for that address and
    the others still receive the message. A connection that drops before ``DATA`` is replaced and
    the message retried once on a fresh one, so nothing is lost and nothing is sent twice; a drop
    during ``DATA`` (the server may or may not have taken it) is a `TransientDeliveryError`.

    Args:
        hostname: The server.
        port: Its port (587 for STARTTLS, 465 for TLS, 25 plain).
        sender: The default ``From:`` / envelope sender.
        security: ``"starttls"`` (required upgrade), ``"tls"`` (implicit TLS), ``"opportunistic"`` (STARTTLS
            when offered) or ``"none"``.
        username: AUTH user, or ``None`` for no AUTH.
        password: AUTH password.
        tls_context: The `ssl.SSLContext` to verify the server with (the system's by default).
        pool_size: At most this many connections are open at once.
        timeout: Seconds for each SMTP command.
        name: The channel's name.
    """

    def __init__(
        self,
        hostname: str,
        port: int,
        *,
        sender: str,
        security: Literal["starttls", "tls", "opportunistic", "none"] = "starttls",
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        pool_size: int = 4,
        timeout: float = 30.0,
        name: str = "email",
    ) -> None:
        super().__init__()
        if not isinstance(security, str) or security not in ("starttls", "tls", "opportunistic", "none"):
            raise NotificationsConfigurationError(
                "security", security, "must be starttls, tls, opportunistic or none"
            )
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or not 1 <= pool_size <= _MAX_POOL:
            raise NotificationsConfigurationError(
                "pool_size", pool_size, f"must be an int from 1 to {_MAX_POOL}"
            )
        check_email(sender, kind="sender")
        check_line("hostname", hostname, max_length=253)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise NotificationsConfigurationError("port", port, "must be an int from 1 to 65535")
        if (username is None) != (password is None):
            raise NotificationsConfigurationError(
                "username", "<username>", "give both username and password, or neither", show_value=False
            )
        for parameter, secret in (("username", username), ("password", password)):
            if secret is not None and (not isinstance(secret, str) or unsafe_text(secret) is not None):
                raise NotificationsConfigurationError(
                    parameter, "<secret>", "must be a string without control characters", show_value=False
                )
        if tls_context is not None and not isinstance(tls_context, ssl.SSLContext):
            raise NotificationsTypeError("tls_context", "an ssl.SSLContext", tls_context)
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout <= _MAX_TIMEOUT
        ):
            raise NotificationsConfigurationError(
                "timeout", timeout, f"must be seconds in (0, {_MAX_TIMEOUT}]"
            )
        self._name = check_name("name", name)
        self._hostname = hostname
        self._port = port
        self._sender = sender
        self._security = security
        self._username = username
        self._password = password
        self._tls_context = tls_context
        self._timeout = float(timeout)
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(pool_size)
        self._domain = sender.rsplit("@", 1)[1]

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    def prepare(self, message: Message) -> Email:
        """Build an `Email` to ``message.address`` from the rendered subject, text and HTML.

        Raises:
            InvalidAddressError: The address is not exactly one bare email address.
        """
        if not isinstance(message, Message):
            raise NotificationsTypeError("message", "a Message", message)
        content = message.content
        headers = {"X-Notification-Id": message.notification_id}
        if message.critical:
            headers |= {"Importance": "high", "X-Priority": "1"}
        return Email(
            to=(message.address,),
            subject=content.subject,
            text=content.text,
            html=content.html,
            headers=headers,
        )

    def mime(self, email: Email) -> bytes:
        """Return the RFC 5322 bytes for ``email`` (multipart/alternative when it has HTML)."""
        if not isinstance(email, Email):
            raise NotificationsTypeError("email", "an Email", email)
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = email.sender or self._sender
        msg["To"] = ", ".join(email.to)
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self._domain)
        for header, value in email.headers.items():
            msg[header] = value
        msg.set_content(email.text)
        if email.html is not None:
            msg.add_alternative(email.html, subtype="html")
        return msg.as_bytes()

    async def deliver(self, payload: Email) -> list[RecipientResult]:
        """Send ``payload``; return one result per recipient.

        Raises:
            TransientDeliveryError: The server could not be reached, or the connection dropped during DATA.
            PermanentDeliveryError: The server refused the sender or the message for everyone.
        """
        if not isinstance(payload, Email):
            raise NotificationsTypeError("payload", "an Email", payload)
        data = self.mime(payload)
        sender = payload.sender or self._sender
        async with self._slots:
            for attempt in (1, 2):
                client = await self._acquire()
                try:
                    results = await self._transaction(client, sender, payload.to, data)
                except _RetryError as retry:
                    await _close(client)
                    if attempt == 2:
                        raise TransientDeliveryError(self._name, str(retry)) from None
                    _log.info("smtp connection dropped before DATA; retrying on a new one")
                    continue
                except asyncio.CancelledError:
                    _drop(client)
                    raise
                except BaseException:
                    await _close(client)
                    raise
                if self.closed:  # closed while this send was in flight: keep nothing open
                    await _close(client)
                else:
                    self._idle.append(client)
                return results
        raise AssertionError("unreachable")  # pragma: no cover

    async def deliver_many(self, payloads: Sequence[Email]) -> list[list[RecipientResult] | DeliveryError]:
        """Send several emails concurrently over the pool; a whole-message failure is returned, not raised."""
        if not isinstance(payloads, Sequence) or not all(isinstance(e, Email) for e in payloads):
            raise NotificationsTypeError("payloads", "a sequence of Email", payloads)

        async def one(email: Email) -> list[RecipientResult] | DeliveryError:
            try:
                return await self.deliver(email)
            except DeliveryError as exc:
                return exc

        return list(await asyncio.gather(*(one(e) for e in payloads)))

    async def _acquire(self) -> aiosmtplib.SMTP:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            _drop(client)  # the server closed it while idle
        client = aiosmtplib.SMTP(
            hostname=self._hostname,
            port=self._port,
            use_tls=self._security == "tls",
            start_tls={"starttls": True, "opportunistic": None}.get(self._security, False),
            tls_context=self._tls_context,
            timeout=self._timeout,
        )
        try:
            await client.connect()
            if self._username is not None and self._password is not None:
                await client.login(self._username, self._password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _close(client)
            raise PermanentDeliveryError(self._name, "authentication failed", code=exc.code) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            await _close(client)
            raise TransientDeliveryError(self._name, f"cannot connect: {type(exc).__name__}") from None
        except BaseException:  # cancelled while connecting: the half-open connection is still ours
            _drop(client)
            raise
        return client

    async def _transaction(
        self, client: aiosmtplib.SMTP, sender: str, recipients: tuple[str, ...], data: bytes
    ) -> list[RecipientResult]:
        try:
            await client.mail(sender)
            refused: dict[str, DeliveryError] = {}
            for address in recipients:
                try:
                    await client.rcpt(address)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[address] = _classify(self._name, exc.code, f"{address} refused: {exc.message}")
        except aiosmtplib.SMTPSenderRefused as exc:
            await _reset(client)
            raise _classify(self._name, exc.code, f"sender refused: {exc.message}") from None
        except _DISCONNECTED as exc:
            raise _RetryError(f"connection lost before DATA: {type(exc).__name__}") from None
        if len(refused) == len(recipients):
            await _reset(client)
            return [RecipientResult(a, refused[a]) for a in recipients]
        try:
            await client.data(data)
        except aiosmtplib.SMTPDataError as exc:
            await _reset(client)
            raise _classify(self._name, exc.code, f"message refused: {exc.message}") from None
        except _DISCONNECTED as exc:
            raise TransientDeliveryError(
                self._name, f"connection lost during DATA: {type(exc).__name__}"
            ) from None
        return [RecipientResult(a, refused.get(a)) for a in recipients]

    async def _aclose(self) -> None:
        """Quit every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _close(client)


class _RetryError(Exception):
    """The connection failed before the server could have accepted the message."""


def _classify(channel: str, code: int, reason: str) -> DeliveryError:
    if 400 <= code < 500:
        return TransientDeliveryError(channel, reason, code=code)
    return PermanentDeliveryError(channel, reason, code=code)


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        await _close(client)


async def _close(client: aiosmtplib.SMTP) -> None:
    """Say QUIT if the connection is up, then drop it; the socket is closed when this returns."""
    transport = client.transport
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        _drop(client, transport)
        await asyncio.sleep(0)  # the loop closes the socket on its next pass


def _drop(client: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None = None) -> None:
    """Drop the connection without a word (a cancelled caller must not wait on the server).

    ``client.close()`` alone would start a TLS close that waits for the server's close_notify, which
    can outlive the caller's event loop and leave the socket to the garbage collector. Nothing more
    is said on this connection, so the transport is aborted instead, as smtplib drops its socket.
    """
    transport = transport or client.transport
    client.close()  # also when the server already dropped it: the socket is ours to release
    if isinstance(transport, asyncio.Transport):
        transport.abort()
