"""The few WSGI types the middleware and receiver need, so no framework is required.

The ASGI types are core's (`buttress.core.Scope`, `Receive`, `Send`, `ASGIApp`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol

__all__ = ["ExcInfo", "StartResponse", "WSGIApp", "WSGIEnviron"]

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
