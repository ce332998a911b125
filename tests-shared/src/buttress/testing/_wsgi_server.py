"""A WSGI app served for real: the standard library's wsgiref on 127.0.0.1, one thread per request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["serve_wsgi"]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server answering each request in its own thread, as a threaded WSGI server does."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: ANN401 - the base's signature
        pass  # no access log on stderr during tests


@contextmanager
def serve_wsgi(app: Any, *, threaded: bool = True) -> Iterator[str]:  # noqa: ANN401 - any WSGI app
    """Serve ``app`` under wsgiref on 127.0.0.1 (a free port, in a thread); yield its base URL.

    Needs nothing but the standard library. Every request is served in its own thread unless
    ``threaded`` is false, so concurrent requests reach the app at once, as under a threaded server
    (gunicorn's ``gthread``, mod_wsgi). The server stops when the block ends::

        with serve_wsgi(app) as base:
            response = httpx.post(f"{base}/webhooks", content=body, headers=headers)

    wsgiref checks what the app sends (a status line, str headers, no hop-by-hop header), so a
    response a real server would refuse fails here too.

    Args:
        app: The WSGI application (Flask's ``app``, Django's ``get_wsgi_application()``, a middleware).
        threaded: Serve each request in its own thread (default) or one after the other.

    Raises:
        TestingTypeError: ``app`` is not callable.
        TestingConfigurationError: ``threaded`` is not a bool.
    """
    if not callable(app):
        raise TestingTypeError("app", "a WSGI application", app)
    if not isinstance(threaded, bool):
        raise TestingConfigurationError("threaded", threaded, "must be a bool")
    server_class = _ThreadingServer if threaded else WSGIServer
    server = make_server("127.0.0.1", 0, app, server_class=server_class, handler_class=_QuietHandler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name=f"wsgiref-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
