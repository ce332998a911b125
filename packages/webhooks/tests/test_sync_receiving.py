"""The synchronous face: SyncMemoryReplayGuard, SyncWebhookReceiver and WSGIWebhookEndpoint.

They share `WebhookReceiver`'s and `WebhookEndpoint`'s rules; the property at the end drives both
faces with the same deliveries and asserts they answer alike.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.testing import FakeClock, ReplayGuardContract, check_hostile, check_hostile_wsgi
from buttress.webhooks import (
    MemoryReplayGuard,
    ReplayClaim,
    ReplayedWebhookError,
    ReplayStatus,
    SyncMemoryReplayGuard,
    SyncReplayGuard,
    SyncWebhookReceiver,
    VerifiedWebhook,
    WebhookAnswer,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhooksConfigurationError,
    WebhookSigner,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerifier,
    WSGIWebhookEndpoint,
    generate_secret,
)

SECRET = generate_secret()
BODY = b'{"type": "invoice.paid"}'


class InThreads:
    """A `SyncReplayGuard` seen as a `ReplayGuard`: each call runs in a worker thread, so the
    contract's concurrent claims race in real threads."""

    def __init__(self, guard: SyncMemoryReplayGuard) -> None:
        self.guard = guard

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        return await asyncio.to_thread(self.guard.claim, key, lease)

    async def complete(self, key: str, ttl: float) -> None:
        await asyncio.to_thread(self.guard.complete, key, ttl)

    async def release(self, key: str, token: str) -> None:
        await asyncio.to_thread(self.guard.release, key, token)


class TestSyncMemoryReplayGuard(ReplayGuardContract):
    """The async guards' conformance suite, run on the sync guard from worker threads."""

    async def make_guard(self) -> InThreads:
        return InThreads(SyncMemoryReplayGuard())


def test_of_threads_claiming_one_id_at_once_exactly_one_gets_it() -> None:
    guard = SyncMemoryReplayGuard()
    start = threading.Barrier(16, timeout=10)
    found: list[ReplayStatus] = []
    lock = threading.Lock()

    def claim() -> None:
        start.wait()
        status = guard.claim("msg_1", 60).status
        with lock:
            found.append(status)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found).count(ReplayStatus.CLAIMED) == 1
    assert found.count(ReplayStatus.IN_FLIGHT) == 15
    assert isinstance(guard, SyncReplayGuard)
    assert len(guard) == 1


