"""ASGI types and the two pieces every middleware and endpoint of the suite needs.

`read_body` reads a request body up to a limit; `respond` sends a complete response that HTTP
allows (no body and no ``content-length`` on 204, 304 and 1xx; a ``content-length`` that matches).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ._checks import check_count
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
]

type Message = MutableMapping[str, Any]
type Scope = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientDisconnectedError(ButtressError):
    """The client went away before its request body was complete; there is no one to answer."""


async def read_body(receive: Receive, *, limit: int) -> bytes | None:
    """Read the whole request body, or ``None`` as soon as it grows past ``limit`` bytes.

    ``None`` is the caller's cue to answer 413 without reading further.

    Raises:
        ClientDisconnectedError: The client disconnected before the body was complete.
        ConfigurationError: ``limit`` is not an int of at least 0.
    """
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
        if not isinstance(chunk, bytes | bytearray):
            raise ArgumentTypeError("body", "bytes", chunk)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(bytes(chunk))
        if not message.get("more_body", False):
            return b"".join(chunks)


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
