"""Delivery over HTTPS: a private CA trusted by file or by context, certificates that do not verify, close."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx
import pytest

from buttress.testing import FakeClock, open_connections
from buttress.webhooks import (
    DeliveryStatus,
    DeliveryWorker,
    Endpoint,
    MemoryEndpointStore,
    MemoryOutbox,
    Message,
    RetrySchedule,
    safe_client,
)

from .conftest import LOOPBACK, SECRET, TlsReceiver


class OtherName:
    """A `Resolver` that sends ``other-name.test`` to 127.0.0.1, whose certificate does not name it."""

    async def resolve(self, host: str, port: int) -> list[str]:
        if host == "other-name.test":
            return ["127.0.0.1"]
        raise OSError(f"{host!r} does not resolve")


def _outbox(url: str, clock: FakeClock) -> MemoryOutbox:
    store = MemoryEndpointStore([Endpoint(url, (SECRET,), id="ep_tls")])
    return MemoryOutbox(store, schedule=RetrySchedule((0, 5), jitter=0), clock=clock)


async def _one_message(receiver: TlsReceiver, clock: FakeClock, n: int) -> tuple[str, MemoryOutbox, Message]:
    """A fresh token, an outbox whose one endpoint is the receiver's URL for it, and a message sent there."""
    token = receiver.token()
    outbox = _outbox(receiver.url(token), clock)
    message = await outbox.send("invoice.paid", {"n": n})
    return token, outbox, message


def _trusting(receiver: TlsReceiver) -> ssl.SSLContext:
    context = ssl.create_default_context()
    receiver.ca.configure_trust(context)
    return context


VERIFY: dict[str, Callable[[TlsReceiver], str | ssl.SSLContext]] = {
    "ca-file": lambda receiver: receiver.ca_file,
    "ssl-context": _trusting,
}


@pytest.fixture(params=VERIFY.values(), ids=list(VERIFY))
def verify(request: pytest.FixtureRequest, tls_receiver: TlsReceiver) -> str | ssl.SSLContext:
    """How a worker trusts the receiver's private CA: its PEM file, or a context that trusts it."""
    trust: Callable[[TlsReceiver], str | ssl.SSLContext] = request.param
    return trust(tls_receiver)


async def test_the_worker_delivers_over_https_to_a_private_ca(
    tls_receiver: TlsReceiver, fake_clock: FakeClock, verify: str | ssl.SSLContext
) -> None:
    """A worker trusting the CA (its PEM file, or a context) delivers; the receiver checks the signature."""
    token, outbox, message = await _one_message(tls_receiver, fake_clock, 1)
    async with DeliveryWorker(outbox, policy=LOOPBACK, verify=verify, timeout=5, lease=30) as worker:
        assert await worker.drain() == 1
    [delivery] = await outbox.deliveries(message.id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.last_status_code == 200
    assert tls_receiver.ids(token) == [message.id]
    assert tls_receiver.rejected[token] == 0


async def test_a_worker_sending_through_safe_client_delivers_over_https(
    tls_receiver: TlsReceiver, fake_clock: FakeClock, verify: str | ssl.SSLContext
) -> None:
    """A worker given ``safe_client(verify=...)`` delivers through it, and the client keeps working after."""
    token, outbox, message = await _one_message(tls_receiver, fake_clock, 2)
    async with safe_client(LOOPBACK, timeout=5, verify=verify) as client:
        async with DeliveryWorker(outbox, client=client, timeout=5, lease=30) as worker:
            assert await worker.drain() == 1
        assert not client.is_closed  # the worker never closes a client it was given
    [delivery] = await outbox.deliveries(message.id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert tls_receiver.ids(token) == [message.id]


async def _failed_attempt(outbox: MemoryOutbox, worker: DeliveryWorker, message_id: str) -> str:
    """Run one round; assert the attempt failed without an answer and will be retried; return its error."""
    async with worker:
        assert await worker.drain() == 1  # no exception reaches the caller
    [delivery] = await outbox.deliveries(message_id)
    assert delivery.status is DeliveryStatus.PENDING  # a connection failure: retried on the schedule
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    [attempt] = await outbox.attempts(message_id)
    assert attempt.outcome == "retry"
    assert attempt.status_code is None
    assert attempt.error == delivery.last_error
    assert attempt.error is not None
    return attempt.error


async def test_an_untrusted_certificate_is_a_retried_connection_failure(
    tls_receiver: TlsReceiver, fake_clock: FakeClock
) -> None:
    """With the default CAs (``verify=True``) the private CA's certificate fails the attempt: retried."""
    token, outbox, message = await _one_message(tls_receiver, fake_clock, 3)
    worker = DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30)
    error = await _failed_attempt(outbox, worker, message.id)
    assert error.startswith("ConnectError:")
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert "self-signed" in error or "unable to get local issuer" in error
    assert tls_receiver.ids(token) == []


async def test_a_certificate_for_another_host_is_a_retried_connection_failure(
    tls_receiver: TlsReceiver, fake_clock: FakeClock
) -> None:
    """A trusted certificate that does not name the URL's host fails the attempt; it is retried."""
    token = tls_receiver.token()
    url = tls_receiver.url(token).replace("127.0.0.1", "other-name.test")
    outbox = _outbox(url, fake_clock)
    message = await outbox.send("invoice.paid", {"n": 4})
    worker = DeliveryWorker(
        outbox, policy=LOOPBACK, resolver=OtherName(), verify=tls_receiver.ca_file, timeout=5, lease=30
    )
    error = await _failed_attempt(outbox, worker, message.id)
    assert error.startswith("ConnectError:")
    assert "CERTIFICATE_VERIFY_FAILED" in error
    assert "Hostname mismatch" in error
    assert tls_receiver.ids(token) == []


async def test_closing_the_worker_closes_its_tls_connections(
    tls_receiver: TlsReceiver, fake_clock: FakeClock
) -> None:
    """The kept-alive TLS connection is pooled while the worker is open and closed when it closes."""
    token, outbox, _ = await _one_message(tls_receiver, fake_clock, 5)
    async with DeliveryWorker(
        outbox, policy=LOOPBACK, verify=tls_receiver.ca_file, timeout=5, lease=30
    ) as worker:
        assert await worker.drain() == 1
        assert open_connections(tls_receiver.port) >= 1
    assert open_connections(tls_receiver.port) == 0
    assert len(tls_receiver.ids(token)) == 1


async def test_closing_safe_client_closes_its_tls_connections(tls_receiver: TlsReceiver) -> None:
    """``safe_client``'s pooled TLS connection is closed by the time ``aclose`` returns."""
    client = safe_client(LOOPBACK, timeout=5, verify=tls_receiver.ca_file)
    async with client:
        # Unsigned: the receiver answers 401, on a connection it keeps alive.
        response = await client.post(tls_receiver.url(tls_receiver.token()), content=b"{}")
        assert response.status_code == 401
        assert response.http_version == "HTTP/1.1"
        assert open_connections(tls_receiver.port) >= 1
    assert open_connections(tls_receiver.port) == 0


async def test_a_failed_handshake_leaves_no_connection(tls_receiver: TlsReceiver) -> None:
    """A handshake refused by verification closes its socket at once, before the client is closed."""
    async with safe_client(LOOPBACK, timeout=5) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(tls_receiver.url(tls_receiver.token()), content=b"{}")
        assert open_connections(tls_receiver.port) == 0
