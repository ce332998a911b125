"""The WSGI plumbing: `read_wsgi_body` reads what was declared and no more, `wsgi_respond` as HTTP allows."""

from __future__ import annotations

import io
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buttress.core import (
    ArgumentTypeError,
    ButtressError,
    ClientDisconnectedError,
    ConfigurationError,
    UnreadableBodyError,
    declared_length,
    read_wsgi_body,
    wsgi_headers,
    wsgi_respond,
)
from buttress.testing import check_hostile


class _Socketlike(io.RawIOBase):
    """An input that fails the test if read past its data, as a socket would block there."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.left = len(data)

    def read(self, size: int = -1) -> bytes:
        assert 0 <= size <= self.left, f"read({size}) with {self.left} bytes left would block"
        chunk = self._data.read(size)
        self.left -= len(chunk)
        return chunk


def _environ(body: bytes = b"", **extra: Any) -> dict[str, Any]:
    return {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body), **extra}


def test_the_declared_body_is_read_and_nothing_past_it() -> None:
    stream = _Socketlike(b"hello")
    assert read_wsgi_body({"wsgi.input": stream, "CONTENT_LENGTH": "5"}, limit=10) == b"hello"
    assert read_wsgi_body({"wsgi.input": _Socketlike(b"hello"), "CONTENT_LENGTH": "3"}, limit=10) == b"hel"
    assert read_wsgi_body({"wsgi.input": _Socketlike(b""), "CONTENT_LENGTH": "0"}, limit=10) == b""


def test_a_body_declared_over_the_limit_is_not_read() -> None:
    stream = _Socketlike(b"x" * 100)
    assert read_wsgi_body({"wsgi.input": stream, "CONTENT_LENGTH": "100"}, limit=99) is None
    assert stream.left == 100
    assert read_wsgi_body(_environ(CONTENT_LENGTH="1" * 40), limit=10) is None


def test_without_a_length_the_body_is_empty_unless_delimited() -> None:
    # RFC 9112 section 6.3: no Content-Length and no Transfer-Encoding is an empty body.
    assert read_wsgi_body({"wsgi.input": _Socketlike(b"")}, limit=10) == b""
    # A server that dechunked the body says so; the body is read to its end, up to the limit.
    terminated = {"wsgi.input_terminated": True}
    assert read_wsgi_body(_environ(b"abc", **terminated), limit=3) == b"abc"
    assert read_wsgi_body(_environ(b"abcd", **terminated), limit=3) is None
    with pytest.raises(UnreadableBodyError) as refused:
        read_wsgi_body(_environ(b"abc", HTTP_TRANSFER_ENCODING="chunked"), limit=10)
    assert refused.value.status == 411


@pytest.mark.parametrize("length", ["-1", "+1", "1e3", "0x10", "1_0", "\u0661", "1 2", " ", "abc"])
def test_a_malformed_length_is_a_400(length: str) -> None:
    with pytest.raises(UnreadableBodyError) as refused:
        read_wsgi_body(_environ(b"1", CONTENT_LENGTH=length), limit=10)
    assert refused.value.status == 400
    assert length not in str(refused.value) or length == " "


def test_a_body_cut_short_or_failing_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnectedError):
        read_wsgi_body(_environ(b"abc", CONTENT_LENGTH="10"), limit=10)

    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(ClientDisconnectedError):
        read_wsgi_body({"wsgi.input": Broken(), "CONTENT_LENGTH": "3"}, limit=10)


def test_a_missing_input_is_a_400() -> None:
    with pytest.raises(UnreadableBodyError) as refused:
        read_wsgi_body({"CONTENT_LENGTH": "3"}, limit=10)
    assert refused.value.status == 400


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=400))
def test_the_body_is_all_of_it_or_none(body: bytes, limit: int) -> None:
    """Property: the declared body comes back whole when it fits the limit, and is refused otherwise."""
    got = read_wsgi_body({"wsgi.input": _Socketlike(body), "CONTENT_LENGTH": str(len(body))}, limit=limit)
    assert got == (body if len(body) <= limit else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), ("12", 12), (b" 7\t", 7), ("", None), ("-1", None), ("\u0663", None), ("9" * 30, 10**18)],
)
def test_declared_length(value: bytes | str | None, expected: int | None) -> None:
    assert declared_length(value) == expected


def test_wsgi_respond_sets_the_length_and_a_status_line() -> None:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    body = wsgi_respond(start_response, 413, headers=[("Content-Length", "9")], body=b"too big")
    assert body == [b"too big"]
    assert started[-1] == ("413 " + started[-1][0].split(" ", 1)[1], [("Content-Length", "7")])
    assert wsgi_respond(start_response, 204, headers=[("X-A", "1")], body=b"dropped") == []
    assert started[-1] == ("204 No Content", [("X-A", "1")])
    assert wsgi_respond(start_response, 599)[:0] == []
    assert started[-1][0] == "599 Status 599"
    with pytest.raises(ConfigurationError):
        wsgi_respond(start_response, 600)
    with pytest.raises(ArgumentTypeError):
        wsgi_respond(start_response, 200, headers=[(b"a", b"b")])  # type: ignore[list-item]


def test_the_error_keeps_its_status_through_pickling() -> None:
    error = pickle.loads(pickle.dumps(UnreadableBodyError(411, "a request body needs a Content-Length")))  # noqa: S301
    assert (error.status, error.reason, isinstance(error, ButtressError)) == (
        411,
        "a request body needs a Content-Length",
        True,
    )


def test_the_wsgi_helpers_raise_only_typed_errors() -> None:
    """Property: read_wsgi_body, wsgi_respond and declared_length answer bad arguments with typed errors."""

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        return lambda data: None

    check_hostile(read_wsgi_body, {"wsgi.input": io.BytesIO(b"ab"), "CONTENT_LENGTH": "2"}, limit=10)
    check_hostile(wsgi_respond, start_response, 200, headers=[("a", "b")], body=b"x", keep={"start_response"})
    check_hostile(declared_length, "12")
    check_hostile(UnreadableBodyError, 400, "reason")


def test_wsgi_headers_gives_the_request_headers_back_their_names() -> None:
    environ = {
        "HTTP_WEBHOOK_ID": "msg_1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "HTTP_X_A": "1",
        "PATH_INFO": "/hooks",
        "HTTP_BROKEN": b"not a str",
        "wsgi.input": io.BytesIO(),
    }
    assert wsgi_headers(environ) == [
        ("webhook-id", "msg_1"),
        ("content-type", "application/json"),
        ("content-length", "2"),
        ("x-a", "1"),
    ]
    check_hostile(wsgi_headers, environ)
