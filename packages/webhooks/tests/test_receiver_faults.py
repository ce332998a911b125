"""The receive path under faults: the replay guard down or restarted, handlers failing, duplicates racing.

The guarantee under test (README, "Replay guard and retries"): a webhook is answered 2xx only once a
handler succeeded for its id, so an honest sender's retries end in a handled webhook (at-least-once);
a duplicate run happens only when a handler succeeded but its done mark could not be written, when
a handler runs past its lease, or when the guard loses its data.

Each scenario runs on the memory guard (an outage is a wrapper that raises `WebhooksUnavailableError`
in front of it; time is a `FakeClock`) and on a private Redis (``redis_server``) that is stopped,
killed and restarted for real. The private server saves its data on shutdown (``CONFIG SET save``),
as a production Redis does, so a stop keeps the guard's leases and done marks; a kill loses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from redis.asyncio import Redis

from buttress.testing import FakeClock, RedisServer
from buttress.webhooks import (
    MemoryReplayGuard,
    RedisReplayGuard,
    ReplayClaim,
    VerifiedWebhook,
    WebhookEndpoint,
    WebhookReceiver,
    WebhookSigner,
    WebhooksUnavailableError,
    WebhookVerifier,
    generate_secret,
)

SECRET = generate_secret()
BODY = b'{"type": "invoice.paid"}'

Handler = Callable[[VerifiedWebhook], Awaitable[object]]


class Outage:
    """A `ReplayGuard` in front of a real `MemoryReplayGuard` that the test can take down.

    ``down``: every call raises `WebhooksUnavailableError` before reaching the guard. ``reply_lost``:
    every call reaches the guard and then raises, as when Redis applied a command and the connection
    died before its reply.
    """

    def __init__(self, inner: MemoryReplayGuard) -> None:
        self.inner = inner
        self.mode = "up"

    def _fail(self) -> None:
        raise WebhooksUnavailableError("memory", "memory://outage", "taken down by the test")

    async def _call[T](self, call: Coroutine[object, object, T]) -> T:
        if self.mode == "down":
            call.close()
            self._fail()
        result = await call
        if self.mode == "reply_lost":
            self._fail()
        return result

    async def claim(self, key: str, lease: float) -> ReplayClaim:
        return await self._call(self.inner.claim(key, lease))

    async def complete(self, key: str, ttl: float) -> None:
        await self._call(self.inner.complete(key, ttl))

    async def release(self, key: str, token: str) -> None:
        await self._call(self.inner.release(key, token))


class Harness(Protocol):
    """One guard under test and the faults a test can inflict on it."""

    guard: Any
    lease: float

    async def down(self) -> None:
        """Make the guard unreachable, keeping what it holds."""

    async def up(self) -> None:
        """Make it reachable again."""

    async def crash(self) -> None:
        """Make it unreachable and lose what it holds (a crash before it saved); `up` brings it back empty."""

    async def lease_runs_out(self) -> None:
        """Let every lease taken so far run out."""


@dataclass
class MemoryHarness:
    clock: FakeClock = field(default_factory=FakeClock)
    lease: float = 30.0
    guard: Outage = field(init=False)

    def __post_init__(self) -> None:
        self.guard = Outage(MemoryReplayGuard(clock=self.clock))

    async def down(self) -> None:
        self.guard.mode = "down"

    async def up(self) -> None:
        self.guard.mode = "up"

    async def crash(self) -> None:
        self.guard.mode = "down"
        self.guard.inner = MemoryReplayGuard(clock=self.clock)

    async def lease_runs_out(self) -> None:
        self.clock.advance(self.lease)


@dataclass
class RedisHarness:
    server: RedisServer
    guard: RedisReplayGuard
    prefix: str
    lease: float = 30.0

    async def down(self) -> None:
        self.server.stop()  # SIGTERM: Redis saves its data (CONFIG SET save) and exits

    async def up(self) -> None:
        self.server.start()

    async def crash(self) -> None:
        self.server.kill()  # SIGKILL: nothing saved (this test never stopped it gracefully)

    async def lease_runs_out(self) -> None:
        # Time passing, for Redis: a lease that runs out is a key Redis deletes; delete them now.
        client = Redis.from_url(self.server.url)
        try:
            async for key in client.scan_iter(match=self.prefix + "*"):
                value: object = await client.get(key)
                if isinstance(value, bytes) and value.startswith(b"lease:"):
                    await client.delete(key)
        finally:
            await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    admin = Redis.from_url(server.url)
    try:
        await admin.config_set("save", "3600 1")  # save on shutdown, as a production Redis does
    finally:
        await admin.aclose()
    guard = RedisReplayGuard.from_url(server.url, prefix="faults:")
    try:
        yield RedisHarness(server, guard, "faults:")
    finally:
        await guard.aclose()


def _app(harness: Harness, handler: Handler) -> WebhookEndpoint:
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=harness.guard, lease=harness.lease)
    return WebhookEndpoint(handler, receiver)


async def _post(app: WebhookEndpoint, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post("/hook", headers=headers, content=body)


async def _retry_while_503(app: WebhookEndpoint, headers: dict[str, str]) -> httpx.Response:
    """The sender's retries after a fault: every 503 carries Retry-After, and the last answer is not 503.

    A Redis client's first command after a restart may still fail on its old connection: a 503 too.
    """
    for _ in range(50):
        response = await _post(app, headers)
        if response.status_code != 503:
            return response
        assert int(response.headers["retry-after"]) >= 1
        await asyncio.sleep(0.05)
    raise AssertionError("still 503 after 50 retries")


async def test_a_handler_that_fails_while_the_guard_is_down_runs_again_on_the_retry(
    harness: Harness,
) -> None:
    """Regression: the id stayed claimed for its whole replay TTL and the retries were answered 200
    (a replay), so the webhook was never handled. Now the claim is a lease: a retry while it runs is
    a 503 with Retry-After, and the first retry after it ran out runs the handler."""
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")
        if len(runs) == 1:
            await harness.down()
            raise RuntimeError("handler broke")

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await _post(app, headers)).status_code == 500
    assert (await _post(app, headers)).status_code == 503  # the guard is down: retry later
    await harness.up()
    early = await _post(app, headers)  # the failed delivery's lease is still running
    assert early.status_code == 503, "never 200: the webhook was not handled"
    assert int(early.headers["retry-after"]) >= 1
    assert runs == ["run"]
    await harness.lease_runs_out()
    assert (await _retry_while_503(app, headers)).status_code == 204
    assert runs == ["run", "run"]
    assert (await _post(app, headers)).status_code == 200  # handled now: a replay
    assert runs == ["run", "run"]


async def test_a_handled_webhook_is_answered_as_a_replay_without_running_the_handler(
    harness: Harness,
) -> None:
    """Property: once a handler succeeded, retries are 200 replays, also across a guard outage."""
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append(webhook.replay_key)

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await _post(app, headers)).status_code == 204
    for _ in range(3):
        assert (await _post(app, headers)).status_code == 200
    await harness.down()
    assert (await _post(app, headers)).status_code == 503
    await harness.up()
    assert (await _retry_while_503(app, headers)).status_code == 200
    assert runs == [headers["webhook-id"]]


async def test_concurrent_duplicate_deliveries_run_the_handler_once(harness: Harness) -> None:
    """Property: of eight concurrent deliveries of one webhook, one runs the handler; the others get
    503 with Retry-After while it runs, and 200 once it succeeded."""
    runs: list[str] = []
    entered = asyncio.Event()
    finish = asyncio.Event()

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append(webhook.replay_key)
        entered.set()
        await finish.wait()

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    first = asyncio.ensure_future(_post(app, headers))
    await entered.wait()
    others = await asyncio.gather(*(_post(app, headers) for _ in range(7)))
    assert [r.status_code for r in others] == [503] * 7
    assert all(int(r.headers["retry-after"]) >= 1 for r in others)
    finish.set()
    assert (await first).status_code == 204
    retries = await asyncio.gather(*(_post(app, headers) for _ in range(7)))
    assert [r.status_code for r in retries] == [200] * 7
    assert len(runs) == 1


async def test_racing_first_deliveries_run_the_handler_once(harness: Harness) -> None:
    """Property: eight deliveries racing for a free id: one claims it, the rest are told to retry."""
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append(webhook.replay_key)
        await asyncio.sleep(0)

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    answers = Counter(r.status_code for r in await asyncio.gather(*(_post(app, headers) for _ in range(8))))
    assert answers[204] == 1
    assert answers[204] + answers[503] + answers[200] == 8
    assert len(runs) == 1


async def test_a_done_mark_that_cannot_be_written_costs_a_duplicate_never_a_loss(harness: Harness) -> None:
    """The handler succeeds and the guard goes down before the done mark: 204 (it was handled); a
    retry during the lease is a 503, and one after it runs the handler again (the documented
    duplicate), never a 200 for a webhook nobody handled."""
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")
        if len(runs) == 1:
            await harness.down()

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await _post(app, headers)).status_code == 204
    await harness.up()
    assert (await _post(app, headers)).status_code == 503
    await harness.lease_runs_out()
    assert (await _retry_while_503(app, headers)).status_code == 204
    assert runs == ["run", "run"]
    assert (await _post(app, headers)).status_code == 200


async def test_a_guard_that_loses_its_data_costs_duplicates_never_a_loss(harness: Harness) -> None:
    """A crash of a guard that had not saved forgets leases and done marks: the failed delivery's
    retry is handled at once (its lease is gone), and a replay after the done mark was lost runs the
    handler again (a duplicate); nothing that was not handled is answered 2xx."""
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")
        if len(runs) == 1:
            await harness.crash()
            raise RuntimeError("handler broke")

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert (await _post(app, headers)).status_code == 500
    await harness.up()
    assert (await _retry_while_503(app, headers)).status_code == 204
    await harness.crash()
    await harness.up()
    assert (await _retry_while_503(app, headers)).status_code == 204  # the done mark was lost
    assert runs == ["run", "run", "run"]


async def test_the_guard_down_before_the_claim_answers_503_and_the_retry_is_handled(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    await harness.down()
    with caplog.at_level(logging.WARNING, logger="buttress.webhooks"):
        response = await _post(app, headers)
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert "replay guard unavailable" in caplog.text
    assert SECRET not in caplog.text
    await harness.up()
    assert (await _retry_while_503(app, headers)).status_code == 204
    assert runs == ["run"]


# --- The memory guard alone: time is a FakeClock, so leases can run out mid-handler.


async def test_retry_after_is_the_lease_left_rounded_up() -> None:
    harness = MemoryHarness()
    entered, finish = asyncio.Event(), asyncio.Event()

    async def handler(webhook: VerifiedWebhook) -> None:
        if not entered.is_set():
            entered.set()
            await finish.wait()

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    first = asyncio.ensure_future(_post(app, headers))
    await entered.wait()
    answers = []
    for seconds in (0.0, 10.5, 19.2):
        harness.clock.advance(seconds)
        answers.append((await _post(app, headers)).headers["retry-after"])
    assert answers == ["30", "20", "1"]  # 30 s left, 19.5, 0.3
    harness.clock.advance(0.3)  # the lease ran out: the retry is handled
    assert (await _post(app, headers)).status_code == 204
    finish.set()
    assert (await first).status_code == 204  # it succeeded too, late: a duplicate past its lease


async def test_the_documented_framework_view_gives_the_endpoints_answers() -> None:
    """The README's Starlette view around `WebhookReceiver.accept`, as written there."""
    import math  # noqa: PLC0415 - the README's snippet, verbatim

    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from buttress.webhooks import (  # noqa: PLC0415
        ReplayedWebhookError,
        WebhookInFlightError,
        WebhookVerificationError,
    )

    harness = MemoryHarness()
    receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=harness.guard, lease=60)
    runs: list[str] = []
    entered, finish = asyncio.Event(), asyncio.Event()

    async def handle(webhook: VerifiedWebhook) -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RuntimeError("handler broke")
        if len(runs) == 2:
            entered.set()
            await finish.wait()

    async def webhook_view(request: Request) -> Response:
        try:
            async with receiver.accept(request.headers, await request.body()) as webhook:
                await handle(webhook)  # if it raises: released, and the framework answers 500
        except ReplayedWebhookError:  # catch it before WebhookVerificationError, its base class
            return Response(status_code=200)  # a handler succeeded for it
        except WebhookInFlightError as exc:
            wait = str(max(1, math.ceil(exc.retry_after)))  # the lease left
            return Response(status_code=503, headers={"retry-after": wait})
        except WebhooksUnavailableError:
            return Response(status_code=503, headers={"retry-after": "5"})
        except WebhookVerificationError:
            return Response(status_code=401)
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", webhook_view, methods=["POST"])])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = WebhookSigner(SECRET).headers(BODY)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/hook", headers=headers, content=BODY)).status_code == 500
        second = asyncio.ensure_future(client.post("/hook", headers=headers, content=BODY))
        await entered.wait()
        busy = await client.post("/hook", headers=headers, content=BODY)
        assert (busy.status_code, busy.headers["retry-after"]) == (503, "60")
        finish.set()
        assert (await second).status_code == 204
        assert (await client.post("/hook", headers=headers, content=BODY)).status_code == 200
        await harness.down()
        other = WebhookSigner(SECRET).headers(BODY)
        down = await client.post("/hook", headers=other, content=BODY)
        assert (down.status_code, down.headers["retry-after"]) == (503, "5")
        forged = WebhookSigner(generate_secret()).headers(BODY)
        assert (await client.post("/hook", headers=forged, content=BODY)).status_code == 401
    assert runs == ["run", "run"]


