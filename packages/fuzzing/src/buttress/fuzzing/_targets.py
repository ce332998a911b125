"""Targets: plain callables taking bytes, structured targets (Hypothesis strategies), loading by spec."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .exceptions import FuzzingTypeError, MissingExtraError, TargetError

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "FuzzTarget",
    "StructuredTarget",
    "code_constants",
    "default_scope",
    "describe_target",
    "is_async_target",
    "load_target",
    "structured",
]

type FuzzTarget = Callable[[bytes], object] | Callable[[bytes], Awaitable[object]]


@runtime_checkable
class _Scoped(Protocol):
    """Targets that wrap a user function say whose code is "theirs" for coverage and signatures."""

    def scope_objects(self) -> tuple[object, ...]: ...


def is_async_target(target: object) -> bool:
    """Whether calling the target returns an awaitable (async def, or a wrapper saying so)."""
    flag = getattr(target, "is_async", None)
    if isinstance(flag, bool):
        return flag
    function = getattr(target, "__call__", None) if not inspect.isroutine(target) else target  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(function)


def _module_of(obj: object) -> ModuleType | None:
    module = inspect.getmodule(obj)
    if module is None and not inspect.isroutine(obj) and not isinstance(obj, type):
        module = inspect.getmodule(type(obj))
    return module


def default_scope(target: object) -> list[str]:
    """The target's own code: its top-level regular package's directory, or its file outside packages.

    The package is found on disk: the highest directory above the file that still holds an
    ``__init__.py`` (a namespace package's portions count separately).
    """
    found: list[str] = []
    for root in scope_roots(target):
        module = _module_of(root)
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            continue
        path = os.path.realpath(filename)
        directory = os.path.dirname(path)
        if not os.path.exists(os.path.join(directory, "__init__.py")):
            found.append(path)
            continue
        while os.path.exists(os.path.join(os.path.dirname(directory), "__init__.py")):
            directory = os.path.dirname(directory)
        found.append(directory)
    return list(dict.fromkeys(found))


def code_constants(in_scope: Callable[[str], bool], *, limit: int = 256) -> list[bytes]:
    """Short bytes and str constants of every loaded in-scope module's code (a free dictionary)."""
    codes: list[CodeType] = []
    seen: set[int] = set()
    pending: list[object] = [
        m
        for m in list(sys.modules.values())
        if isinstance(filename := getattr(m, "__file__", None), str) and in_scope(filename)
    ]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, CodeType):
            codes.append(item)
            pending.extend(c for c in item.co_consts if isinstance(c, CodeType))
        elif isinstance(item, ModuleType | type):
            pending.extend(v for v in vars(item).values() if isinstance(v, type) or hasattr(v, "__code__"))
        else:
            code = getattr(item, "__code__", None)
            if isinstance(code, CodeType) and in_scope(code.co_filename):
                pending.append(code)
    tokens: dict[bytes, None] = {}
    for code in codes:
        for const in code.co_consts:
            for raw in _encodings(const):
                tokens[raw] = None
    return list(tokens)[:limit]


def _encodings(const: object) -> list[bytes]:
    """How a constant compared against input may appear in it: text as UTF-8, ints in both byte orders."""
    if isinstance(const, str):
        raw = const.encode("utf-8", "surrogatepass")
        return [raw] if 1 <= len(raw) <= 64 else []
    if isinstance(const, bytes):
        return [const] if 1 <= len(const) <= 64 else []
    if isinstance(const, int) and not isinstance(const, bool) and 2 < const < 2**32:
        width = 1 if const < 256 else 2 if const < 2**16 else 4
        return list(dict.fromkeys([const.to_bytes(width, "little"), const.to_bytes(width, "big")]))
    return []


def describe_target(target: object) -> str:
    """``module:qualname`` of a target (what the crash index records)."""
    spec = getattr(target, "spec", None)
    if isinstance(spec, str):
        return spec
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"


def load_target(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (or ``module:object.attribute``) and return the callable.

    The current directory is importable, as with ``python -m``.

    Raises:
        TargetError: The spec is malformed, the module or attribute is missing, or it is not callable.
    """
    if not isinstance(spec, str):
        raise FuzzingTypeError("target", "a 'module:function' string", spec)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError(spec, "expected 'module:function', such as 'myapp.parser:parse'")
    if os.curdir not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(spec, f"module {module_name!r} cannot be imported ({exc})") from exc
    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(spec, f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(obj):
        raise TargetError(spec, f"{attribute!r} is a {type(obj).__name__}, not a callable")
    return obj


class StructuredTarget:
    """A function of a structured value, fuzzed through a Hypothesis strategy.

    Each input's bytes drive the strategy's choices (Hypothesis's ``fuzz_one_input``), so mutating
    bytes mutates values, and a reproducer file replays the same value with the same Hypothesis
    version and strategy. Inputs the strategy cannot use (too short, filtered out) are skipped.

    Args:
        function: A sync or async callable taking one drawn value.
        strategy: The Hypothesis strategy to draw it from.

    Raises:
        MissingExtraError: Hypothesis is not installed (``pip install 'buttress-fuzzing[hypothesis]'``).
    """

    def __init__(self, function: Callable[[Any], object], strategy: SearchStrategy[Any]) -> None:
        try:
            import hypothesis  # noqa: PLC0415 - optional extra, imported when used
            from hypothesis import strategies as st  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtraError("fuzzing a structured target", "hypothesis") from exc
        if not callable(function):
            raise FuzzingTypeError("function", "a callable", function)
        if not isinstance(strategy, st.SearchStrategy):
            raise FuzzingTypeError("strategy", "a hypothesis SearchStrategy", strategy)
        self.function = function
        self.strategy = strategy
        self.is_async = is_async_target(function)
        self.spec = describe_target(function)
        self._drawn: list[object] = []
        drawn = self._drawn

        @hypothesis.settings(
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(strategy)
        def draw(value: object) -> None:
            drawn.append(value)

        self._fuzz_one: Callable[[bytes], bytes | None] = draw.hypothesis.fuzz_one_input  # type: ignore[attr-defined]

    def scope_objects(self) -> tuple[object, ...]:
        """The wrapped function (its package is the default scope)."""
        return (self.function,)

    def draw(self, data: bytes) -> tuple[bool, object]:
        """Draw a value from the input: ``(True, value)``, or ``(False, None)`` when the input is unusable."""
        drawn = self._drawn
        drawn.clear()
        self._fuzz_one(data)
        if not drawn:
            return False, None
        return True, drawn[0]

    def __call__(self, data: bytes) -> object:
        """Draw a value from ``data`` and call the function with it (returns its awaitable if async)."""
        ok, value = self.draw(data)
        if not ok:
            return None
        return self.function(value)

    def describe(self, data: bytes) -> str:
        """The value an input stands for, as text for reproducer notes."""
        ok, value = self.draw(data)
        return f"value: {value!r}" if ok else "value: (the strategy cannot use this input)"


def structured[T](function: Callable[[T], object], strategy: SearchStrategy[T]) -> StructuredTarget:
    """Fuzz ``function`` with values drawn from ``strategy`` (needs the ``hypothesis`` extra).

    Examples:
        >>> from hypothesis import strategies as st
        >>> target = structured(lambda n: 1 // (n - 7), st.integers())  # doctest: +SKIP
    """
    return StructuredTarget(function, strategy)


def scope_roots(target: object) -> Iterable[object]:
    """The objects whose modules make the default scope."""
    return target.scope_objects() if isinstance(target, _Scoped) else (target,)
