"""The audit log: who did what to which resource, when, kept by a sink, optionally hash-chained.

`AuditEntry` is a validated, immutable record whose timestamp is always UTC (Property 9) and whose
``to_dict``/``from_dict`` round trip is exact (Property 8). Sinks implement the small `AuditSink`
Protocol (``append`` and ``query``); `MemoryAuditSink` is the embedded default, bounded and keeping
the newest entries; ``PostgresAuditSink`` (the ``postgres`` extra) keeps them in an append-only table.

With ``chain=True`` a sink gives every entry a sequence number and a SHA-256 hash over the previous
entry's hash and its own canonical JSON, so `verify_chain` finds an entry that was edited, deleted or
inserted out of band.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol, Self

from buttress.core import check_count, check_text

from ._metrics import AUDIT_ENTRIES
from ._request_id import current_request_id
from .exceptions import (
    AuditEntryError,
    AuditIntegrityError,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
)

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditFilter",
    "AuditSink",
    "MemoryAuditSink",
    "chain_hash",
    "verify_chain",
]

type JSONValue = str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None

GENESIS_HASH: Final = "0" * 64
"""The ``previous_hash`` of the first entry of a chain."""

_MAX_TEXT: Final = {"actor": 256, "action": 128, "resource": 512, "outcome": 64}
_MAX_DETAILS: Final = 64 * 1024
_MAX_DEPTH: Final = 16
_REQUIRED: Final = frozenset({"id", "timestamp", "actor", "action", "resource"})
_FIELDS: Final = _REQUIRED | {"outcome", "details", "request_id", "sequence", "previous_hash", "hash"}
_ERRORS: Final = {"error": AuditEntryError, "type_error": ObservabilityTypeError}


def _json_value(value: object, path: str, depth: int = 0) -> JSONValue:
    """A copy of ``value`` made of JSON types only (finite floats, str keys), or an `AuditEntryError`."""
    if depth > _MAX_DEPTH:
        raise AuditEntryError(path, "...", f"nests deeper than {_MAX_DEPTH} levels", show_value=False)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditEntryError(path, value, "must be a finite number (JSON has no NaN or infinity)")
        return value
    if isinstance(value, str):
        return check_text(path, value, allow_empty=True, show_value=False, error=AuditEntryError)
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        copied: dict[str, JSONValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ObservabilityTypeError(f"{path} key", "a str", key)
            check_text(f"{path} key", key, allow_empty=True, show_value=False, error=AuditEntryError)
            copied[key] = _json_value(item, f"{path}.{key}", depth + 1)
        return copied
    raise ObservabilityTypeError(path, "JSON data (str, int, float, bool, None, list, dict)", value)


def _utc(value: object, parameter: str = "timestamp") -> datetime:
    if not isinstance(value, datetime):
        raise ObservabilityTypeError(parameter, "a timezone-aware datetime", value)
    offset = value.utcoffset()
    if offset is None:
        raise AuditEntryError(parameter, value, "must be timezone-aware (naive times are ambiguous); use UTC")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise AuditEntryError(parameter, value, "is out of range once converted to UTC") from None


def _hash_text(value: object, parameter: str) -> str | None:
    if value is None:
        return None
    text = check_text(parameter, value, error=AuditEntryError, type_error=ObservabilityTypeError)
    if len(text) != 64 or any(char not in "0123456789abcdef" for char in text):
        raise AuditEntryError(parameter, text, "must be 64 lower-case hex digits (a SHA-256)")
    return text


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited act: who (``actor``) did what (``action``) to which ``resource``, when, with what outcome.

    Built through `AuditEntry.create` (which stamps the id, the time and the request id) or
    `from_dict`; the constructor validates too. A chained sink fills ``sequence``,
    ``previous_hash`` and ``hash``.

    Attributes:
        id: A unique id (a UUID's 32 hex digits by default).
        timestamp: When it happened, always in UTC (an aware time in another zone is converted; a
            naive one is refused).
        actor: Who acted: a user id, a service name (1 to 256 characters).
        action: What was done: ``"order.refund"`` (1 to 128).
        resource: What it was done to: ``"order:o-7"`` (1 to 512).
        outcome: ``"success"`` by default; ``"failure"``, ``"denied"``...
        details: JSON data about the act (at most 64 KiB as JSON); never secrets.
        request_id: The request it happened in, if any.
        sequence: Its place in a chained sink (from 1), else ``None``.
        previous_hash: The chain hash of the entry before it (`GENESIS_HASH` for the first).
        hash: Its own chain hash (see `chain_hash`).

    Raises:
        AuditEntryError: A field that is empty, too long, not JSON data, or a naive timestamp.
        ObservabilityTypeError: A field of the wrong type.
    """

    id: str
    timestamp: datetime
    actor: str
    action: str
    resource: str
    outcome: str = "success"
    details: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    sequence: int | None = None
    previous_hash: str | None = None
    hash: str | None = None

    def __post_init__(self) -> None:
        check_text("id", self.id, max_bytes=128, error=AuditEntryError, type_error=ObservabilityTypeError)
        object.__setattr__(self, "timestamp", _utc(self.timestamp))
        for name, limit in _MAX_TEXT.items():
            check_text(
                name,
                getattr(self, name),
                max_bytes=limit,
                error=AuditEntryError,
                type_error=ObservabilityTypeError,
            )
        if not isinstance(self.details, Mapping):
            raise ObservabilityTypeError("details", "a mapping of JSON data", self.details)
        details = _json_value(self.details, "details")
        if len(json.dumps(details)) > _MAX_DETAILS:
            raise AuditEntryError(
                "details", "...", f"must be at most {_MAX_DETAILS} bytes as JSON", show_value=False
            )
        object.__setattr__(self, "details", details)
        if self.request_id is not None:
            check_text(
                "request_id",
                self.request_id,
                max_bytes=1024,
                error=AuditEntryError,
                type_error=ObservabilityTypeError,
            )
        if self.sequence is not None:
            if isinstance(self.sequence, bool) or not isinstance(self.sequence, int):
                raise ObservabilityTypeError("sequence", "an int or None", self.sequence)
            check_count("sequence", self.sequence, minimum=1, maximum=2**62, error=AuditEntryError)
        _hash_text(self.previous_hash, "previous_hash")
        _hash_text(self.hash, "hash")

    @classmethod
    def create(
        cls,
        actor: str,
        action: str,
        resource: str,
        *,
        outcome: str = "success",
        details: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        request_id: str | None = None,
    ) -> Self:
        """A new entry: a fresh id, now (UTC) unless ``timestamp`` is given, the current request's id.

        Raises:
            AuditEntryError: A field that is not valid.
            ObservabilityTypeError: A field of the wrong type.
        """
        return cls(
            id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC) if timestamp is None else timestamp,
            actor=actor,
            action=action,
            resource=resource,
            outcome=outcome,
            details={} if details is None else details,
            request_id=current_request_id() if request_id is None else request_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON data; the timestamp in ISO 8601 with its ``+00:00`` offset."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "details": json.loads(json.dumps(self.details)),
            "request_id": self.request_id,
            "sequence": self.sequence,
            "previous_hash": self.previous_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read an entry from `to_dict`'s form, validating every field.

        Raises:
            AuditEntryError: A missing or unknown field, a timestamp that is not ISO 8601 with an
                offset, or any field `AuditEntry` refuses.
            ObservabilityTypeError: ``data`` is not a mapping, or a field of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ObservabilityTypeError("data", "a mapping", data)
        keys = {key for key in data if isinstance(key, str)}
        if len(keys) != len(data) or keys - _FIELDS:
            unknown = sorted(str(key)[:40] for key in data if key not in _FIELDS)
            raise AuditEntryError("data", unknown, "holds fields an audit entry does not have")
        missing = _REQUIRED - keys
        if missing:
            raise AuditEntryError("data", sorted(missing), "lacks required fields")
        stamp = data["timestamp"]
        if not isinstance(stamp, str):
            raise ObservabilityTypeError("timestamp", "an ISO 8601 str", stamp)
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            raise AuditEntryError("timestamp", stamp[:64], "is not ISO 8601") from None
        return cls(
            id=data["id"],
            timestamp=parsed,
            actor=data["actor"],
            action=data["action"],
            resource=data["resource"],
            outcome=data.get("outcome", "success"),
            details=data.get("details") or {},
            request_id=data.get("request_id"),
            sequence=data.get("sequence"),
            previous_hash=data.get("previous_hash"),
            hash=data.get("hash"),
        )

    def canonical(self) -> bytes:
        """The bytes the chain hash covers: every field but ``hash``, as sorted, compact JSON."""
        data = self.to_dict()
        del data["hash"]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(entry: AuditEntry) -> str:
    """The SHA-256 (hex) of ``previous_hash`` and the entry's canonical JSON.

    Raises:
        ObservabilityTypeError: ``entry`` is not an `AuditEntry`.
    """
    if not isinstance(entry, AuditEntry):
        raise ObservabilityTypeError("entry", "an AuditEntry", entry)
    return hashlib.sha256(entry.canonical()).hexdigest()


