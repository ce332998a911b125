"""A real HTTP receiver (uvicorn + starlette, in a thread) and the outbox fixtures."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from buttress.testing import FakeClock, free_port
from buttress.webhooks import (
    MemoryEndpointStore,
    NetworkPolicy,
    PostgresOutbox,
    RetrySchedule,
    WebhookVerificationError,
    WebhookVerifier,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published test secret
LOOPBACK = NetworkPolicy(allow=["127.0.0.0/8"])


@dataclass
class Receiver:
    """What the test server saw, per test token."""

    base: str
    hits: dict[str, list[str]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    hang_seen: threading.Event = field(default_factory=threading.Event)

    def token(self) -> str:
        return uuid.uuid4().hex[:12]

    def url(self, token: str, behaviour: str = "ok", **query: object) -> str:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}/{token}/{behaviour}" + (f"?{suffix}" if suffix else "")

    def ids(self, token: str) -> list[str]:
        with self.lock:
            return list(self.hits.get(token, []))


def _app(state: Receiver) -> Starlette:
    verifier = WebhookVerifier(SECRET, tolerance=None)

    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        behaviour = request.path_params["behaviour"]
        body = await request.body()
        try:
            webhook = verifier.verify(request.headers, body)
        except WebhookVerificationError:
            with state.lock:
                state.rejected[token] += 1
            return PlainTextResponse("bad signature", status_code=401)
        with state.lock:
            seen = state.hits.setdefault(token, [])
            first = webhook.id not in seen
            seen.append(str(webhook.id))
        if behaviour == "ok":
            return PlainTextResponse("thanks")
        if behaviour == "fail":
            return PlainTextResponse("x" * 5000, status_code=500)
        if behaviour == "busy":
            return PlainTextResponse(
                "busy", status_code=503, headers={"retry-after": request.query_params.get("after", "7")}
            )
        if behaviour == "flaky":
            # Every fifth message id answers 503 the first time it is seen.
            if first and hash(webhook.id) % 5 == 0:
                return PlainTextResponse("busy", status_code=503, headers={"retry-after": "0"})
            return PlainTextResponse("thanks")
        if behaviour == "gone":
            return PlainTextResponse("gone", status_code=410)
        if behaviour == "redirect":
            return RedirectResponse(state.url(token, "ok"), status_code=302)
        if behaviour == "hang-once" and first:
            state.hang_seen.set()
            await asyncio.get_running_loop().run_in_executor(None, state.release.wait, 30)
            return PlainTextResponse("late")
        if behaviour == "hang-once":
            return PlainTextResponse("thanks")
        return PlainTextResponse("unknown behaviour", status_code=404)

    return Starlette(routes=[Route("/{token}/{behaviour}", endpoint, methods=["POST"])])


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the server runs in a thread
        pass


def serve(app: Any, host: str, *, certificate: str | None = None) -> tuple[_Server, threading.Thread, int]:
    """Start ``app`` on ``host`` in a thread; return the server, its thread and port.

    With ``certificate`` (a PEM file holding the key and the chain), it serves HTTPS.
    """
    port = free_port()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=certificate,
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test receiver did not start")
        time.sleep(0.01)
    return server, thread, port


def stop(server: _Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(5)


@contextmanager
def _serving(state: Receiver, *, certificate: str | None = None) -> Iterator[int]:
    """Serve the receiver app for ``state`` on 127.0.0.1 and yield its port; ``state.base`` is its URL.

    With ``certificate`` it serves HTTPS. On the way out, requests held by ``hang-once`` are let go
    and the server stops.
    """
    server, thread, port = serve(_app(state), "127.0.0.1", certificate=certificate)
    state.base = f"{'http' if certificate is None else 'https'}://127.0.0.1:{port}"
    try:
        yield port
    finally:
        state.release.set()
        stop(server, thread)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A uvicorn server on 127.0.0.1 that verifies every signature and counts webhook ids per token."""
    state = Receiver(base="")
    with _serving(state):
        yield state


@dataclass
class TlsReceiver(Receiver):
    """The receiver over HTTPS: its certificate, for 127.0.0.1, is issued by ``ca`` (saved at ``ca_file``)."""

    port: int = 0
    ca: trustme.CA = field(default_factory=trustme.CA)
    ca_file: str = ""


@pytest.fixture(scope="session")
def tls_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsReceiver]:
    """The same receiver on HTTPS, with a certificate for 127.0.0.1 from a private CA (trustme)."""
    state = TlsReceiver(base="")
    directory = tmp_path_factory.mktemp("tls")
    state.ca_file = str(directory / "ca.pem")
    state.ca.cert_pem.write_to_path(state.ca_file)
    certificate = directory / "server.pem"
    state.ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(certificate))
    with _serving(state, certificate=str(certificate)) as port:
        state.port = port
        yield state


@pytest.fixture
async def outbox(
    postgres_pool: asyncpg.Pool[Any], postgres_table: str, fake_clock: FakeClock
) -> PostgresOutbox:
    """An outbox with fresh tables (unique names), a memory endpoint store and a jitter-free schedule."""
    box = PostgresOutbox(
        postgres_pool,
        MemoryEndpointStore(),
        schedule=RetrySchedule((0, 5, 300, 1800), jitter=0),
        clock=fake_clock,
        table=postgres_table,
    )
    await box.create_schema()
    return box
