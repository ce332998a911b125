"""SIGTERM to a real uvicorn: readiness fails first, the drain, in-flight requests finish, then it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from buttress.testing import free_port

APP = textwrap.dedent(
    """
    import asyncio
    import os
    from contextlib import asynccontextmanager

    from buttress.health import HealthApp, HealthRegistry, InFlightMiddleware, ShutdownCoordinator

    RELEASE = os.environ["RELEASE_FILE"]
    registry = HealthRegistry()
    coordinator = ShutdownCoordinator(registry, drain_delay=1.0, grace=30)
    probes = HealthApp(registry)


    class Pool:
        async def aclose(self):
            print("closed: pool", flush=True)


    async def site(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    coordinator.register(Pool(), name="pool")
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


async def wait_until(predicate: object, what: str) -> None:
    async with asyncio.timeout(30):
        while not await predicate():  # type: ignore[operator]  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)


async def test_sigterm_drains_a_real_uvicorn_before_it_exits(tmp_path: Path) -> None:
    (tmp_path / "probe_app.py").write_text(APP)
    release = tmp_path / "release"
    port = free_port()
    env = {**os.environ, "RELEASE_FILE": str(release)}
    process = subprocess.Popen(  # noqa: ASYNC220 - the server runs beside the test
        [
            sys.executable,
            "-m",
            "uvicorn",
            "probe_app:app",
            "--port",
            str(port),
            "--app-dir",
            str(tmp_path),
            "--lifespan",
            "on",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, "the server to start")
            slow = [asyncio.ensure_future(client.get("/slow")) for _ in range(3)]
            await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)

            async def not_ready() -> bool:
                return (await client.get("/health/ready")).status_code == 503

            await wait_until(not_ready, "readiness to fail")
            assert (await client.get("/health/live")).status_code == 200

            async def refusing() -> bool:
                return (await client.get("/fast")).status_code == 503

            await wait_until(refusing, "new requests to be refused after the drain")
            assert process.poll() is None, "the server waits for the requests in flight"
            release.touch()
            responses = await asyncio.gather(*slow)
            assert [r.status_code for r in responses] == [200, 200, 200], "no request in flight was dropped"
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "closed: pool" in output, output
    assert "report: drained=True closed=['pool']" in output, output
    assert process.returncode in (0, -signal.SIGTERM), output