def test_the_sync_receiver_hands_an_id_to_one_delivery_and_replays_it_once_done() -> None:
    receiver = SyncWebhookReceiver(WebhookVerifier(SECRET), replay_guard=SyncMemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    webhook = receiver.receive(headers, BODY)
    assert webhook.claim_token
    with pytest.raises(WebhookInFlightError) as in_flight:
        receiver.receive(headers, BODY)
    assert 0 < in_flight.value.retry_after <= 60
    receiver.complete(webhook)
    with pytest.raises(ReplayedWebhookError):
        receiver.receive(headers, BODY)
    other = WebhookSigner(SECRET).headers(BODY)
    forgotten = receiver.receive(other, BODY)
    receiver.forget(forgotten)
    assert receiver.receive(other, BODY).id == other["webhook-id"]
    assert receiver.verify(headers, BODY).id == headers["webhook-id"]
    assert receiver.verifier is not None


def test_accept_marks_done_on_success_and_releases_on_failure() -> None:
    receiver = SyncWebhookReceiver(WebhookVerifier(SECRET), replay_guard=SyncMemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    with pytest.raises(RuntimeError), receiver.accept(headers, BODY):
        raise RuntimeError("handler broke")
    with receiver.accept(headers, BODY) as webhook:  # released: the retry is handled
        assert webhook.id == headers["webhook-id"]
    with pytest.raises(ReplayedWebhookError), receiver.accept(headers, BODY):
        raise AssertionError("a replay is not handed over")


class DownGuard:
    """A sync guard whose server is gone, or (``bug``) that raises what it should not."""

    def __init__(self, *, bug: bool = False) -> None:
        self.bug = bug

    def _fail(self) -> None:
        if self.bug:
            raise RuntimeError("a guard's own bug")
        raise WebhooksUnavailableError("redis", "redis://cache:6379", "connection refused")

    def claim(self, key: str, lease: float) -> ReplayClaim:
        self._fail()
        raise AssertionError

    def complete(self, key: str, ttl: float) -> None:
        self._fail()

    def release(self, key: str, token: str) -> None:
        self._fail()


@pytest.mark.parametrize("bug", [False, True])
def test_a_guard_that_is_down_or_broken_is_unavailable(bug: bool) -> None:
    receiver = SyncWebhookReceiver(WebhookVerifier(SECRET), replay_guard=DownGuard(bug=bug))
    with pytest.raises(WebhooksUnavailableError):
        receiver.receive(WebhookSigner(SECRET).headers(BODY), BODY)
    claimed = VerifiedWebhook("standard", "msg_1", None, BODY, "msg_1", claim_token="t")  # noqa: S106 - not a secret
    assert receiver.settle(claimed, handled=True) is False
    assert receiver.settle(claimed, handled=False) is False
    with pytest.raises(WebhooksConfigurationError):
        receiver.settle(claimed, handled="yes")  # type: ignore[arg-type]
    with pytest.raises(WebhooksTypeError):
        receiver.complete("not a webhook")  # type: ignore[arg-type]


def test_each_receiver_refuses_the_other_faces_guard() -> None:
    verifier = WebhookVerifier(SECRET)
    with pytest.raises(WebhooksConfigurationError, match="SyncWebhookReceiver"):
        WebhookReceiver(verifier, replay_guard=SyncMemoryReplayGuard())  # type: ignore[arg-type]
    with pytest.raises(WebhooksConfigurationError, match="WebhookReceiver"):
        SyncWebhookReceiver(verifier, replay_guard=MemoryReplayGuard())  # type: ignore[arg-type]
    with pytest.raises(WebhooksConfigurationError):
        SyncWebhookReceiver(object())  # type: ignore[arg-type]


# --- WSGIWebhookEndpoint ------------------------------------------------------------------------------


def call(
    app: Any, body: bytes = BODY, headers: dict[str, str] | None = None, **environ: Any
) -> tuple[str, dict[str, str], bytes]:
    """One request through a WSGI app: its status line, headers and body."""
    base: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        base["HTTP_" + name.upper().replace("-", "_")] = value
    base.update(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, fields: list[tuple[str, str]], exc_info: object = None) -> Any:
        started.append((status, fields))
        return lambda data: None

    chunks: Iterable[bytes] = app(base, start_response)
    return started[0][0], {k.lower(): v for k, v in started[0][1]}, b"".join(chunks)


class Recorder:
    def __init__(self, answer: object = None) -> None:
        self.seen: list[VerifiedWebhook] = []
        self.answer = answer

    def __call__(self, webhook: VerifiedWebhook) -> object:
        self.seen.append(webhook)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def endpoint(handler: Any, guard: SyncMemoryReplayGuard | None = None, **kwargs: Any) -> WSGIWebhookEndpoint:
    receiver = SyncWebhookReceiver(
        WebhookVerifier(SECRET), replay_guard=guard if guard is not None else SyncMemoryReplayGuard()
    )
    return WSGIWebhookEndpoint(handler, receiver, **kwargs)


def test_the_wsgi_endpoint_answers_as_the_asgi_one_does() -> None:
    handler = Recorder()
    app = endpoint(handler, max_body_size=1024)
    headers = WebhookSigner(SECRET).headers(BODY)
    status, fields, body = call(app, headers=headers)
    assert (status, "content-length" in fields, body) == ("204 No Content", False, b"")
    assert [w.body for w in handler.seen] == [BODY]
    assert call(app, headers=headers)[0] == "200 OK"  # a replay: handled once
    assert call(app, headers=WebhookSigner(generate_secret()).headers(BODY))[0].startswith("401")
    assert call(app, headers={"webhook-id": "msg_1"})[0].startswith("400")
    assert call(app, REQUEST_METHOD="GET")[:2] == (
        "405 Method Not Allowed",
        {**call(app, REQUEST_METHOD="GET")[1]},
    )
    assert call(app, REQUEST_METHOD="GET")[1]["allow"] == "POST"
    assert call(app, b"x" * 2000, headers=WebhookSigner(SECRET).headers(b"x" * 2000))[0].startswith("413")
    assert call(app, CONTENT_LENGTH="12x")[0].startswith("400")
    assert call(app, CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")[0].startswith("411")
    assert call(app, CONTENT_LENGTH="500")[0].startswith("400")  # the body ended early: cut short
    assert len(handler.seen) == 1


def test_a_failed_handler_releases_the_id_for_the_retry() -> None:
    guard = SyncMemoryReplayGuard()
    headers = WebhookSigner(SECRET).headers(BODY)
    assert call(endpoint(Recorder(RuntimeError("down")), guard), headers=headers)[0].startswith("500")
    assert call(endpoint(Recorder(422), guard), headers=headers)[0].startswith("422")
    assert call(endpoint(Recorder(302), guard), headers=headers)[0].startswith("500")
    assert call(endpoint(Recorder(202), guard), headers=headers)[0].startswith("202")
    assert call(endpoint(Recorder(), guard), headers=headers)[0].startswith("200")


def test_a_delivery_in_flight_is_a_503_with_retry_after() -> None:
    guard = SyncMemoryReplayGuard()
    headers = WebhookSigner(SECRET).headers(BODY)
    guard.claim(headers["webhook-id"], 30)
    status, fields, _ = call(endpoint(Recorder(), guard), headers=headers)
    assert status.startswith("503")
    assert 1 <= int(fields["retry-after"]) <= 30
    down = WSGIWebhookEndpoint(
        Recorder(), SyncWebhookReceiver(WebhookVerifier(SECRET), replay_guard=DownGuard())
    )
    status, fields, _ = call(down, headers=headers)
    assert (status[:3], fields["retry-after"]) == ("503", "5")


def test_an_async_handler_belongs_to_the_asgi_endpoint() -> None:
    async def handle(webhook: VerifiedWebhook) -> None:
        return None

    with pytest.raises(WebhooksTypeError):
        WSGIWebhookEndpoint(handle, WebhookVerifier(SECRET))  # type: ignore[arg-type]

    class Sneaky:
        def __call__(self, webhook: VerifiedWebhook) -> object:
            return handle(webhook)

    headers = WebhookSigner(SECRET).headers(BODY)
    assert call(endpoint(Sneaky()), headers=headers)[0].startswith("500")


def test_answer_serves_a_view_of_your_own() -> None:
    app = endpoint(Recorder())
    headers = WebhookSigner(SECRET).headers(BODY)
    assert app.answer(headers, BODY) == WebhookAnswer(204)
    replay = app.answer(headers, BODY)
    assert (replay.status, replay.body, dict(replay.headers)["content-type"]) == (
        200,
        b"already handled",
        "text/plain; charset=utf-8",
    )


# --- one set of rules: both faces answer alike -----------------------------------------------------

OUTCOMES = st.sampled_from(["ok", "raise", "503", "202"])


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), OUTCOMES, st.sampled_from([0, 0, 10, 61])), max_size=25))
def test_both_faces_answer_every_delivery_alike(deliveries: list[tuple[int, str, int]]) -> None:
    """Property: WSGIWebhookEndpoint and WebhookEndpoint, given the same deliveries, outcomes and time,
    answer each delivery with the same status, and hand the same deliveries to their handlers."""
    signer = WebhookSigner(SECRET)
    messages = {i: signer.headers(BODY, msg_id=f"msg_{i}") for i in range(4)}
    clocks = FakeClock(), FakeClock()
    outcome: list[str] = [""]
    handled: tuple[list[str], list[str]] = ([], [])

    def result(seen: list[str], webhook: VerifiedWebhook) -> object:
        seen.append(str(webhook.id))
        if outcome[0] == "raise":
            raise RuntimeError("handler failed")
        return {"ok": None, "503": 503, "202": 202}[outcome[0]]

    async def async_handler(webhook: VerifiedWebhook) -> object:
        return result(handled[0], webhook)

    def sync_handler(webhook: VerifiedWebhook) -> object:
        return result(handled[1], webhook)

    verifier = WebhookVerifier(SECRET)
    asgi = WebhookEndpoint(
        async_handler, WebhookReceiver(verifier, replay_guard=MemoryReplayGuard(clock=clocks[0]), lease=60)
    )
    wsgi = WSGIWebhookEndpoint(
        sync_handler,
        SyncWebhookReceiver(verifier, replay_guard=SyncMemoryReplayGuard(clock=clocks[1]), lease=60),
    )

    async def run() -> None:
        for message, kind, wait in deliveries:
            outcome[0] = kind
            for clock in clocks:
                clock.advance(wait)
            from_asgi = await asgi.answer(messages[message], BODY)
            from_wsgi = wsgi.answer(messages[message], BODY)
            assert from_asgi == from_wsgi

    asyncio.run(run())
    assert handled[0] == handled[1]


