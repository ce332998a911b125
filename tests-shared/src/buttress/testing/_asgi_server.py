"""An ASGI app served for real: uvicorn on 127.0.0.1, in a thread, for tests that speak HTTP to it."""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._servers import free_port
from .exceptions import MissingExtraError, ServerError, TestingConfigurationError, TestingTypeError

__all__ = ["serve_asgi"]

_ROOT_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+")


@contextmanager
def serve_asgi(
    app: Any,  # noqa: ANN401 - any ASGI app
    *,
    lifespan: str = "off",
    startup_timeout: float = 10.0,
    root_path: str = "",
) -> Iterator[str]:
    """Serve ``app`` under uvicorn on 127.0.0.1 (a free port, in a thread); yield its base URL.

    The server stops when the block ends. Use it to drive an app over real HTTP::

        with serve_asgi(app) as base:
            response = httpx.get(f"{base}/health")

    Args:
        app: The ASGI application.
        lifespan: uvicorn's ``lifespan`` setting: ``"off"``, ``"on"`` or ``"auto"``.
        startup_timeout: Seconds to wait for the server to accept connections.
        root_path: The prefix the app is served under, as uvicorn's ``--root-path`` sets it for an app
            behind a proxy that strips it: requests go to the yielded URL without it, and the app sees
            it as ``scope["root_path"]`` and in front of ``scope["path"]``. ``""`` (the default) or a
            path such as ``"/shop"``.

    Raises:
        MissingExtraError: uvicorn is not installed (the ``asgi`` extra).
        TestingTypeError: ``app`` is not callable.
        TestingConfigurationError: A bad ``lifespan``, ``startup_timeout`` or ``root_path``.
        ServerError: The server did not start in time.
    """
    if not callable(app):
        raise TestingTypeError("app", "an ASGI application", app)
    if lifespan not in ("off", "on", "auto"):
        raise TestingConfigurationError("lifespan", lifespan, "must be 'off', 'on' or 'auto'")
    if (
        isinstance(startup_timeout, bool)
        or not isinstance(startup_timeout, int | float)
        or not 0 < startup_timeout <= 300
    ):
        raise TestingConfigurationError(
            "startup_timeout", startup_timeout, "must be a number of seconds from 0 to 300"
        )
    if not isinstance(root_path, str):
        raise TestingTypeError("root_path", "a str", root_path)
    if root_path and not _ROOT_PATH.fullmatch(root_path):
        raise TestingConfigurationError(
            "root_path", root_path, "must be '' or a path like '/shop' (no trailing slash, no query)"
        )
    try:
        uvicorn = importlib.import_module("uvicorn")
    except ImportError as exc:
        raise MissingExtraError("serve_asgi", "asgi") from exc

    class _ThreadServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        def install_signal_handlers(self) -> None:  # a thread cannot take signals
            pass

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan, root_path=root_path
    )
    server = _ThreadServer(config)

    def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when the app's startup fails: see below
            server.run()

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise ServerError(f"uvicorn did not start on 127.0.0.1:{port} within {startup_timeout} s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(startup_timeout)
