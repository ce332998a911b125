"""A send wakes the workers of its process: `DeliveryWorker.run` claims at once, not at its next poll."""

from __future__ import annotations

import asyncio
import threading

import pytest

from buttress.testing import FakeClock
from buttress.webhooks import DeliveryWorker, Endpoint, MemoryOutbox, PostgresOutbox, RetrySchedule
from buttress.webhooks._outbox import SendSignal

from .conftest import LOOPBACK, SECRET, Receiver

# No poll in the time a test runs: only the send's signal can make the worker claim again.
NEVER = 3600.0


async def received(receiver: Receiver, token: str, count: int) -> list[str]:
    """The ids the receiver got, once it has ``count`` of them (the test fails if it never does)."""
    async with asyncio.timeout(30):
        while len(receiver.ids(token)) < count:  # noqa: ASYNC110 - the receiver counts in its thread
            await asyncio.sleep(0.01)
    return receiver.ids(token)


async def sends_wake_a_running_worker(outbox: MemoryOutbox | PostgresOutbox, receiver: Receiver) -> None:
    token = receiver.token()
    await outbox.endpoints.create(Endpoint(receiver.url(token), (SECRET,)))
    first = await outbox.send("invoice.paid", {"n": 1})
    stop = asyncio.Event()
    async with DeliveryWorker(outbox, policy=LOOPBACK, timeout=5, lease=30, poll_interval=NEVER) as worker:
        runner = asyncio.create_task(worker.run(stop=stop))
        assert await received(receiver, token, 1) == [first.id]
        await asyncio.sleep(0.05)  # both rounds have found nothing due and wait for their poll
        later = [await outbox.send("invoice.paid", {"n": n}) for n in range(2, 6)]
        assert sorted(await received(receiver, token, 5)) == sorted([first.id, *(m.id for m in later)])
        stop.set()
        await runner


async def test_a_send_wakes_a_worker_of_a_memory_outbox(receiver: Receiver) -> None:
    schedule = RetrySchedule((0, 5), jitter=0)
    await sends_wake_a_running_worker(MemoryOutbox(schedule=schedule), receiver)


@pytest.mark.postgres
async def test_a_send_wakes_a_worker_of_a_postgres_outbox(outbox: PostgresOutbox, receiver: Receiver) -> None:
    # The fixture's clock is a FakeClock standing still: a message is due at once (first delay 0).
    assert isinstance(outbox.clock, FakeClock)
    await sends_wake_a_running_worker(outbox, receiver)


async def test_the_signal_sets_events_of_other_loops_from_their_own_thread() -> None:
    signal = SendSignal()
    here = signal.subscribe()
    subscribed = threading.Event()
    woken: list[bool] = []

    def other_loop() -> None:
        async def wait() -> None:
            event = signal.subscribe()
            subscribed.set()
            async with asyncio.timeout(30):
                await event.wait()
            woken.append(True)
            signal.unsubscribe(event)

        asyncio.run(wait())

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(subscribed.wait, 30)
    signal.notify()
    await asyncio.to_thread(thread.join, 30)
    assert here.is_set()
    assert woken == [True]
    signal.unsubscribe(here)
    here.clear()
    signal.notify()
    assert not here.is_set()
