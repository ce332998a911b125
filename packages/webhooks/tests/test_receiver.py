"""The receiver side: replay guards (memory, Redis), WebhookReceiver and the ASGI WebhookEndpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from redis.asyncio import Redis

from buttress.testing import FakeClock, RedisServer
from buttress.webhooks import (
    GitHubVerifier,
    MemoryReplayGuard,
    RedisReplayGuard,
    ReplayClaim,
    ReplayedWebhookError,
    ReplayGuard,
    ReplayStatus,
    VerifiedWebhook,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhooksConfigurationError,
    WebhookSigner,
    WebhooksTypeError,
    WebhooksUnavailableError,
    WebhookVerifier,
    generate_secret,
)

SECRET = generate_secret()
BODY = b'{"type": "invoice.paid"}'


async def test_the_receiver_hands_an_id_to_one_delivery_and_replays_it_once_done() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    webhook = await receiver.receive(headers, BODY)
    assert webhook.body == BODY
    assert webhook.claim_token
    with pytest.raises(WebhookInFlightError) as in_flight:  # claimed, not handled yet: not a replay
        await receiver.receive(headers, BODY)
    assert in_flight.value.replay_key == headers["webhook-id"]
    assert 0 < in_flight.value.retry_after <= 60
    await receiver.complete(webhook)
    with pytest.raises(ReplayedWebhookError) as caught:
        await receiver.receive(headers, BODY)
    assert caught.value.replay_key == headers["webhook-id"]
    other = WebhookSigner(SECRET).headers(BODY)
    assert (await receiver.receive(other, BODY)).id == other["webhook-id"]


async def test_forget_lets_a_retry_in() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    webhook = await receiver.receive(headers, BODY)
    await receiver.forget(webhook)
    assert (await receiver.receive(headers, BODY)).id == webhook.id


async def test_accept_marks_done_on_success_and_releases_on_failure() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    with pytest.raises(RuntimeError):
        async with receiver.accept(headers, BODY):
            raise RuntimeError("handler broke")
    async with receiver.accept(headers, BODY) as webhook:  # released: the retry is handled
        assert webhook.id == headers["webhook-id"]
    with pytest.raises(ReplayedWebhookError):
        async with receiver.accept(headers, BODY):
            raise AssertionError("a replay is not handed over")


async def test_without_a_guard_replays_pass_and_ttl_defaults_follow_the_verifier() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET))
    headers = WebhookSigner(SECRET).headers(BODY)
    await receiver.receive(headers, BODY)
    await receiver.receive(headers, BODY)
    assert receiver.verify(headers, BODY).id == headers["webhook-id"]
    WebhookReceiver(GitHubVerifier("s"), replay_guard=MemoryReplayGuard())  # no window: 7 days
    with pytest.raises(WebhooksConfigurationError):
        WebhookReceiver(WebhookVerifier(SECRET), replay_ttl=0)
    with pytest.raises(WebhooksConfigurationError):
        WebhookReceiver(object())  # type: ignore[arg-type]


async def test_memory_guard_leases_expire_done_marks_last_and_memory_is_bounded() -> None:
    clock = FakeClock()
    guard = MemoryReplayGuard(max_entries=3, clock=clock)
    assert isinstance(guard, ReplayGuard)
    first = await guard.claim("a", 10)
    assert first.status is ReplayStatus.CLAIMED
    assert await guard.claim("a", 10) == ReplayClaim(ReplayStatus.IN_FLIGHT, lease_left=10)
    clock.advance(10)  # the lease ran out: free again
    second = await guard.claim("a", 10)
    assert second.status is ReplayStatus.CLAIMED
    await guard.release("a", first.token)  # the first claim's token frees nothing any more
    assert (await guard.claim("a", 10)).status is ReplayStatus.IN_FLIGHT
    await guard.complete("a", 100)
    await guard.release("a", second.token)  # a done mark is never released
    assert (await guard.claim("a", 10)).status is ReplayStatus.DONE
    clock.advance(100)
    assert (await guard.claim("a", 10)).status is ReplayStatus.CLAIMED
    for key in "bcde":
        assert (await guard.claim(key, 100)).status is ReplayStatus.CLAIMED
    assert len(guard) == 3
    with pytest.raises(WebhooksConfigurationError):
        await guard.claim("", 1)
    with pytest.raises(WebhooksConfigurationError):
        await guard.claim("x", -1)
    with pytest.raises(WebhooksConfigurationError):
        MemoryReplayGuard(max_entries=0)


class ReplayGuardMachine(RuleBasedStateMachine):
    """Property: MemoryReplayGuard behaves like a dict of (expiry, holder) per id through claims,
    completions, releases (by the right and wrong token) and time passing."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.guard = MemoryReplayGuard(clock=self.clock)
        # key -> (expiry, token); "" is a done mark.
        self.model: dict[str, tuple[float, str]] = {}
        self.tokens: list[tuple[str, str]] = []

    def _live(self, key: str) -> tuple[float, str] | None:
        entry = self.model.get(key)
        return entry if entry is not None and entry[0] > self.clock.monotonic() else None

    @rule(key=st.sampled_from("abcde"), lease=st.integers(1, 20))
    def claim(self, key: str, lease: int) -> None:
        now = self.clock.monotonic()
        entry = self._live(key)
        found = _complete(self.guard.claim(key, lease))
        if entry is None:
            assert found.status is ReplayStatus.CLAIMED
            self.model[key] = (now + lease, found.token)
            self.tokens.append((key, found.token))
        elif entry[1] == "":
            assert found == ReplayClaim(ReplayStatus.DONE)
        else:
            assert found == ReplayClaim(ReplayStatus.IN_FLIGHT, lease_left=entry[0] - now)

    @rule(key=st.sampled_from("abcde"), ttl=st.integers(1, 20))
    def complete(self, key: str, ttl: int) -> None:
        _complete(self.guard.complete(key, ttl))
        self.model[key] = (self.clock.monotonic() + ttl, "")

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.tokens:
            return
        key, token = data.draw(st.sampled_from(self.tokens))
        _complete(self.guard.release(key, token))
        entry = self._live(key)
        if entry is not None and entry[1] == token:
            del self.model[key]

    @rule(seconds=st.integers(0, 15))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def holds_what_the_model_holds(self) -> None:
        live = {k for k in self.model if self._live(k) is not None}
        assert len(self.guard) >= len(live)


