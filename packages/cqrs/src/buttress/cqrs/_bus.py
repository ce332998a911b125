"""`CommandBus` and `QueryBus`: one handler per message type, resolved at registration, typed end to end."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, NoReturn, overload

from buttress.core import (
    CacheProvider,
    Command,
    CommandHandler,
    EventHandler,
    Query,
    QueryHandler,
    check_text,
)

from ._caching import Cached, QueryCache
from ._dependencies import DependencyProvider
from ._dispatch import Dispatch, Kind, new_dispatch
from ._events import EventBus, check_event_handler
from ._middleware import Middleware, Next, check_middleware, compose
from .exceptions import CQRSConfigurationError, CQRSTypeError, DuplicateHandlerError, HandlerNotFoundError

__all__ = ["CommandBus", "QueryBus"]

logger = logging.getLogger(__name__)

_UNSET: Final[Any] = object()


def _check_provider(provider: object) -> DependencyProvider | None:
    if provider is not None and not callable(getattr(provider, "scope", None)):
        raise CQRSTypeError("provider", "a DependencyProvider (with scope()) or None", provider)
    return provider  # type: ignore[return-value]


class _Bus:
    """What both buses share: the routes, each the whole onion for one message type."""

    __slots__ = ("_base", "_kind", "_middleware", "_provider", "_routes")

    def __init__(self, kind: Kind, base: type, middleware: Sequence[Middleware], provider: object) -> None:
        self._kind: Kind = kind
        self._base = base
        self._middleware = check_middleware("middleware", middleware)
        self._provider = _check_provider(provider)
        self._routes: dict[type, Next[Any]] = {}

    @property
    def message_types(self) -> frozenset[type]:
        """The message types that have a handler."""
        return frozenset(self._routes)

    def __contains__(self, message_type: object) -> bool:
        return isinstance(message_type, type) and message_type in self._routes

    def _terminal(self, handler: object, factory: object) -> Next[Any]:
        if (handler is _UNSET) == (factory is _UNSET):
            raise CQRSConfigurationError(
                "handler", None, "pass a handler instance or factory=, not both or neither"
            )
        if factory is _UNSET:
            handle = getattr(handler, "handle", None)
            if isinstance(handler, type) or not inspect.iscoroutinefunction(handle):
                raise CQRSTypeError(
                    "handler", "an instance with async handle() (pass a class through factory=)", handler
                )
            return lambda dispatch: handle(dispatch.message)
        if not callable(factory):
            raise CQRSTypeError("factory", "an async callable (dispatch) -> handler", factory)
        make: Callable[[Dispatch], Awaitable[Any]] = factory

        async def resolve(dispatch: Dispatch) -> Any:  # noqa: ANN401 - the handler's result
            built = await make(dispatch)
            handle = getattr(built, "handle", None)
            if not callable(handle):
                raise CQRSTypeError("factory", "a callable returning a handler with handle()", built)
            return await handle(dispatch.message)

        return resolve

    def _check_type(self, message_type: object) -> type:
        if not isinstance(message_type, type) or not issubclass(message_type, self._base):
            raise CQRSTypeError(f"{self._kind}_type", f"a subclass of {self._base.__name__}", message_type)
        if message_type in self._routes:
            raise DuplicateHandlerError(message_type)
        return message_type

    def _add(self, message_type: type, terminal: Next[Any], middleware: Sequence[Middleware]) -> None:
        own = check_middleware("middleware", middleware)
        self._routes[message_type] = compose((*self._middleware, *own), terminal)

    def _missing(self, message: object) -> NoReturn:
        raise HandlerNotFoundError(self._kind, type(message))

    async def _finish(self, dispatch: Dispatch, route: Next[Any]) -> Any:  # noqa: ANN401
        """Run ``route`` for a dispatch that may open a dependency scope, and close the scope."""
        try:
            result = await route(dispatch)
        except BaseException as exc:
            await dispatch._close(exc)
            raise
        await dispatch._close(None)
        return result


class CommandBus(_Bus):
    """Sends each command to the one handler registered for its type, through the middleware onion.

    Events the handler records (`Dispatch.record`) are published to ``events`` once the whole onion
    returned, so after any `TransactionMiddleware` committed, and never when anything raised.

    Args:
        middleware: Layers around every command, outermost first.
        events: Where recorded events go after success: an `EventBus`, or any core `EventHandler`.
            A failure there is logged, never raised: the command has committed. (For delivery that
            survives a crash, an outbox takes the events inside the transaction instead.)
        provider: Where a dispatch's scoped dependencies come from (`Dependencies`, or a container).

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Rename(Command[str]):
        ...     name: str
        >>> class RenameHandler:
        ...     async def handle(self, command: Rename) -> str:
        ...         return command.name.title()
        >>> bus = CommandBus()
        >>> bus.register(Rename, RenameHandler())
    """

    __slots__ = ("_events",)

    def __init__(
        self,
        *,
        middleware: Sequence[Middleware] = (),
        events: EventHandler[object] | None = None,
        provider: DependencyProvider | None = None,
    ) -> None:
        super().__init__("command", Command, middleware, provider)
        self._events = None if events is None else check_event_handler("events", events)

    @overload
    def register[C: Command[Any], R](
        self, command_type: type[C], handler: CommandHandler[C, R], *, middleware: Sequence[Middleware] = ()
    ) -> None: ...

    @overload
    def register[C: Command[Any], R](
        self,
        command_type: type[C],
        *,
        factory: Callable[[Dispatch], Awaitable[CommandHandler[C, R]]],
        middleware: Sequence[Middleware] = (),
    ) -> None: ...

    def register(
        self,
        command_type: type[Any],
        handler: Any = _UNSET,
        *,
        factory: Any = _UNSET,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        """Make ``handler`` (or one ``factory(dispatch)`` builds per dispatch) handle ``command_type``.

        The onion for the type (bus middleware, then ``middleware``, then the handler) is composed
        here, so `send` only looks the type up.

        Raises:
            CQRSTypeError: ``command_type`` is not a `Command` subclass, ``handler`` has no async
                ``handle``, or a middleware is not an async callable.
            DuplicateHandlerError: ``command_type`` has a handler already.
        """
        checked = self._check_type(command_type)
        self._add(checked, self._terminal(handler, factory), middleware)

    async def send[R](self, command: Command[R]) -> R:
        """Run ``command`` through the onion to its handler; publish its events if all succeeded.

        Raises:
            HandlerNotFoundError: No handler is registered for ``type(command)``.
        """
        route = self._routes.get(type(command)) or self._missing(command)
        dispatch = new_dispatch(command, "command", self._provider)
        if self._provider is None:
            result = await route(dispatch)
        else:
            result = await self._finish(dispatch, route)
        if dispatch._events:
            await self._publish(dispatch)
        return result  # type: ignore[no-any-return]

    async def _publish(self, dispatch: Dispatch) -> None:
        events = dispatch.take_events()
        name = type(dispatch.message).__qualname__
        if self._events is None:
            logger.warning(
                "%d event(s) recorded by %s were dropped: the bus has no events=", len(events), name
            )
            return
        for event in events:
            try:
                await self._events.handle(event)
            except Exception as exc:  # noqa: BLE001 - the command committed; its caller gets its result
                logger.warning("publishing %s after %s failed: %s", type(event).__qualname__, name, exc)


class QueryBus(_Bus):
    """Asks each query of the one handler registered for its type, through the middleware onion.

    Args:
        middleware: Layers around every query, outermost first.
        provider: Where a dispatch's scoped dependencies come from.
        cache: Where the answers of query types registered with ``cache=Cached(...)`` are kept.
        events: The `EventBus` whose events invalidate cached answers (`Cached.invalidated_by`).
        cache_prefix: Prepended to every cache key (then the query type's module and name).
    """

    __slots__ = ("_cache", "_event_bus")

    def __init__(
        self,
        *,
        middleware: Sequence[Middleware] = (),
        provider: DependencyProvider | None = None,
        cache: CacheProvider[Any] | None = None,
        events: EventBus | None = None,
        cache_prefix: str = "cqrs:",
    ) -> None:
        super().__init__("query", Query, middleware, provider)
        prefix = check_text("cache_prefix", cache_prefix, max_bytes=200, error=CQRSConfigurationError)
        if cache is not None and not all(callable(getattr(cache, m, None)) for m in ("get", "set", "delete")):
            raise CQRSTypeError("cache", "a CacheProvider or None", cache)
        if events is not None and not isinstance(events, EventBus):
            raise CQRSTypeError("events", "an EventBus or None", events)
        self._cache = None if cache is None else QueryCache(cache, prefix)
        self._event_bus = events

    @overload
    def register[Q: Query[Any], R](
        self,
        query_type: type[Q],
        handler: QueryHandler[Q, R],
        *,
        middleware: Sequence[Middleware] = (),
        cache: Cached[Q] | None = None,
    ) -> None: ...

    @overload
    def register[Q: Query[Any], R](
        self,
        query_type: type[Q],
        *,
        factory: Callable[[Dispatch], Awaitable[QueryHandler[Q, R]]],
        middleware: Sequence[Middleware] = (),
        cache: Cached[Q] | None = None,
    ) -> None: ...

    def register(
        self,
        query_type: type[Any],
        handler: Any = _UNSET,
        *,
        factory: Any = _UNSET,
        middleware: Sequence[Middleware] = (),
        cache: Cached[Any] | None = None,
    ) -> None:
        """Make ``handler`` (or one ``factory`` builds per dispatch) the handler of ``query_type``.

        With ``cache``, answers are kept in the bus's cache under the policy's key and TTL, innermost
        in the onion (middleware still runs on a hit), and deleted when an event the policy names is
        published on the bus's `EventBus`.

        Raises:
            CQRSTypeError: ``query_type`` is not a `Query` subclass, ``handler`` has no async
                ``handle``, or ``cache`` is not a `Cached`.
            CQRSConfigurationError: ``cache`` is given but the bus has no cache (or no event bus for
                its invalidations), or the query type cannot be keyed.
            DuplicateHandlerError: ``query_type`` has a handler already.
        """
        checked = self._check_type(query_type)
        terminal = self._terminal(handler, factory)
        if cache is not None:
            terminal = self._cached(checked, cache, terminal)
        self._add(checked, terminal, middleware)

    def _cached(self, query_type: type, policy: object, terminal: Next[Any]) -> Next[Any]:
        if not isinstance(policy, Cached):
            raise CQRSTypeError("cache", "a Cached policy or None", policy)
        if self._cache is None:
            raise CQRSConfigurationError("cache", None, "this bus has no cache: pass QueryBus(cache=...)")
        wrapped = self._cache.wrap(query_type, policy, terminal)
        if not policy.invalidations:
            return wrapped
        if self._event_bus is None:
            raise CQRSConfigurationError(
                "cache", None, "the policy is invalidated by events but the bus has none: pass events="
            )
        for event_type, queries in policy.invalidations:
            self._event_bus.subscribe(event_type, self._cache.invalidator(query_type, policy, queries))
        return wrapped

    async def ask[R](self, query: Query[R]) -> R:
        """Run ``query`` through the onion to its handler (or its cached answer) and return the answer.

        Raises:
            HandlerNotFoundError: No handler is registered for ``type(query)``.
        """
        route = self._routes.get(type(query)) or self._missing(query)
        dispatch = new_dispatch(query, "query", self._provider)
        if self._provider is None:
            return await route(dispatch)  # type: ignore[no-any-return]
        return await self._finish(dispatch, route)  # type: ignore[no-any-return]