def link(entry: AuditEntry, previous: AuditEntry | None) -> AuditEntry:
    """``entry`` placed after ``previous`` in a chain: its sequence, previous hash and hash set."""
    sequence = 1 if previous is None else (previous.sequence or 0) + 1
    previous_hash = GENESIS_HASH if previous is None else previous.hash
    linked = replace(entry, sequence=sequence, previous_hash=previous_hash, hash=None)
    return replace(linked, hash=chain_hash(linked))


def verify_chain(entries: Iterable[AuditEntry], *, previous: AuditEntry | None = None) -> int:
    """Check a chain, oldest first; return how many entries were checked.

    Each entry's hash must be its own (no edit), its ``previous_hash`` the hash of the one before
    (no insertion) and its sequence one more (no deletion). The first entry follows ``previous`` when
    given; otherwise it is trusted as the start (a bounded sink has dropped what came before).

    Raises:
        AuditIntegrityError: At the first entry that breaks the chain.
        ObservabilityTypeError: ``entries`` is not an iterable of `AuditEntry`, or ``previous`` not one.
    """
    if not isinstance(entries, Iterable):
        raise ObservabilityTypeError("entries", "an iterable of audit entries", entries)
    if previous is not None and not isinstance(previous, AuditEntry):
        raise ObservabilityTypeError("previous", "an AuditEntry or None", previous)
    count = 0
    for entry in entries:
        if not isinstance(entry, AuditEntry):
            raise ObservabilityTypeError("entries", "audit entries", entry)
        sequence = entry.sequence or 0
        if entry.hash is None or entry.previous_hash is None or entry.sequence is None:
            raise AuditIntegrityError(sequence, "the entry is not chained")
        if entry.hash != chain_hash(entry):
            raise AuditIntegrityError(sequence, "its hash does not match its content (edited)")
        if previous is not None:
            if entry.sequence != (previous.sequence or 0) + 1:
                raise AuditIntegrityError(sequence, f"it follows entry {previous.sequence} (entries deleted)")
            if entry.previous_hash != previous.hash:
                raise AuditIntegrityError(sequence, "its previous hash is not the entry before's (inserted)")
        elif entry.sequence == 1 and entry.previous_hash != GENESIS_HASH:
            raise AuditIntegrityError(sequence, "the first entry does not start from the genesis hash")
        previous = entry
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What `AuditSink.query` selects; every given field must match, the time window is half-open.

    Attributes:
        actor: Only this actor's entries.
        action: Only this action.
        resource: Only this resource.
        since: Entries at or after this time (aware).
        until: Entries strictly before this time (aware).
        limit: At most this many (1 to 10,000), the oldest first.

    Raises:
        AuditEntryError: A naive time, a window that ends before it starts, a bad limit.
        ObservabilityTypeError: A field of the wrong type.
    """

    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        for name, limit in (("actor", 256), ("action", 128), ("resource", 512)):
            value = getattr(self, name)
            if value is not None:
                check_text(
                    name, value, max_bytes=limit, error=AuditEntryError, type_error=ObservabilityTypeError
                )
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name))
        if self.since is not None and self.until is not None and self.until < self.since:
            raise AuditEntryError("until", self.until, "must not be before since")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise ObservabilityTypeError("limit", "an int", self.limit)
        check_count("limit", self.limit, minimum=1, maximum=10_000, error=AuditEntryError)

    def matches(self, entry: AuditEntry) -> bool:
        """Whether ``entry`` is selected (the limit aside)."""
        return (
            (self.actor is None or entry.actor == self.actor)
            and (self.action is None or entry.action == self.action)
            and (self.resource is None or entry.resource == self.resource)
            and (self.since is None or entry.timestamp >= self.since)
            and (self.until is None or entry.timestamp < self.until)
        )


class AuditSink(Protocol):
    """**Protocol**: where audit entries are kept.

    Implementations must pass buttress-testing's ``AuditLogContract``.

    Methods:
        append: Keep ``entry`` and return it as kept (a chained sink fills its chain fields).
        query: The entries `AuditFilter` selects, oldest first (by timestamp, then by arrival).
    """

    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Keep ``entry``; return it as kept."""
        ...

    async def query(self, where: AuditFilter | None = None) -> Sequence[AuditEntry]:
        """The selected entries, oldest first."""
        ...


