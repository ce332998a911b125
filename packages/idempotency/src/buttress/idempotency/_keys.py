"""Idempotency-Key parsing, key scoping and request fingerprints."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final

from .exceptions import IdempotencyTypeError, InvalidKeyError

__all__ = ["MAX_KEY_LENGTH", "parse_idempotency_key", "request_fingerprint", "request_identity", "scope_key"]

MAX_KEY_LENGTH = 255
"""The longest idempotency key accepted, in characters."""

_SAFE = re.compile(r"[A-Za-z0-9\-_.:~+/=]{1,255}")
_SAFE_BYTES = re.compile(rb"[A-Za-z0-9\-_.:~+/=]{1,255}")
_SAFE_CHARS = "letters, digits and - _ . : ~ + / ="


def parse_idempotency_key(value: str | bytes) -> str:
    """Parse an ``Idempotency-Key`` field value: an RFC 8941 sf-string, or tolerated as a bare token.

    ``"8e03978e-40d5-43e8-bc93-6894a57f9324"`` and ``8e03978e-40d5-43e8-bc93-6894a57f9324`` give the
    same key. Parameters after a quoted key (``"k";v=1``) are ignored, as RFC 8941 allows.

    Raises:
        InvalidKeyError: The value is empty, badly quoted, longer than 255 characters, or holds a
            character outside letters, digits and ``- _ . : ~ + / =`` (NUL, CR, LF, non-ASCII and lone
            surrogates included). Work is bounded by the key's limit, however long the value.
        IdempotencyTypeError: ``value`` is neither str nor bytes.

    Examples:
        >>> parse_idempotency_key('"a1-b2"')
        'a1-b2'
    """
    if value.__class__ is bytes and _SAFE_BYTES.fullmatch(value) is not None:
        return value.decode("ascii")  # the usual bare token, as every path below would read it
    if isinstance(value, bytes):
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidKeyError(value, "must be ASCII") from None
    elif isinstance(value, str):
        text = value
    else:
        raise IdempotencyTypeError("value", "a str or bytes", value)
    text = text.strip(" \t")
    key = _unquote(text) if text.startswith('"') else text[: MAX_KEY_LENGTH + 1]
    if not key:
        raise InvalidKeyError(value, "must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(value, f"must be at most {MAX_KEY_LENGTH} characters")
    if _SAFE.fullmatch(key) is None:
        raise InvalidKeyError(value, f"may hold only {_SAFE_CHARS}")
    return key


def _unquote(text: str) -> str:
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in '"\\':
                raise InvalidKeyError(text, 'a backslash in an sf-string must escape " or \\')
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            rest = text[index + 1 :]
            if rest and not rest.startswith(";"):
                raise InvalidKeyError(text, "unexpected characters after the closing quote")
            return "".join(out)
        if not " " <= char <= "~":
            raise InvalidKeyError(text, "an sf-string holds only printable ASCII")
        out.append(char)
        if len(out) > MAX_KEY_LENGTH:  # the key is too long whatever follows: stop reading
            return "".join(out)
        index += 1
    raise InvalidKeyError(text, "the sf-string has no closing quote")


def _frame(parts: Iterable[bytes]) -> bytes:
    # Length-prefixing makes the composition unambiguous: ("a:b", "c") and ("a", "b:c") differ.
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def scope_key(key: str, *, principal: str, route: str) -> str:
    """Compose the store key from the client's key, who sent it and where: a SHA-256 hex digest.

    Two principals, or two routes, using the same client key get different store keys, so they can
    neither collide nor read each other's responses; the digest keeps raw keys and principal names out
    of the store. Any str is accepted, NUL and lone surrogates included (a path can hold them): each
    is encoded as UTF-8 with ``surrogatepass``, which gives distinct bytes for distinct strs.

    Raises:
        IdempotencyTypeError: An argument is not a str.

    Examples:
        >>> alice = scope_key("k", principal="alice", route="/orders")
        >>> alice != scope_key("k", principal="bob", route="/orders")
        True
    """
    parts = (_utf8("key", key), _utf8("principal", principal), _utf8("route", route))
    return hashlib.sha256(_frame(parts)).hexdigest()


def _utf8(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise IdempotencyTypeError(name, "a str", value)
    return value.encode("utf-8", _SURROGATEPASS)


_SURROGATEPASS: Final = "surrogatepass"


def _raw(name: str, value: object) -> bytes:
    if value.__class__ is bytes:
        return value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise IdempotencyTypeError(name, "bytes", value)
    return bytes(value)


def request_fingerprint(
    method: str,
    route: str,
    body: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    query: bytes = b"",
) -> str:
    """The fingerprint of a request: SHA-256 over the method, route, query string, body and chosen headers.

    A key presented again with a different fingerprint is answered 422.

    Raises:
        IdempotencyTypeError: ``method`` or ``route`` is not a str, ``body`` or ``query`` not bytes, or
            ``headers`` not an iterable of ``(bytes, bytes)`` pairs.
    """
    digest = hashlib.sha256(
        _frame(
            (
                _utf8("method", method.upper() if isinstance(method, str) else method),
                _utf8("route", route),
                _raw("query", query),
            )
        )
    )
    given: object = headers  # callers may not type-check: look at what really came
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise IdempotencyTypeError("headers", "an iterable of (bytes, bytes) pairs", given)
    for pair in given:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise IdempotencyTypeError("headers", "an iterable of (bytes, bytes) pairs", pair)
        digest.update(_frame((_raw("header name", pair[0]).lower(), _raw("header value", pair[1]))))
    digest.update(b"\x00body\x00")
    digest.update(_raw("body", body))
    return digest.hexdigest()


def route_frames(method: str, route: str) -> tuple[bytes, bytes]:
    """The framed parts of `request_identity` that depend on the method and route alone.

    The route's frame (for the store key) and the method's and route's (the fingerprint's start), for a
    caller that keeps them per route (`framed_identity`). Both are str (the caller checked).
    """
    path = route.encode("utf-8", _SURROGATEPASS)
    framed = len(path).to_bytes(8, "big") + path
    verb = method.upper().encode("utf-8", _SURROGATEPASS)
    return framed, len(verb).to_bytes(8, "big") + verb + framed


def framed_identity(
    client_key: str, principal: bytes, frames: tuple[bytes, bytes], query: bytes, body: bytes
) -> tuple[str, str]:
    """`request_identity` from `route_frames`'s answer and the principal framed already.

    ``client_key`` is a str, ``principal`` the framed UTF-8 principal, ``query`` and ``body`` bytes: the
    same digests as `request_identity` gives for the same request.
    """
    key = client_key.encode("utf-8", _SURROGATEPASS)
    scoped = hashlib.sha256(b"".join((len(key).to_bytes(8, "big"), key, principal, frames[0])))
    if len(body) <= _JOINED:
        digest = hashlib.sha256(
            b"".join((frames[1], len(query).to_bytes(8, "big"), query, b"\x00body\x00", body))
        )
    else:  # not copied into one buffer with the rest
        digest = hashlib.sha256(b"".join((frames[1], len(query).to_bytes(8, "big"), query, b"\x00body\x00")))
        digest.update(body)
    return scoped.hexdigest(), digest.hexdigest()


_JOINED = 64 * 1024  # bodies up to this size are hashed in one buffer with the framed prefix


def request_identity(
    client_key: str, *, principal: str, method: str, route: str, query: bytes, body: bytes
) -> tuple[str, str]:
    """The store key and the fingerprint of a request that fingerprints no header, computed together.

    ``scope_key(client_key, principal=principal, route=route)`` and
    ``request_fingerprint(method, route, body, query=query)``: the same digests, computed on the
    middleware's path for each request (the route is encoded once for both, each framed prefix is one
    buffer). Values of another type than the annotated ones go through those two functions (and their
    errors).
    """
    if (
        client_key.__class__ is not str
        or principal.__class__ is not str
        or method.__class__ is not str
        or route.__class__ is not str
        or query.__class__ is not bytes
        or body.__class__ is not bytes
    ):
        return (
            scope_key(client_key, principal=principal, route=route),
            request_fingerprint(method, route, body, query=query),
        )
    path = route.encode("utf-8", _SURROGATEPASS)
    size = len(path).to_bytes(8, "big")
    verb = method.upper().encode("utf-8", _SURROGATEPASS)
    verb_size = len(verb).to_bytes(8, "big")
    key = client_key.encode("utf-8", _SURROGATEPASS)
    who = principal.encode("utf-8", _SURROGATEPASS)
    scoped = hashlib.sha256(
        b"".join((len(key).to_bytes(8, "big"), key, len(who).to_bytes(8, "big"), who, size, path))
    )
    digest = hashlib.sha256(
        b"".join((verb_size, verb, size, path, len(query).to_bytes(8, "big"), query, b"\x00body\x00"))
    )
    digest.update(body)
    return scoped.hexdigest(), digest.hexdigest()
