"""The records a store keeps, the answer to a claim, and the `IdempotencyStore` Protocol."""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .exceptions import IdempotencyConfigurationError, IdempotencyTypeError, StoredRecordError

__all__ = [
    "Claim",
    "ClaimOutcome",
    "IdempotencyStore",
    "StoredResponse",
    "SyncIdempotencyStore",
    "decode_response",
    "encode_response",
]

type Header = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The outcome kept for a completed key and replayed to every retry.

    For HTTP it is the response; outside HTTP, ``body`` holds the serialized result and ``status``
    and ``headers`` are whatever the caller wants to keep (200 and none by default).

    Attributes:
        status: The status code, 0 to 999.
        headers: The response headers as ``(name, value)`` byte pairs, in order, repeats kept.
        body: The body bytes, exactly as sent.

    Raises:
        IdempotencyConfigurationError: The status is not an int from 0 to 999, a header is not a pair
            of bytes, or the body is not bytes (checked at construction, so a response that cannot be
            stored never exists). Headers given as a list are kept as a tuple; a bytearray or
            memoryview body as bytes.
    """

    status: int = 200
    headers: tuple[Header, ...] = field(default=())
    body: bytes = b""

    def __post_init__(self) -> None:
        status, headers, body = self.status, self.headers, self.body
        if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 999:
            raise IdempotencyConfigurationError("status", status, "must be an int from 0 to 999")
        if headers.__class__ is not tuple or not all(map(_is_header, headers)):
            object.__setattr__(self, "headers", _headers(headers))
        if body.__class__ is not bytes:
            if not isinstance(body, bytes | bytearray | memoryview):
                raise IdempotencyConfigurationError("body", type(body).__name__, "must be bytes")
            object.__setattr__(self, "body", bytes(body))

    @classmethod
    def of(
        cls, status: int, headers: Iterable[tuple[bytes | str, bytes | str]], body: bytes
    ) -> StoredResponse:
        """Build a response from headers given as str or bytes pairs (str is encoded as latin-1).

        Raises:
            IdempotencyConfigurationError: The status is outside 0-999, or a header or the body has
                the wrong type, or a str header holds a character outside latin-1.
        """
        given: object = headers  # callers may not type-check: look at what really came
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise IdempotencyConfigurationError(
                "headers", type(given).__name__, "must be (name, value) pairs of bytes or str"
            )
        return cls(status, tuple(_header_pair(pair) for pair in given), body)


def stored_response(status: int, headers: tuple[Header, ...], body: bytes) -> StoredResponse:
    """``StoredResponse(status, headers, body)`` for headers and body its caller made as they must be.

    ``headers`` is a tuple of pairs of bytes and ``body`` bytes (the middleware builds both with
    ``bytes()``); only the status, the application's own, is checked (and raises as the constructor).
    """
    if status.__class__ is not int or not 0 <= status <= 999:
        return StoredResponse(status, headers, body)
    response = object.__new__(StoredResponse)
    object.__setattr__(response, "status", status)
    object.__setattr__(response, "headers", headers)
    object.__setattr__(response, "body", body)
    return response


def as_stored(response: object) -> StoredResponse:
    """``response`` as a checked `StoredResponse`; a store reads only status, headers and body."""
    if response.__class__ is StoredResponse:
        return response  # checked when it was made
    try:
        status, headers, body = response.status, response.headers, response.body  # type: ignore[attr-defined]
    except AttributeError:
        raise IdempotencyTypeError("response", "a StoredResponse (status, headers, body)", response) from None
    return StoredResponse.of(status, headers, body)


def _is_header(pair: object) -> bool:
    return (
        pair.__class__ is tuple
        and len(pair) == 2
        and pair[0].__class__ is bytes
        and pair[1].__class__ is bytes
    )


def _headers(headers: object) -> tuple[Header, ...]:
    """The headers as a tuple of pairs of bytes, from any iterable of pairs of bytes-like values."""
    if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
        raise IdempotencyConfigurationError(
            "headers", type(headers).__name__, "must be (name, value) pairs of bytes"
        )
    pairs: list[Header] = []
    for pair in headers:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise IdempotencyConfigurationError(
                "headers", type(pair).__name__, "must be (name, value) pairs of bytes"
            )
        name, value = pair
        if not isinstance(name, bytes | bytearray | memoryview) or not isinstance(
            value, bytes | bytearray | memoryview
        ):
            raise IdempotencyConfigurationError(
                "headers", type(pair).__name__, "must be (name, value) pairs of bytes"
            )
        pairs.append((bytes(name), bytes(value)))
    return tuple(pairs)


def _header_pair(pair: object) -> Header:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise IdempotencyConfigurationError(
            "headers", type(pair).__name__, "must be (name, value) pairs of bytes or str"
        )
    return _header_bytes(pair[0]), _header_bytes(pair[1])


def _header_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise IdempotencyConfigurationError(
                "headers", type(value).__name__, "a str name or value must be latin-1 text"
            ) from None
    raise IdempotencyConfigurationError(
        "headers", type(value).__name__, "names and values must be bytes or str"
    )


class ClaimOutcome(enum.StrEnum):
    """What `IdempotencyStore.claim` found.

    Attributes:
        CLAIMED: The key was free (never used, released, or its lease ran out): the caller holds it now
            and must run the operation, then complete or release it.
        IN_FLIGHT: Another holder's lease is live (HTTP 409).
        COMPLETED: The outcome is stored: replay it.
        MISMATCH: The key is held or completed for a different fingerprint (HTTP 422).
    """

    CLAIMED = "claimed"
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"
    MISMATCH = "mismatch"

    @classmethod
    def _missing_(cls, value: object) -> ClaimOutcome:
        names = ", ".join(repr(outcome.value) for outcome in cls)
        raise IdempotencyConfigurationError("outcome", value, f"not a ClaimOutcome; use one of {names}")


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to `IdempotencyStore.claim`.

    Attributes:
        outcome: What the store found.
        token: The fencing token of the new lease when ``outcome`` is ``CLAIMED``, else ``None``.
            Only this token can complete, release or renew the claim.
        response: The stored outcome when ``outcome`` is ``COMPLETED``, else ``None``.
        retry_after: Seconds until the holder's lease runs out when ``outcome`` is ``IN_FLIGHT`` (if
            the store knows), else ``None``.
    """

    outcome: ClaimOutcome
    token: str | None = None
    response: StoredResponse | None = None
    retry_after: float | None = None


