"""The framework-agnostic engine: `idempotent` and `execute`, on every store."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from buttress.core import ConfigurationError, SerializationError
from buttress.idempotency import (
    FingerprintMismatchError,
    IdempotencyConfigurationError,
    IdempotencyError,
    IdempotencySlot,
    IdempotencyTypeError,
    KeyInFlightError,
    MemoryStore,
    StoredResponse,
    execute,
    idempotent,
)


async def test_execute_runs_once_and_replays_the_result(any_store: Any) -> None:
    calls: list[int] = []

    async def charge() -> dict[str, Any]:
        calls.append(1)
        return {"charged": 100, "currency": "EUR", "tags": ["a", None]}

    results = [await execute(any_store, "order-1", "fp", charge) for _ in range(3)]
    assert results == [{"charged": 100, "currency": "EUR", "tags": ["a", None]}] * 3
    assert calls == [1]


async def test_an_exception_releases_the_key_and_propagates(any_store: Any) -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return "ok"

    with pytest.raises(RuntimeError, match="transient"):
        await execute(any_store, "order-2", "fp", flaky)
    assert await execute(any_store, "order-2", "fp", flaky) == "ok"
    assert await execute(any_store, "order-2", "fp", flaky) == "ok"
    assert len(attempts) == 2


async def test_a_duplicate_in_flight_raises_with_retry_after(any_store: Any) -> None:
    async with idempotent(any_store, "order-3", "fp", lease=20) as slot:
        assert slot.claimed
        with pytest.raises(KeyInFlightError) as info:
            async with idempotent(any_store, "order-3", "fp"):
                pytest.fail("ran twice")
        assert info.value.retry_after is not None
        assert 0 < info.value.retry_after <= 20
        await slot.complete(StoredResponse(body=b"done"))
    async with idempotent(any_store, "order-3", "fp") as again:
        assert not again.claimed
        assert again.replay == StoredResponse(body=b"done")


async def test_another_fingerprint_raises_mismatch(any_store: Any) -> None:
    await execute(any_store, "order-4", "fp-a", _constant("a"))
    with pytest.raises(FingerprintMismatchError) as info:
        await execute(any_store, "order-4", "fp-b", _constant("b"))
    assert isinstance(info.value, IdempotencyError)
    assert "different request" in str(info.value)


async def test_leaving_the_block_cleanly_completes_with_an_empty_outcome(any_store: Any) -> None:
    async with idempotent(any_store, "msg-1", "fp") as slot:
        assert slot.claimed
    async with idempotent(any_store, "msg-1", "fp") as again:
        assert again.replay == StoredResponse()


async def test_an_explicit_release_lets_the_next_attempt_run(any_store: Any) -> None:
    async with idempotent(any_store, "msg-2", "fp") as slot:
        assert await slot.release() is True
        assert not slot.claimed
    async with idempotent(any_store, "msg-2", "fp") as again:
        assert again.claimed


async def test_a_cancelled_operation_releases_the_key(any_store: Any) -> None:
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    task = asyncio.create_task(execute(any_store, "msg-3", "fp", slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await execute(any_store, "msg-3", "fp", _constant("second")) == "second"


async def test_a_slot_completes_only_once() -> None:
    async with idempotent(MemoryStore(), "k", "fp") as slot:
        await slot.complete(StoredResponse(body=b"1"))
        with pytest.raises(IdempotencyConfigurationError, match="already"):
            await slot.complete(StoredResponse(body=b"2"))
        with pytest.raises(IdempotencyConfigurationError, match="already"):
            await slot.release()


async def test_a_custom_serializer_is_used_both_ways() -> None:
    class Upper:
        def dumps(self, value: str) -> bytes:
            return value.upper().encode()

        def loads(self, data: bytes) -> str:
            return data.decode() + "!"

    store = MemoryStore()
    assert await execute(store, "k", "fp", _constant("hi"), serializer=Upper()) == "hi"
    assert await execute(store, "k", "fp", _constant("hi"), serializer=Upper()) == "HI!"


async def test_an_unserializable_result_releases_the_key() -> None:
    store = MemoryStore()

    async def weird() -> object:
        return object()

    with pytest.raises(SerializationError):
        await execute(store, "k", "fp", weird)
    assert await execute(store, "k", "fp", _constant(1)) == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lease": 0}, "lease"),
        ({"lease": math.nan}, "lease"),
        ({"lease": "30"}, "lease"),
        ({"retention": -1}, "retention"),
        ({"heartbeat": 10, "lease": 5}, "heartbeat"),
        ({"heartbeat": -1}, "heartbeat"),
        ({"key": ""}, "key"),
        ({"fingerprint": None}, "fingerprint"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], name: str) -> None:
    arguments: dict[str, Any] = {"key": "k", "fingerprint": "fp", **kwargs}
    key, fingerprint = arguments.pop("key"), arguments.pop("fingerprint")
    with pytest.raises(ConfigurationError, match=name) as info:
        idempotent(MemoryStore(), key, fingerprint, **arguments)
    assert isinstance(info.value, IdempotencyError)
    assert isinstance(info.value, ValueError)


def test_a_non_store_and_a_non_callable_are_type_errors() -> None:
    with pytest.raises(IdempotencyTypeError, match="store") as info:
        IdempotencySlot(object(), "k", "fp")  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    with pytest.raises(IdempotencyTypeError, match="operation"):
        asyncio.run(execute(MemoryStore(), "k", "fp", "not callable"))  # type: ignore[arg-type]
    with pytest.raises(IdempotencyTypeError, match="response"):
        asyncio.run(_complete_with(b"raw bytes"))


async def _complete_with(value: object) -> None:
    async with idempotent(MemoryStore(), "k", "fp") as slot:
        await slot.complete(value)  # type: ignore[arg-type]


def _constant[T](value: T) -> Any:
    async def operation() -> T:
        return value

    return operation
