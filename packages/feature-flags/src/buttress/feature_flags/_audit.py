"""The audit trail: `FlagAuditEvent`, the `AuditSink` Protocol, the memory sink and `FlagManager`."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from buttress.core import Clock, SystemClock, check_count, check_text

from ._model import FlagDefinition, refuse_member
from ._sources import WritableFlagSource
from ._validate import validate_flag
from .exceptions import (
    FeatureFlagsConfigurationError,
    FeatureFlagsTypeError,
    FlagExistsError,
    FlagNotFoundError,
)

__all__ = ["AuditAction", "AuditSink", "FlagAuditEvent", "FlagManager", "MemoryAuditSink"]


class AuditAction(enum.StrEnum):
    """What a management call did to a flag."""

    CREATE = "create"
    ENABLE = "enable"
    DISABLE = "disable"
    MODIFY = "modify"
    DELETE = "delete"

    @classmethod
    def _missing_(cls, value: object) -> AuditAction:
        refuse_member(cls, value)


@dataclass(frozen=True, slots=True)
class FlagAuditEvent:
    """One change to one flag.

    Attributes:
        actor: Who made the change (a user id, a service name).
        action: What was done.
        flag_key: The flag changed.
        before: The definition before the change; ``None`` for ``CREATE``.
        after: The definition after the change; ``None`` for ``DELETE``.
        timestamp: When, timezone-aware UTC.
    """

    actor: str
    action: AuditAction
    flag_key: str
    before: FlagDefinition | None
    after: FlagDefinition | None
    timestamp: datetime


@runtime_checkable
class AuditSink(Protocol):
    """**Protocol**: where `FlagAuditEvent` s are kept, queryable per flag.

    `buttress.testing.AuditSinkContract` checks an implementation.
    """

    async def record(self, event: FlagAuditEvent) -> None:
        """Store ``event`` durably before returning."""
        ...

    async def history(self, flag_key: str, *, limit: int | None = None) -> Sequence[FlagAuditEvent]:
        """Return ``flag_key``'s events, oldest first, in the order recorded; ``limit`` keeps the newest."""
        ...


def check_limit(limit: object) -> None:
    """Reject a ``limit`` that is not ``None`` or an int from 1 to ``2**63 - 1`` (a ``bigint``)."""
    if limit is not None:
        check_count("limit", limit, minimum=1, error=FeatureFlagsConfigurationError)


def check_event(event: object) -> FlagAuditEvent:
    """Reject an event whose fields do not have their documented types (it may be built by hand)."""
    if not isinstance(event, FlagAuditEvent):
        raise FeatureFlagsTypeError("event", "a FlagAuditEvent", event)
    check_text(
        "event.actor", event.actor, error=FeatureFlagsConfigurationError, type_error=FeatureFlagsTypeError
    )
    if not isinstance(event.action, AuditAction):
        raise FeatureFlagsTypeError("event.action", "an AuditAction", event.action)
    check_text(
        "event.flag_key",
        event.flag_key,
        error=FeatureFlagsConfigurationError,
        type_error=FeatureFlagsTypeError,
    )
    for name, flag in (("event.before", event.before), ("event.after", event.after)):
        if flag is not None and not isinstance(flag, FlagDefinition):
            raise FeatureFlagsTypeError(name, "a FlagDefinition or None", flag)
    moment = event.timestamp
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise FeatureFlagsConfigurationError("event.timestamp", moment, "must be a timezone-aware datetime")
    try:
        moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it: no UTC date to store
        raise FeatureFlagsConfigurationError("event.timestamp", moment, "is out of range in UTC") from None
    return event


class MemoryAuditSink:
    """An in-process `AuditSink`; events live as long as the object."""

    def __init__(self) -> None:
        self._events: dict[str, list[FlagAuditEvent]] = {}

    async def record(self, event: FlagAuditEvent) -> None:
        """Keep ``event``.

        Raises:
            FeatureFlagsTypeError: ``event`` is not a `FlagAuditEvent`, or a field has the wrong type.
            FeatureFlagsConfigurationError: A field of ``event`` is wrong.
        """
        check_event(event)
        self._events.setdefault(event.flag_key, []).append(event)

    async def history(self, flag_key: str, *, limit: int | None = None) -> Sequence[FlagAuditEvent]:
        """Return the flag's events, oldest first."""
        check_limit(limit)
        _check_key(flag_key)
        events = self._events.get(flag_key, [])
        return tuple(events if limit is None else events[-limit:])


