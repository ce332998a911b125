"""Which example runs under which server, and how each server is started on 127.0.0.1.

Every example runs under uvicorn (ASGI, through buttress-testing's ``serve_asgi``) or wsgiref (WSGI,
``serve_wsgi``); Quart also under hypercorn (in a thread, like uvicorn), FastAPI and Flask also under
granian (its own process: a Rust server that spawns its workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from buttress.testing import ServerError, free_port, serve_asgi, serve_wsgi

EXAMPLES = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Target:
    """One example under one server."""

    framework: str
    """The example's folder under ``examples/frameworks``."""
    server: str
    """``uvicorn``, ``hypercorn``, ``granian`` or ``wsgiref``."""
    interface: str = "asgi"
    """``asgi`` or ``wsgi`` (Django has both)."""

    def __str__(self) -> str:
        if self.framework == "django":
            return f"django-{self.interface}-{self.server}"
        return f"{self.framework}-{self.server}"

    @property
    def module(self) -> str:
        """The module that has ``create_app`` and ``app``."""
        leaf = self.interface if self.framework == "django" else "app"
        return f"frameworks.{self.framework}.{leaf}"

    @property
    def websocket(self) -> bool:
        """Whether the example has a WebSocket: ASGI only, and Django has none without Channels."""
        return self.interface == "asgi" and self.framework != "django"

    @property
    def in_process(self) -> bool:
        """Whether the test process holds the app (and so can give it the `Shop` it reads back)."""
        return self.server != "granian"

    def create_app(self, **options: Any) -> Any:
        module = importlib.import_module(self.module)
        return module.create_app(**options)


TARGETS = (
    Target("starlette", "uvicorn"),
    Target("fastapi", "uvicorn"),
    Target("litestar", "uvicorn"),
    Target("quart", "uvicorn"),
    Target("django", "uvicorn"),
    Target("flask", "wsgiref", "wsgi"),
    Target("django", "wsgiref", "wsgi"),
    Target("quart", "hypercorn"),
    Target("fastapi", "granian"),
    Target("flask", "granian", "wsgi"),
)
UNDER_A_ROOT_PATH = tuple(t for t in TARGETS if t.server in ("uvicorn", "wsgiref"))
WEBSOCKETS = tuple(t for t in TARGETS if t.websocket)
IN_PROCESS = tuple(t for t in TARGETS if t.in_process)


@contextlib.contextmanager
def serve(target: Target, app: Any = None, *, root_path: str = "") -> Iterator[str]:
    """Serve ``target`` (``app``, or a new one from its ``create_app``) and yield its base URL."""
    if target.server == "granian":
        with serve_granian(target) as base:
            yield base
        return
    app = app if app is not None else target.create_app(root_path=root_path)
    if target.server == "wsgiref" and root_path:
        # under a prefix as Flask's and Django's guides do it: SCRIPT_NAME set by a dispatcher
        with serve_wsgi(DispatcherMiddleware(NotFound(), {root_path: app})) as base:
            yield f"{base}{root_path}"
    elif target.server == "wsgiref":
        with serve_wsgi(app) as base:
            yield base
    elif target.server == "hypercorn":
        with serve_hypercorn(app) as base:
            yield base
    else:
        with serve_asgi(app, lifespan="on", root_path=root_path) as base:
            yield base


@contextlib.contextmanager
def serve_hypercorn(app: Any) -> Iterator[str]:
    """``app`` under hypercorn, on an event loop of its own in a thread."""
    port = free_port()
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(hypercorn_serve(app, config, shutdown_trigger=stop.wait))
        loop.close()

    thread = threading.Thread(target=run, name=f"hypercorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for_port(port, alive=thread.is_alive)
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(STARTUP_SECONDS)


@contextlib.contextmanager
def serve_granian(target: Target) -> Iterator[str]:
    """``target``'s module-level app under granian's own command line, in a process of its own."""
    port = free_port()
    attribute = "application" if target.framework == "django" else "app"
    command = [
        *(sys.executable, "-m", "granian", "--interface", target.interface),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"),
        *("--working-dir", str(EXAMPLES), f"{target.module}:{attribute}"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, alive=lambda: process.poll() is None)
        yield f"http://127.0.0.1:{port}"
    except ServerError:
        process.kill()
        output = process.communicate(timeout=STARTUP_SECONDS)[0].decode(errors="replace")
        raise ServerError(f"granian did not serve {target}:\n{output}") from None
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STARTUP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def wait_for_port(port: int, *, alive: Any) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections, or the server is gone, or time is up."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise ServerError(f"nothing accepted connections on 127.0.0.1:{port}")
