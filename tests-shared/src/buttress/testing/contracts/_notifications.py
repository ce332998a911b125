"""`PreferenceStoreContract` and `NotificationOutboxContract`: buttress-notifications' Protocols.

The suite is duck-typed, so buttress-testing does not depend on buttress-notifications. A store is
driven through ``get(user_id)`` (the stored preferences or ``None``), ``put(preferences)`` (replace
the user's preferences whole) and ``delete(user_id)`` (``True`` when something was removed).
Preferences are built by the subclass's `make_preferences` hook and compared with ``==``.

The outbox suite uses buttress-notifications' own values (``Job``, ``NotificationStatus``): an
outbox has the package installed by definition. It is imported when a test runs, so importing
buttress-testing never needs it.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from types import ModuleType
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from .._clock import FakeClock
from ._cache import close_quietly

__all__ = ["NotificationOutboxContract", "PreferenceStoreContract"]

_IDS = ("u1", "U1", "u10", "user:with:colons", "пользователь", "🙂", "x" * 180)
_NIGHTS = [(day, time(22, 0), time(7, 0)) for day in range(5)] + [(5, time(0, 0), time(10, 30))]


class PreferenceStoreContract:
    """Conformance suite for a notification preference store (buttress-notifications' ``PreferenceStore``).

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_store` and
    `make_preferences`. `make_store` returns a new, empty store; when it has ``aclose()`` or
    ``close()`` that is called after the test.

    Attributes:
        concurrency: How many writers race in the concurrent checks.
    """

    concurrency: ClassVar[int] = 30

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_store(self) -> Any:
        """Return a new, empty store. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    def make_preferences(
        self,
        user_id: str,
        *,
        timezone: str = "UTC",
        choices: Mapping[tuple[str, str], bool] | None = None,
        quiet_hours: Sequence[tuple[int, time, time]] = (),
    ) -> Any:
        """Return preferences for ``user_id``: ``choices`` maps (channel, category) to opted in.

        ``quiet_hours`` holds (weekday, start, end) wall-time windows. Subclasses must implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_preferences()")

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A fresh store, closed after the test."""
        made = await self.make_store()
        try:
            yield made
        finally:
            await close_quietly(made)

    async def test_an_unknown_user_has_no_preferences(self, store: Any) -> None:
        assert await store.get("contract-nobody") is None

    async def test_preferences_round_trip(self, store: Any) -> None:
        prefs = self.make_preferences(
            "contract-full",
            timezone="America/New_York",
            choices={
                ("email", "billing"): True,
                ("sms", "*"): False,
                ("*", "marketing"): False,
                ("push", "ß"): True,
            },
            quiet_hours=_NIGHTS,
        )
        await store.put(prefs)
        assert await store.get("contract-full") == prefs

    async def test_an_empty_preference_round_trips(self, store: Any) -> None:
        prefs = self.make_preferences("contract-empty")
        await store.put(prefs)
        assert await store.get("contract-empty") == prefs

    async def test_put_replaces_the_whole_document(self, store: Any) -> None:
        first = self.make_preferences(
            "contract-replace", timezone="Asia/Tokyo", choices={("email", "news"): False}, quiet_hours=_NIGHTS
        )
        second = self.make_preferences("contract-replace", choices={("sms", "alerts"): True})
        await store.put(first)
        await store.put(second)
        got = await store.get("contract-replace")
        assert got == second, "put must replace, not merge"

    async def test_delete_reports_what_it_did(self, store: Any) -> None:
        await store.put(self.make_preferences("contract-delete"))
        assert await store.delete("contract-delete") is True
        assert await store.get("contract-delete") is None
        assert await store.delete("contract-delete") is False

    async def test_users_are_distinct(self, store: Any) -> None:
        made = {
            uid: self.make_preferences(uid, choices={("email", f"c{index}"): index % 2 == 0})
            for index, uid in enumerate(_IDS)
        }
        for prefs in made.values():
            await store.put(prefs)
        for uid, prefs in made.items():
            assert await store.get(uid) == prefs, f"{uid!r} came back as someone else's"
        await store.delete("u1")
        assert await store.get("U1") == made["U1"]
        assert await store.get("u10") == made["u10"]

    async def test_concurrent_writers_lose_nothing(self, store: Any) -> None:
        made = [
            self.make_preferences(f"contract-many-{i}", choices={("email", "news"): i % 3 == 0})
            for i in range(self.concurrency)
        ]
        await asyncio.gather(*(store.put(p) for p in made))
        got = await asyncio.gather(
            *(store.get(p_id) for p_id in (f"contract-many-{i}" for i in range(len(made))))
        )
        assert list(got) == made

    async def test_concurrent_writes_of_one_user_leave_one_whole_document(self, store: Any) -> None:
        versions = [
            self.make_preferences(
                "contract-race",
                timezone=("UTC", "Europe/Berlin", "Asia/Kolkata")[i % 3],
                choices={("email", f"c{i}"): True, ("sms", f"c{i}"): False},
                quiet_hours=[(i % 7, time(i % 24, 0), time((i + 3) % 24, 15))],
            )
            for i in range(self.concurrency)
        ]
        await asyncio.gather(*(store.put(v) for v in versions))
        assert await store.get("contract-race") in versions, "the stored document mixes several writes"


def _notifications() -> ModuleType:
    try:
        return importlib.import_module("buttress.notifications")
    except ImportError:  # pragma: no cover - a suite for its Protocols without the package
        pytest.skip("buttress-notifications is not installed")


class NotificationOutboxContract:
    """Conformance suite for a notification outbox (buttress-notifications' ``Outbox``).

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_outbox`, which
    gets the clock to build a new, empty outbox around; when the outbox has ``aclose()`` or
    ``close()`` that is called after the test.

    What it checks: ``enqueue`` returns what is stored and a dedupe key is stored once per channel;
    ``claim`` hands out only due jobs, each to one claimer at a time under a lease, and a digest
    group whole; ``settle`` writes an outcome only under the lease still held, and enqueues new
    jobs; ``requeue`` revives a dead job; ``purge`` drops old final jobs and frees their dedupe keys;
    ``jobs`` and ``counts`` report what is stored.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    #: How many claimers race in the concurrent check.
    concurrency: ClassVar[int] = 5

    async def make_outbox(self, *, clock: FakeClock) -> Any:
        """Return a new, empty outbox that reads time from ``clock``. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_outbox()")

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The clock the outbox is built with; the suite moves it."""
        return FakeClock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))

    @pytest_asyncio.fixture
    async def outbox(self, clock: FakeClock) -> AsyncIterator[Any]:
        """A fresh outbox, closed after the test."""
        made = await self.make_outbox(clock=clock)
        try:
            yield made
        finally:
            await close_quietly(made)

    # --- helpers

    def _job(self, clock: FakeClock, **fields: Any) -> Any:
        n = _notifications()
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "notification_id": f"n-{uuid.uuid4().hex[:12]}",
            "recipient_id": "contract-user",
            "channel": "email",
            "address": "contract@example.com",
            "category": "ops",
            "content": n.Rendered("subject", "text"),
            "created_at": clock.now(),
            "available_at": clock.now(),
        }
        values.update(fields)
        return n.Job(**values)

    @staticmethod
    def _status(name: str) -> Any:
        return _notifications().NotificationStatus(name)

    def _settled(self, claim: Any, status: str) -> list[Any]:
        return [job.but(status=self._status(status)) for job in claim.jobs]

    # --- enqueue

    async def test_enqueue_returns_what_is_stored(self, outbox: Any, clock: FakeClock) -> None:
        job = self._job(clock)
        (stored,) = await outbox.enqueue([job])
        assert (stored.id, stored.status) == (job.id, self._status("pending"))
        assert [j.id for j in await outbox.jobs(job.notification_id)] == [job.id]
        assert await outbox.counts() == {self._status("pending"): 1}

    async def test_a_dedupe_key_is_stored_once_per_channel(self, outbox: Any, clock: FakeClock) -> None:
        first = self._job(clock, dedupe_key="contract-key")
        again = self._job(clock, dedupe_key="contract-key")
        other_channel = self._job(clock, dedupe_key="contract-key", channel="sms")
        (kept,) = await outbox.enqueue([first])
        (duplicate,) = await outbox.enqueue([again])
        (separate,) = await outbox.enqueue([other_channel])
        assert kept.id == first.id
        assert duplicate.id == first.id, "a duplicate must return the job stored first"
        assert separate.id == other_channel.id, "a dedupe key is unique per channel only"
        assert await outbox.counts() == {self._status("pending"): 2}

    # --- claim

    async def test_only_due_jobs_are_claimed(self, outbox: Any, clock: FakeClock) -> None:
        later = self._job(clock, available_at=clock.now() + timedelta(seconds=60))
        await outbox.enqueue([later])
        assert await outbox.claim(limit=10, lease=30.0) == []
        clock.advance(60)
        (claim,) = await outbox.claim(limit=10, lease=30.0)
        (leased,) = claim.jobs
        assert leased.id == later.id
        assert leased.status == self._status("sending")
        assert leased.attempts == 1
        assert leased.lease_until == clock.now() + timedelta(seconds=30)

    async def test_each_due_job_goes_to_one_claimer(self, outbox: Any, clock: FakeClock) -> None:
        jobs = [self._job(clock) for _ in range(4 * self.concurrency)]
        await outbox.enqueue(jobs)
        claims = await asyncio.gather(
            *(outbox.claim(limit=len(jobs), lease=30.0) for _ in range(self.concurrency))
        )
        claimed = [job.id for batch in claims for claim in batch for job in claim.jobs]
        assert sorted(claimed) == sorted(j.id for j in jobs), "every due job is claimed exactly once"
        assert await outbox.claim(limit=len(jobs), lease=30.0) == [], "a leased job is not claimed again"

    async def test_a_claim_respects_its_limit(self, outbox: Any, clock: FakeClock) -> None:
        await outbox.enqueue([self._job(clock) for _ in range(5)])
        assert len(await outbox.claim(limit=2, lease=30.0)) == 2
        assert len(await outbox.claim(limit=10, lease=30.0)) == 3

    async def test_a_digest_group_is_claimed_whole(self, outbox: Any, clock: FakeClock) -> None:
        batched = self._status("batched")
        group = [
            self._job(clock, status=batched, digest_group="contract-group", digest_key="daily")
            for _ in range(3)
        ]
        await outbox.enqueue(group)
        (claim,) = await outbox.claim(limit=1, lease=30.0)
        assert claim.digest
        assert sorted(j.id for j in claim.jobs) == sorted(j.id for j in group)
        assert await outbox.claim(limit=1, lease=30.0) == []

    async def test_an_expired_lease_is_claimed_again(self, outbox: Any, clock: FakeClock) -> None:
        await outbox.enqueue([self._job(clock)])
        (first,) = await outbox.claim(limit=1, lease=10.0)
        clock.advance(5)
        assert await outbox.claim(limit=1, lease=10.0) == [], "the lease still holds"
        clock.advance(6)
        (second,) = await outbox.claim(limit=1, lease=10.0)
        assert second.jobs[0].id == first.jobs[0].id
        assert second.jobs[0].attempts == 2

    # --- settle

    async def test_settle_writes_the_outcome(self, outbox: Any, clock: FakeClock) -> None:
        job = self._job(clock)
        await outbox.enqueue([job])
        (claim,) = await outbox.claim(limit=1, lease=30.0)
        await outbox.settle(claim, self._settled(claim, "sent"))
        (stored,) = await outbox.jobs(job.notification_id)
        assert stored.status == self._status("sent")
        assert await outbox.counts() == {self._status("sent"): 1}
        assert await outbox.claim(limit=1, lease=30.0) == []

    async def test_a_lost_lease_ignores_the_late_settle(self, outbox: Any, clock: FakeClock) -> None:
        job = self._job(clock)
        await outbox.enqueue([job])
        (slow,) = await outbox.claim(limit=1, lease=10.0)
        clock.advance(11)
        (fast,) = await outbox.claim(limit=1, lease=10.0)
        await outbox.settle(slow, self._settled(slow, "sent"))
        (stored,) = await outbox.jobs(job.notification_id)
        assert stored.status == self._status("sending"), "a settle under a lost lease must be ignored"
        await outbox.settle(fast, self._settled(fast, "failed"))
        (stored,) = await outbox.jobs(job.notification_id)
        assert stored.status == self._status("failed")

    async def test_settle_enqueues_new_jobs(self, outbox: Any, clock: FakeClock) -> None:
        job = self._job(clock)
        await outbox.enqueue([job])
        (claim,) = await outbox.claim(limit=1, lease=30.0)
        failover = self._job(clock, notification_id=job.notification_id, channel="sms")
        await outbox.settle(claim, self._settled(claim, "failed"), [failover])
        stored = {j.channel: j.status for j in await outbox.jobs(job.notification_id)}
        assert stored == {"email": self._status("failed"), "sms": self._status("pending")}

    # --- operators

    async def test_requeue_revives_a_dead_job(self, outbox: Any, clock: FakeClock) -> None:
        job = self._job(clock)
        await outbox.enqueue([job])
        (claim,) = await outbox.claim(limit=1, lease=30.0)
        await outbox.settle(claim, self._settled(claim, "dead"))
        revived = await outbox.requeue(job.id)
        assert (revived.id, revived.status, revived.attempts) == (job.id, self._status("pending"), 0)
        (again,) = await outbox.claim(limit=1, lease=30.0)
        assert again.jobs[0].id == job.id

    async def test_purge_drops_old_final_jobs_and_frees_their_keys(
        self, outbox: Any, clock: FakeClock
    ) -> None:
        done = self._job(clock, dedupe_key="contract-purge")
        waiting = self._job(clock, available_at=clock.now() + timedelta(days=1))
        await outbox.enqueue([done, waiting])
        (claim,) = await outbox.claim(limit=10, lease=30.0)
        await outbox.settle(claim, self._settled(claim, "sent"))
        clock.advance(3600)
        assert await outbox.purge(clock.now()) == 1
        assert await outbox.counts() == {self._status("pending"): 1}
        fresh = self._job(clock, dedupe_key="contract-purge")
        (stored,) = await outbox.enqueue([fresh])
        assert stored.id == fresh.id, "a purged job's dedupe key is free again"