async def test_a_handler_that_returns_a_failure_status_is_not_marked_done() -> None:
    """A handler may answer 4xx/5xx itself: that is "not handled", so the retry runs it again."""
    statuses = [503, 422, None]
    runs: list[object] = []

    async def handler(webhook: VerifiedWebhook) -> int | None:
        runs.append(statuses[len(runs)])
        return statuses[len(runs) - 1]

    app = _app(MemoryHarness(), handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert [(await _post(app, headers)).status_code for _ in range(4)] == [503, 422, 204, 200]
    assert len(runs) == 3


async def test_a_handler_returning_no_http_status_is_a_500_and_not_marked_done() -> None:
    runs: list[int] = []

    async def handler(webhook: VerifiedWebhook) -> int:
        runs.append(1)
        return 302 if len(runs) == 1 else 202

    app = _app(MemoryHarness(), handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    assert [(await _post(app, headers)).status_code for _ in range(3)] == [500, 202, 200]


async def test_a_cancelled_handler_gives_its_claim_back() -> None:
    """A shutdown cancels the handler: the id is released at once, so the retry is handled."""
    harness = MemoryHarness()
    entered = asyncio.Event()
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")
        if len(runs) == 1:
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    first = asyncio.ensure_future(_post(app, headers))
    await entered.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await _post(app, headers)).status_code == 204
    assert runs == ["run", "run"]


async def test_a_late_failure_does_not_free_the_claim_another_delivery_took() -> None:
    """A handler that runs past its lease: a retry may run the handler again (a duplicate), and the
    first delivery's failure then releases nothing of the second's claim (tokens)."""
    harness = MemoryHarness()
    gates = [asyncio.Event(), asyncio.Event()]
    entered = [asyncio.Event(), asyncio.Event()]
    runs: list[int] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        index = len(runs)
        runs.append(index)
        entered[index].set()
        await gates[index].wait()
        if index == 0:
            raise RuntimeError("late failure")

    app = _app(harness, handler)
    headers = WebhookSigner(SECRET).headers(BODY)
    first = asyncio.ensure_future(_post(app, headers))
    await entered[0].wait()
    harness.clock.advance(harness.lease)  # the first delivery's lease ran out while it ran
    second = asyncio.ensure_future(_post(app, headers))
    await entered[1].wait()
    gates[0].set()
    assert (await first).status_code == 500
    assert (await _post(app, headers)).status_code == 503  # the second still holds the id
    gates[1].set()
    assert (await second).status_code == 204
    assert (await _post(app, headers)).status_code == 200
    assert runs == [0, 1]


async def test_a_guard_of_your_own_that_misbehaves_is_a_503_not_an_escape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        async def claim(self, key: str, lease: float) -> object:
            return "yes"

        async def complete(self, key: str, ttl: float) -> None:
            raise KeyError(key)

        async def release(self, key: str, token: str) -> None:
            raise KeyError(key)

    class Raising(Broken):
        async def claim(self, key: str, lease: float) -> object:
            raise KeyError(key)

    async def handler(webhook: VerifiedWebhook) -> None:
        return None

    headers = WebhookSigner(SECRET).headers(BODY)
    for guard in (Broken(), Raising()):
        receiver = WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard)  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR, logger="buttress.webhooks"):
            response = await _post(WebhookEndpoint(handler, receiver), headers)
        assert response.status_code == 503
    assert "treated as an unavailable guard" in caplog.text
    assert "not a ReplayClaim" in caplog.text


