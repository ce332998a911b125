"""Graceful shutdown: the sequence, the in-flight middleware, its state machine, under a real uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from buttress.health import (
    HealthApp,
    HealthConfigurationError,
    HealthRegistry,
    HealthTypeError,
    InFlightMiddleware,
    ShutdownCoordinator,
    ShutdownState,
    Status,
)
from buttress.testing import serve_asgi


class Resource:
    def __init__(self, name: str, closed: list[str], *, fail: bool = False, hang: bool = False) -> None:
        self.name, self.closed, self.fail, self.hang = name, closed, fail, hang

    async def aclose(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise OSError("socket already gone")
        self.closed.append(self.name)


async def answer(scope: Any, receive: Any, send: Any, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, path: str = "/") -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


async def test_the_sequence_fails_readiness_first_then_closes_in_reverse() -> None:
    registry = HealthRegistry()
    closed: list[str] = []
    coordinator = ShutdownCoordinator(registry, drain_delay=0.05, grace=1)
    for name in ("pool", "cache", "outbox"):
        coordinator.register(Resource(name, closed), name=name)
    task = asyncio.ensure_future(coordinator.shutdown())
    await asyncio.sleep(0)
    assert coordinator.state is ShutdownState.DRAINING
    assert (await registry.ready()).status is Status.FAIL
    assert (await registry.live()).status is Status.PASS
    report = await task
    assert closed == ["outbox", "cache", "pool"]
    assert report.closed == ("outbox", "cache", "pool")
    assert report.clean
    assert report.drained
    assert report.unfinished == 0
    assert coordinator.state is ShutdownState.STOPPED
    assert await coordinator.shutdown() is report, "a second call gets the same run"


async def test_what_did_not_close_is_reported_and_the_rest_still_close() -> None:
    closed: list[str] = []
    coordinator = ShutdownCoordinator(drain_delay=0, close_timeout=0.05)
    coordinator.register(Resource("pool", closed), name="pool")
    coordinator.register(Resource("broken", closed, fail=True), name="broken")
    coordinator.register(Resource("stuck", closed, hang=True), name="stuck")

    async def flush() -> None:
        closed.append("metrics")

    coordinator.register(flush, name="metrics")
    report = await coordinator.shutdown()
    assert closed == ["metrics", "pool"]
    assert report.failed == (
        ("stuck", "did not close within 0.05 s"),
        ("broken", "OSError: socket already gone"),
    )
    assert not report.clean


async def test_in_flight_requests_finish_and_new_ones_are_refused() -> None:
    coordinator = ShutdownCoordinator(drain_delay=0, grace=5)
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await answer(scope, receive, send)

    app = InFlightMiddleware(slow, coordinator)
    requests = [asyncio.ensure_future(call(app)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert coordinator.in_flight == 3
    shutdown = asyncio.ensure_future(coordinator.shutdown())
    await asyncio.sleep(0.01)
    assert coordinator.state is ShutdownState.STOPPING
    refused, headers = await call(app)
    assert refused == 503
    assert headers[b"retry-after"] == b"1"
    release.set()
    assert [status for status, _ in await asyncio.gather(*requests)] == [200, 200, 200]
    report = await shutdown
    assert report.drained
    assert report.unfinished == 0


async def test_grace_runs_out_on_a_request_that_never_ends() -> None:
    coordinator = ShutdownCoordinator(drain_delay=0, grace=0.05)

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    request = asyncio.ensure_future(call(InFlightMiddleware(stuck, coordinator)))
    await asyncio.sleep(0.01)
    report = await coordinator.shutdown()
    assert not report.drained
    assert report.unfinished == 1
    request.cancel()


async def test_while_draining_responses_ask_clients_to_reconnect_elsewhere() -> None:
    coordinator = ShutdownCoordinator(drain_delay=10)
    app = InFlightMiddleware(answer, coordinator)
    assert b"connection" not in (await call(app))[1]
    shutdown = asyncio.ensure_future(coordinator.shutdown())
    await asyncio.sleep(0.01)
    status, headers = await call(app)
    assert (status, headers[b"connection"]) == (200, b"close")
    shutdown.cancel()


async def test_exempt_paths_are_neither_counted_nor_refused() -> None:
    coordinator = ShutdownCoordinator(drain_delay=0)
    await coordinator.shutdown()
    app = InFlightMiddleware(answer, coordinator, exempt=("/health",))
    assert (await call(app, "/health/live"))[0] == 200
    assert (await call(app, "/orders"))[0] == 503


async def test_lifespan_passes_through_and_websockets_are_closed_when_stopping() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    coordinator = ShutdownCoordinator(drain_delay=0)
    app = InFlightMiddleware(inner, coordinator)

    async def nothing() -> dict[str, Any]:
        return {}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, nothing, send)
    await coordinator.shutdown()
    await app({"type": "websocket", "path": "/ws"}, nothing, send)
    assert seen == ["lifespan"]
    assert sent == [{"type": "websocket.close", "code": 1012}]


async def test_async_with_runs_the_sequence_without_the_drain_delay() -> None:
    closed: list[str] = []
    async with ShutdownCoordinator(drain_delay=3600) as coordinator:
        coordinator.register(Resource("pool", closed), name="pool")
    assert closed == ["pool"]
    assert coordinator.state is ShutdownState.STOPPED


async def test_register_checks_its_arguments_and_the_state() -> None:
    coordinator = ShutdownCoordinator(drain_delay=0)
    with pytest.raises(HealthTypeError):
        coordinator.register(42)
    await coordinator.shutdown()
    with pytest.raises(HealthConfigurationError, match="closing resources already"):
        coordinator.register(Resource("late", []))


async def test_signal_handlers_need_the_main_thread_and_a_real_signal() -> None:
    coordinator = ShutdownCoordinator()
    with pytest.raises(HealthConfigurationError):
        coordinator.install_signal_handlers([9])
    with pytest.raises(HealthTypeError):
        coordinator.install_signal_handlers("SIGTERM")  # type: ignore[arg-type]

    def elsewhere() -> None:
        with pytest.raises(HealthConfigurationError, match="main thread"):
            coordinator.install_signal_handlers()

    await asyncio.to_thread(elsewhere)


class ShutdownMachine(RuleBasedStateMachine):
    """Property 16: the shutdown state machine. The state only moves forward; no request is let in
    once it stops accepting; the in-flight count is exactly the requests let in and not finished;
    every resource registered before closing is closed once, last registered first."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.runner.__enter__()
        self.drain_over = self.run(self.make_event())
        self.coordinator = ShutdownCoordinator(drain_delay=1, grace=3600)
        self.coordinator._sleep = self.gated_sleep  # the drain delay ends when the machine says so
        self.app = InFlightMiddleware(self.slow, self.coordinator)
        self.pending: list[tuple[asyncio.Event, asyncio.Future[Any]]] = []
        self.refused = 0
        self.registered: list[str] = []
        self.closed: list[str] = []
        self.states = [self.coordinator.state]
        self.shutdown: asyncio.Future[Any] | None = None

    @staticmethod
    async def make_event() -> asyncio.Event:
        return asyncio.Event()

    async def gated_sleep(self, _seconds: float) -> None:
        await self.drain_over.wait()

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    async def slow(self, scope: Any, receive: Any, send: Any) -> None:
        await scope["release"].wait()
        await answer(scope, receive, send)

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    @rule()
    def arrive(self) -> None:
        accepting = self.coordinator.accepting

        async def start() -> tuple[asyncio.Event, asyncio.Future[Any]]:
            release = asyncio.Event()
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "release": release}
            future = asyncio.ensure_future(self.app(scope, receive, send))
            await self.settle()
            if future.done():
                assert sent[0]["status"] == 503
            return release, future

        release, future = self.run(start())
        if future.done():
            assert not accepting, "a request was refused while the coordinator accepted"
            self.refused += 1
        else:
            assert accepting, "a request was let in after the coordinator stopped accepting"
            self.pending.append((release, future))

    @precondition(lambda self: bool(self.pending))
    @rule()
    def finish(self) -> None:
        release, future = self.pending.pop(0)
        release.set()
        self.run(self.settle())
        assert future.done()

    @precondition(lambda self: self.coordinator.state in (ShutdownState.RUNNING, ShutdownState.DRAINING))
    @rule()
    def register(self) -> None:
        name = f"r{len(self.registered)}"
        self.coordinator.register(Resource(name, self.closed), name=name)
        self.registered.append(name)

    @precondition(lambda self: self.shutdown is None)
    @rule()
    def begin(self) -> None:
        async def start() -> asyncio.Future[Any]:
            future = asyncio.ensure_future(self.coordinator.shutdown())
            await self.settle()
            return future

        self.shutdown = self.run(start())

    @precondition(lambda self: self.shutdown is not None)
    @rule()
    def end_drain(self) -> None:
        self.drain_over.set()
        self.run(self.settle())

    @invariant()
    def forward_only(self) -> None:
        order = list(ShutdownState)
        state = self.coordinator.state
        assert order.index(state) >= order.index(self.states[-1])
        self.states.append(state)

    @invariant()
    def counted(self) -> None:
        assert self.coordinator.in_flight == len(self.pending)

    @invariant()
    def closed_last_first(self) -> None:
        if self.coordinator.state is ShutdownState.STOPPED:
            assert not self.pending
            assert self.closed == list(reversed(self.registered))
        else:
            assert self.closed == []

    def teardown(self) -> None:
        async def finish() -> None:
            self.drain_over.set()
            for release, _ in self.pending:
                release.set()
            if self.shutdown is not None:
                await self.shutdown
            await self.settle()

        self.run(finish())
        self.runner.__exit__(None, None, None)


