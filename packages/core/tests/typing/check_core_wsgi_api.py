"""Static checks of buttress-core's WSGI plumbing. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_type

from buttress.core import (
    StartResponse,
    UnreadableBodyError,
    WSGIApp,
    WSGIEnviron,
    declared_length,
    read_wsgi_body,
    wsgi_respond,
)


def endpoint(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
    try:
        body = read_wsgi_body(environ, limit=1024)
    except UnreadableBodyError as exc:
        assert_type(exc.status, int)
        return wsgi_respond(start_response, exc.status)
    assert_type(body, bytes | None)
    assert_type(declared_length(environ.get("CONTENT_LENGTH")), int | None)
    return wsgi_respond(start_response, 200, headers=[("content-type", "text/plain")], body=body or b"")


def an_endpoint_is_a_wsgi_app() -> WSGIApp:
    return endpoint
