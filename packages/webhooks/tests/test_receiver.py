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
    ReplayedWebhookError,
    ReplayGuard,
    StoreUnavailableError,
    VerifiedWebhook,
    WebhookConfigurationError,
    WebhookEndpoint,
    WebhookReceiver,
    WebhookSigner,
    WebhookVerifier,
    generate_secret,
)

SECRET = generate_secret()
BODY = b'{"type": "invoice.paid"}'


async def test_the_receiver_accepts_an_id_once() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=MemoryReplayGuard())
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await receiver.receive(headers, BODY)).body == BODY
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


async def test_without_a_guard_replays_pass_and_ttl_defaults_follow_the_verifier() -> None:
    receiver = WebhookReceiver(WebhookVerifier(SECRET))
    headers = WebhookSigner(SECRET).headers(BODY)
    await receiver.receive(headers, BODY)
    await receiver.receive(headers, BODY)
    assert receiver.verify(headers, BODY).id == headers["webhook-id"]
    WebhookReceiver(GitHubVerifier("s"), replay_guard=MemoryReplayGuard())  # no window: 7 days
    with pytest.raises(WebhookConfigurationError):
        WebhookReceiver(WebhookVerifier(SECRET), replay_ttl=0)
    with pytest.raises(WebhookConfigurationError):
        WebhookReceiver(object())  # type: ignore[arg-type]


async def test_memory_guard_expires_and_bounds_memory() -> None:
    clock = FakeClock()
    guard = MemoryReplayGuard(max_entries=3, clock=clock)
    assert isinstance(guard, ReplayGuard)
    assert await guard.claim("a", 10)
    assert not await guard.claim("a", 10)
    clock.advance(10)
    assert await guard.claim("a", 10)
    for key in "bcde":
        assert await guard.claim(key, 100)
    assert len(guard) == 3
    with pytest.raises(WebhookConfigurationError):
        await guard.claim("", 1)
    with pytest.raises(WebhookConfigurationError):
        await guard.claim("x", -1)
    with pytest.raises(WebhookConfigurationError):
        MemoryReplayGuard(max_entries=0)


class ReplayGuardMachine(RuleBasedStateMachine):
    """Property: MemoryReplayGuard behaves like a dict of expiry times (claim, release, time passing)."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.guard = MemoryReplayGuard(clock=self.clock)
        self.model: dict[str, float] = {}

    @rule(key=st.sampled_from("abcde"), ttl=st.integers(1, 20))
    def claim(self, key: str, ttl: int) -> None:
        now = self.clock.monotonic()
        expected = not (key in self.model and self.model[key] > now)
        assert _complete(self.guard.claim(key, ttl)) is expected
        if expected:
            self.model[key] = now + ttl

    @rule(key=st.sampled_from("abcde"))
    def release(self, key: str) -> None:
        _complete(self.guard.release(key))
        self.model.pop(key, None)

    @rule(seconds=st.integers(0, 15))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def never_holds_more_than_the_model(self) -> None:
        live = {k for k, v in self.model.items() if v > self.clock.monotonic()}
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
async def test_redis_guard_set_nx_px(redis_client: Redis, redis_prefix: str) -> None:
    guard = RedisReplayGuard(redis_client, prefix=redis_prefix)
    assert await guard.claim("msg_1", 30)
    assert not await guard.claim("msg_1", 30)
    ttl = await redis_client.pttl(redis_prefix + "msg_1")
    assert 0 < ttl <= 30_000
    await guard.release("msg_1")
    assert await guard.claim("msg_1", 0.05)


@pytest.mark.redis
async def test_redis_guard_is_atomic_across_concurrent_claims(redis_url: str, redis_prefix: str) -> None:
    guards = [RedisReplayGuard.from_url(redis_url, prefix=redis_prefix) for _ in range(4)]
    try:
        results = await asyncio.gather(*(g.claim("same", 30) for g in guards for _ in range(5)))
        assert sum(results) == 1
    finally:
        for g in guards:
            await g.aclose()


@pytest.mark.redis
async def test_redis_guard_down_raises_store_unavailable_and_endpoint_answers_503(
    redis_server: RedisServer,
) -> None:
    guard = RedisReplayGuard.from_url(redis_server.url)
    try:
        assert await guard.claim("x", 10)
        redis_server.stop()
        with pytest.raises(StoreUnavailableError) as caught:
            await guard.claim("y", 10)
        assert isinstance(caught.value, ConnectionError)
        app = WebhookEndpoint(_record([]), WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard))
        response = await _post(app, WebhookSigner(SECRET).headers(BODY), BODY)
        assert response.status_code == 503
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
    with pytest.raises(WebhookConfigurationError):
        WebhookEndpoint(_record([]), WebhookVerifier(SECRET), max_body_size=0)
    with pytest.raises(WebhookConfigurationError):
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
