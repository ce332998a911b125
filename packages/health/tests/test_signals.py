"""SIGTERM to real servers: uvicorn, hypercorn (its command and its ``serve``) and granian.

uvicorn, and hypercorn's ``serve`` given the coordinator as its shutdown trigger, let the coordinator
run the whole sequence: readiness fails first, the drain, new requests refused, the requests in
flight finish, then the resources close and the server exits. The ``hypercorn`` and ``granian``
commands stop accepting as soon as the signal arrives and give the application no say: the requests
in flight still finish, and the lifespan's shutdown closes the resources.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from buttress.testing import free_port

APP = textwrap.dedent(
    """
    import asyncio
    import os

    from buttress.health import HealthApp, HealthRegistry, InFlightMiddleware, ShutdownCoordinator

    RELEASE = os.environ["RELEASE_FILE"]
    registry = HealthRegistry()
    coordinator = ShutdownCoordinator(registry, drain_delay=1.0, grace=30)
    probes = HealthApp(registry)


    class Resource:
        def __init__(self, name):
            self.name = name

        async def aclose(self):
            print(f"closed: {self.name}", flush=True)


    async def site(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    coordinator.register(Resource("pool"), name="pool")
                    coordinator.register(Resource("cache"), name="cache")
                    if os.environ.get("INSTALL_SIGNAL_HANDLERS"):
                        coordinator.install_signal_handlers()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    report = await coordinator.shutdown()
                    print(f"report: drained={report.drained} closed={list(report.closed)}", flush=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"].startswith("/health"):
            await probes({**scope, "root_path": "/health"}, receive, send)
            return
        if scope["path"] == "/slow":
            while not os.path.exists(RELEASE):
                await asyncio.sleep(0.02)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


    app = InFlightMiddleware(site, coordinator, exempt=("/health",))
    """
)

HYPERCORN_SERVE = textwrap.dedent(
    """
    import asyncio
    import sys

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from probe_app import app, coordinator

    config = Config()
    config.bind = [f"127.0.0.1:{sys.argv[1]}"]
    config.loglevel = "WARNING"


    async def main():
        coordinator.install_signal_handlers()  # in the running loop, before serve()
        await serve(app, config, shutdown_trigger=coordinator.wait)


    asyncio.run(main())
    """
)

PYTHON = sys.executable


def uvicorn(port: int, app_dir: Path) -> list[str]:
    options = ["--port", str(port), "--app-dir", str(app_dir), "--lifespan", "on", "--log-level", "warning"]
    return [PYTHON, "-m", "uvicorn", "probe_app:app", *options]


def hypercorn_serve(port: int, app_dir: Path) -> list[str]:
    return [PYTHON, str(app_dir / "serve_hypercorn.py"), str(port)]


def hypercorn(port: int, app_dir: Path) -> list[str]:
    options = ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "30", "--log-level", "warning"]
    return [PYTHON, "-m", "hypercorn", *options, "probe_app:app"]


def granian(port: int, app_dir: Path) -> list[str]:
    options = ["--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return [PYTHON, "-m", "granian", *options, "--log-level", "warning", "probe_app:app"]


type Command = Callable[[int, Path], list[str]]


class Server:
    """One server process serving ``APP``, with its slow requests held until ``release()``."""

    def __init__(self, tmp_path: Path, command: Command, *, install_signal_handlers: bool) -> None:
        (tmp_path / "probe_app.py").write_text(APP)
        (tmp_path / "serve_hypercorn.py").write_text(HYPERCORN_SERVE)
        self._release = tmp_path / "release"
        self.port = free_port()
        env = {**os.environ, "RELEASE_FILE": str(self._release), "PYTHONPATH": str(tmp_path)}
        if install_signal_handlers:
            env["INSTALL_SIGNAL_HANDLERS"] = "1"
        self.process = subprocess.Popen(
            command(self.port, tmp_path),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._release.touch()

    def output(self) -> str:
        return self.process.communicate(timeout=30)[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def started(command: Command, *, install_signal_handlers: bool = False) -> Server:
        servers.append(Server(tmp_path, command, install_signal_handlers=install_signal_handlers))
        return servers[-1]

    yield started
    for server in servers:
        server.stop()


async def wait_until(predicate: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(30):
        while not await predicate():  # noqa: ASYNC110 - the condition lives in another process
            await asyncio.sleep(0.05)


async def answers(client: httpx.AsyncClient, path: str) -> int | None:
    """The status a new connection gets for ``path``, or ``None`` when none is accepted."""
    try:
        return (await client.get(path)).status_code
    except httpx.ConnectError:
        return None


@pytest.mark.parametrize(
    ("command", "install_signal_handlers"),
    [(uvicorn, True), (hypercorn_serve, False)],
    ids=["uvicorn", "hypercorn-serve"],
)
async def test_sigterm_fails_readiness_drains_and_finishes_in_flight_requests_before_the_exit(
    start: Callable[..., Server], command: Command, *, install_signal_handlers: bool
) -> None:
    """The coordinator decides: readiness fails, the drain, 503 for new requests, in-flight ones finish."""
    server = start(command, install_signal_handlers=install_signal_handlers)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:

        async def up() -> bool:
            return await answers(client, "/health/ready") == 200

        await wait_until(up)
        slow = [asyncio.ensure_future(client.get("/slow")) for _ in range(3)]
        await asyncio.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)

        async def not_ready() -> bool:
            return (await client.get("/health/ready")).status_code == 503

        await wait_until(not_ready)
        assert (await client.get("/health/live")).status_code == 200

        async def refusing() -> bool:
            return (await client.get("/fast")).status_code == 503

        await wait_until(refusing)
        assert server.process.poll() is None, "the server waits for the requests in flight"
        server.release()
        responses = await asyncio.gather(*slow)
        assert [r.status_code for r in responses] == [200, 200, 200], "no request in flight was dropped"
    output = server.output()
    assert "closed: cache\nclosed: pool" in output, output
    assert "report: drained=True closed=['cache', 'pool']" in output, output
    assert server.process.returncode in (0, -signal.SIGTERM), output


@pytest.mark.parametrize("command", [hypercorn, granian], ids=["hypercorn", "granian"])
async def test_sigterm_to_a_server_command_finishes_in_flight_requests_then_closes(
    start: Callable[..., Server], command: Command
) -> None:
    """The ``hypercorn`` and ``granian`` commands stop taking requests on SIGTERM without the app.

    The requests in flight finish (hypercorn waits for them up to ``--graceful-timeout``), then the
    lifespan's shutdown runs the coordinator, which closes the resources, the last registered first.
    """
    server = start(command)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:

        async def up() -> bool:
            return await answers(client, "/health/ready") == 200

        await wait_until(up)
        slow = [asyncio.ensure_future(client.get("/slow")) for _ in range(3)]
        await asyncio.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)
        if command is granian:
            async with httpx.AsyncClient(base_url=server.base, timeout=5) as fresh:

                async def closed() -> bool:
                    return await answers(fresh, "/health/ready") is None

                await wait_until(closed)  # refused at once: readiness never gets to fail
        await asyncio.sleep(0.5)
        assert server.process.poll() is None, "the server waits for the requests in flight"
        server.release()
        responses = await asyncio.gather(*slow)
        assert [r.status_code for r in responses] == [200, 200, 200], "no request in flight was dropped"
    output = server.output()
    assert "closed: cache\nclosed: pool" in output, output
    assert "closed=['cache', 'pool']" in output, output
    assert server.process.returncode == 0, output
