"""Units of work: the `UnitOfWork` Protocol, `MemoryUnitOfWork`, and `TransactionMiddleware`."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from ._dispatch import Dispatch
from ._middleware import Next
from .exceptions import CQRSConfigurationError, CQRSTypeError

if TYPE_CHECKING:
    from ._outbox import EventOutbox

__all__ = ["MemoryUnitOfWork", "TransactionMiddleware", "UnitOfWork"]

logger = logging.getLogger(__name__)


class UnitOfWork(Protocol):
    """**Protocol**: one transaction: everything done in it becomes visible together, or not at all.

    A unit of work is used once: `commit` or `rollback`, then it is done. Wrap your database
    session or transaction (SQLAlchemy's ``AsyncSession``, an asyncpg transaction) in these two
    methods. `buttress.testing.UnitOfWorkContract` checks an implementation.

    Methods:
        commit: Make the work durable and visible. If it raises, nothing was committed.
        rollback: Discard the work. Called after a failure, including a failed `commit`.
    """

    async def commit(self) -> None:
        """Make the work durable and visible."""
        ...

    async def rollback(self) -> None:
        """Discard the work."""
        ...


class MemoryUnitOfWork:
    """A `UnitOfWork` in memory: staged actions run on commit, in order, and are dropped on rollback.

    It makes in-memory repositories (and `MemoryOutbox`) transactional for tests and first tries:
    a repository stages its writes with `on_commit` instead of applying them.

    Examples:
        >>> store: dict[str, int] = {}
        >>> unit = MemoryUnitOfWork()
        >>> unit.on_commit(lambda: store.update(a=1))
        >>> store
        {}
    """

    __slots__ = ("_actions", "state")

    def __init__(self) -> None:
        self._actions: list[Callable[[], object]] = []
        self.state = "open"
        """``"open"``, ``"committed"`` or ``"rolled back"``."""

    def on_commit(self, action: Callable[[], object]) -> None:
        """Stage ``action``: it runs when the unit commits, never if it rolls back.

        Raises:
            CQRSTypeError: ``action`` is not callable.
            CQRSConfigurationError: The unit is no longer open.
        """
        if not callable(action):
            raise CQRSTypeError("action", "a callable", action)
        self._check_open()
        self._actions.append(action)

    def _check_open(self) -> None:
        if self.state != "open":
            raise CQRSConfigurationError("unit_of_work", self.state, "is used once: it is no longer open")

    async def commit(self) -> None:
        """Run the staged actions in order (with no await between them, so no task sees half)."""
        self._check_open()
        actions, self._actions = self._actions, []
        self.state = "committed"
        for action in actions:
            action()

    async def rollback(self) -> None:
        """Drop the staged actions. Rolling back a committed unit does nothing."""
        if self.state == "open":
            self._actions.clear()
            self.state = "rolled back"


class TransactionMiddleware:
    """Runs the rest of the onion in a unit of work: commit on success, rollback on any error.

    With an ``outbox``, the events the command recorded are put into it inside the unit of work,
    before the commit, and taken off the dispatch, so the bus does not also publish them in process:
    they are published later by an `OutboxRelay`, once they are durable. Without one, they stay on
    the dispatch and the bus publishes them after this layer has committed. Either way, a command
    whose unit of work rolled back publishes nothing.

    Args:
        unit_of_work: Makes the unit of work for a dispatch (``async def``; it can ask the dispatch
            for scoped dependencies: ``lambda d: d.get(SessionUnitOfWork)``).
        outbox: Where the events go, inside the unit of work (an `EventOutbox`).
    """

    __slots__ = ("_begin", "_outbox")

    def __init__(
        self, unit_of_work: Callable[[Dispatch], Awaitable[UnitOfWork]], *, outbox: EventOutbox | None = None
    ) -> None:
        if not callable(unit_of_work):
            raise CQRSTypeError("unit_of_work", "an async callable (dispatch) -> UnitOfWork", unit_of_work)
        if outbox is not None and not inspect.iscoroutinefunction(getattr(outbox, "put", None)):
            raise CQRSTypeError("outbox", "an EventOutbox or None", outbox)
        self._begin = unit_of_work
        self._outbox = outbox

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        unit = await self._begin(dispatch)
        if not (callable(getattr(unit, "commit", None)) and callable(getattr(unit, "rollback", None))):
            raise CQRSTypeError("unit_of_work", "a callable returning a UnitOfWork", unit)
        try:
            result = await call_next(dispatch)
            if self._outbox is not None:
                events = dispatch.take_events()
                if events:
                    await self._outbox.put(events, unit)
            await unit.commit()
        except BaseException:
            try:
                await unit.rollback()
            except Exception:
                logger.exception("rollback failed after %s failed", type(dispatch.message).__qualname__)
            raise
        return result
