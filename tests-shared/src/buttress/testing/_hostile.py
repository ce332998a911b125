"""Drive public entry points with hostile arguments and fail on any error that is not typed.

The suite's rule is that no input reaches a caller, a server or a log as an untyped exception: bad
input gets the package's own error (a `ButtressError`, which is also a ``ValueError`` or
``TypeError`` where that is the meaning). These helpers turn that rule into a test a package can run
over every public function, constructor, method and ASGI/WSGI application::

    from buttress.testing import check_hostile, acheck_hostile, check_hostile_asgi

    def test_constructor_rejects_bad_input_with_typed_errors() -> None:
        check_hostile(MemoryCache, max_size=100, ttl=60.0)

    async def test_get_rejects_bad_input_with_typed_errors(cache: RedisCache[str]) -> None:
        await acheck_hostile(cache.get, "key")

    async def test_middleware_never_answers_5xx() -> None:
        await check_hostile_asgi(CSPMiddleware(hello_app, policy=POLICY))

Each example replaces a non-empty subset of the call's parameters (the positional arguments given
and every parameter of the signature that can be passed by keyword, except those named in ``keep``)
by a hostile value: a wrong type, a huge or non-finite number, NUL, a lone surrogate, CR/LF,
non-UTF-8 bytes or a very long string. The call fails the test when it raises anything but a
`ButtressError` (or a type in ``allowed``), when it logs an untyped exception at ERROR level, or
when it does not finish within ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import types
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

from buttress.core import ButtressError, check_seconds

from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["acheck_hostile", "check_hostile", "hostile_values"]

DEFAULT_TIMEOUT = 10.0
_MAX_ITEMS = 64  # items consumed from a generator the target returns: errors may wait for iteration

_HOSTILE_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "a\r\nInjected: 1",
    "\n",
    "\ud800",
    "x\udfffy",
    "\udcff\udcfe",
    "\ufeff",
    "\u202e",
    "\U0010ffff",
    "%00",
    "%",
    "%zz",
    "../../etc/passwd",
    "{}",
    "{{",
    "{{ 7*7 }}",
    "%s%s%s%n",
    "'; DROP TABLE x; --",
    "-",
    "*",
    "\\",
    '"',
    "nan",
    "inf",
    "-1",
    "1e400",
    "0x10",
    "fe80::1%\u00fc",
)
# Long values are built on demand, so a strategy's repr (shown in failures) stays short.
_LONG_VALUES: tuple[tuple[str | bytes, int], ...] = (
    ("x", 100_000),
    ("\u00e9", 10_000),
    ("\ud800", 1_000),
    (b"\x80", 10_000),
)
_HOSTILE_NUMBERS: tuple[object, ...] = (
    0,
    -1,
    -(2**31),
    2**31,
    2**63,
    2**64,
    10**400,
    -(10**400),
    0.0,
    -0.0,
    -1.0,
    1e-320,
    1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("1e999999"),
    1j,
    True,
    False,
)
_HOSTILE_BYTES: tuple[bytes | bytearray | memoryview, ...] = (
    b"",
    b"\x00",
    b"\xff\xfe\xfd",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\r\n",
    bytearray(b"\xff"),
    memoryview(b"\xfe"),
)


class _Opaque:
    """An object of a type no public API expects; its repr and str are ordinary."""

    def __repr__(self) -> str:
        return "<opaque>"


def _wrong_types() -> tuple[object, ...]:
    return (
        None,
        _Opaque(),
        object,
        [],
        ["x"],
        {},
        {"\x00": None},
        (),
        set(),
        frozenset({1}),
        lambda: None,
        len,
        ValueError("boom"),
        type,
        Ellipsis,
        NotImplemented,
        range(3),
    )


def hostile_values(*, relative_paths: bool = True) -> st.SearchStrategy[object]:
    """Hypothesis strategy: values no well-checked public API may fail on with an untyped exception.

    Wrong types, huge, negative and non-finite numbers, NUL, lone surrogates, CR/LF, non-UTF-8
    bytes, very long strings, and random text and bytes of every kind, including surrogates.

    Args:
        relative_paths: Leave out text and bytes that would name a place outside the working
            directory (absolute, ``~`` or ``..``). On by default, because a target that writes a
            file where it is told would otherwise write over the machine's own files (one wrote
            over ``/etc/passwd`` through ``../../etc/passwd``); drive such targets from a temporary
            working directory too (``monkeypatch.chdir(tmp_path)``). Turn it off only for targets
            that never touch the file system, to include path-traversal strings.

    Returns:
        A strategy to draw hostile values from.

    Raises:
        TestingTypeError: ``relative_paths`` is not a bool.
    """
    if relative_paths is not True and relative_paths is not False:
        raise TestingTypeError("relative_paths", "a bool", relative_paths)
    any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\x00\r\n\t"))
    values = st.one_of(
        st.sampled_from(_HOSTILE_STRINGS),
        st.sampled_from(_LONG_VALUES).map(lambda unit_count: unit_count[0] * unit_count[1]),
        st.sampled_from(_HOSTILE_NUMBERS),
        st.sampled_from(_HOSTILE_BYTES),
        st.builds(_wrong_types).flatmap(st.sampled_from),
        st.text(any_char, max_size=40),
        st.binary(max_size=40),
        st.integers(),
        st.floats(),
        st.lists(st.one_of(st.text(any_char, max_size=8), st.integers(), st.none()), max_size=4),
        st.dictionaries(
            st.text(any_char, max_size=8), st.one_of(st.text(max_size=8), st.integers()), max_size=3
        ),
    )
    return values.filter(_stays_here) if relative_paths else values


def _stays_here(value: object) -> bool:
    """Whether a value, read as a path, stays below the working directory."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("latin-1")
    if not isinstance(value, str):
        return True
    return not (value.startswith(("/", "\\", "~")) or ".." in value)


