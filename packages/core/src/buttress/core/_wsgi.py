"""WSGI types and the two pieces every WSGI middleware and endpoint of the suite needs (PEP 3333).

The twins of `read_body` and `respond` for synchronous servers: `read_wsgi_body` reads a request body
up to a limit without ever blocking on a body the client did not declare; `wsgi_respond` starts a
complete response that HTTP allows. No framework is needed; the ASGI types are in ``_asgi``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Protocol

from ._asgi import ClientDisconnectedError
from ._checks import check_count
from .exceptions import ArgumentTypeError, ButtressError

__all__ = [
    "ExcInfo",
    "StartResponse",
    "UnreadableBodyError",
    "WSGIApp",
    "WSGIEnviron",
    "declared_length",
    "read_wsgi_body",
    "wsgi_headers",
    "wsgi_respond",
]

type WSGIEnviron = dict[str, Any]
type ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
"""What ``sys.exc_info()`` returns, as PEP 3333 passes it to ``start_response`` (typeshed's ``OptExcInfo``).

Spelled as the standard library's ``wsgiref.types`` spells it, so a `WSGIApp` is a
``wsgiref.types.WSGIApplication`` and the other way round: werkzeug's, Flask's and Django's WSGI
callables fit where buttress takes one, and buttress's fit theirs."""

# Content-Length values longer than this are larger than any limit: no need to build the int.
_MAX_DIGITS: Final = 18
_CHUNK: Final = 64 * 1024


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


class UnreadableBodyError(ButtressError):
    """The request's body cannot be read as it is declared; answer `status` (400 or 411).

    Attributes:
        status: ``411`` for a body of unknown length the server did not delimit (reading it could
            block), ``400`` for a ``Content-Length`` that is not a run of digits or a missing
            ``wsgi.input``.
        reason: What is wrong, safe to send back (it quotes nothing the client sent).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __reduce__(self) -> tuple[type[UnreadableBodyError], tuple[int, str]]:
        return type(self), (self.status, self.reason)


def declared_length(value: object) -> int | None:
    """The body size a ``Content-Length`` value declares: 0 when absent, ``None`` when malformed.

    RFC 9110 section 8.6: one run of ASCII digits (spaces and tabs around it are ignored). No sign,
    exponent, underscore or non-ASCII digit; a value of more than 18 digits is read as 10**18.
    ``value`` is the header as bytes (ASGI) or str (WSGI); anything else is malformed.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        if not value.isascii():
            return None
        value = value.encode("ascii")
    if not isinstance(value, bytes | bytearray):
        return None
    value = bytes(value).strip(b" \t")
    if not value.isdigit():  # bytes.isdigit is ASCII digits only
        return None
    return int(value) if len(value) <= _MAX_DIGITS else 10**_MAX_DIGITS


def read_wsgi_body(environ: WSGIEnviron, *, limit: int) -> bytes | None:
    """Read the whole request body from ``wsgi.input``, or ``None`` when it is over ``limit`` bytes.

    ``None`` is the caller's cue to answer 413; a body declared larger than ``limit`` is refused
    without reading it. Never reads past ``Content-Length`` (a WSGI server's input may be the socket
    itself). Without ``Content-Length``, the body is what the server delimited when it says so
    (``wsgi.input_terminated``, PEP 3333's extension for chunked requests), empty when the request
    carries no ``Transfer-Encoding`` either (RFC 9112 section 6.3), and refused otherwise.

    Raises:
        UnreadableBodyError: ``Content-Length`` is malformed (``status`` 400), or the body's length
            is unknown and the server did not delimit it (``status`` 411).
        ClientDisconnectedError: The input ended, or failed, before the declared length.
        ConfigurationError: ``limit`` is not an int of at least 0.
        ArgumentTypeError: ``environ`` is not a dict.
    """
    check_count("limit", limit)
    if not isinstance(environ, dict):
        raise ArgumentTypeError("environ", "a WSGI environ (a dict)", environ)
    stream = environ.get("wsgi.input")
    if not callable(getattr(stream, "read", None)):
        raise UnreadableBodyError(400, "the server gave no request body stream (wsgi.input)")
    raw = environ.get("CONTENT_LENGTH") or None
    if raw is None:
        if environ.get("wsgi.input_terminated") is True:
            return _read_terminated(stream, limit)
        if environ.get("HTTP_TRANSFER_ENCODING"):
            raise UnreadableBodyError(411, "a request body needs a Content-Length")
        return b""
    length = declared_length(raw)
    if length is None:
        raise UnreadableBodyError(400, "the Content-Length is not a number")
    if length > limit:
        return None
    return _read_exactly(stream, length)


def _read(stream: Any, size: int) -> bytes:  # noqa: ANN401 - any file-like wsgi.input
    try:
        chunk = stream.read(size)
    except Exception as exc:
        raise ClientDisconnectedError(
            f"reading the request body failed ({type(exc).__name__}); the client likely went away"
        ) from exc
    if not isinstance(chunk, bytes | bytearray):
        raise ClientDisconnectedError("the server's wsgi.input gave something other than bytes")
    return bytes(chunk)


def _read_exactly(stream: Any, length: int) -> bytes:  # noqa: ANN401 - any file-like wsgi.input
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = _read(stream, min(left, _CHUNK))
        if not chunk:
            raise ClientDisconnectedError("the client disconnected before the request body was complete")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_terminated(stream: Any, limit: int) -> bytes | None:  # noqa: ANN401 - any file-like wsgi.input
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = _read(stream, min(limit + 1 - size, _CHUNK))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def wsgi_headers(environ: WSGIEnviron) -> list[tuple[str, str]]:
    """The request's headers from a WSGI environ: lower-case names with dashes, as sent, in order.

    ``HTTP_WEBHOOK_ID`` is ``webhook-id``; ``CONTENT_TYPE`` and ``CONTENT_LENGTH`` (which carry no
    ``HTTP_`` prefix) are ``content-type`` and ``content-length``. Values stay the server's latin-1
    native strings; a value that is not a str (a server's bug) is left out.

    Raises:
        ArgumentTypeError: ``environ`` is not a dict.
    """
    if not isinstance(environ, dict):
        raise ArgumentTypeError("environ", "a WSGI environ (a dict)", environ)
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key.startswith("HTTP_"):
            headers.append((key[5:].lower().replace("_", "-"), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers.append((key.lower().replace("_", "-"), value))
    return headers


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Status {status}"


def wsgi_respond(
    start_response: StartResponse,
    status: int,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> list[bytes]:
    """Start a whole response and return its body iterable, as a WSGI application returns it.

    ``Content-Length`` is set from the body, except on 204, 304 and 1xx, which carry neither a body
    nor the header (RFC 9110 sections 8.6 and 15). Any ``Content-Length`` in ``headers`` is replaced.
    The status line's reason phrase is the standard one::

        return wsgi_respond(start_response, 413, headers=[("content-type", "text/plain")], body=b"too big")

    Raises:
        ConfigurationError: ``status`` is not an int from 100 to 599.
        ArgumentTypeError: ``body`` is not bytes, or ``headers`` are not pairs of str.
    """
    check_count("status", status, minimum=100, maximum=599)
    if not isinstance(body, bytes | bytearray):
        raise ArgumentTypeError("body", "bytes", body)
    fields = [(name, value) for name, value in _str_pairs(headers) if name.lower() != "content-length"]
    if status in (204, 304) or status < 200:
        body = b""
    else:
        fields.append(("Content-Length", str(len(body))))
    start_response(_status_line(status), fields)
    return [bytes(body)] if body else []


def _str_pairs(headers: object) -> list[tuple[str, str]]:
    if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
        raise ArgumentTypeError("headers", "an iterable of (str, str) pairs", headers)
    pairs = list(headers)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise ArgumentTypeError("headers", "an iterable of (str, str) pairs", pair)
    return pairs
