"""`EndpointStoreContract`: what a buttress-webhooks endpoint store must do."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from buttress.core import ConflictError, NotFoundError

from ._cache import close_quietly

__all__ = ["EndpointStoreContract"]

_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's published test secret
_OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


class EndpointStoreContract:
    """Conformance suite for an endpoint store (``buttress.webhooks.EndpointStore``).

    The store keeps endpoints verbatim: what `create` or `update` was given, `get` and `list` return
    (equal, field for field). Subclass it in a ``test_*.py`` module (as ``TestSomething``) and
    implement two hooks; this suite does not import buttress-webhooks, so the hooks build the records:

    - `make_store`: a new, empty store (closed after the test with ``aclose()``/``close()`` if it has one).
    - `make_endpoint`: an endpoint record with the given fields (``Endpoint(...)`` for buttress-webhooks).

    `change` returns a copy of an endpoint with some fields changed; it defaults to
    `dataclasses.replace`.

    The store must raise a ``buttress.core.ConflictError`` when `create` meets an existing id, and a
    ``buttress.core.NotFoundError`` from `get` and `update` of an unknown id.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_store(self) -> Any:
        """Return a new, empty store. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    def make_endpoint(
        self,
        *,
        id: str,
        url: str,
        secrets: tuple[str, ...],
        event_types: frozenset[str] | None = None,
        enabled: bool = True,
        disabled_reason: str | None = None,
        rate_limit: int | None = None,
        headers: dict[str, str] | None = None,
        description: str = "",
        previous_secrets_expire_at: datetime | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> Any:
        """Return an endpoint record with these fields. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_endpoint()")

    def change(self, endpoint: Any, **changes: Any) -> Any:
        """Return ``endpoint`` with ``changes`` applied."""
        return dataclasses.replace(endpoint, **changes)

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A fresh store from `make_store`, closed after the test."""
        created = await self.make_store()
        try:
            yield created
        finally:
            await close_quietly(created)

    def endpoint(self, id: str, **fields: Any) -> Any:
        """An endpoint with sensible defaults for the fields not given."""
        fields.setdefault("url", f"https://hooks.example.com/{id}")
        fields.setdefault("secrets", (_SECRET,))
        return self.make_endpoint(id=id, **fields)

    async def test_create_then_get_round_trips_every_field(self, store: Any) -> None:
        when = datetime(2026, 5, 4, 3, 2, 1, 123000, tzinfo=UTC)
        full = self.endpoint(
            "ep_full",
            url="https://hooks.example.com/path?x=1",
            secrets=(_OTHER_SECRET, _SECRET),
            event_types=frozenset({"invoice.paid", "user.created"}),
            enabled=False,
            disabled_reason="by hand",
            rate_limit=7,
            headers={"X-Team": "billing", "Authorization": "Bearer t"},
            description="ünïcode ✓",
            previous_secrets_expire_at=when,
            created_at=when,
            updated_at=when,
        )
        assert await store.create(full) == full
        got = await store.get("ep_full")
        assert got == full
        assert got.event_types == frozenset({"invoice.paid", "user.created"})
        assert tuple(got.secrets) == (_OTHER_SECRET, _SECRET), (
            "the order of secrets matters: the first is current"
        )
        assert dict(got.headers) == {"X-Team": "billing", "Authorization": "Bearer t"}
        assert got.created_at == when

    async def test_defaults_round_trip(self, store: Any) -> None:
        plain = self.endpoint("ep_plain")
        await store.create(plain)
        got = await store.get("ep_plain")
        assert got == plain
        assert got.event_types is None
        assert got.enabled is True

    async def test_create_refuses_an_existing_id(self, store: Any) -> None:
        await store.create(self.endpoint("ep_dup"))
        with pytest.raises(ConflictError):
            await store.create(self.endpoint("ep_dup", url="https://other.example.com/"))
        assert (await store.get("ep_dup")).url == "https://hooks.example.com/ep_dup"

    async def test_get_of_an_unknown_id_is_not_found(self, store: Any) -> None:
        with pytest.raises(NotFoundError):
            await store.get("ep_absent")

    async def test_update_replaces_the_record(self, store: Any) -> None:
        original = self.endpoint("ep_up", event_types=frozenset({"a"}))
        await store.create(original)
        changed = self.change(
            original,
            url="https://new.example.com/",
            enabled=False,
            event_types=None,
            secrets=(_OTHER_SECRET,),
        )
        assert await store.update(changed) == changed
        assert await store.get("ep_up") == changed

    async def test_update_of_an_unknown_id_is_not_found(self, store: Any) -> None:
        with pytest.raises(NotFoundError):
            await store.update(self.endpoint("ep_ghost"))
        with pytest.raises(NotFoundError):
            await store.get("ep_ghost")

    async def test_delete_reports_whether_it_existed(self, store: Any) -> None:
        await store.create(self.endpoint("ep_del"))
        assert await store.delete("ep_del") is True
        assert await store.delete("ep_del") is False
        with pytest.raises(NotFoundError):
            await store.get("ep_del")
        await store.create(self.endpoint("ep_del"))  # the id is free again

    async def test_list_is_ordered_by_id_and_filters(self, store: Any) -> None:
        await store.create(self.endpoint("ep_c", event_types=frozenset({"a.b"})))
        await store.create(self.endpoint("ep_a"))
        await store.create(self.endpoint("ep_b", event_types=frozenset({"x.y", "a.b"}), enabled=False))
        await store.create(self.endpoint("ep_d", event_types=frozenset({"x.y"})))
        assert [e.id for e in await store.list()] == ["ep_a", "ep_b", "ep_c", "ep_d"]
        assert [e.id for e in await store.list(event_type="a.b")] == ["ep_a", "ep_b", "ep_c"]
        assert [e.id for e in await store.list(enabled=True)] == ["ep_a", "ep_c", "ep_d"]
        assert [e.id for e in await store.list(enabled=False)] == ["ep_b"]
        assert [e.id for e in await store.list(event_type="x.y", enabled=True)] == ["ep_a", "ep_d"]
        assert [e.id for e in await store.list(event_type="nobody.listens")] == ["ep_a"]

    async def test_list_of_an_empty_store_is_empty(self, store: Any) -> None:
        assert list(await store.list()) == []

    async def test_event_type_filter_is_exact(self, store: Any) -> None:
        await store.create(self.endpoint("ep_exact", event_types=frozenset({"invoice.paid"})))
        for other in ("invoice", "invoice.paid.late", "INVOICE.PAID", "invoice.*"):
            assert await store.list(event_type=other) == [], other

    async def test_concurrent_creates_of_one_id_let_exactly_one_win(self, store: Any) -> None:
        candidates = [self.endpoint("ep_race", url=f"https://hooks.example.com/{n}") for n in range(5)]
        results = await asyncio.gather(*(store.create(c) for c in candidates), return_exceptions=True)
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))
        assert await store.get("ep_race") == winners[0]
