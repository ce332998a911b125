"""Static checks of buttress-core's WSGI plumbing. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_type
from wsgiref.types import StartResponse as StdlibStartResponse
from wsgiref.types import WSGIApplication

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


def a_wsgi_app_is_the_standard_library_s_and_back(app: WSGIApp, std: WSGIApplication) -> None:
    """werkzeug's DispatcherMiddleware, Flask's and Django's apps are typed with these."""
    as_std: WSGIApplication = app
    as_ours: WSGIApp = std
    start: StartResponse = stdlib_start_response(std)
    assert_type(as_std, WSGIApplication)
    assert_type(as_ours, WSGIApp)
    assert_type(start, StartResponse)


def stdlib_start_response(_: WSGIApplication) -> StdlibStartResponse:
    raise NotImplementedError