@dataclass(frozen=True)
class _Slot:
    """One parameter a hostile value can take the place of: a positional index or a keyword."""

    index: int | None
    name: str

    def __repr__(self) -> str:
        return self.name


def _slots(
    target: Callable[..., object], args: Sequence[object], kwargs: Mapping[str, object], keep: Collection[str]
) -> list[_Slot]:
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    slots: list[_Slot] = []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for index in range(len(args)):
        name = positional[index].name if index < len(positional) else f"args[{index}]"
        if name not in keep:
            slots.append(_Slot(index, name))
    taken = {s.name for s in slots} | {p.name for p in positional[: len(args)]}
    for name in kwargs:
        if name not in keep and name not in taken:
            slots.append(_Slot(None, name))
            taken.add(name)
    slots.extend(
        _Slot(None, p.name)
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in taken and p.name not in keep
    )
    return slots


def _describe(target: Callable[..., object]) -> str:
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    return str(name)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...<{len(text)} chars>"


class ErrorLogs(logging.Handler):
    """Collects log records at ERROR or above that carry an exception that is not typed."""

    def __init__(self, allowed: tuple[type[BaseException], ...]) -> None:
        super().__init__(logging.ERROR)
        self.allowed = allowed
        self.untyped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        info = record.exc_info
        if info and info[1] is not None and not isinstance(info[1], self.allowed):
            self.untyped.append(f"{record.name}: {type(info[1]).__name__}: {info[1]}")


async def _settle(result: object, timeout: float) -> None:
    """Await, iterate or enter what the target returned, so errors deferred until then surface."""
    async with asyncio.timeout(timeout):
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, types.AsyncGeneratorType):
            try:
                count = 0
                async for _ in result:
                    count += 1
                    if count >= _MAX_ITEMS:
                        break
            finally:
                await result.aclose()


def _drain(result: object) -> None:
    if isinstance(result, types.GeneratorType):
        try:
            for count, _ in enumerate(result, 1):
                if count >= _MAX_ITEMS:
                    break
        finally:
            result.close()


def _needs_loop(result: object) -> bool:
    return inspect.isawaitable(result) or isinstance(result, types.AsyncGeneratorType)


def _verdict(
    call: str, exc: BaseException | None, logs: ErrorLogs, allowed: tuple[type[BaseException], ...]
) -> None:
    if exc is not None:
        if isinstance(exc, TimeoutError) and not isinstance(exc, allowed):
            raise AssertionError(f"{call} did not finish in time") from exc
        if not isinstance(exc, allowed):
            raise AssertionError(
                f"{call} raised an untyped {type(exc).__module__}.{type(exc).__qualname__}: {exc!s:.300}"
            ) from exc
        # A typed error must render: a message that cannot be printed is a second bug.
        str(exc)
        repr(exc)
    if logs.untyped:
        raise AssertionError(f"{call} logged an untyped exception: {logs.untyped[0]:.300}")


