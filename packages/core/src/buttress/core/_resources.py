"""Objects that hold a pool or a client: one way to close them, owned or borrowed.

Every backend of the suite is built one of two ways: by a factory that opens its own pool or client
(``await X.connect(dsn)``, ``X.from_url(url)``), which the object then owns and closes, or around one
the application owns (``X(pool=pool)``, ``X(client=client)``), which it never closes. `AsyncResource`
gives them the same closing face: ``aclose()`` (idempotent) and ``async with``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from .exceptions import ArgumentTypeError

__all__ = ["AsyncResource", "Owned"]


class Owned[T]:
    """A pool or client, and whether closing it is ours to do.

    Args:
        value: The pool or client.
        close: How to close it when we own it (``pool.close``, ``client.aclose``); ``None`` when it is
            borrowed from the application, which closes it itself.

    Examples:
        >>> Owned("pool").owned
        False
    """

    __slots__ = ("_close", "value")

    def __init__(self, value: T, close: Callable[[], Awaitable[object]] | None = None) -> None:
        if close is not None and not callable(close):
            raise ArgumentTypeError("close", "a callable or None", close)
        self.value = value
        self._close = close

    @property
    def owned(self) -> bool:
        """Whether `release` closes the value."""
        return self._close is not None

    async def release(self) -> None:
        """Close the value if we own it (once); leave a borrowed one alone."""
        close, self._close = self._close, None
        if close is not None:
            await close()


class AsyncResource:
    """Base of every object that holds a pool, a client or a background task.

    Subclasses put their clean-up in `_aclose`; `aclose` runs it once, however often it is called,
    and ``async with`` calls it on the way out. `closed` says whether it has run.
    """

    __slots__ = ("__closed",)

    def __init__(self) -> None:
        self.__closed = False

    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self.__closed

    async def aclose(self) -> None:
        """Release what this object owns. Calling it again does nothing."""
        if self.__closed:
            return
        self.__closed = True
        await self._aclose()

    async def _aclose(self) -> None:
        """Release what this object owns (override; called once)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
