"""@traced: kinds detected (Property 12), span names, attributes, errors, generator context."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from buttress.observability import (
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    error_type,
    function_kind,
    traced,
)
from buttress.testing import RecordedSpans


class PaymentDeclinedError(Exception):
    pass


def plain(x: int) -> int:
    return x


async def coroutine(x: int) -> int:
    await asyncio.sleep(0)
    return x


def generator(x: int) -> Iterator[int]:
    yield x


async def async_generator(x: int) -> AsyncIterator[int]:
    yield x


class Callable:
    async def __call__(self, x: int) -> int:
        return x


def _forwarding(func: object) -> object:
    def forward(*args: object, **kwargs: object) -> object:
        return func(*args, **kwargs)  # type: ignore[operator]

    return functools.wraps(func)(forward)  # type: ignore[arg-type]


KINDS = {
    plain: "function",
    coroutine: "coroutine",
    generator: "generator",
    async_generator: "async_generator",
}


@given(
    base=st.sampled_from(list(KINDS)),
    layers=st.lists(st.sampled_from(["partial", "wraps", "traced"]), max_size=4),
)
def test_property_12_function_kind_is_detected_through_wrappers(base: object, layers: list[str]) -> None:
    """Property 12: Traced decorator function-type detection.

    Whatever mix of functools.partial, functools.wraps wrappers and @traced layers sits on a function,
    the kind detected is the innermost function's, and calling the result gives that kind of object.
    """
    func = base
    for layer in layers:
        if layer == "partial":
            func = functools.partial(func)  # type: ignore[call-overload]
        elif layer == "wraps":
            func = _forwarding(func)
        else:
            func = traced(func)  # type: ignore[arg-type]
    expected = KINDS[base]  # type: ignore[index]
    assert function_kind(func) == expected  # type: ignore[arg-type]
    result = func(1)  # type: ignore[operator]
    if expected == "coroutine":
        assert inspect.iscoroutine(result)
        assert asyncio.run(result) == 1
    elif expected == "async_generator":
        assert inspect.isasyncgen(result)

        async def drain() -> list[int]:
            return [item async for item in result]

        assert asyncio.run(drain()) == [1]
    elif expected == "generator":
        assert inspect.isgenerator(result)
        assert list(result) == [1]
    else:
        assert result == 1


def test_a_callable_object_with_an_async_call_is_a_coroutine_function() -> None:
    assert function_kind(Callable()) == "coroutine"
    assert function_kind(functools.partial(Callable())) == "coroutine"


def test_a_sync_call_makes_one_span_named_after_the_function(span_recorder: RecordedSpans) -> None:
    @traced
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    [span] = span_recorder.spans()
    assert span.name == add.__qualname__
    assert span.attributes["code.function.name"] == f"{__name__}.{add.__qualname__}"
    assert span.status == "UNSET"


async def test_static_and_argument_attributes(span_recorder: RecordedSpans) -> None:
    @traced(
        name="charge",
        attributes={"app.kind": "card"},
        arguments={"order_id": "app.order.id", "amount": "app.amount"},
    )
    async def charge(order_id: str, amount: int = 5, *, note: object = None) -> str:
        return order_id

    assert await charge("o-1") == "o-1"
    assert await charge(order_id="o-2", amount=7) == "o-2"
    first, second = span_recorder.spans("charge")
    assert first.attributes["app.kind"] == "card"
    assert (first.attributes["app.order.id"], first.attributes["app.amount"]) == ("o-1", 5)
    assert (second.attributes["app.order.id"], second.attributes["app.amount"]) == ("o-2", 7)


async def test_exceptions_are_recorded_with_error_type(span_recorder: RecordedSpans) -> None:
    @traced
    async def pay() -> None:
        raise PaymentDeclinedError("card 4111 declined")

    with pytest.raises(PaymentDeclinedError):
        await pay()
    [span] = span_recorder.spans()
    assert span.status == "ERROR"
    assert span.error
    assert span.attributes["error.type"] == f"{__name__}.PaymentDeclinedError"
    assert span.exceptions == (f"{__name__}.PaymentDeclinedError",)


def test_builtin_error_types_have_no_module() -> None:
    assert error_type(ValueError()) == "ValueError"
    assert error_type(TimeoutError()) == "TimeoutError"


async def test_cancellation_is_not_an_error(span_recorder: RecordedSpans) -> None:
    started = asyncio.Event()

    @traced
    async def wait() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(wait())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [span] = span_recorder.spans()
    assert span.status == "UNSET"


async def test_nested_spans_are_children(span_recorder: RecordedSpans) -> None:
    @traced
    async def inner() -> None:
        return None

    @traced
    async def outer() -> None:
        await inner()

    await outer()
    child, parent = span_recorder.spans()
    assert child.parent_id == parent.span_id


async def test_an_async_generator_span_is_current_only_inside_it(span_recorder: RecordedSpans) -> None:
    seen_inside: list[int] = []

    @traced
    async def rows(n: int) -> AsyncIterator[int]:
        for i in range(n):
            seen_inside.append(trace.get_current_span().get_span_context().span_id)
            received = yield i
            assert received is None

    seen_outside = [trace.get_current_span().get_span_context().span_id async for _ in rows(3)]
    [span] = span_recorder.spans()
    assert set(seen_inside) == {span.span_id}
    assert span.span_id not in seen_outside


async def test_an_async_generator_closed_early_ends_its_span_without_error(
    span_recorder: RecordedSpans,
) -> None:
    closed = []

    @traced
    async def forever() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed.append(True)

    stream = forever()
    assert await anext(stream) == 1
    await stream.aclose()
    [span] = span_recorder.spans()
    assert closed == [True]
    assert span.status == "UNSET"


async def test_an_error_inside_an_async_generator_is_recorded(span_recorder: RecordedSpans) -> None:
    @traced
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise PaymentDeclinedError

    with pytest.raises(PaymentDeclinedError):
        async for _ in broken():
            pass
    [span] = span_recorder.spans()
    assert span.attributes["error.type"].endswith("PaymentDeclinedError")  # type: ignore[union-attr]


async def test_athrow_and_asend_reach_the_generator(span_recorder: RecordedSpans) -> None:
    @traced
    async def echo() -> AsyncIterator[object]:
        value: object = None
        while True:
            try:
                value = yield value
            except KeyError:
                value = "caught"

    stream = echo()
    assert await anext(stream) is None
    assert await stream.asend(5) == 5
    assert await stream.athrow(KeyError()) == "caught"
    await stream.aclose()
    assert len(span_recorder.spans()) == 1


def test_a_sync_generator_send_and_throw(span_recorder: RecordedSpans) -> None:
    @traced
    def echo() -> Iterator[object]:
        value: object = None
        while True:
            try:
                value = yield value
            except KeyError:
                value = "caught"

    stream = echo()
    assert next(stream) is None
    assert stream.send(3) == 3
    assert stream.throw(KeyError()) == "caught"
    stream.close()
    assert span_recorder.spans()[0].status == "UNSET"


async def test_methods_classmethods_and_staticmethods(span_recorder: RecordedSpans) -> None:
    class Orders:
        def __init__(self) -> None:
            self.count = 0

        @traced(arguments=["order_id"])
        async def place(self, order_id: str) -> int:
            self.count += 1
            return self.count

        @traced
        @classmethod
        def build(cls) -> Orders:
            return cls()

        @traced
        @staticmethod
        def total(a: int, b: int) -> int:
            return a + b

    orders = Orders.build()
    assert await orders.place("o-9") == 1
    assert Orders.total(1, 2) == 3
    prefix = "test_methods_classmethods_and_staticmethods.<locals>.Orders"
    names = [span.name for span in span_recorder.spans()]
    assert names == [f"{prefix}.build", f"{prefix}.place", f"{prefix}.total"]
    assert span_recorder.spans(f"{prefix}.place")[0].attributes["order_id"] == "o-9"


def test_the_wrapper_keeps_name_doc_and_signature() -> None:
    @traced
    async def documented(a: int, *, b: str = "x") -> str:
        """Docs."""
        return b

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Docs."
    assert str(inspect.signature(documented)) == "(a: 'int', *, b: 'str' = 'x') -> 'str'"


def test_bad_settings_are_typed_errors() -> None:
    with pytest.raises(ObservabilityConfigurationError):
        traced(name="")
    with pytest.raises(ObservabilityTypeError):
        traced(attributes={"a": [1]})  # type: ignore[dict-item]
    with pytest.raises(ObservabilityConfigurationError):
        traced(arguments=["missing"])(plain)
    with pytest.raises(ObservabilityTypeError):
        traced(42)  # type: ignore[call-overload]