def _judge(
    name: str,
    replaced: Mapping[_Slot, object],
    typed: tuple[type[BaseException], ...],
    call: Callable[[], object],
) -> None:
    """Make one call with ERROR logs watched, and fail unless it ended well or with a typed error."""
    shown = f"{name}({', '.join(f'{s.name}={_short(v)}' for s, v in replaced.items())})"
    logs = ErrorLogs(typed)
    root = logging.getLogger()
    root.addHandler(logs)
    error: BaseException | None = None
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the verdict sorts typed from untyped
        error = exc
    finally:
        root.removeHandler(logs)
    _verdict(shown, error, logs, typed)


def _hostile_arguments(
    slots: list[_Slot], values: st.SearchStrategy[object]
) -> st.SearchStrategy[dict[_Slot, object]]:
    chosen = st.lists(st.sampled_from(slots), min_size=1, max_size=min(3, len(slots)), unique=True)
    return chosen.flatmap(lambda picked: st.fixed_dictionaries(dict.fromkeys(picked, values)))


def _apply(
    args: Sequence[object], kwargs: Mapping[str, object], replaced: Mapping[_Slot, object]
) -> tuple[list[object], dict[str, object]]:
    new_args = list(args)
    new_kwargs = dict(kwargs)
    for slot, value in replaced.items():
        if slot.index is not None:
            new_args[slot.index] = value
        else:
            new_kwargs[slot.name] = value
    return new_args, new_kwargs


def run_quietly(test: Callable[[], None]) -> None:
    """Run a hypothesis test without its warning about long reprs: hostile values are long on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Generating overly large repr", HypothesisWarning)
        test()


def checked_names(parameter: str, value: object) -> frozenset[str]:
    """``keep``: a collection of parameter names (not a str, whose letters would be names)."""
    if isinstance(value, str) or not isinstance(value, Collection):
        raise TestingTypeError(parameter, "a collection of parameter names", value)
    names = tuple(value)
    if not all(isinstance(name, str) for name in names):
        raise TestingTypeError(parameter, "a collection of str", value)
    return frozenset(names)


def checked_allowed(value: object) -> tuple[type[BaseException], ...]:
    """``allowed``: exception types."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TestingTypeError("allowed", "an iterable of exception types", value)
    kinds = tuple(value)
    if not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds):
        raise TestingTypeError("allowed", "an iterable of exception types", value)
    return kinds


def checked_values(value: object) -> st.SearchStrategy[object] | None:
    """``values``: a hypothesis strategy, or ``None`` for `hostile_values`."""
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise TestingTypeError("values", "a hypothesis strategy or None", value)
    return value


def checked_examples(value: object) -> int | None:
    """``max_examples``: from 1 to 100,000, or ``None`` for the hypothesis profile's count."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TestingTypeError("max_examples", "an int or None", value)
    if not 1 <= value <= 100_000:
        raise TestingConfigurationError("max_examples", value, "must be from 1 to 100000")
    return value


def checked_timeout(value: object) -> float:
    """``timeout``: a finite number of seconds above 0 (and at most 100 years)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TestingTypeError("timeout", "an int or a float", value)
    return check_seconds("timeout", value, error=TestingConfigurationError)


def checked_kwargs(value: object) -> dict[str, object]:
    """``kwargs``: a mapping of str keys, or ``None``."""
    if value is None:
        return {}
    if not (isinstance(value, Mapping) and all(isinstance(name, str) for name in value)):
        raise TestingTypeError("kwargs", "a mapping of str keys, or None", value)
    return dict(value)


