"""`OutboxContract` and `ReplayGuardContract`: what a webhook outbox and replay guard must do.

Both suites are duck-typed, so buttress-testing does not depend on buttress-webhooks: the outbox
suite builds the records it drives an outbox with (endpoints, a retry schedule, the outcome of an
attempt) through hooks the subclass implements, and reads what comes back by attribute. A status is
read as its ``value`` when it has one (an enum such as ``DeliveryStatus``), else as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from .._clock import FakeClock
from ._cache import close_quietly

# Lease tokens here are labels of claimers, not secrets.
# ruff: noqa: S105, S106

__all__ = ["OutboxContract", "ReplayGuardContract"]

_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's published test secret
_LEASE = 30.0
_OUTBOX_MEMBERS = ("claim", "settle", "release", "cancel_endpoint")
_GUARD_MEMBERS = ("claim", "complete", "release")


def _status(record: Any) -> str:
    """``record.status`` as text: an enum's ``value``, or the status itself."""
    status = record.status
    return str(getattr(status, "value", status))


def _missing(implementation: object, members: Sequence[str]) -> list[str]:
    return [name for name in members if not callable(getattr(implementation, name, None))]


class OutboxContract:
    """Conformance suite for a webhook outbox (``buttress.webhooks.Outbox``), the worker's side.

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement its hooks; this suite
    does not import buttress-webhooks, so they build the outbox and the records it takes. With
    buttress-webhooks' own records::

        from buttress.testing import OutboxContract
        from buttress.webhooks import (
            Attempt, DeliveryStatus, Endpoint, MemoryEndpointStore, Outcome, RetrySchedule,
        )

        class TestMyOutbox(OutboxContract):
            async def make_outbox(self, endpoints, *, schedule, clock):
                return MyOutbox(endpoints, schedule=schedule, clock=clock)

            def make_endpoint(self, **fields):
                return Endpoint(**fields)

            async def make_endpoint_store(self, endpoints):
                return MemoryEndpointStore(endpoints)

            def make_schedule(self, delays):
                return RetrySchedule(delays, jitter=0)

            def make_outcome(self, claim, status, *, next_attempt_at, attempted_at, status_code, error):
                outcome = "delivered" if status == "delivered" else "retry"
                attempt = Attempt(
                    claim.delivery_id, claim.message_id, claim.endpoint_id, claim.attempt,
                    attempted_at, status_code, 0.0, "", error, outcome,
                )
                return Outcome(claim, DeliveryStatus(status), next_attempt_at, attempt)

    The suite sends messages with `send` and reads deliveries back with `deliveries`; both default to
    the outbox's own ``send`` and ``deliveries`` methods (which ``MemoryOutbox`` and
    ``PostgresOutbox`` have). It reads claims (``delivery_id``, ``message_id``, ``endpoint_id``,
    ``attempt``, ``event_type``, ``body``, ``token``), dead deliveries (``message_id``, ``attempts``,
    ``last_error``) and deliveries (``endpoint_id``, ``status``, ``attempts``) by attribute.

    What it checks: a due delivery goes to one claimer at a time, under a lease; a lease that runs out
    makes it claimable again with the next attempt; ``settle`` applies a result only under the lease
    that is still held; a delivery never gets more attempts than the schedule (a last attempt whose
    lease ran out is dead, with the reason, and never claimed again); ``release`` gives an unsent
    attempt back; ``cancel_endpoint`` cancels what is pending; failing endpoints are reported with
    the start of their failing period.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    #: The schedule the suite runs under: three attempts, 10 s and 20 s apart, no jitter.
    delays: ClassVar[tuple[float, ...]] = (0, 10, 20)

    async def make_outbox(self, endpoints: Any, *, schedule: Any, clock: FakeClock) -> Any:
        """Return a new, empty outbox over ``endpoints``, under ``schedule``, reading time from ``clock``.

        Subclasses must implement it; the outbox is closed after the test (``aclose()`` or ``close()``).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_outbox()")

    def make_endpoint(
        self, *, id: str, url: str, secrets: tuple[str, ...], event_types: frozenset[str] | None = None
    ) -> Any:
        """Return an endpoint record: ``event_types`` ``None`` subscribes to every event type.

        ``EndpointStoreContract.make_endpoint`` takes the same fields. Subclasses must implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_endpoint()")

    async def make_endpoint_store(self, endpoints: Sequence[Any]) -> Any:
        """Return an endpoint store holding ``endpoints`` (enabled). Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_endpoint_store()")

    def make_schedule(self, delays: tuple[float, ...]) -> Any:
        """Return a retry schedule of ``len(delays)`` attempts after these delays, with no jitter.

        Subclasses must implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_schedule()")

    def make_outcome(
        self,
        claim: Any,
        status: str,
        *,
        next_attempt_at: datetime | None,
        attempted_at: datetime,
        status_code: int | None,
        error: str | None,
    ) -> Any:
        """Return the result of an attempt made under ``claim``, for the outbox's ``settle``.

        ``status`` is the delivery's new status, ``"delivered"`` or ``"pending"`` (due again at
        ``next_attempt_at``); the attempt started at ``attempted_at`` and got ``status_code``, or no
        answer and ``error``. Subclasses must implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_outcome()")

    async def send(self, outbox: Any, event_type: str, payload: object) -> Any:
        """Record a message for every subscribed endpoint; return it (with its ``id``)."""
        return await outbox.send(event_type, payload)

    async def deliveries(self, outbox: Any, message_id: str) -> list[Any]:
        """The deliveries of one message, ordered by endpoint id."""
        return list(await outbox.deliveries(message_id))

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The clock the outbox is built with; the suite moves it."""
        return FakeClock()

    @pytest_asyncio.fixture
    async def outbox(self, clock: FakeClock) -> AsyncIterator[Any]:
        """An outbox with two endpoints (``ep_a``, ``ep_b``) under the suite's schedule."""
        everything = self.make_endpoint(id="ep_a", url="http://127.0.0.1:9/a", secrets=(_SECRET,))
        one_type = self.make_endpoint(
            id="ep_b", url="http://127.0.0.1:9/b", secrets=(_SECRET,), event_types=frozenset({"b.only"})
        )
        endpoints = await self.make_endpoint_store([everything, one_type])
        try:
            created = await self.make_outbox(endpoints, schedule=self.make_schedule(self.delays), clock=clock)
            try:
                yield created
            finally:
                await close_quietly(created)
        finally:
            await close_quietly(endpoints)

    # --- helpers

    def _outcome(self, claim: Any, status: str, clock: FakeClock, *, code: int | None = None) -> Any:
        return self.make_outcome(
            claim,
            status,
            next_attempt_at=clock.now() + timedelta(seconds=10) if status == "pending" else None,
            attempted_at=clock.now(),
            status_code=code,
            error=None if code is not None else "refused",
        )

    async def _one(self, outbox: Any, token: str) -> Any:
        claims, dead = await outbox.claim(limit=10, lease=_LEASE, token=token)
        assert list(dead) == []
        assert len(claims) == 1, f"expected one claim, got {claims!r}"
        return claims[0]

    async def _nothing_due(self, outbox: Any, token: str) -> None:
        claims, dead = await outbox.claim(limit=10, lease=_LEASE, token=token)
        assert (list(claims), list(dead)) == ([], []), "nothing is due"

    # --- the checks

    async def test_it_is_an_outbox(self, outbox: Any, clock: FakeClock) -> None:
        """It has the Protocol's members, and the schedule, clock and endpoints it was given."""
        assert _missing(outbox, _OUTBOX_MEMBERS) == [], "an outbox has these methods"
        assert outbox.schedule.attempts == len(self.delays)
        assert outbox.clock.now() == clock.now()
        assert [e.id for e in await outbox.endpoints.list()] == ["ep_a", "ep_b"]

    async def test_a_due_delivery_is_claimed_once_under_its_lease(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        message = await self.send(outbox, "a.event", {"n": 1})
        claim = await self._one(outbox, "w1")
        assert (claim.message_id, claim.endpoint_id, claim.attempt) == (message.id, "ep_a", 1)
        assert claim.event_type == "a.event"
        assert claim.body == b'{"n":1}'
        assert claim.token == "w1"
        clock.advance(_LEASE - 1)
        await self._nothing_due(outbox, "w2")

    async def test_only_subscribed_enabled_endpoints_get_a_delivery(self, outbox: Any) -> None:
        message = await self.send(outbox, "b.only", {})
        assert [d.endpoint_id for d in await self.deliveries(outbox, message.id)] == ["ep_a", "ep_b"]
        other = await self.send(outbox, "a.event", {})
        assert [d.endpoint_id for d in await self.deliveries(outbox, other.id)] == ["ep_a"]

    async def test_a_lease_that_runs_out_makes_the_next_attempt_claimable(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        await self.send(outbox, "a.event", {})
        first = await self._one(outbox, "w1")
        clock.advance(_LEASE + 1)
        second = await self._one(outbox, "w2")
        assert second.delivery_id == first.delivery_id
        assert second.attempt == 2

    async def test_limit_bounds_a_claim_and_concurrent_claimers_never_share(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        for n in range(12):
            await self.send(outbox, "a.event", {"n": n})
        claims, _ = await outbox.claim(limit=5, lease=_LEASE, token="w0")
        assert len(claims) == 5
        results = await asyncio.gather(
            *(outbox.claim(limit=3, lease=_LEASE, token=f"w{n}") for n in range(1, 6))
        )
        claimed = [c.delivery_id for batch, _ in results for c in batch] + [c.delivery_id for c in claims]
        assert len(claimed) == len(set(claimed)) == 12

    async def test_a_result_is_applied_under_the_held_lease_only(self, outbox: Any, clock: FakeClock) -> None:
        message = await self.send(outbox, "a.event", {})
        old = await self._one(outbox, "old")
        clock.advance(_LEASE + 1)
        new = await self._one(outbox, "new")
        held, _ = await outbox.settle([self._outcome(old, "delivered", clock, code=200)])
        assert held == set()
        held, _ = await outbox.settle([self._outcome(new, "delivered", clock, code=200)])
        assert held == {new.delivery_id}
        (delivery,) = await self.deliveries(outbox, message.id)
        assert (_status(delivery), delivery.attempts) == ("delivered", 2)
        clock.advance(3600)
        await self._nothing_due(outbox, "late")

    async def test_a_failed_attempt_is_due_again_when_asked(self, outbox: Any, clock: FakeClock) -> None:
        await self.send(outbox, "a.event", {})
        claim = await self._one(outbox, "w1")
        held, _ = await outbox.settle([self._outcome(claim, "pending", clock, code=500)])
        assert held == {claim.delivery_id}
        clock.advance(9)
        await self._nothing_due(outbox, "w2")
        clock.advance(1)
        assert (await self._one(outbox, "w3")).attempt == 2

    async def test_a_last_attempt_whose_lease_ran_out_is_dead_never_claimed_again(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        """Issue 28: attempts count when claimed, so the last expired lease used the last attempt."""
        message = await self.send(outbox, "a.event", {})
        for number in range(1, len(self.delays) + 1):
            assert (await self._one(outbox, f"w{number}")).attempt == number
            clock.advance(_LEASE + 1)
        claims, dead = await outbox.claim(limit=10, lease=_LEASE, token="wx")
        assert list(claims) == []
        assert [(d.message_id, d.attempts) for d in dead] == [(message.id, len(self.delays))]
        assert "lease expired on the last attempt" in str(dead[0].last_error)
        (delivery,) = await self.deliveries(outbox, message.id)
        assert _status(delivery) == "dead"
        clock.advance(86_400)
        await self._nothing_due(outbox, "wy")

    async def test_a_retry_asked_for_after_the_last_attempt_is_dead(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        message = await self.send(outbox, "a.event", {})
        for number in range(1, len(self.delays) + 1):
            claim = await self._one(outbox, f"w{number}")
            held, _ = await outbox.settle([self._outcome(claim, "pending", clock, code=503)])
            assert held == {claim.delivery_id}
            clock.advance(60)
        (delivery,) = await self.deliveries(outbox, message.id)
        assert (_status(delivery), delivery.attempts) == ("dead", len(self.delays))
        await self._nothing_due(outbox, "wx")

    async def test_release_gives_an_unsent_attempt_back_once(self, outbox: Any, clock: FakeClock) -> None:
        message = await self.send(outbox, "a.event", {})
        claim = await self._one(outbox, "w1")
        assert await outbox.release([claim]) == 1
        assert await outbox.release([claim]) == 0
        (delivery,) = await self.deliveries(outbox, message.id)
        assert delivery.attempts == 0
        again = await self._one(outbox, "w2")
        assert again.attempt == 1
        later = clock.now() + timedelta(seconds=100)
        assert await outbox.release([again], until=later) == 1
        clock.advance(99)
        await self._nothing_due(outbox, "w3")
        clock.advance(1)
        assert (await self._one(outbox, "w4")).attempt == 1
        assert await outbox.release([]) == 0

    async def test_cancel_endpoint_cancels_what_is_pending(self, outbox: Any, clock: FakeClock) -> None:
        message = await self.send(outbox, "b.only", {})
        assert await outbox.cancel_endpoint("ep_b") == 1
        assert await outbox.cancel_endpoint("ep_b") == 0
        assert await outbox.cancel_endpoint("ep_nobody") == 0
        statuses = {d.endpoint_id: _status(d) for d in await self.deliveries(outbox, message.id)}
        assert statuses == {"ep_a": "pending", "ep_b": "cancelled"}
        claim = await self._one(outbox, "w1")
        assert claim.endpoint_id == "ep_a"

    async def test_failing_endpoints_are_reported_with_the_start_of_their_failing_period(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        await self.send(outbox, "a.event", {"n": 1})
        await self.send(outbox, "a.event", {"n": 2})
        first, second = (await outbox.claim(limit=2, lease=_LEASE, token="w1"))[0]
        started = clock.now()
        _, failing = await outbox.settle([self._outcome(first, "pending", clock, code=500)])
        assert failing == {"ep_a": started}
        clock.advance(5)
        _, failing = await outbox.settle([self._outcome(second, "pending", clock, code=500)])
        assert failing == {"ep_a": started}
        clock.advance(5)
        again = await self._one(outbox, "w2")
        _, failing = await outbox.settle([self._outcome(again, "delivered", clock, code=200)])
        assert failing == {}

    async def test_bad_arguments_are_refused_with_a_value_error(self, outbox: Any) -> None:
        with pytest.raises(ValueError):  # noqa: PT011 - the Protocol promises a ValueError subclass
            await outbox.claim(limit=0, lease=_LEASE, token="w")
        with pytest.raises(ValueError):  # noqa: PT011
            await outbox.claim(limit=1, lease=-1, token="w")


class ReplayGuardContract:
    """Conformance suite for a replay guard (``buttress.webhooks.ReplayGuard``).

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_guard`. Leases
    and done marks expire by the guard's own time: `wait` lets ``seconds`` pass, with
    ``asyncio.sleep`` by default; a guard on a fake clock overrides it to move the clock.

    What it checks: of concurrent claims of a free id exactly one gets ``CLAIMED`` (the others
    ``IN_FLIGHT`` with the lease left); ``complete`` makes it ``DONE``; ``release`` frees it only for
    the claim that holds it (never a done mark, never a later claim's lease); leases and done marks
    run out; ids are independent.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    #: A lease short enough to wait out, in seconds.
    short: ClassVar[float] = 0.2

    async def make_guard(self) -> Any:
        """Return a new, empty guard. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_guard()")

    async def wait(self, guard: Any, seconds: float) -> None:
        """Let ``seconds`` pass for ``guard``'s expiry."""
        await asyncio.sleep(seconds)

    @pytest_asyncio.fixture
    async def guard(self) -> AsyncIterator[Any]:
        """A fresh guard from `make_guard`, closed after the test."""
        created = await self.make_guard()
        try:
            yield created
        finally:
            await close_quietly(created)

    async def test_it_is_a_replay_guard(self, guard: Any) -> None:
        assert _missing(guard, _GUARD_MEMBERS) == [], "a replay guard has these methods"

    async def test_a_free_id_is_claimed_then_in_flight(self, guard: Any) -> None:
        first = await guard.claim("k1", 30)
        assert _status(first) == "claimed"
        assert first.token
        second = await guard.claim("k1", 30)
        assert _status(second) == "in_flight"
        assert 0 < second.lease_left <= 30
        assert _status(await guard.claim("k2", 30)) == "claimed"

    async def test_concurrent_claims_of_a_free_id_give_it_to_exactly_one(self, guard: Any) -> None:
        results = await asyncio.gather(*(guard.claim("race", 30) for _ in range(20)))
        statuses = sorted(_status(r) for r in results)
        assert statuses == ["claimed"] + ["in_flight"] * 19

    async def test_complete_makes_the_id_a_replay(self, guard: Any) -> None:
        claim = await guard.claim("k", 30)
        await guard.complete("k", 3600)
        assert _status(await guard.claim("k", 30)) == "done"
        await guard.release("k", claim.token)  # a done mark is never released
        assert _status(await guard.claim("k", 30)) == "done"

    async def test_release_frees_the_id_for_the_holding_claim_only(self, guard: Any) -> None:
        first = await guard.claim("k", 30)
        await guard.release("k", "not-the-token")
        assert _status(await guard.claim("k", 30)) == "in_flight"
        await guard.release("k", first.token)
        second = await guard.claim("k", 30)
        assert _status(second) == "claimed"
        await guard.release("k", first.token)  # the first claim's token frees nothing any more
        assert _status(await guard.claim("k", 30)) == "in_flight"

    async def test_a_lease_runs_out_and_a_stale_release_frees_nothing(self, guard: Any) -> None:
        first = await guard.claim("k", self.short)
        await self.wait(guard, self.short * 2)
        second = await guard.claim("k", 30)
        assert _status(second) == "claimed"
        await guard.release("k", first.token)
        assert _status(await guard.claim("k", 30)) == "in_flight"

    async def test_a_done_mark_runs_out_with_its_ttl(self, guard: Any) -> None:
        await guard.claim("k", 30)
        await guard.complete("k", self.short)
        assert _status(await guard.claim("k", 30)) == "done"
        await self.wait(guard, self.short * 2)
        assert _status(await guard.claim("k", 30)) == "claimed"