@pytest.mark.redis
async def test_error_replies_of_the_guards_redis_are_a_503(redis_server: RedisServer) -> None:
    """A Redis that answers with an error (OOM here; READONLY, LOADING alike) is an unavailable guard:
    503 with Retry-After, nothing escapes. It escaped as a redis ResponseError before."""
    admin = Redis.from_url(redis_server.url)
    guard = RedisReplayGuard.from_url(redis_server.url)
    runs: list[str] = []

    async def handler(webhook: VerifiedWebhook) -> None:
        runs.append("run")

    try:
        app = WebhookEndpoint(handler, WebhookReceiver(WebhookVerifier(SECRET), replay_guard=guard))
        await admin.config_set("maxmemory", "1")
        headers = WebhookSigner(SECRET).headers(BODY)
        response = await _post(app, headers)
        assert (response.status_code, response.headers["retry-after"]) == (503, "5")
        with pytest.raises(WebhooksUnavailableError, match="OutOfMemory"):
            await guard.claim("x", 10)
        await admin.config_set("maxmemory", "0")
        assert (await _post(app, headers)).status_code == 204
        assert runs == ["run"]
    finally:
        await admin.aclose()
        await guard.aclose()


# --- The state machine: any sequence of deliveries, handler outcomes, outages and passing time.

