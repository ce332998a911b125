"""The Protocols the buttress packages talk to each other through."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

from .exceptions import ConfigurationError

__all__ = [
    "MISSING",
    "AsyncRepository",
    "CacheProvider",
    "Command",
    "CommandHandler",
    "EventHandler",
    "Identifiable",
    "Missing",
    "Query",
    "QueryHandler",
    "Serializer",
    "SoftDeletable",
    "Timestamped",
]


class Missing(enum.Enum):
    """The type of `MISSING`, the value a cache returns for a miss.

    A cache can hold ``None`` as a value, so ``None`` cannot also mean "not there". Compare with
    ``is MISSING``; type checkers narrow ``T | Missing`` to ``T`` after the check.
    """

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    @classmethod
    def _missing_(cls, value: object) -> Missing:
        # Enum's own lookup raises a bare ValueError: name the one value there is, as a typed error.
        raise ConfigurationError("Missing", value, "must be 'MISSING'")


MISSING: Final = Missing.MISSING
"""Returned by `CacheProvider.get` when the key holds no live value."""


@runtime_checkable
class Identifiable[ID](Protocol):
    """**Protocol**: an entity with a stable identity.

    Any object with an ``id`` attribute or property conforms: dataclasses, pydantic models, ORM rows.

    Attributes:
        id: The entity's identity. Two entities with equal ids are the same entity.
    """

    @property
    def id(self) -> ID:
        """The entity's identity."""
        ...


@runtime_checkable
class Timestamped(Protocol):
    """**Protocol**: an entity that records when it was created and last changed.

    Attributes:
        created_at: When the entity was first stored, timezone-aware UTC.
        updated_at: When the entity was last changed, timezone-aware UTC; equal to ``created_at`` until then.
    """

    @property
    def created_at(self) -> datetime:
        """When the entity was first stored (UTC)."""
        ...

    @property
    def updated_at(self) -> datetime:
        """When the entity was last changed (UTC)."""
        ...


@runtime_checkable
class SoftDeletable(Protocol):
    """**Protocol**: an entity that is marked deleted instead of being removed.

    Attributes:
        deleted_at: When the entity was deleted (UTC), or ``None`` while it is live. Repositories hide
            entities whose ``deleted_at`` is set from ``get`` and ``list``.
    """

    @property
    def deleted_at(self) -> datetime | None:
        """When the entity was deleted (UTC), or ``None`` while it is live."""
        ...


@runtime_checkable
class AsyncRepository[T: Identifiable[Hashable], ID: Hashable](Protocol):
    """**Protocol**: asynchronous storage of entities of type ``T`` keyed by their ``ID``.

    Implementations: a class with these five coroutine methods. `buttress.testing.AsyncRepositoryContract`
    checks that an implementation behaves as documented here.

    Methods:
        get: The entity with that id, or ``None``.
        add: Store a new entity; an id that exists already raises `ConflictError`.
        update: Replace a stored entity; an unknown id raises `NotFoundError`.
        delete: Remove an entity; returns whether it existed.
        list: A page of entities in a stable order (insertion order unless documented otherwise).
    """

    async def get(self, id: ID) -> T | None:
        """Return the entity with this id, or ``None`` if there is none."""
        ...

    async def add(self, entity: T) -> None:
        """Store a new entity.

        Raises:
            ConflictError: An entity with the same id is stored already.
        """
        ...

    async def update(self, entity: T) -> None:
        """Replace the stored entity that has ``entity.id``.

        Raises:
            NotFoundError: No entity with that id is stored.
        """
        ...

    async def delete(self, id: ID) -> bool:
        """Remove the entity with this id; return ``True`` if it existed."""
        ...

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[T]:
        """Return at most ``limit`` entities after skipping ``offset``, in a stable order.

        Raises:
            ConfigurationError: ``limit`` is below 1 or ``offset`` below 0.
        """
        ...


@runtime_checkable
class CacheProvider[T](Protocol):
    """**Protocol**: an asynchronous key-value cache holding values of type ``T``.

    A miss is `MISSING`, never ``None``, so ``None`` can be cached. `buttress.testing.CacheProviderContract`
    checks that an implementation behaves as documented here.

    Methods:
        get: The live value for a key, or `MISSING`.
        set: Store a value, optionally expiring after ``ttl`` seconds.
        delete: Remove a key; returns whether it held a live value.
        exists: Whether a key holds a live value.
        clear: Remove every key this provider owns (its namespace, not the whole server).
    """

    async def get(self, key: str) -> T | Missing:
        """Return the live value stored under ``key``, or `MISSING`."""
        ...

    async def set(self, key: str, value: T, *, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``; after ``ttl`` seconds (if given) it is gone.

        Raises:
            ConfigurationError: ``ttl`` is zero or negative.
        """
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return ``True`` if it held a live value."""
        ...

    async def exists(self, key: str) -> bool:
        """Return whether ``key`` holds a live value."""
        ...

    async def clear(self) -> None:
        """Remove every key this provider owns."""
        ...


@runtime_checkable
class EventHandler[E](Protocol):
    """**Protocol**: something that reacts to events of type ``E``.

    Methods:
        handle: Process one event. Raising means the event was not handled; the caller decides
            whether to retry.
    """

    async def handle(self, event: E) -> None:
        """Process one event."""
        ...


class Command[R]:
    """A request to change state (the write side of CQRS) whose handler returns ``R``.

    Subclass it with the result type, so a bus can type ``send(command) -> R`` end to end::

        @dataclass(frozen=True)
        class RenameUser(Command[None]):
            user_id: int
            name: str

    It has no members and no state (``__slots__`` is empty), so frozen and slotted dataclasses and
    pydantic models can derive from it. It is a base class rather than a Protocol because a memberless
    Protocol cannot carry ``R`` (every object would match it with any ``R``) and a pydantic model cannot
    derive from a Protocol (their metaclasses clash).
    """

    __slots__ = ()


class Query[R]:
    """A request to read state without changing it (the read side of CQRS), answered with ``R``.

    Like `Command`, subclass it with the result type (``class GetUser(Query[User])``); it has no
    members and no state.
    """

    __slots__ = ()


@runtime_checkable
class CommandHandler[C: Command[Any], R](Protocol):
    """**Protocol**: executes commands of type ``C`` and returns ``R``.

    Methods:
        handle: Execute the command and return what it declares (``C`` is a ``Command[R]``). It may
            change state; it should be safe to retry when the command carries an idempotency key.
    """

    async def handle(self, command: C) -> R:
        """Execute ``command`` and return its result."""
        ...


@runtime_checkable
class QueryHandler[Q: Query[Any], R](Protocol):
    """**Protocol**: answers queries of type ``Q`` with ``R``.

    Methods:
        handle: Answer the query with what it declares (``Q`` is a ``Query[R]``). It must not change
            state.
    """

    async def handle(self, query: Q) -> R:
        """Answer ``query``."""
        ...


@runtime_checkable
class Serializer[T](Protocol):
    """**Protocol**: turns values of type ``T`` into bytes and back.

    ``loads(dumps(value)) == value`` must hold for every value the serializer accepts.

    Methods:
        dumps: Encode a value. Raises `SerializationError` for a value it cannot encode.
        loads: Decode bytes made by ``dumps``. Raises `SerializationError` for bytes it cannot decode.
    """

    def dumps(self, value: T) -> bytes:
        """Encode ``value`` to bytes."""
        ...

    def loads(self, data: bytes) -> T:
        """Decode bytes made by `dumps`."""
        ...
