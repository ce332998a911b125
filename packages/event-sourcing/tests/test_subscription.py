"""Catch-up subscriptions on the memory store: paging, checkpoints, resuming, following."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from buttress.event_sourcing import (
    NO_STREAM,
    EventData,
    EventSourcingConfigurationError,
    EventSourcingError,
    EventSourcingTypeError,
    MemoryEventStore,
    RecordedEvent,
    Subscription,
)


def batch(n: int) -> list[EventData]:
    return [EventData(uuid.uuid4(), "T", b"") for _ in range(n)]


async def test_catch_up_delivers_everything_in_order_and_saves_the_checkpoint() -> None:
    store = MemoryEventStore()
    for n in range(4):
        await store.append(f"s-{n}", batch(3), NO_STREAM)
    seen: list[int] = []

    async def handle(record: RecordedEvent) -> None:
        seen.append(record.position)

    sub = Subscription(store, handle, name="p", checkpoints=store, batch_size=5)
    assert await sub.catch_up() == 12
    assert seen == list(range(1, 13))
    assert await store.load_checkpoint("p") == 12
    assert await sub.catch_up() == 0


async def test_a_restarted_subscription_resumes_after_its_checkpoint() -> None:
    store = MemoryEventStore()
    await store.append("s", batch(6), NO_STREAM)
    seen: list[int] = []

    async def handle(record: RecordedEvent) -> None:
        seen.append(record.position)

    await Subscription(store, handle, name="p", checkpoints=store).catch_up()
    await store.append("s", batch(2), 6)
    assert await Subscription(store, handle, name="p", checkpoints=store).catch_up() == 2
    assert seen == list(range(1, 9))


async def test_a_failing_handler_redelivers_the_unsaved_page_at_least_once() -> None:
    store = MemoryEventStore()
    await store.append("s", batch(10), NO_STREAM)
    seen: list[int] = []

    async def flaky(record: RecordedEvent) -> None:
        if record.position == 7 and 7 not in seen:
            seen.append(7)
            raise RuntimeError("boom")
        seen.append(record.position)

    sub = Subscription(store, flaky, name="p", checkpoints=store, batch_size=4)
    with pytest.raises(RuntimeError):
        await sub.catch_up()
    assert await store.load_checkpoint("p") == 4
    await Subscription(store, flaky, name="p", checkpoints=store, batch_size=4).catch_up()
    assert seen.count(5) == 2
    assert seen.count(4) == 1
    assert sorted(set(seen)) == list(range(1, 11))


async def test_a_running_subscription_follows_new_appends() -> None:
    store = MemoryEventStore()
    seen: list[int] = []
    done = asyncio.Event()

    async def handle(record: RecordedEvent) -> None:
        seen.append(record.position)
        if len(seen) == 5:
            done.set()

    sub = Subscription(store, handle, name="live", checkpoints=store, poll_interval=30)
    sub.start()
    with pytest.raises(EventSourcingConfigurationError, match="running"):
        sub.start()
    await store.append("a", batch(2), NO_STREAM)
    await asyncio.sleep(0)
    await store.append("b", batch(3), NO_STREAM)
    await asyncio.wait_for(done.wait(), 10)
    await sub.aclose()
    await sub.aclose()
    assert sub.closed
    assert not sub.running
    assert seen == [1, 2, 3, 4, 5]
    assert "live" in repr(sub)


async def test_a_failing_handler_is_logged_and_the_event_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under `start`, a handler's exception does not end the subscription: the event comes again."""
    store = MemoryEventStore()
    await store.append("a", batch(4), NO_STREAM)
    seen: list[int] = []
    done = asyncio.Event()

    async def flaky(record: RecordedEvent) -> None:
        if record.position == 3 and 3 not in seen:
            seen.append(3)
            raise RuntimeError("the mail server said no")
        seen.append(record.position)
        if record.position == 4:
            done.set()

    async with Subscription(store, flaky, name="retry", checkpoints=store, batch_size=2) as sub:
        sub.start()
        await asyncio.wait_for(done.wait(), 20)
        assert sub.running
        assert sub.crashes == 1
    assert not sub.running
    assert seen == [1, 2, 3, 3, 4]
    assert "subscription:retry failed" in caplog.text
    assert await store.load_checkpoint("retry") == 4


async def test_a_closed_subscription_cannot_start_again() -> None:
    store = MemoryEventStore()
    sub = Subscription(store, _noop, name="closed", checkpoints=store)
    await sub.aclose()
    with pytest.raises(EventSourcingError, match="closed"):
        sub.start()


def test_starting_outside_an_event_loop_is_a_typed_error() -> None:
    store = MemoryEventStore()
    sub = Subscription(store, _noop, name="no-loop", checkpoints=store)
    with pytest.raises(EventSourcingError, match="event loop"):
        sub.start()


class PollingOnly:
    """A store without notifications: the subscription polls it."""

    def __init__(self) -> None:
        self.inner = MemoryEventStore()

    async def append(self, *args: object, **kwargs: object) -> object:
        return await self.inner.append(*args, **kwargs)  # type: ignore[arg-type]

    async def read(self, *args: object, **kwargs: object) -> object:
        return await self.inner.read(*args, **kwargs)  # type: ignore[arg-type]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> object:
        return await self.inner.read_all(after_position, limit)


async def test_a_store_without_notifications_is_polled() -> None:
    store = PollingOnly()
    seen: list[int] = []
    sub = Subscription(
        store, lambda r: _append(seen, r), name="poll", checkpoints=store.inner, poll_interval=0.01
    )  # type: ignore[arg-type]
    sub.start()
    await store.inner.append("a", batch(2), NO_STREAM)
    for _ in range(500):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    await sub.aclose()
    assert seen == [1, 2]


async def _append(seen: list[int], record: RecordedEvent) -> None:
    seen.append(record.position)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"batch_size": 0}, "batch_size"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"checkpoints": object()}, "checkpoints"),
        ({"batch_size": "500"}, "batch_size"),
    ],
)
def test_bad_subscription_arguments_are_rejected(kwargs: dict[str, object], parameter: str) -> None:
    store = MemoryEventStore()
    options: dict[str, object] = {"name": "p", "checkpoints": store, **kwargs}
    with pytest.raises((EventSourcingConfigurationError, EventSourcingTypeError), match=parameter):
        Subscription(store, _noop, **options)  # type: ignore[arg-type]
    with pytest.raises(EventSourcingTypeError, match="store"):
        Subscription(object(), _noop, name="p", checkpoints=store)  # type: ignore[arg-type]


async def _noop(record: RecordedEvent) -> None:
    return None