def hostile_settings(max_examples: int | None) -> settings:
    max_examples = checked_examples(max_examples)
    current = settings.default
    chosen = max_examples if max_examples is not None else (current.max_examples if current else 100)
    return settings(
        max_examples=chosen,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def _plan(  # noqa: PLR0917 - private; mirrors the public signature
    target: Callable[..., object],
    args: Sequence[object],
    kwargs: Mapping[str, object],
    keep: Collection[str],
    allowed: Iterable[type[BaseException]],
    values: st.SearchStrategy[object] | None,
) -> tuple[list[_Slot], tuple[type[BaseException], ...], st.SearchStrategy[dict[_Slot, object]]]:
    if not callable(target):
        raise TestingTypeError("target", "a callable", target)
    keep = checked_names("keep", keep)
    typed: tuple[type[BaseException], ...] = (ButtressError, *checked_allowed(allowed))
    values = checked_values(values)
    slots = _slots(target, args, kwargs, keep)
    if not slots:
        raise TestingConfigurationError(
            "target", _describe(target), "has no parameter to replace: pass its arguments or unset keep"
        )
    return slots, typed, _hostile_arguments(slots, values if values is not None else hostile_values())


def check_hostile(
    target: Callable[..., object],
    /,
    *args: object,
    keep: Collection[str] = (),
    allowed: Iterable[type[BaseException]] = (),
    values: st.SearchStrategy[object] | None = None,
    max_examples: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    kwargs: Mapping[str, object] | None = None,
    **keywords: object,
) -> None:
    """Call ``target`` with hostile arguments; fail on any exception that is not a `ButtressError`.

    Use it from a synchronous test. What the target returns is awaited (on a private event loop
    kept for the whole check), an async generator is iterated, and a generator is drained, since
    each of those may defer its argument checks. For targets bound to the test's own event loop (an
    asyncpg pool, a redis client), use `acheck_hostile` from an async test instead.

    Args:
        target: The function, method, class or other callable to drive.
        *args: Valid positional arguments; each may be replaced by a hostile value.
        keep: Names of parameters that are never replaced (a callback, say).
        allowed: Exception types accepted besides `ButtressError`.
        values: The strategy hostile values are drawn from; `hostile_values` by default.
        max_examples: How many calls to make; the loaded hypothesis profile's count by default.
        timeout: Seconds an awaited call may take before the check fails.
        kwargs: Valid keyword arguments whose names are also options of this helper (``timeout``,
            ``values``, ``keep``, ``allowed``, ``max_examples``, ``kwargs``): an option is never
            passed to the target, so a target's own ``timeout=0`` goes here.
        **keywords: Valid keyword arguments; each may be replaced by a hostile value.

    Raises:
        AssertionError: A call raised or logged an untyped exception, or hung; hypothesis reports
            the smallest arguments that do so.
        RuntimeError: Called while an event loop is running in this thread.
        TestingTypeError: ``target`` is not callable, or an option has the wrong type.
        TestingConfigurationError: ``max_examples`` or ``timeout`` is out of range, or the target
            has no parameter left to replace.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "check_hostile was called inside a running event loop: use await acheck_hostile(...)"
        )
    kwargs = {**checked_kwargs(kwargs), **keywords}
    timeout = checked_timeout(timeout)
    checked_examples(max_examples)
    slots, typed, arguments = _plan(target, args, kwargs, keep, allowed, values)
    name = _describe(target)
    del slots

    with asyncio.Runner() as runner:

        @hostile_settings(max_examples)
        @given(arguments)
        def run(replaced: dict[_Slot, object]) -> None:
            call_args, call_kwargs = _apply(args, kwargs, replaced)

            def call() -> None:
                result = target(*call_args, **call_kwargs)
                if _needs_loop(result):
                    runner.run(_settle(result, timeout))
                else:
                    _drain(result)

            _judge(name, replaced, typed, call)

        run_quietly(run)


async def acheck_hostile(
    target: Callable[..., object],
    /,
    *args: object,
    keep: Collection[str] = (),
    allowed: Iterable[type[BaseException]] = (),
    values: st.SearchStrategy[object] | None = None,
    max_examples: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    kwargs: Mapping[str, object] | None = None,
    **keywords: object,
) -> None:
    """`check_hostile` for async tests: every call runs on the caller's event loop.

    Hypothesis runs in a worker thread while this coroutine waits, and hands each call to the
    caller's loop, so targets bound to that loop (pools, clients, background tasks) work as usual.
    The arguments mean what they mean for `check_hostile`.

    Raises:
        AssertionError: A call raised or logged an untyped exception, or hung.
        TestingTypeError: ``target`` is not callable, or an option has the wrong type.
        TestingConfigurationError: An option is out of range, or nothing is left to replace.
    """
    kwargs = {**checked_kwargs(kwargs), **keywords}
    timeout = checked_timeout(timeout)
    checked_examples(max_examples)
    slots, typed, arguments = _plan(target, args, kwargs, keep, allowed, values)
    del slots
    name = _describe(target)
    loop = asyncio.get_running_loop()

    async def invoke(call_args: list[object], call_kwargs: dict[str, object]) -> None:
        result = target(*call_args, **call_kwargs)
        if _needs_loop(result):
            await _settle(result, timeout)
        else:
            _drain(result)

    @hostile_settings(max_examples)
    @given(arguments)
    def run(replaced: dict[_Slot, object]) -> None:
        call_args, call_kwargs = _apply(args, kwargs, replaced)
        _judge(
            name,
            replaced,
            typed,
            lambda: asyncio.run_coroutine_threadsafe(invoke(call_args, call_kwargs), loop).result(),
        )

    await asyncio.to_thread(run_quietly, run)