TestShutdownMachine = ShutdownMachine.TestCase
TestShutdownMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


async def test_under_a_real_uvicorn_no_request_is_dropped_and_none_is_let_in_after_the_drain() -> None:
    registry = HealthRegistry()
    closed: list[str] = []
    coordinator = ShutdownCoordinator(registry, drain_delay=1.0, grace=30)
    coordinator.register(Resource("pool", closed), name="pool")
    coordinator.register(Resource("cache", closed), name="cache")
    probes = HealthApp(registry)
    control: dict[str, Any] = {}

    async def site(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/health"):
            scope = {**scope, "root_path": "/health"}
            await probes(scope, receive, send)
        elif path == "/control/shutdown":
            control["report"] = asyncio.ensure_future(coordinator.shutdown())
            await answer(scope, receive, send, 202)
        elif path == "/control/release":
            control.setdefault("release", asyncio.Event()).set()
            await answer(scope, receive, send)
        elif path == "/slow":
            await control.setdefault("release", asyncio.Event()).wait()
            await answer(scope, receive, send)
        else:
            await answer(scope, receive, send)

    app = InFlightMiddleware(site, coordinator, exempt=("/health", "/control"))
    with serve_asgi(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/health/ready")).status_code == 200
            slow = [asyncio.ensure_future(client.get("/slow")) for _ in range(5)]
            while coordinator.in_flight < 5:  # noqa: ASYNC110 - uvicorn's thread moves it
                await asyncio.sleep(0.01)
            assert (await client.post("/control/shutdown")).status_code == 202
            assert (await client.get("/health/ready")).status_code == 503, "readiness fails first"
            assert (await client.get("/health/live")).status_code == 200, "liveness stays up"
            if coordinator.state is ShutdownState.DRAINING:  # the drain delay is still running
                during = await client.get("/fast")
                assert during.status_code == 200
                assert during.headers["connection"] == "close"
            while coordinator.state is ShutdownState.DRAINING:  # noqa: ASYNC110 - as above
                await asyncio.sleep(0.01)
            after = await client.get("/fast")
            assert after.status_code == 503, "a request after the drain is refused"
            assert (await client.post("/control/release")).status_code == 200
            responses = await asyncio.gather(*slow)
            assert [r.status_code for r in responses] == [200] * 5, "no request in flight was dropped"
            report = await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_result(control), _loop(control))
            )
    assert report.drained
    assert report.unfinished == 0
    assert closed == ["cache", "pool"]


async def _result(control: dict[str, Any]) -> Any:
    return await control["report"]


def _loop(control: dict[str, Any]) -> asyncio.AbstractEventLoop:
    return control["report"].get_loop()
