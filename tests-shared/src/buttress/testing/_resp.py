"""A tiny synchronous RESP2 client: enough to probe a Redis server and clean a key prefix.

The fixtures use it so that buttress-testing needs no Redis driver of its own; the packages under
test bring the driver they ship with.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

type Reply = bytes | int | str | list[Reply] | None


class RespError(Exception):
    """The server answered with an error reply (``-ERR ...``)."""


class RespClient:
    """One blocking connection to a Redis server."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss"}:
            raise ValueError(f"not a redis:// URL: {parts.scheme}://...")
        if parts.scheme == "rediss":
            raise ValueError("rediss:// (TLS) is not supported by the test fixtures' probe")
        self._sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout)
        self._file = self._sock.makefile("rb")
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else "default"
            self.execute("AUTH", user, unquote(parts.password))
        database = parts.path.lstrip("/")
        if database and database != "0":
            self.execute("SELECT", database)

    def execute(self, *args: str | bytes | int) -> Reply:
        """Send one command and return its reply."""
        out = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(out))
        return self._read()

    def scan_delete(self, pattern: str, *, batch: int = 500) -> int:
        """Delete every key matching ``pattern`` using SCAN (never KEYS); return how many went."""
        cursor: bytes | str = b"0"
        deleted = 0
        while True:
            reply = self.execute("SCAN", cursor, "MATCH", pattern, "COUNT", batch)
            if not isinstance(reply, list) or len(reply) != 2:
                raise RespError(f"unexpected SCAN reply: {reply!r}")
            cursor_reply, keys = reply
            if not isinstance(cursor_reply, bytes) or not isinstance(keys, list):
                raise RespError(f"unexpected SCAN reply: {reply!r}")
            cursor = cursor_reply
            names = [k for k in keys if isinstance(k, bytes)]
            if names:
                count = self.execute("UNLINK", *names)
                deleted += count if isinstance(count, int) else 0
            if cursor == b"0":
                return deleted

    def close(self) -> None:
        """Close the connection."""
        self._file.close()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _read(self) -> Reply:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by the server")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            raise RespError(body.decode())
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            size = int(body)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise RespError(f"unexpected reply type {kind!r}")


def ping(url: str, *, timeout: float = 1.0) -> str | None:
    """Return ``None`` if a Redis server answers PING at ``url``, else the reason it did not."""
    try:
        with RespClient(url, timeout=timeout) as client:
            reply = client.execute("PING")
    except (OSError, RespError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if reply == "PONG" else f"unexpected reply to PING: {reply!r}"