TestReplayGuardMachine = ReplayGuardMachine.TestCase
TestReplayGuardMachine.settings = settings(max_examples=30, stateful_step_count=30)


def _complete[T](coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine that never suspends (the memory guard's) to its end, outside an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the coroutine suspended")


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_guard_leases_done_marks_and_tokens(redis_client: Redis, redis_prefix: str) -> None:
    guard = RedisReplayGuard(redis_client, prefix=redis_prefix)
    claim = await guard.claim("msg_1", 30)
    assert claim.status is ReplayStatus.CLAIMED
    assert await redis_client.get(redis_prefix + "msg_1") == b"lease:" + claim.token.encode()
    busy = await guard.claim("msg_1", 30)
    assert busy.status is ReplayStatus.IN_FLIGHT
    assert 0 < busy.lease_left <= 30
    await guard.release("msg_1", "not-the-token")
    assert (await guard.claim("msg_1", 30)).status is ReplayStatus.IN_FLIGHT
    await guard.complete("msg_1", 30)
    assert await redis_client.get(redis_prefix + "msg_1") == b"done"
    assert 0 < await redis_client.pttl(redis_prefix + "msg_1") <= 30_000
    await guard.release("msg_1", claim.token)  # a done mark is never released
    assert (await guard.claim("msg_1", 30)).status is ReplayStatus.DONE
    await redis_client.set(redis_prefix + "old", b"1")  # what earlier versions wrote: a done mark
    assert (await guard.claim("old", 30)).status is ReplayStatus.DONE
    again = await guard.claim("msg_2", 30)
    await guard.release("msg_2", again.token)
    assert (await guard.claim("msg_2", 30)).status is ReplayStatus.CLAIMED


@pytest.mark.redis
async def test_redis_guard_is_atomic_across_concurrent_claims(redis_url: str, redis_prefix: str) -> None:
    guards = [RedisReplayGuard.from_url(redis_url, prefix=redis_prefix) for _ in range(4)]
    try:
        results = await asyncio.gather(*(g.claim("same", 30) for g in guards for _ in range(5)))
        assert [r.status for r in results].count(ReplayStatus.CLAIMED) == 1
        assert [r.status for r in results].count(ReplayStatus.IN_FLIGHT) == 19
    finally:
        for g in guards:
            await g.aclose()


@pytest.mark.redis
async def test_redis_guard_down_raises_store_unavailable_and_endpoint_answers_503(
    redis_server: RedisServer,
) -> None:
    guard = RedisReplayGuard.from_url(redis_server.url)
    try:
        assert (await guard.claim("x", 10)).status is ReplayStatus.CLAIMED
        redis_server.stop()
        for call in (guard.claim("y", 10), guard.complete("x", 10), guard.release("x", "t")):
            with pytest.raises(WebhooksUnavailableError) as caught:
                await call
            assert isinstance(caught.value, ConnectionError)
        app = WebhookEndpoint(_record([]), WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard))
        response = await _post(app, WebhookSigner(SECRET).headers(BODY), BODY)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
    finally:
        await guard.aclose()


def _record(seen: list[VerifiedWebhook], *, fail: bool = False, status: int | None = None):  # type: ignore[no-untyped-def]
    async def handler(webhook: VerifiedWebhook) -> int | None:
        seen.append(webhook)
        if fail:
            raise RuntimeError("handler broke")
        return status

    return handler


async def _post(
    app: WebhookEndpoint, headers: dict[str, str], body: bytes, method: str = "POST"
) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.request(method, "/hook", headers=headers, content=body)


async def test_the_asgi_endpoint_statuses() -> None:
    seen: list[VerifiedWebhook] = []
    app = WebhookEndpoint(
        _record(seen), WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    )
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await _post(app, headers, BODY)).status_code == 204
    assert [w.body for w in seen] == [BODY]
    assert (await _post(app, headers, BODY)).status_code == 200  # replay: acknowledged, not handled
    assert len(seen) == 1
    assert (await _post(app, {}, BODY)).status_code == 400
    assert (await _post(app, {**headers, "webhook-timestamp": "x"}, BODY)).status_code == 400
    assert (await _post(app, WebhookSigner(generate_secret()).headers(BODY), BODY)).status_code == 401
    assert (await _post(app, headers, BODY, method="GET")).status_code == 405