class FlagManager:
    """The management API: every change goes to the source and emits a `FlagAuditEvent`.

    Each call writes the source first (which returns the true "before"), then records the event; a
    change is never audited unless it happened. Changes to one flag through one manager are serialized.
    Definitions are checked strictly (`validate_flag`) before anything is written: an unknown operator,
    an operand that does not parse or a rollout without a percentage raises `FlagDefinitionError`.

    Args:
        source: A `WritableFlagSource` (memory, Redis, PostgreSQL).
        audit: Where events go.
        clock: Where timestamps come from.
    """

    def __init__(self, source: WritableFlagSource, audit: AuditSink, *, clock: Clock | None = None) -> None:
        for name, value, methods in (
            ("source", source, ("get", "put", "delete")),
            ("audit", audit, ("record",)),
        ):
            if not all(callable(getattr(value, method, None)) for method in methods):
                raise FeatureFlagsTypeError(name, f"an object with {', '.join(methods)}()", value)
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise FeatureFlagsTypeError("clock", "a Clock (now())", clock)
        self.source = source
        self.audit = audit
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _emit(
        self,
        actor: str,
        action: AuditAction,
        key: str,
        before: FlagDefinition | None,
        after: FlagDefinition | None,
    ) -> FlagAuditEvent:
        timestamp = self.clock.now().astimezone(UTC)
        event = FlagAuditEvent(actor, action, key, before, after, timestamp)
        await self.audit.record(event)
        return event

    async def create(self, flag: FlagDefinition, *, actor: str) -> FlagAuditEvent:
        """Create a flag.

        Raises:
            FlagExistsError: A flag with this key exists.
        """
        _check(flag, actor)
        async with self._lock(flag.key):
            if await self.source.get(flag.key) is not None:
                raise FlagExistsError(flag.key)
            before = await self.source.put(flag)
            return await self._emit(actor, AuditAction.CREATE, flag.key, before, flag)

    async def update(self, flag: FlagDefinition, *, actor: str) -> FlagAuditEvent:
        """Replace an existing flag's definition.

        Raises:
            FlagNotFoundError: No flag has this key.
        """
        _check(flag, actor)
        async with self._lock(flag.key):
            if await self.source.get(flag.key) is None:
                raise FlagNotFoundError(flag.key)
            before = await self.source.put(flag)
            return await self._emit(actor, AuditAction.MODIFY, flag.key, before, flag)

    async def enable(self, key: str, *, actor: str) -> FlagAuditEvent:
        """Switch a flag on (its rules apply again)."""
        return await self._switch(key, actor, enabled=True)

    async def disable(self, key: str, *, actor: str) -> FlagAuditEvent:
        """Switch a flag off for everyone (the kill switch)."""
        return await self._switch(key, actor, enabled=False)

    async def _switch(self, key: str, actor: str, *, enabled: bool) -> FlagAuditEvent:
        _check_key(key)
        _check_actor(actor)
        async with self._lock(key):
            current = await self.source.get(key)
            if current is None:
                raise FlagNotFoundError(key)
            after = dataclasses.replace(current, enabled=enabled)
            before = await self.source.put(after)
            action = AuditAction.ENABLE if enabled else AuditAction.DISABLE
            return await self._emit(actor, action, key, before, after)

    async def delete(self, key: str, *, actor: str) -> FlagAuditEvent:
        """Delete a flag.

        Raises:
            FlagNotFoundError: No flag has this key.
        """
        _check_key(key)
        _check_actor(actor)
        async with self._lock(key):
            before = await self.source.delete(key)
            if before is None:
                raise FlagNotFoundError(key)
            return await self._emit(actor, AuditAction.DELETE, key, before, None)

    async def history(self, key: str, *, limit: int | None = None) -> Sequence[FlagAuditEvent]:
        """The flag's audit events, oldest first (from the audit sink)."""
        _check_key(key)
        return await self.audit.history(key, limit=limit)


def _check_actor(actor: object) -> None:
    if not isinstance(actor, str):
        raise FeatureFlagsTypeError("actor", "a str naming who makes the change", actor)
    if not actor.strip():
        raise FeatureFlagsConfigurationError(
            "actor", actor, "must be a non-empty string naming who makes the change"
        )


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise FeatureFlagsTypeError("key", "a str", key)
    if not key:
        raise FeatureFlagsConfigurationError("key", key, "must be a non-empty string")


def _check(flag: object, actor: object) -> None:
    if not isinstance(flag, FlagDefinition):
        raise FeatureFlagsTypeError("flag", "a FlagDefinition", flag)
    _check_key(flag.key)
    _check_actor(actor)
    validate_flag(flag)
