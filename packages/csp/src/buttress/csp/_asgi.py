"""The few ASGI and WSGI types the middleware needs, so no framework is required."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from types import TracebackType
from typing import Any, Protocol

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "StartResponse", "WSGIApp", "WSGIEnviron"]

# ASGI scopes and messages are dicts whose values have many types: Any is their honest type.
type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

type WSGIEnviron = dict[str, Any]
type ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class StartResponse(Protocol):
    """**Protocol**: the ``start_response`` callable a WSGI server passes to the application (PEP 3333).

    Methods:
        __call__: Begin the response with a status line and headers; returns a legacy ``write``.
    """

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = ..., /
    ) -> Callable[[bytes], object]:
        """Begin the response."""
        ...


type WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]
