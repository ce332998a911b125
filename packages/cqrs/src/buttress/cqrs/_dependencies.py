"""Scoped dependencies per dispatch: the `DependencyProvider` Protocol and `Dependencies`, its default.

A bus opens one scope per dispatch, the first time something asks it for a dependency, and closes
it when the dispatch ends (with the error, if the dispatch failed), so a database session made for
one command is shared by its handler and its unit of work and closed after it. Any DI container fits
behind the two small Protocols below.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Protocol, Self, cast

from .exceptions import CQRSConfigurationError, CQRSTypeError

__all__ = ["Dependencies", "DependencyProvider", "DependencyScope"]


class DependencyScope(Protocol):
    """**Protocol**: the dependencies of one dispatch.

    Methods:
        get: The instance of ``kind`` for this scope: the same object each time it is asked within
            the scope. A kind the scope cannot provide raises an error of its choice.
    """

    async def get[T](self, kind: type[T]) -> T:
        """Return this scope's instance of ``kind``."""
        ...


class DependencyProvider(Protocol):
    """**Protocol**: where a bus's dispatches get their dependencies (any DI container).

    Methods:
        scope: A new scope, entered when a dispatch first asks for a dependency and exited when the
            dispatch ends, with the dispatch's error if it failed (so a session can roll back).
    """

    def scope(self) -> AbstractAsyncContextManager[DependencyScope]:
        """Return a new, unentered scope."""
        ...


type Factory[T] = Callable[[DependencyScope], AbstractAsyncContextManager[T] | Awaitable[T] | T]
"""Makes a scoped dependency once per scope: an async context manager (entered, and exited when the
scope ends), an awaitable (awaited) or the instance itself."""


class Dependencies:
    """The embedded `DependencyProvider`: shared values and per-scope factories, looked up by type.

    Examples:
        >>> from contextlib import asynccontextmanager
        >>> @asynccontextmanager
        ... async def session(scope):
        ...     yield {"open": True}  # the real thing: async with sessionmaker() as s: yield s
        >>> dependencies = Dependencies().value(str, "config").scoped(dict, session)
    """

    __slots__ = ("_factories", "_values")

    def __init__(self) -> None:
        self._values: dict[type, object] = {}
        self._factories: dict[type, Factory[object]] = {}

    def value[T](self, kind: type[T], value: T) -> Self:
        """Provide ``value`` for ``kind`` in every scope (a singleton). Returns ``self``.

        Raises:
            CQRSTypeError: ``kind`` is not a class.
            CQRSConfigurationError: ``kind`` is provided already.
        """
        self._claim(kind)
        self._values[kind] = value
        return self

    def scoped[T](self, kind: type[T], factory: Factory[T]) -> Self:
        """Provide ``kind`` from ``factory(scope)``, called once per scope on first use. Returns ``self``.

        ``factory`` may return the instance, an awaitable of it, or an async context manager (an
        ``@asynccontextmanager`` function fits): then what it yields is the scope's instance, and it
        is exited, newest first, when the scope ends, with the dispatch's error if it failed.

        Raises:
            CQRSTypeError: ``kind`` is not a class or ``factory`` is not callable.
            CQRSConfigurationError: ``kind`` is provided already.
        """
        if not callable(factory):
            raise CQRSTypeError("factory", "a callable returning an async context manager", factory)
        self._claim(kind)
        self._factories[kind] = cast("Factory[object]", factory)
        return self

    def _claim(self, kind: object) -> None:
        if not isinstance(kind, type):
            raise CQRSTypeError("kind", "a class", kind)
        if kind in self._values or kind in self._factories:
            raise CQRSConfigurationError("kind", kind.__qualname__, "is provided already")

    def scope(self) -> _Scope:
        """A new scope over these values and factories."""
        return _Scope(self._values, self._factories)


class _Scope:
    """One scope of `Dependencies`: scoped instances made on first use, closed newest first."""

    __slots__ = ("_closed", "_factories", "_instances", "_lock", "_stack", "_values")

    def __init__(self, values: dict[type, object], factories: dict[type, Factory[object]]) -> None:
        self._values = values
        self._factories = factories
        self._instances: dict[type, object] = {}
        self._stack = AsyncExitStack()
        self._lock: asyncio.Lock | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._closed = True
        self._instances.clear()
        return bool(await self._stack.__aexit__(exc_type, exc, tb))

    async def get[T](self, kind: type[T]) -> T:
        """Return this scope's instance of ``kind``, entering its factory on first use.

        Raises:
            CQRSTypeError: ``kind`` is not a class.
            CQRSConfigurationError: ``kind`` is not provided, or the scope has ended.
        """
        if not isinstance(kind, type):
            raise CQRSTypeError("kind", "a class", kind)
        if kind in self._values:
            return cast("T", self._values[kind])
        if kind in self._instances:
            return cast("T", self._instances[kind])
        factory = self._factories.get(kind)
        if factory is None:
            raise CQRSConfigurationError(
                "kind", kind.__qualname__, "is not provided: add it with Dependencies.value() or .scoped()"
            )
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # two tasks of one dispatch asking at once get one instance
            if self._closed:
                raise CQRSConfigurationError("kind", kind.__qualname__, "was asked for after its scope ended")
            if kind not in self._instances:
                self._instances[kind] = await self._make(factory)
            return cast("T", self._instances[kind])

    async def _make(self, factory: Factory[object]) -> object:
        made = factory(self)
        if hasattr(made, "__aenter__") and hasattr(made, "__aexit__"):
            return await self._stack.enter_async_context(cast("AbstractAsyncContextManager[object]", made))
        if inspect.isawaitable(made):
            return await made
        return made