LEASE = 30.0
MESSAGES = ("msg_a", "msg_b")


@dataclass
class Pending:
    """A delivery whose handler is running (blocked until `finish`)."""

    message: str
    task: asyncio.Task[Any]
    outcome: asyncio.Future[str]
    claimed_at: float
    generation: int
    token: str | None


class ReceiverMachine(RuleBasedStateMachine):
    """Property: whatever the sequence of deliveries (one at a time, or overlapping), handler successes
    and failures (raised, returned 5xx, cancelled), guard outages (down, replies lost, data lost) and
    time passing, `WebhookEndpoint` answers 2xx only for a message a handler succeeded for; a retry
    with the guard up and every lease run out is handled (so every message the sender keeps
    retrying ends handled: at-least-once); and while a delivery holds a running lease, no other
    delivery of that message runs the handler.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.guard = Outage(MemoryReplayGuard(clock=self.clock))
        verifier = WebhookVerifier(SECRET, tolerance=None)
        receiver = WebhookReceiver(verifier, replay_guard=self.guard, lease=LEASE)
        self.app = WebhookEndpoint(self._handler, receiver)
        signer = WebhookSigner(SECRET)
        self.headers = {m: signer.headers(BODY, msg_id=m) for m in MESSAGES}
        self.handled: Counter[str] = Counter()  # handler runs that succeeded, per message
        self.pending: list[Pending] = []
        self.script = "ok"  # what the next handler run that does not block does
        self.blocking = False  # whether the next handler run blocks until `finish`
        self.entered: asyncio.Event | None = None
        self.generation = 0  # bumped when the guard loses its data

    # -- plumbing

    async def _handler(self, webhook: VerifiedWebhook) -> int | None:
        message = webhook.replay_key
        self._check_single_runner(message)
        if self.blocking:
            outcome: asyncio.Future[str] = self.loop.create_future()
            current = asyncio.current_task()
            assert current is not None
            self.pending.append(
                Pending(
                    message,
                    current,
                    outcome,
                    self.clock.monotonic(),
                    self.generation,
                    webhook.claim_token,
                )
            )
            assert self.entered is not None
            self.entered.set()
            script = await outcome
        else:
            script = self.script
        return self._act(message, script)

    def _act(self, message: str, script: str) -> int | None:
        if script.endswith("+down"):
            self.guard.mode = "down"
            script = script.removesuffix("+down")
        if script == "fail":
            raise RuntimeError("handler broke")
        if script == "503":
            return 503
        self.handled[message] += 1
        return None

    def _check_single_runner(self, message: str) -> None:
        now = self.clock.monotonic()
        for other in self.pending:
            if other.message == message and other.generation == self.generation:
                assert now >= other.claimed_at + LEASE, "a second handler ran while a lease was running"

    async def _deliver(self, message: str) -> int | None:
        """POST one delivery; its status, or ``None`` if it was cancelled (no answer)."""
        sent: list[MutableMapping[str, Any]] = []
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/hook",
            "headers": [(k.encode(), v.encode()) for k, v in self.headers[message].items()],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(event: MutableMapping[str, Any]) -> None:
            sent.append(event)

        await self.app(scope, receive, send)
        status = sent[0]["status"]
        assert isinstance(status, int)
        if status == 503 and sent[1]["body"] != b"not handled":  # the endpoint's own 503s say when
            assert int(dict(sent[0]["headers"])[b"retry-after"]) >= 1
        return status

    def _answered(self, message: str, status: int | None) -> None:
        if status is not None and 200 <= status < 300:
            assert self.handled[message] >= 1, f"{message} answered {status} but never handled"

    # -- rules

    @initialize()
    def start_up(self) -> None:
        self.guard.mode = "up"

    @rule(
        message=st.sampled_from(MESSAGES),
        script=st.sampled_from(["ok", "fail", "503", "ok+down", "fail+down"]),
    )
    def deliver(self, message: str, script: str) -> None:
        self.script, self.blocking = script, False
        status = self.loop.run_until_complete(self._deliver(message))
        self._answered(message, status)

    @precondition(lambda self: len(self.pending) < 4)
    @rule(message=st.sampled_from(MESSAGES))
    def start(self, message: str) -> None:
        """A delivery whose handler is still running when the next rule comes (a duplicate may race it)."""
        self._start(message)

    def _start(self, message: str) -> None:
        self.blocking = True
        self.entered = asyncio.Event()
        task = self.loop.create_task(self._deliver(message))
        waiter = self.loop.create_task(self.entered.wait())
        self.loop.run_until_complete(asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED))
        self.blocking = False
        if task.done():  # refused (replay, in flight, guard down): it never reached the handler
            waiter.cancel()
            self.loop.run_until_complete(asyncio.gather(waiter, return_exceptions=True))
            self._answered(message, task.result())

    @precondition(lambda self: 0 < len(self.pending) < 4)
    @rule(data=st.data())
    def retry_after_a_lease_ran_out(self, data: st.DataObject) -> None:
        """A handler runs past its lease and the sender, timed out, retries: the retry may run too."""
        pending = data.draw(st.sampled_from(self.pending))
        self.clock.advance(max(0.0, pending.claimed_at + LEASE - self.clock.monotonic()))
        self._start(pending.message)

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), script=st.sampled_from(["ok", "fail", "503", "ok+down", "fail+down", "cancel"]))
    def finish(self, data: st.DataObject, script: str) -> None:
        pending = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        if script == "cancel":
            pending.task.cancel()
        else:
            pending.outcome.set_result(script)
        self.loop.run_until_complete(asyncio.gather(pending.task, return_exceptions=True))
        if not pending.task.cancelled():
            self._answered(pending.message, pending.task.result())

    @rule(mode=st.sampled_from(["up", "down", "reply_lost"]))
    def guard_mode(self, mode: str) -> None:
        self.guard.mode = mode

    @rule()
    def guard_loses_its_data(self) -> None:
        self.guard.inner = MemoryReplayGuard(clock=self.clock)
        self.generation += 1

    @rule(seconds=st.sampled_from([1.0, LEASE / 2, LEASE, 2 * LEASE]))
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(message=st.sampled_from(MESSAGES))
    def sender_retries_after_recovery(self, message: str) -> None:
        """Liveness: with the guard back and every lease run out, a retry whose handler succeeds is
        answered 2xx, and the message has been handled."""
        self.guard.mode = "up"
        self.clock.advance(LEASE)
        self.script, self.blocking = "ok", False
        status = self.loop.run_until_complete(self._deliver(message))
        assert status in (200, 204), f"{message}: {status} after the guard and every lease recovered"
        assert self.handled[message] >= 1

    @invariant()
    def nothing_unhandled_is_done(self) -> None:
        for message in MESSAGES:
            if self.handled[message] == 0:
                entry = self.guard.inner._table._entries.get(message)
                assert entry is None or entry[1] != "", f"{message} marked done but never handled"

    @invariant()
    def a_running_lease_is_held_by_its_delivery(self) -> None:
        """Only its own end frees a running lease; a late success elsewhere may mark the id done."""
        now = self.clock.monotonic()
        for pending in self.pending:
            if pending.generation == self.generation and now < pending.claimed_at + LEASE:
                entry = self.guard.inner._table._entries.get(pending.message)
                assert entry is not None, "a running lease was released by another delivery"
                assert entry[1] in (pending.token, ""), "a running lease was taken by another delivery"

    def teardown(self) -> None:
        async def cancel_all() -> None:
            for pending in self.pending:
                pending.task.cancel()
            await asyncio.gather(*(p.task for p in self.pending), return_exceptions=True)

        self.loop.run_until_complete(cancel_all())
        self.loop.close()


# A TestCase, so hypothesis drives it visibly and `nox -s explore` runs it with fresh seeds.
TestReceiverMachine = ReceiverMachine.TestCase
TestReceiverMachine.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
