"""`@traced`: one span per call of a function, a coroutine function, a generator or an async generator.

The kind of the function is read once, at decoration: a coroutine function gets an ``async def``
wrapper whose span covers the awaited call; an async generator (or a generator) gets a generator
wrapper whose span runs from the first step to exhaustion, with the span current only while the
generator's own code runs (never in the consumer's code between two items). Methods, class methods
and static methods are wrapped like the functions they hold.

A raised exception is recorded on the span with status ERROR and ``error.type`` (its class's
qualified name); a cancelled task or a generator closed early ends its span without an error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import (
    AsyncGenerator,
    Callable,
    Coroutine,
    Generator,
    Mapping,
    Sequence,
)
from typing import Any, Final, Literal, Protocol, cast, overload

from opentelemetry import context, trace
from opentelemetry.trace import Span, Status, StatusCode

from buttress.core import check_text

from .exceptions import ObservabilityConfigurationError, ObservabilityTypeError

__all__ = ["FunctionKind", "error_type", "function_kind", "traced"]

type AttributeValue = str | bool | int | float
type FunctionKind = Literal["function", "coroutine", "generator", "async_generator"]

_MAX_VALUE: Final = 256
_BUILTINS: Final = frozenset({"builtins", "__main__"})


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: its class's qualified name, with its module unless a builtin."""
    cls = type(exc)
    module = getattr(cls, "__module__", "")
    return cls.__qualname__ if module in _BUILTINS or not module else f"{module}.{cls.__qualname__}"


def function_kind(func: Callable[..., object]) -> FunctionKind:
    """What calling ``func`` gives: a value, a coroutine, a generator or an async generator.

    ``functools.partial`` objects and ``functools.wraps`` wrappers are seen through, and so is an
    object whose ``__call__`` is one of these kinds.

    Raises:
        ObservabilityTypeError: ``func`` is not callable.
    """
    if not callable(func):
        raise ObservabilityTypeError("func", "a callable", func)
    for layer in _layers(func):
        if not inspect.isroutine(layer) and not isinstance(layer, functools.partial):
            layer = type(layer).__call__  # noqa: PLW2901 - an object: what its class's __call__ is
        for inner in _layers(layer):
            if inspect.iscoroutinefunction(inner):
                return "coroutine"
            if inspect.isasyncgenfunction(inner):
                return "async_generator"
            if inspect.isgeneratorfunction(inner):
                return "generator"
    return "function"


def _layers(candidate: object) -> list[object]:
    """``candidate`` and what it wraps: partials' functions and ``__wrapped__`` chains, outermost first."""
    layers = [candidate]
    seen = {id(candidate)}
    while len(layers) < 100:
        current = layers[-1]
        inner = (
            current.func if isinstance(current, functools.partial) else getattr(current, "__wrapped__", None)
        )
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        layers.append(inner)
    return layers


def _attribute(value: object) -> AttributeValue:
    if isinstance(value, str | bool | int | float):
        return value[:_MAX_VALUE] if isinstance(value, str) else value
    return repr(value)[:_MAX_VALUE]


class _Plan:
    """What a call's span is made of, prepared at decoration so a call only reads its arguments."""

    __slots__ = ("arguments", "name", "static", "tracer")

    def __init__(
        self,
        func: Callable[..., object],
        name: str | None,
        attributes: Mapping[str, AttributeValue] | None,
        arguments: Mapping[str, str] | Sequence[str],
    ) -> None:
        qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
        module = getattr(func, "__module__", None) or "__main__"
        self.name = qualname if name is None else name
        self.static: dict[str, AttributeValue] = {"code.function.name": f"{module}.{qualname}"}
        self.static.update(attributes or {})
        self.tracer = trace.get_tracer(module)
        self.arguments = self._locate(func, arguments)

    @staticmethod
    def _locate(
        func: Callable[..., object], arguments: Mapping[str, str] | Sequence[str]
    ) -> tuple[tuple[str, str, int | None, object], ...]:
        wanted = dict(arguments) if isinstance(arguments, Mapping) else {name: name for name in arguments}
        if not wanted:
            return ()
        try:
            parameters = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            raise ObservabilityConfigurationError(
                "arguments", sorted(wanted), "the function's signature cannot be read"
            ) from None
        located = []
        for parameter_name, attribute in wanted.items():
            found = [i for i, p in enumerate(parameters) if p.name == parameter_name]
            if not found or parameters[found[0]].kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                raise ObservabilityConfigurationError(
                    "arguments", parameter_name, "is not a named parameter of the function"
                )
            parameter = parameters[found[0]]
            positional = parameter.kind in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            default = None if parameter.default is inspect.Parameter.empty else parameter.default
            located.append((parameter_name, attribute, found[0] if positional else None, default))
        return tuple(located)

    def start(self, args: tuple[object, ...], kwargs: Mapping[str, object]) -> Span:
        attributes = self.static
        if self.arguments:
            attributes = dict(attributes)
            for parameter, attribute, index, default in self.arguments:
                if parameter in kwargs:
                    value = kwargs[parameter]
                elif index is not None and index < len(args):
                    value = args[index]
                else:
                    value = default
                if value is not None:
                    attributes[attribute] = _attribute(value)
        return self.tracer.start_span(self.name, attributes=attributes)


