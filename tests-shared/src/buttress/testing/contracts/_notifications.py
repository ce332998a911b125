"""`PreferenceStoreContract`: what a preference store for buttress-notifications must do.

The suite is duck-typed, so buttress-testing does not depend on buttress-notifications. A store is
driven through ``get(user_id)`` (the stored preferences or ``None``), ``put(preferences)`` (replace
the user's preferences whole) and ``delete(user_id)`` (``True`` when something was removed).
Preferences are built by the subclass's `make_preferences` hook and compared with ``==``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import time
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["PreferenceStoreContract"]

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