# --- bad input --------------------------------------------------------------------------------------


def test_the_wsgi_endpoint_never_answers_5xx_to_a_client() -> None:
    check_hostile_wsgi(endpoint(Recorder(), max_body_size=4096))
    check_hostile_wsgi(WSGIWebhookEndpoint(Recorder(), WebhookVerifier(SECRET)))


def test_the_sync_names_raise_only_typed_errors() -> None:
    clock = FakeClock()
    check_hostile(SyncMemoryReplayGuard, max_entries=10, clock=clock)
    guard = SyncMemoryReplayGuard(clock=clock)
    check_hostile(guard.claim, "msg_1", 30.0)
    check_hostile(guard.complete, "msg_2", 30.0)
    check_hostile(guard.release, "msg_3", "token")
    verifier = WebhookVerifier(SECRET)
    check_hostile(SyncWebhookReceiver, verifier, replay_guard=guard, replay_ttl=600.0, lease=30.0)
    receiver = SyncWebhookReceiver(verifier, replay_guard=SyncMemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    for method in (receiver.verify, receiver.receive):
        check_hostile(method, headers, BODY)
    webhook = VerifiedWebhook("standard", "msg_9", None, BODY, "msg_9", claim_token="t")  # noqa: S106 - not a secret
    check_hostile(receiver.complete, webhook)
    check_hostile(receiver.forget, webhook)
    check_hostile(receiver.settle, webhook, handled=True)
    check_hostile(WSGIWebhookEndpoint, Recorder(), receiver, max_body_size=1024, keep={"handler"})
    app = endpoint(Recorder())
    check_hostile(app.answer, headers, BODY)
