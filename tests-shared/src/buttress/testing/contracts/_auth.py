"""`TokenStoreContract`: what a token revocation store (``buttress.auth.TokenStore``) must do.

The suite is duck-typed (buttress-testing does not depend on buttress-auth): it calls ``revoke``,
``revoke_all_for_user`` and ``is_revoked`` and reads booleans back. The store reads the real time:
entries that run out are given a fraction of a second, so a store whose expiry is the server's own
(Redis) is checked the same way as one in memory.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["TokenStoreContract"]

_MEMBERS = ("revoke", "revoke_all_for_user", "is_revoked")
_LATER = timedelta(hours=1)


def _now() -> datetime:
    return datetime.now(UTC)


def _id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


class TokenStoreContract:
    """Conformance suite for a ``buttress.auth.TokenStore``.

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_store`::

        from buttress.testing import TokenStoreContract

        class TestMyStore(TokenStoreContract):
            async def make_store(self):
                return MyStore()

    What it checks: ``revoke`` answers ``True`` once and ``False`` after, atomically under
    concurrent calls (refresh-token reuse detection rests on it); a revoked ``jti`` or ``family`` is
    revoked and nothing else is; an entry is kept until its ``expires_at`` and may go after; a
    per-user cutoff revokes that user's tokens issued at or before it, not after, not another
    user's, and never moves back; bad ids and naive datetimes are refused with ``ValueError`` or
    ``TypeError`` subclasses.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    #: Seconds an entry given a short life is waited for to run out.
    expiry_wait: ClassVar[float] = 1.2

    async def make_store(self) -> Any:
        """Return a new, empty store. Subclasses must implement it; it is closed after the test."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A store from `make_store`, closed after the test (``aclose()`` or ``close()``)."""
        store = await self.make_store()
        try:
            yield store
        finally:
            await close_quietly(store)

    async def test_it_is_a_token_store(self, store: Any) -> None:
        missing = [name for name in _MEMBERS if not callable(getattr(store, name, None))]
        assert not missing, f"a TokenStore has {', '.join(_MEMBERS)}; missing {missing}"

    async def test_revoke_answers_true_once_then_false(self, store: Any) -> None:
        jti = _id("jti")
        assert await store.revoke(jti, expires_at=_now() + _LATER) is True
        assert await store.revoke(jti, expires_at=_now() + _LATER) is False

    async def test_a_revoked_jti_is_revoked_and_no_other(self, store: Any) -> None:
        user, revoked, kept = _id("user"), _id("jti"), _id("jti")
        issued = _now()
        await store.revoke(revoked, expires_at=_now() + _LATER)
        assert await store.is_revoked(revoked, user_id=user, issued_at=issued) is True
        assert await store.is_revoked(kept, user_id=user, issued_at=issued) is False

    async def test_a_revoked_family_revokes_its_tokens(self, store: Any) -> None:
        user, family, other_family = _id("user"), _id("family"), _id("family")
        await store.revoke(family, expires_at=_now() + _LATER)
        issued = _now()
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=issued, family=family) is True
        elsewhere = await store.is_revoked(_id("jti"), user_id=user, issued_at=issued, family=other_family)
        assert elsewhere is False
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=issued) is False

    async def test_concurrent_revokes_of_one_jti_let_exactly_one_win(self, store: Any) -> None:
        jti = _id("jti")
        answers = await asyncio.gather(*(store.revoke(jti, expires_at=_now() + _LATER) for _ in range(20)))
        assert sorted(answers) == [False] * 19 + [True]

    async def test_an_entry_is_kept_until_it_expires(self, store: Any) -> None:
        user, jti = _id("user"), _id("jti")
        issued = _now()
        await store.revoke(jti, expires_at=_now() + timedelta(seconds=self.expiry_wait / 2))
        assert await store.is_revoked(jti, user_id=user, issued_at=issued) is True
        await asyncio.sleep(self.expiry_wait)
        assert await store.is_revoked(jti, user_id=user, issued_at=issued) is False
        assert await store.revoke(jti, expires_at=_now() + _LATER) is True

    async def test_revoking_what_expired_already_keeps_nothing(self, store: Any) -> None:
        user, jti = _id("user"), _id("jti")
        await store.revoke(jti, expires_at=_now() - timedelta(seconds=5))
        assert await store.is_revoked(jti, user_id=user, issued_at=_now()) is False

    async def test_a_cutoff_revokes_the_users_earlier_tokens_only(self, store: Any) -> None:
        user, other = _id("user"), _id("user")
        cutoff = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        await store.revoke_all_for_user(user, cutoff=cutoff, expires_at=_now() + _LATER)
        before, at, after = cutoff - timedelta(minutes=5), cutoff, cutoff + timedelta(seconds=1)
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=before) is True
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=at) is True
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=after) is False
        assert await store.is_revoked(_id("jti"), user_id=other, issued_at=before) is False

    async def test_a_cutoff_never_moves_back(self, store: Any) -> None:
        user = _id("user")
        late = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        await store.revoke_all_for_user(user, cutoff=late, expires_at=_now() + _LATER)
        await store.revoke_all_for_user(user, cutoff=late - timedelta(hours=1), expires_at=_now() + _LATER)
        issued = late - timedelta(minutes=1)
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=issued) is True

    async def test_a_cutoff_expires(self, store: Any) -> None:
        user = _id("user")
        cutoff = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        short = _now() + timedelta(seconds=self.expiry_wait / 2)
        await store.revoke_all_for_user(user, cutoff=cutoff, expires_at=short)
        await asyncio.sleep(self.expiry_wait)
        issued = cutoff - timedelta(minutes=1)
        assert await store.is_revoked(_id("jti"), user_id=user, issued_at=issued) is False

    @pytest.mark.parametrize("bad", ["", "a" * 1_000, "nul\x00"])
    async def test_bad_ids_are_refused_with_a_value_error(self, store: Any, bad: str) -> None:
        later = _now() + _LATER
        with pytest.raises(ValueError, match=r"."):
            await store.revoke(bad, expires_at=later)
        with pytest.raises(ValueError, match=r"."):
            await store.revoke_all_for_user(bad, cutoff=_now(), expires_at=later)
        with pytest.raises(ValueError, match=r"."):
            await store.is_revoked(bad, user_id="user", issued_at=_now())

    async def test_wrong_types_are_refused_with_a_type_error(self, store: Any) -> None:
        with pytest.raises(TypeError):
            await store.revoke(42, expires_at=_now() + _LATER)
        with pytest.raises(TypeError):
            await store.revoke(_id("jti"), expires_at="tomorrow")
        with pytest.raises((TypeError, ValueError)):
            await store.revoke(_id("jti"), expires_at=datetime(2030, 1, 1))