class MemoryAuditSink:
    """The embedded audit sink: the newest ``max_entries`` entries in memory.

    Args:
        max_entries: How many entries it keeps; appending past it drops the oldest.
        chain: Hash-chain the entries (`verify` then checks them).

    Raises:
        ObservabilityConfigurationError: ``max_entries`` out of range (1 to 10,000,000).
        ObservabilityTypeError: An argument of the wrong type.
    """

    def __init__(self, *, max_entries: int = 10_000, chain: bool = False) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise ObservabilityTypeError("max_entries", "an int", max_entries)
        self.max_entries = check_count(
            "max_entries", max_entries, minimum=1, maximum=10_000_000, error=ObservabilityConfigurationError
        )
        if chain is not True and chain is not False:
            raise ObservabilityTypeError("chain", "a bool", chain)
        self.chain = chain
        self._entries: deque[AuditEntry] = deque(maxlen=max_entries)
        self._last: AuditEntry | None = None

    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Keep ``entry`` (dropping the oldest when full); return it as kept.

        Raises:
            ObservabilityTypeError: ``entry`` is not an `AuditEntry`.
        """
        if not isinstance(entry, AuditEntry):
            raise ObservabilityTypeError("entry", "an AuditEntry", entry)
        kept = link(entry, self._last) if self.chain else entry
        self._entries.append(kept)
        self._last = kept
        AUDIT_ENTRIES.add(1, {"audit.sink": "memory"})
        return kept

    async def query(self, where: AuditFilter | None = None) -> list[AuditEntry]:
        """The entries ``where`` selects, oldest first (by timestamp, then by arrival).

        Raises:
            ObservabilityTypeError: ``where`` is not an `AuditFilter` or ``None``.
        """
        if where is None:
            where = AuditFilter()
        if not isinstance(where, AuditFilter):
            raise ObservabilityTypeError("where", "an AuditFilter or None", where)
        found = sorted((e for e in self._entries if where.matches(e)), key=lambda e: e.timestamp)
        return found[: where.limit]

    def __len__(self) -> int:
        return len(self._entries)

    async def verify(self) -> int:
        """Check the chain of the entries kept, in arrival order; return how many.

        Raises:
            AuditIntegrityError: An entry breaks the chain.
        """
        return verify_chain(list(self._entries))
