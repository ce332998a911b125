"""The pool's books: every resource's `State`, the counts per state and the invariant they keep.

Each tracked resource sits in a `_Slot` in exactly one state. `Ledger.move` is the one place a state
and the counts change, and it checks after every change that the counts add up to the resources
tracked and that these are no more than ``max_size``.
"""

from __future__ import annotations

import asyncio
import enum
import math
from dataclasses import dataclass

from .exceptions import PoolConfigurationError, PoolInvariantViolation

__all__ = ["Counters", "Ledger", "PoolStats", "Slot", "State"]


class State(enum.Enum):
    """Where a pooled resource is. Every resource the pool tracks is in exactly one."""

    IDLE = "idle"
    """Ready to be handed out."""
    IN_USE = "in_use"
    """Handed out to a caller, or being checked or reset by the pool."""
    CREATING = "creating"
    """``create()`` is running for it."""
    DESTROYING = "destroying"
    """``destroy()`` is running for it."""
    UNHEALTHY = "unhealthy"
    """It failed its check and is about to be destroyed."""

    # Members are singletons compared by identity; Enum's own __hash__ is Python code, and the
    # counters look states up several times per acquire and release.
    __hash__ = object.__hash__

    @classmethod
    def _missing_(cls, value: object) -> State:
        names = ", ".join(repr(state.value) for state in cls)
        raise PoolConfigurationError("state", value, f"not a State; use one of {names}")


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of a pool.

    Attributes:
        idle: Resources ready to hand out.
        in_use: Resources handed out (or being checked or reset).
        creating: Resources being created.
        destroying: Resources being destroyed.
        unhealthy: Resources that failed a check, about to be destroyed.
        total: All of the above; never more than ``max_size``.
        min_size: The configured minimum.
        max_size: The configured maximum.
        waiting: Callers waiting for a resource now.
        acquired: Resources handed out since the pool was made.
        released: Resources given back.
        timeouts: Acquires that timed out.
        exhausted: Acquires refused because ``max_waiting`` callers were already waiting.
        created: Resources created.
        destroyed: Resources destroyed.
        create_errors: ``create()`` calls that failed.
        destroy_errors: ``destroy()`` calls that failed.
        check_failures: Health checks that failed.
        reset_failures: Resets that failed.
        wait_time_total: Seconds callers spent waiting in ``acquire``, summed.
        wait_time_max: The longest single wait, in seconds.
    """

    idle: int
    in_use: int
    creating: int
    destroying: int
    unhealthy: int
    total: int
    min_size: int
    max_size: int
    waiting: int
    acquired: int
    released: int
    timeouts: int
    exhausted: int
    created: int
    destroyed: int
    create_errors: int
    destroy_errors: int
    check_failures: int
    reset_failures: int
    wait_time_total: float
    wait_time_max: float


@dataclass(eq=False, slots=True)
class Slot[R]:
    """One tracked resource: its state, and the times that decide when it retires."""

    number: int
    state: State | None = None
    resource: R | None = None
    expires_at: float = math.inf
    idle_since: float = 0.0
    generation: int = 0


@dataclass(slots=True)
class Counters:
    """The running totals behind `PoolStats`."""

    acquired: int = 0
    released: int = 0
    timeouts: int = 0
    exhausted: int = 0
    created: int = 0
    destroyed: int = 0
    create_errors: int = 0
    destroy_errors: int = 0
    check_failures: int = 0
    reset_failures: int = 0
    wait_time_total: float = 0.0
    wait_time_max: float = 0.0


class Ledger[R]:
    """The slots a pool tracks, the count per state, and the invariant between them.

    Args:
        max_size: The pool's ``max_size``; `resize` changes it.
    """

    __slots__ = ("by_resource", "capacity", "counts", "max_size", "nothing_in_use", "slots", "totals")

    def __init__(self, max_size: int) -> None:
        self.slots: dict[int, Slot[R]] = {}
        self.by_resource: dict[int, Slot[R]] = {}
        self.counts = dict.fromkeys(State, 0)
        self.max_size = max_size
        # Above max_size only while a shrink waits for surplus resources in use to come back.
        self.capacity = max_size
        self.nothing_in_use = asyncio.Event()
        self.nothing_in_use.set()
        self.totals = Counters()

    def resize(self, max_size: int) -> None:
        """Take a new ``max_size``; the resources beyond it stay counted until they are destroyed."""
        self.max_size = max_size
        self.capacity = max(max_size, len(self.slots))

    def move(self, slot: Slot[R], new: State | None) -> None:
        """The one place a resource's state and the counts change; checks the invariant after.

        ``new=None`` removes the slot (after destruction, or a failed creation).
        """
        old = slot.state
        counts = self.counts
        if old is None:
            self.slots[slot.number] = slot
        else:
            counts[old] -= 1
        if new is None:
            del self.slots[slot.number]
            if slot.resource is not None:
                self.by_resource.pop(id(slot.resource), None)
            if self.capacity > self.max_size:
                self.capacity = max(self.max_size, len(self.slots))
        else:
            counts[new] += 1
        slot.state = new
        if counts[State.IN_USE] == 0:
            self.nothing_in_use.set()
        else:
            self.nothing_in_use.clear()
        self.check()

    def check(self) -> None:
        """Raise `PoolInvariantViolation`, with every count, if the books do not add up."""
        total = len(self.slots)
        counted = sum(self.counts.values())
        if counted != total or total > self.capacity or min(self.counts.values()) < 0:
            counts = {state.value: count for state, count in self.counts.items()}
            counts |= {"total": total, "max_size": self.max_size}
            reason = (
                "idle + in_use + creating + destroying + unhealthy != total"
                if counted != total
                else "total > max_size"
                if total > self.capacity
                else "a negative count"
            )
            raise PoolInvariantViolation(reason, counts)

    def in_state(self, state: State) -> list[Slot[R]]:
        """The slots in ``state`` now."""
        return [slot for slot in self.slots.values() if slot.state is state]

    def stats(self, min_size: int, waiting: int) -> PoolStats:
        """A snapshot of the counts and totals."""
        c, n = self.totals, self.counts
        return PoolStats(
            idle=n[State.IDLE],
            in_use=n[State.IN_USE],
            creating=n[State.CREATING],
            destroying=n[State.DESTROYING],
            unhealthy=n[State.UNHEALTHY],
            total=len(self.slots),
            min_size=min_size,
            max_size=self.max_size,
            waiting=waiting,
            acquired=c.acquired,
            released=c.released,
            timeouts=c.timeouts,
            exhausted=c.exhausted,
            created=c.created,
            destroyed=c.destroyed,
            create_errors=c.create_errors,
            destroy_errors=c.destroy_errors,
            check_failures=c.check_failures,
            reset_failures=c.reset_failures,
            wait_time_total=c.wait_time_total,
            wait_time_max=c.wait_time_max,
        )
