"""ASGI types and the pieces every middleware and endpoint of the suite needs.

`read_body` reads a request body up to a limit; `respond` sends a complete response that HTTP
allows (no body and no ``content-length`` on 204, 304 and 1xx; a ``content-length`` that matches);
`scope_state` is the request's ``state`` mapping, made when the server gave none.

The types are what every framework's own ASGI types fit, under mypy --strict, both ways: a suite
middleware is an application of Starlette (scopes and messages as ``MutableMapping[str, Any]``) and of
Litestar, Quart and hypercorn (``TypedDict`` unions), and wraps any of theirs. A scope or a received
message is read as a ``Mapping``, which a ``TypedDict`` is and a ``MutableMapping`` is too. A ``send``
takes ``Any``: each framework's ``send`` takes its own message type, and a callable taking a narrower
type is no ``Callable[[Mapping[str, Any]], ...]``. The application a middleware wraps takes the
scope, ``receive`` and ``send`` the middleware was given, whatever their framework's types, so
`ASGIApp` leaves its parameters open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from ._checks import MAX_COUNT, check_count
from .exceptions import ArgumentTypeError, ButtressError

__all__ = [
    "ASGIApp",
    "ClientDisconnectedError",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "respond",
    "scope_state",
]

type Message = Mapping[str, Any]
"""An ASGI event, as ``receive`` returns it and as the suite builds it for ``send``."""
type Scope = Mapping[str, Any]
"""An ASGI connection scope (read-only here: `scope_state` is where a middleware writes)."""
type Receive = Callable[[], Awaitable[Message]]
"""The ``receive`` callable of an ASGI connection."""
type Send = Callable[[Any], Awaitable[None]]
"""The ``send`` callable of an ASGI connection (each framework types its messages its own way)."""
type ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
"""An ASGI application, of any framework: ``await app(scope, receive, send)``."""


def scope_state(
    scope: Scope, *, type_error: type[ArgumentTypeError] = ArgumentTypeError
) -> MutableMapping[str, Any]:
    """The ``state`` mapping of a connection's scope, where middlewares leave what they made of it.

    Servers that run a lifespan give every scope a ``state`` (a copy of the lifespan's); one that
    does not (or a test's hand-made scope) gets an empty dict here, set on the scope.

    Args:
        scope: The connection's scope.
        type_error: The `ArgumentTypeError` subclass to raise (the calling package's own).

    Raises:
        ArgumentTypeError: (``type_error``) The scope is no mapping, or has no ``state`` and cannot
            take one, or its ``state`` is no mutable mapping; or ``type_error`` is no
            `ArgumentTypeError` subclass.
    """
    if not (isinstance(type_error, type) and issubclass(type_error, ArgumentTypeError)):
        raise ArgumentTypeError("type_error", "an ArgumentTypeError subclass", type_error)
    if not isinstance(scope, Mapping):
        raise type_error("scope", "an ASGI scope (a mapping)", scope)
    state = scope.get("state")
    if state is None:
        if not isinstance(scope, MutableMapping):
            raise type_error("scope", "a mutable mapping (a dict)", scope)
        state = scope["state"] = {}
    if not isinstance(state, MutableMapping):
        raise type_error("scope['state']", "a mutable mapping (a dict)", state)
    return state


class ClientDisconnectedError(ButtressError):
    """The client went away before its request body was complete; there is no one to answer."""


async def read_body(receive: Receive, *, limit: int) -> bytes | None:
    """Read the whole request body, or ``None`` as soon as it grows past ``limit`` bytes.

    ``None`` is the caller's cue to answer 413 without reading further.

    Raises:
        ClientDisconnectedError: The client disconnected before the body was complete.
        ConfigurationError: ``limit`` is not an int of at least 0.
    """
    if limit.__class__ is not int or not 0 <= limit <= MAX_COUNT:
        check_count("limit", limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise ClientDisconnectedError("the client disconnected before the request body was complete")
        if kind != "http.request":
            continue
        chunk = message.get("body", b"")
        if chunk.__class__ is not bytes:
            if not isinstance(chunk, bytes | bytearray):
                raise ArgumentTypeError("body", "bytes", chunk)
            chunk = bytes(chunk)
        size += len(chunk)
        if size > limit:
            return None
        if not message.get("more_body", False):
            if not chunks:  # the usual body, in one message: no copy
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def _header_pairs(headers: object) -> list[tuple[bytes, bytes]]:
    if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
        raise ArgumentTypeError("headers", "an iterable of (bytes, bytes) pairs", headers)
    pairs = list(headers)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, bytes) for part in pair)):
            raise ArgumentTypeError("headers", "an iterable of (bytes, bytes) pairs", pair)
    return pairs


def _bodiless(status: int) -> bool:
    return status in (204, 304) or 100 <= status < 200


async def respond(
    send: Send,
    status: int,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> None:
    """Send a whole response: ``http.response.start`` with the headers, then the body.

    ``content-length`` is set from the body, except on 204, 304 and 1xx, which carry neither a body
    nor the header (RFC 9110 sections 8.6 and 15). Any ``content-length`` in ``headers`` is replaced.

    Raises:
        ConfigurationError: ``status`` is not an int from 100 to 599.
        ArgumentTypeError: ``body`` is not bytes.
    """
    check_count("status", status, minimum=100, maximum=599)
    if not isinstance(body, bytes | bytearray):
        raise ArgumentTypeError("body", "bytes", body)
    fields = [(name, value) for name, value in _header_pairs(headers) if name.lower() != b"content-length"]
    if _bodiless(status):
        body = b""
    else:
        fields.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": bytes(body), "more_body": False})
