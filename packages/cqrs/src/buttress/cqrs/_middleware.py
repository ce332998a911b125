"""The `Middleware` Protocol and the onion a bus composes once per message type, at registration."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, cast

from ._dispatch import Dispatch
from .exceptions import CQRSTypeError

__all__ = ["Middleware", "Next", "after", "before"]

type Next[R] = Callable[[Dispatch], Awaitable[R]]
"""The rest of the onion: the next middleware, or the handler. Await it with the dispatch."""


class Middleware(Protocol):
    """**Protocol**: one layer of a bus's onion, around everything registered after it.

    Bus middleware (``CommandBus(middleware=[a, b])``) wraps per-type middleware
    (``register(..., middleware=[c])``), which wraps the handler: ``a`` runs first and returns
    last. A layer does its work before and after awaiting ``call_next(dispatch)``, and passes on its
    result (or raises). It may call ``call_next`` again (a retry), or not at all (a cached answer). A
    plain ``async def`` with this signature is a middleware too.

    Methods:
        __call__: Run this layer for ``dispatch``; ``call_next`` runs the rest.
    """

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        """Run this layer, calling ``call_next(dispatch)`` for the rest of the onion."""
        ...


def check_middleware(parameter: str, middleware: object) -> tuple[Middleware, ...]:
    """Return ``middleware`` as a tuple once every item is an async callable."""
    if isinstance(middleware, str | bytes) or not isinstance(middleware, Iterable):
        raise CQRSTypeError(parameter, "a sequence of middleware", middleware)
    layers = tuple(middleware)
    for layer in layers:
        call = getattr(layer, "__call__", None)  # noqa: B004 - an instance's async __call__ is what counts
        if not (inspect.iscoroutinefunction(layer) or inspect.iscoroutinefunction(call)):
            raise CQRSTypeError(parameter, "a sequence of async callables (dispatch, call_next)", layer)
    return cast("tuple[Middleware, ...]", layers)


def compose[R](layers: tuple[Middleware, ...], terminal: Next[R]) -> Next[R]:
    """The onion as one callable: each layer is bound to the next once, so a dispatch adds no closures."""
    call: Next[Any] = terminal
    for layer in reversed(layers):
        call = _bind(layer, call)
    return cast("Next[R]", call)


def _bind(layer: Middleware, inner: Next[Any]) -> Next[Any]:
    # A plain function returning the layer's coroutine: no frame of its own while the dispatch runs,
    # and a positional call (a partial with call_next= builds a kwargs dict on every call).
    method = layer if inspect.iscoroutinefunction(layer) else layer.__call__

    def run(dispatch: Dispatch) -> Awaitable[Any]:
        return method(dispatch, inner)

    return run


class _Before:
    __slots__ = ("_hook",)

    def __init__(self, hook: Callable[[Dispatch], Awaitable[None]]) -> None:
        self._hook = hook

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        await self._hook(dispatch)
        return await call_next(dispatch)


class _After:
    __slots__ = ("_hook",)

    def __init__(self, hook: Callable[[Dispatch, object], Awaitable[None]]) -> None:
        self._hook = hook

    async def __call__[R](self, dispatch: Dispatch, call_next: Next[R]) -> R:
        result = await call_next(dispatch)
        await self._hook(dispatch, result)
        return result


def before(hook: Callable[[Dispatch], Awaitable[None]]) -> Middleware:
    """A middleware that awaits ``hook(dispatch)`` before the rest of the onion (raise to stop it).

    Raises:
        CQRSTypeError: ``hook`` is not an async function.
    """
    if not inspect.iscoroutinefunction(hook):
        raise CQRSTypeError("hook", "an async function (dispatch)", hook)
    return _Before(hook)


def after(hook: Callable[[Dispatch, object], Awaitable[None]]) -> Middleware:
    """A middleware that awaits ``hook(dispatch, result)`` once the rest of the onion succeeded.

    Raises:
        CQRSTypeError: ``hook`` is not an async function.
    """
    if not inspect.iscoroutinefunction(hook):
        raise CQRSTypeError("hook", "an async function (dispatch, result)", hook)
    return _After(hook)