async def test_a_failing_handler_answers_500_and_the_retry_is_accepted() -> None:
    seen: list[VerifiedWebhook] = []
    guard = MemoryReplayGuard()
    headers = WebhookSigner(SECRET).headers(BODY)
    broken = WebhookEndpoint(
        _record(seen, fail=True), WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard)
    )
    assert (await _post(broken, headers, BODY)).status_code == 500
    fixed = WebhookEndpoint(
        _record(seen, status=202), WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard)
    )
    assert (await _post(fixed, headers, BODY)).status_code == 202
    assert len(seen) == 2


async def test_body_limit_and_bad_arguments() -> None:
    app = WebhookEndpoint(_record([]), WebhookVerifier(SECRET), max_body_size=10)
    assert (await _post(app, WebhookSigner(SECRET).headers(BODY), BODY)).status_code == 413
    with pytest.raises(WebhooksConfigurationError):
        WebhookEndpoint(_record([]), WebhookVerifier(SECRET), max_body_size=0)
    with pytest.raises(WebhooksTypeError):
        WebhookEndpoint("nope", WebhookVerifier(SECRET))  # type: ignore[arg-type]


async def test_lifespan_messages_are_answered() -> None:
    app = WebhookEndpoint(_record([]), WebhookVerifier(SECRET))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.redis
async def test_a_failing_handler_with_the_guard_down_still_answers_500(redis_server: RedisServer) -> None:
    """The handler fails and Redis goes down before the id is released: a 500, nothing escapes."""
    guard = RedisReplayGuard.from_url(redis_server.url)

    async def handler(webhook: VerifiedWebhook) -> None:
        redis_server.stop()
        raise RuntimeError("handler broke")

    try:
        app = WebhookEndpoint(handler, WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard))
        response = await _post(app, WebhookSigner(SECRET).headers(BODY), BODY)
        assert response.status_code == 500
    finally:
        await guard.aclose()