def _fail(span: Span, exc: BaseException) -> None:
    if isinstance(exc, GeneratorExit) or type(exc).__name__ == "CancelledError":
        return
    span.record_exception(exc)
    kind = error_type(exc)
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def _wrap_function(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - the wrapped function's own types
        span = plan.start(args, kwargs)
        token = context.attach(trace.set_span_in_context(span))
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            context.detach(token)
            span.end()

    return wrapper


def _wrap_coroutine(func: Callable[..., Coroutine[Any, Any, Any]], plan: _Plan) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - the wrapped function's own types
        span = plan.start(args, kwargs)
        token = context.attach(trace.set_span_in_context(span))
        try:
            return await func(*args, **kwargs)
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            context.detach(token)
            span.end()

    return wrapper


def _wrap_generator(func: Callable[..., Generator[Any, Any, Any]], plan: _Plan) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:  # noqa: ANN401
        span = plan.start(args, kwargs)
        current = trace.set_span_in_context(span)
        generator = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = context.attach(current)
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = generator.throw(exc)
                    else:
                        item = generator.send(sent)
                except StopIteration as stop:
                    return stop.value
                finally:
                    context.detach(token)
                try:
                    sent = yield item
                except GeneratorExit:
                    generator.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown into the generator: pass it on
                    thrown = exc
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            span.end()

    return wrapper


def _wrap_async_generator(func: Callable[..., AsyncGenerator[Any, Any]], plan: _Plan) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:  # noqa: ANN401
        span = plan.start(args, kwargs)
        current = trace.set_span_in_context(span)
        generator = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = context.attach(current)
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = await generator.athrow(exc)
                    else:
                        item = await generator.asend(sent)
                except StopAsyncIteration:
                    return
                finally:
                    context.detach(token)
                try:
                    sent = yield item
                except GeneratorExit:
                    await generator.aclose()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown into the generator: pass it on
                    thrown = exc
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            span.end()

    return wrapper


class _Decorator(Protocol):
    """**Protocol**: what ``traced(name=...)`` returns: a decorator that keeps the signature.

    Methods:
        __call__: Wrap ``func`` and return the wrapper, typed as ``func``.
    """

    def __call__[**P, R](self, func: Callable[P, R], /) -> Callable[P, R]:
        """Wrap ``func``."""
        ...


@overload
def traced[**P, R](func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced(
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    arguments: Mapping[str, str] | Sequence[str] = (),
) -> _Decorator: ...


def traced(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    arguments: Mapping[str, str] | Sequence[str] = (),
) -> Any:
    """Trace every call of the decorated function in a span of its own.

    Used bare (``@traced``) or with settings (``@traced(name="charge", arguments={"order_id":
    "app.order.id"})``). The span's name is the function's qualified name unless ``name`` is given;
    its tracer is named after the function's module.

    Args:
        func: The function, when used bare.
        name: The span's name: low-cardinality (never an id).
        attributes: Static attributes set on every span.
        arguments: Parameters whose value becomes an attribute: a mapping of parameter name to
            attribute name, or a sequence of parameter names used as attribute names. Values that
            are not str/bool/int/float are recorded as their ``repr``; strings are cut to 256 characters.

    Returns:
        The wrapper (bare use), or a decorator.

    Raises:
        ObservabilityConfigurationError: An empty name, or an ``arguments`` entry that names no parameter.
        ObservabilityTypeError: ``func`` is not callable, or an argument of the wrong type.

    Example::

        @traced(arguments={"order_id": "app.order.id"})
        async def charge(order_id: str, amount: int) -> Receipt: ...
    """
    if name is not None:
        check_text(
            "name",
            name,
            max_bytes=_MAX_VALUE,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
    checked_attributes = _check_attributes(attributes)
    checked_arguments = _check_arguments(arguments)

    def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
        if isinstance(target, classmethod | staticmethod):
            return type(target)(decorate(target.__func__))
        if not callable(target):
            raise ObservabilityTypeError("func", "a callable", target)
        plan = _Plan(target, name, checked_attributes, checked_arguments)
        kind = function_kind(target)
        if kind == "coroutine":
            return _wrap_coroutine(target, plan)
        if kind == "async_generator":
            return _wrap_async_generator(target, plan)
        if kind == "generator":
            return _wrap_generator(target, plan)
        return _wrap_function(target, plan)

    if func is None:
        return cast("_Decorator", decorate)
    return decorate(func)


def _check_attributes(attributes: object) -> dict[str, AttributeValue]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ObservabilityTypeError("attributes", "a mapping of str to str/bool/int/float", attributes)
    checked: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        check_text(
            "attributes key",
            key,
            max_bytes=_MAX_VALUE,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
        if not isinstance(value, str | bool | int | float):
            raise ObservabilityTypeError(f"attributes[{key!r}]", "a str, bool, int or float", value)
        checked[key] = value
    return checked


def _check_arguments(arguments: object) -> dict[str, str]:
    if isinstance(arguments, Mapping):
        pairs = list(arguments.items())
    elif isinstance(arguments, Sequence) and not isinstance(arguments, str | bytes):
        pairs = [(name, name) for name in arguments]
    else:
        raise ObservabilityTypeError(
            "arguments", "a mapping of parameter to attribute name, or a sequence", arguments
        )
    checked: dict[str, str] = {}
    for parameter, attribute in pairs:
        for label, text in (("arguments parameter", parameter), ("arguments attribute", attribute)):
            check_text(
                label,
                text,
                max_bytes=_MAX_VALUE,
                error=ObservabilityConfigurationError,
                type_error=ObservabilityTypeError,
            )
        checked[parameter] = attribute
    return checked
