"""RFC 9457 problem details for every error of the package, and an ASGI middleware that answers them.

================================================  ======  ==========================================
error                                             status  detail
================================================  ======  ==========================================
`InvalidQueryError` (and its subclasses)          400     the error's message (safe by construction)
`EntityNotFoundError`                             404     the error's message
`EntityExistsError`, `VersionConflictError`       409     the error's message
`PersistenceUnavailableError`                     503     a fixed text: no address, no driver error
any other `PersistenceError`                      500     a fixed text: a server-side fault is not
                                                          the client's to read
================================================  ======  ==========================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from buttress.core import ASGIApp, Message, Receive, Scope, Send, respond

from .exceptions import (
    EntityExistsError,
    EntityNotFoundError,
    InvalidQueryError,
    PersistenceError,
    PersistenceTypeError,
    PersistenceUnavailableError,
    VersionConflictError,
)

__all__ = ["PROBLEM_JSON", "ProblemDetails", "ProblemDetailsMiddleware", "problem_details"]

PROBLEM_JSON: Final = "application/problem+json"
"""The media type of a problem details document (RFC 9457 section 3)."""


@dataclass(frozen=True, slots=True)
class ProblemDetails:
    """One problem details document (RFC 9457).

    Attributes:
        status: The HTTP status code.
        title: The status's reason phrase (``type`` is ``about:blank``, RFC 9457 section 4.2.1).
        detail: What went wrong, safe to show the client.
        type: A URI naming the problem type.
        extensions: Extra members (``parameter`` for an invalid query).
    """

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    extensions: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The document as a JSON-ready dict."""
        return {
            **self.extensions,
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }

    def to_json(self) -> bytes:
        """The document as UTF-8 JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _problem(status: HTTPStatus, detail: str, **extensions: str) -> ProblemDetails:
    return ProblemDetails(status=status.value, title=status.phrase, detail=detail, extensions=extensions)


def problem_details(error: PersistenceError) -> ProblemDetails:
    """The problem details document that answers ``error``.

    Raises:
        PersistenceTypeError: ``error`` is not a `PersistenceError`.

    Examples:
        >>> from buttress.persistence import FieldNotAllowedError
        >>> problem_details(FieldNotAllowedError("password", "filter")).status
        400
    """
    if not isinstance(error, PersistenceError):
        raise PersistenceTypeError("error", "a PersistenceError", error)
    if isinstance(error, InvalidQueryError):
        return _problem(HTTPStatus.BAD_REQUEST, error.message, parameter=error.parameter)
    if isinstance(error, EntityNotFoundError):
        return _problem(HTTPStatus.NOT_FOUND, error.message)
    if isinstance(error, EntityExistsError | VersionConflictError):
        return _problem(HTTPStatus.CONFLICT, error.message)
    if isinstance(error, PersistenceUnavailableError):
        return _problem(HTTPStatus.SERVICE_UNAVAILABLE, "the database is unavailable; retry later")
    return _problem(HTTPStatus.INTERNAL_SERVER_ERROR, "the server failed to handle the request")


class ProblemDetailsMiddleware:
    """ASGI middleware: a `PersistenceError` raised by the app before it answers becomes problem+json.

    Other exceptions pass through untouched, and so does an error raised after the response started
    (there is no second answer to give).

    Args:
        app: The ASGI application to wrap.

    Raises:
        PersistenceTypeError: ``app`` is not callable.
    """

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        if not callable(app):
            raise PersistenceTypeError("app", "an ASGI application", app)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer a `PersistenceError` it raises with its problem details."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except PersistenceError as exc:
            if started:
                raise
            problem = problem_details(exc)
            headers = [(b"content-type", PROBLEM_JSON.encode("ascii"))]
            if problem.status == HTTPStatus.SERVICE_UNAVAILABLE:
                headers.append((b"retry-after", b"5"))
            await respond(send, problem.status, headers=headers, body=problem.to_json())