@runtime_checkable
class IdempotencyStore(Protocol):
    """**Protocol**: where idempotency records live; every method is atomic.

    A record is *in flight* (claimed, with a lease that runs out unless renewed) or *completed* (holds
    a `StoredResponse` until its retention runs out). An in-flight record whose lease ran out counts as
    absent: the next `claim` takes it, whatever its fingerprint, and the old token stops working.
    `buttress.testing.IdempotencyStoreContract` checks that an implementation behaves as written here.

    Keys and fingerprints are opaque strings made by the caller (the middleware passes digests). Stores
    read only ``status``, ``headers`` and ``body`` from the response they are given.

    Methods:
        claim: Take the key for ``lease`` seconds, or report why not (in flight, completed, mismatch).
        complete: Store the outcome for ``retention`` seconds if ``token`` still holds a live lease.
        release: Delete the in-flight record if ``token`` still holds it, so a retry executes again.
        renew: Extend a live lease to ``lease`` seconds from now (the heartbeat).
    """

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for a request with ``fingerprint``, or say what holds it.

        Raises:
            ConfigurationError: ``lease`` is not positive.
            IdempotencyUnavailableError: The store cannot be reached.
        """
        ...

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` under ``key`` for ``retention`` seconds; ``False`` if the lease was lost.

        Raises:
            ConfigurationError: ``retention`` is not positive.
        """
        ...

    async def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none (lease lost)."""
        ...

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the lease ``token`` holds to ``lease`` seconds from now; ``False`` if it was lost.

        Raises:
            ConfigurationError: ``lease`` is not positive.
        """
        ...


@runtime_checkable
class SyncIdempotencyStore(Protocol):
    """**Protocol**: `IdempotencyStore`'s synchronous twin, for `IdempotencyWSGIMiddleware`.

    The same four methods with the same contract, called from any of a WSGI server's threads: each is
    atomic across threads. `SyncMemoryStore` implements it.

    Methods:
        claim: Take the key for ``lease`` seconds, or report why not (in flight, completed, mismatch).
        complete: Store the outcome for ``retention`` seconds if ``token`` still holds a live lease.
        release: Delete the in-flight record if ``token`` still holds it, so a retry executes again.
        renew: Extend a live lease to ``lease`` seconds from now (the heartbeat).
    """

    def claim(self, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Claim ``key`` for a request with ``fingerprint``, or say what holds it."""
        ...

    def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        """Store ``response`` under ``key`` for ``retention`` seconds; ``False`` if the lease was lost."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Delete the in-flight record ``token`` holds; ``False`` if it holds none (lease lost)."""
        ...

    def renew(self, key: str, token: str, *, lease: float) -> bool:
        """Extend the lease ``token`` holds to ``lease`` seconds from now; ``False`` if it was lost."""
        ...


# --- the stored form of a response (Redis values, PostgreSQL bytea) ------------------------------------

_VERSION = 1
_HEAD = struct.Struct(">BHI")  # version, status, header count
_LENGTHS = struct.Struct(">II")  # name length, value length


def encode_response(response: StoredResponse) -> bytes:
    """Encode a response into the bytes a store keeps (a versioned, length-prefixed binary form).

    Raises:
        IdempotencyTypeError: ``response`` has no ``status``, ``headers`` and ``body``.
        IdempotencyConfigurationError: They are not a status from 0 to 999, pairs of bytes and bytes.
    """
    if response.__class__ is not StoredResponse:
        response = as_stored(response)
    headers: Sequence[tuple[bytes, bytes]] = response.headers
    parts = [_HEAD.pack(_VERSION, response.status, len(headers))]
    for name, value in headers:
        parts += (_LENGTHS.pack(len(name), len(value)), name, value)
    parts.append(response.body)
    return b"".join(parts)


def decode_response(data: bytes) -> StoredResponse:
    """Decode bytes made by `encode_response`.

    Raises:
        StoredRecordError: The bytes are truncated, of an unknown version, or not a stored response.
        IdempotencyTypeError: ``data`` is not bytes.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IdempotencyTypeError("data", "bytes", data)
    view = memoryview(data)
    try:
        version, status, count = _HEAD.unpack_from(view, 0)
        if version != _VERSION:
            raise StoredRecordError("idempotency-record", "loads", f"unknown record version {version}")
        offset = _HEAD.size
        headers: list[Header] = []
        for _ in range(count):
            name_len, value_len = _LENGTHS.unpack_from(view, offset)
            offset += _LENGTHS.size
            end = offset + name_len + value_len
            if end > len(view):
                raise StoredRecordError("idempotency-record", "loads", "truncated header")
            headers.append((bytes(view[offset : offset + name_len]), bytes(view[offset + name_len : end])))
            offset = end
    except struct.error as exc:
        raise StoredRecordError("idempotency-record", "loads", f"truncated record: {exc}") from exc
    try:
        return StoredResponse(status, tuple(headers), bytes(view[offset:]))
    except IdempotencyConfigurationError as exc:  # a status past 999: not a record this package wrote
        raise StoredRecordError("idempotency-record", "loads", exc.reason) from exc
