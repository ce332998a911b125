"""Real servers for the channel tests: aiosmtpd (STARTTLS + AUTH) and a minimal asyncio HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from buttress.notifications import (
    Message as ChannelMessage,
)
from buttress.notifications import (
    PermanentDeliveryError,
    RecipientResult,
    Rendered,
    TransientDeliveryError,
)
from buttress.testing import free_port

USER, PASSWORD = "mailer", "s3cret-pass"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class MailHandler:
    """Records accepted messages; refuses chosen recipients; drops the connection at chosen RCPTs once."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    mails: int = 0
    logins: int = 0
    tls_ehlos: int = 0
    tls_ehlo_delay: float = 0.0  # before answering the EHLO that follows STARTTLS
    datas: int = 0
    data_delay: float = 0.0  # before accepting a message
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        if session.ssl is not None:
            with self.lock:
                self.tls_ehlos += 1
            await asyncio.sleep(self.tls_ehlo_delay)
        session.host_name = hostname
        return responses

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.mails += 1
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        with self.lock:
            drop = address in self.drop_once
            self.drop_once.discard(address)
        if drop:  # the connection dies mid-transaction, before DATA
            assert server.transport is not None
            server.transport.abort()
            return "421 going away"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self.lock:
            self.datas += 1
        await asyncio.sleep(self.data_delay)
        content = envelope.original_content or b""
        with self.lock:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    message_from_bytes(content, policy=default_policy),
                )
            )
        return "250 Message accepted"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self.lock:
            self.logins += 1
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    def ids(self) -> list[str]:
        with self.lock:
            return [str(r.message["X-Notification-Id"]) for r in self.received]


@dataclass
class MailServer:
    handler: MailHandler
    port: int
    client_tls: ssl.SSLContext


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def mail_server(ca: trustme.CA) -> Iterator[MailServer]:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS (trustme certificate) and AUTH."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    handler = MailHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=handler.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield MailServer(handler, port, client_ctx)
    finally:
        controller.stop()


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


type Responder = Callable[[HttpRequest], Awaitable[tuple[int, bytes]]]


@dataclass
class HttpServer:
    base: str
    requests: list[HttpRequest]
    routes: dict[str, Responder]


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: HttpServer) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = HttpRequest(method, path, headers, body)
        server.requests.append(request)
        responder = server.routes.get(path.split("?")[0])
        status, payload = await responder(request) if responder is not None else (404, b"no route")
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\nContent-Type: application/json\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    """A one-request-per-connection HTTP/1.1 server in the test's loop; tests add routes."""
    state = HttpServer("", [], {})
    server = await asyncio.start_server(lambda r, w: _serve_one(r, w, state), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


class ScriptedChannel:
    """A channel for the worker tests: records deliveries, fails as scripted per address."""

    def __init__(self, name: str, *, failures: dict[str, list[str]] | None = None) -> None:
        self._name = name
        self.sent: list[tuple[str, Rendered, str]] = []
        self.failures = failures or {}

    @property
    def name(self) -> str:
        return self._name

    def prepare(self, message: ChannelMessage) -> ChannelMessage:
        return message

    async def deliver(self, payload: ChannelMessage) -> list[RecipientResult]:
        script = self.failures.get(payload.address)
        outcome = script.pop(0) if script else "ok"
        if outcome == "transient":
            return [RecipientResult(payload.address, TransientDeliveryError(self._name, "busy", code=451))]
        if outcome == "permanent":
            return [
                RecipientResult(payload.address, PermanentDeliveryError(self._name, "no such user", code=550))
            ]
        if outcome == "raise":
            raise TransientDeliveryError(self._name, "connection reset")
        self.sent.append((payload.address, payload.content, payload.notification_id))
        return [RecipientResult(payload.address)]
