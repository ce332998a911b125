"""`eventually`: poll a condition that another task, process or server makes true, instead of sleeping."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import overload

from buttress.core import check_seconds, safe_repr

from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["eventually"]

_DAY = 86_400.0


@overload
async def eventually[T](
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str | None = ...,
    ignoring: type[Exception] | tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def eventually[T](
    check: Callable[[], T],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str | None = ...,
    ignoring: type[Exception] | tuple[type[Exception], ...] = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str | None = None,
    ignoring: type[Exception] | tuple[type[Exception], ...] = (),
) -> object:
    """Call ``check`` until it returns a true value, and return that value.

    ``check`` takes no arguments and is a plain predicate (``lambda: stats.hits == 1``) or returns an
    awaitable (``lambda: cache.get("k")``, an ``async def``), which is awaited. An exception it raises
    propagates at once, unless it is one of ``ignoring`` (``ConnectionError`` while a server restarts):
    that counts as "not yet".

    It is called at once, then every ``interval`` seconds until ``timeout`` seconds have passed on the
    event loop's clock; one last call is made at the deadline. ``timeout`` bounds when polling stops,
    not one call: a call that never returns is not interrupted (bound it with its own timeout).

    Args:
        check: The condition, called with no arguments.
        timeout: Seconds to keep trying. Generous values cost nothing when the condition holds.
        interval: Seconds between calls.
        what: What should become true, for the failure message; defaults to ``check``'s name.
        ignoring: The ``Exception`` classes that mean "not yet" rather than a failure.

    Returns:
        The first true value ``check`` returned (so ``report = await eventually(probe)`` keeps it).

    Raises:
        AssertionError: ``check`` never returned a true value in time. The message names ``what``,
            the number of calls and the last value returned or ignored exception raised; that
            exception is also the error's ``__cause__``.
        TestingTypeError: ``check`` is not callable, ``what`` is not a string, or ``ignoring`` is not
            an ``Exception`` class or a tuple of them.
        TestingConfigurationError: ``timeout`` or ``interval`` is not a finite number of seconds above
            0 (at most a day).

    Examples:
        >>> import asyncio
        >>> seen: list[int] = []
        >>> async def producer() -> None:
        ...     await asyncio.sleep(0.05)
        ...     seen.append(1)
        >>> async def main() -> list[int]:
        ...     task = asyncio.create_task(producer())
        ...     found = await eventually(lambda: seen, what="the producer appended")
        ...     await task
        ...     return found
        >>> asyncio.run(main())
        [1]
    """
    if not callable(check):
        raise TestingTypeError("check", "a callable taking no arguments", check)
    if what is not None and not isinstance(what, str):
        raise TestingTypeError("what", "a string or None", what)
    ignored = _exception_classes(ignoring)
    timeout = check_seconds("timeout", timeout, maximum=_DAY, error=TestingConfigurationError)
    interval = check_seconds("interval", interval, maximum=_DAY, error=TestingConfigurationError)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    calls = 0
    while True:
        calls += 1
        value, error = await _call(check, ignored)
        if error is None and value:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _never(what or _name(check), timeout, calls, value, error)
        await asyncio.sleep(min(interval, remaining))


def _exception_classes(ignoring: object) -> tuple[type[Exception], ...]:
    classes: list[type[Exception]] = []
    for cls in ignoring if isinstance(ignoring, tuple) else (ignoring,):
        # Exception, not BaseException: a cancellation or KeyboardInterrupt is never "not yet".
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TestingTypeError("ignoring", "an Exception class or a tuple of them", ignoring)
        classes.append(cls)
    return tuple(classes)


async def _call(
    check: Callable[[], object], ignoring: tuple[type[Exception], ...]
) -> tuple[object, Exception | None]:
    """Call ``check``, awaiting what it returns if that is awaitable; an ignored exception is returned."""
    try:
        value = check()
        if inspect.isawaitable(value):
            value = await value
    except ignoring as exc:  # "not yet"; the failure's cause if it stays that way
        return None, exc
    return value, None


def _never(what: str, timeout: float, calls: int, value: object, error: Exception | None) -> AssertionError:
    if error is not None:
        last = f"the last call raised {safe_repr(error)}"
    else:
        last = f"the last value was {safe_repr(value)}"
    failure = AssertionError(f"never true within {timeout:g}s ({calls} calls): {what}; {last}")
    failure.__cause__ = error
    return failure


def _name(check: Callable[[], object]) -> str:
    name = getattr(check, "__qualname__", None)
    return name if isinstance(name, str) else safe_repr(check)
