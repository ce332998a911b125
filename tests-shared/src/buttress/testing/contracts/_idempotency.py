"""`IdempotencyStoreContract`: what a store for buttress-idempotency must do.

The suite is duck-typed, so buttress-testing does not depend on buttress-idempotency: it drives the
four methods of the ``IdempotencyStore`` Protocol (``claim``, ``complete``, ``release``, ``renew``) and
reads the claim's ``outcome`` (a str enum: ``"claimed"``, ``"in_flight"``, ``"completed"``,
``"mismatch"``), ``token``, ``response`` and ``retry_after``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._cache import close_quietly

__all__ = ["IdempotencyStoreContract"]

_LONG = 60.0


@dataclass(frozen=True)
class _Response:
    """A response as stores receive it: they may read only these three attributes."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


_SAMPLE = _Response(
    201,
    (
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),  # repeated names are kept, in order
        (b"x-raw", bytes(range(128, 256))),  # header values are bytes, not text
        (b"x-empty", b""),
    ),
    b'{"id": 7}\x00\xff\r\n' + bytes(range(256)),
)


class IdempotencyStoreContract:
    """Conformance suite for an idempotency store (buttress-idempotency's ``IdempotencyStore``).

    Subclass it in a ``test_*.py`` module (as ``TestSomething``) and implement `make_store`. Each test
    gets a fresh, empty store; when it has ``aclose()`` or ``close()`` that is called after the test.
    Stores whose time a test can move (an injected fake clock) override `pass_time`.

    Attributes:
        short_lease: A lease (and retention) in seconds the store honours; expiry checks wait it out.
        expiry_wait: How long, at most, an expiry check waits past ``short_lease`` before failing.
        concurrency: How many claims of one key race in the concurrency check.
    """

    short_lease: ClassVar[float] = 0.3
    expiry_wait: ClassVar[float] = 5.0
    concurrency: ClassVar[int] = 50

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    async def make_store(self) -> Any:
        """Return a new, empty store to test. Subclasses must implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store()")

    async def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store; real time by default (override for a fake clock)."""
        await asyncio.sleep(seconds)

    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[Any]:
        """A fresh store from `make_store`, closed after the test."""
        made = await self.make_store()
        try:
            yield made
        finally:
            await close_quietly(made)

    # --- helpers ---------------------------------------------------------------------------------

    async def _claimed(self, store: Any, key: str, fingerprint: str = "fp", lease: float = _LONG) -> str:
        claim = await store.claim(key, fingerprint, lease=lease)
        assert claim.outcome == "claimed", f"a free key {key!r} was not claimed: {claim!r}"
        assert isinstance(claim.token, str)
        assert claim.token
        return str(claim.token)

    async def _outcome(self, store: Any, key: str, fingerprint: str = "fp") -> str:
        return str((await store.claim(key, fingerprint, lease=_LONG)).outcome)

    async def _wait_until_claimable(self, store: Any, key: str, fingerprint: str) -> str:
        """Poll until ``key`` can be claimed again; return the new token."""
        await self.pass_time(self.short_lease)
        waited = 0.0
        while True:
            claim = await store.claim(key, fingerprint, lease=_LONG)
            if claim.outcome == "claimed":
                return str(claim.token)
            assert waited < self.expiry_wait, (
                f"{key!r} still {claim.outcome} {self.expiry_wait}s after its {self.short_lease}s ran out"
            )
            await self.pass_time(0.05)
            waited += 0.05

    @staticmethod
    def _assert_same(got: Any, expected: _Response) -> None:
        assert got is not None, "a completed claim carried no response"
        assert got.status == expected.status
        assert [(bytes(n), bytes(v)) for n, v in got.headers] == list(expected.headers)
        assert bytes(got.body) == expected.body
        assert isinstance(got.body, bytes)

    # --- the Protocol ----------------------------------------------------------------------------

    async def test_has_the_four_coroutine_methods(self, store: Any) -> None:
        for name in ("claim", "complete", "release", "renew"):
            assert inspect.iscoroutinefunction(getattr(store, name, None)), (
                f"{name} must be a coroutine method"
            )

    async def test_a_free_key_is_claimed_with_a_token(self, store: Any) -> None:
        claim = await store.claim("contract:free", "fp", lease=_LONG)
        assert claim.outcome == "claimed"
        assert isinstance(claim.token, str)
        assert claim.token
        assert claim.response is None

    async def test_tokens_differ_between_claims(self, store: Any) -> None:
        first = await self._claimed(store, "contract:tok:a")
        second = await self._claimed(store, "contract:tok:b")
        assert await store.release("contract:tok:a", first) is True
        third = await self._claimed(store, "contract:tok:a")
        assert len({first, second, third}) == 3

    async def test_a_held_key_is_in_flight_for_the_same_fingerprint(self, store: Any) -> None:
        await self._claimed(store, "contract:held")
        claim = await store.claim("contract:held", "fp", lease=_LONG)
        assert claim.outcome == "in_flight"
        assert claim.token is None
        assert claim.response is None
        if claim.retry_after is not None:
            assert 0 <= claim.retry_after <= _LONG

    async def test_a_held_key_is_a_mismatch_for_another_fingerprint(self, store: Any) -> None:
        await self._claimed(store, "contract:held-mm", "fp-a")
        assert await self._outcome(store, "contract:held-mm", "fp-b") == "mismatch"
        assert await self._outcome(store, "contract:held-mm", "fp-a") == "in_flight"

    async def test_complete_then_claim_replays_the_exact_response(self, store: Any) -> None:
        token = await self._claimed(store, "contract:done")
        assert await store.complete("contract:done", token, _SAMPLE, retention=_LONG) is True
        for _ in range(2):  # replaying does not consume the record
            claim = await store.claim("contract:done", "fp", lease=_LONG)
            assert claim.outcome == "completed"
            assert claim.token is None
            self._assert_same(claim.response, _SAMPLE)

    @pytest.mark.parametrize(
        "response",
        [
            _Response(200, (), b""),
            _Response(404, ((b"content-type", b"text/plain; charset=utf-8"),), "nöt föund".encode()),
            _Response(204, ((b"x", b"y"),) * 40, b""),
            _Response(200, (), b"\x00" * (1 << 20)),
        ],
        ids=["empty", "text", "many-headers", "one-mebibyte"],
    )
    async def test_every_response_shape_round_trips(self, store: Any, response: _Response) -> None:
        token = await self._claimed(store, "contract:shape")
        assert await store.complete("contract:shape", token, response, retention=_LONG) is True
        claim = await store.claim("contract:shape", "fp", lease=_LONG)
        assert claim.outcome == "completed"
        self._assert_same(claim.response, response)

    async def test_a_completed_key_is_a_mismatch_for_another_fingerprint(self, store: Any) -> None:
        token = await self._claimed(store, "contract:done-mm", "fp-a")
        await store.complete("contract:done-mm", token, _SAMPLE, retention=_LONG)
        assert await self._outcome(store, "contract:done-mm", "fp-b") == "mismatch"
        assert await self._outcome(store, "contract:done-mm", "fp-a") == "completed"

    async def test_release_frees_the_key(self, store: Any) -> None:
        token = await self._claimed(store, "contract:rel", "fp-a")
        assert await store.release("contract:rel", token) is True
        # Released means absent: any fingerprint may claim it now.
        new = await self._claimed(store, "contract:rel", "fp-b")
        assert new != token
        assert await store.release("contract:rel", token) is False

    async def test_only_the_token_holder_can_complete_release_or_renew(self, store: Any) -> None:
        token = await self._claimed(store, "contract:fence")
        assert await store.complete("contract:fence", token + "x", _SAMPLE, retention=_LONG) is False
        assert await store.complete("contract:fence", "", _SAMPLE, retention=_LONG) is False
        assert await store.release("contract:fence", token + "x") is False
        assert await store.renew("contract:fence", token + "x", lease=_LONG) is False
        assert await self._outcome(store, "contract:fence") == "in_flight"
        assert await store.renew("contract:fence", token, lease=_LONG) is True
        assert await store.complete("contract:fence", token, _SAMPLE, retention=_LONG) is True

    async def test_a_completed_record_cannot_be_completed_again_or_released(self, store: Any) -> None:
        token = await self._claimed(store, "contract:once")
        assert await store.complete("contract:once", token, _SAMPLE, retention=_LONG) is True
        other = _Response(500, (), b"overwritten")
        assert await store.complete("contract:once", token, other, retention=_LONG) is False
        assert await store.release("contract:once", token) is False
        assert await store.renew("contract:once", token, lease=_LONG) is False
        claim = await store.claim("contract:once", "fp", lease=_LONG)
        assert claim.outcome == "completed"
        self._assert_same(claim.response, _SAMPLE)

    async def test_unknown_keys_cannot_be_completed_released_or_renewed(self, store: Any) -> None:
        assert await store.complete("contract:nokey", "t", _SAMPLE, retention=_LONG) is False
        assert await store.release("contract:nokey", "t") is False
        assert await store.renew("contract:nokey", "t", lease=_LONG) is False
        assert await self._outcome(store, "contract:nokey") == "claimed"

    async def test_an_expired_lease_frees_the_key_and_fences_the_old_holder(self, store: Any) -> None:
        old = await self._claimed(store, "contract:lease", "fp-a", lease=self.short_lease)
        # Expired means absent: the next claim takes it whatever its fingerprint.
        new = await self._wait_until_claimable(store, "contract:lease", "fp-b")
        assert new != old
        assert await store.complete("contract:lease", old, _SAMPLE, retention=_LONG) is False
        assert await store.renew("contract:lease", old, lease=_LONG) is False
        assert await store.release("contract:lease", old) is False
        assert await self._outcome(store, "contract:lease", "fp-b") == "in_flight"
        assert await store.complete("contract:lease", new, _SAMPLE, retention=_LONG) is True
        assert await self._outcome(store, "contract:lease", "fp-b") == "completed"

    async def test_an_expired_lease_cannot_complete_even_unclaimed(self, store: Any) -> None:
        old = await self._claimed(store, "contract:late", lease=self.short_lease)
        await self.pass_time(self.short_lease * 2)
        assert await store.complete("contract:late", old, _SAMPLE, retention=_LONG) is False
        assert await self._outcome(store, "contract:late") == "claimed"

    async def test_renew_keeps_a_lease_alive(self, store: Any) -> None:
        token = await self._claimed(store, "contract:renew", lease=self.short_lease)
        assert await store.renew("contract:renew", token, lease=_LONG) is True
        await self.pass_time(self.short_lease * 2)
        assert await self._outcome(store, "contract:renew") == "in_flight"
        assert await store.complete("contract:renew", token, _SAMPLE, retention=_LONG) is True

    async def test_a_completed_record_expires_after_its_retention(self, store: Any) -> None:
        token = await self._claimed(store, "contract:ret")
        await store.complete("contract:ret", token, _SAMPLE, retention=self.short_lease)
        assert await self._outcome(store, "contract:ret") == "completed"
        await self._wait_until_claimable(store, "contract:ret", "fp-new")

    async def test_keys_are_distinct(self, store: Any) -> None:
        keys = ["a", "A", "a ", "a:b", "a*", "[a]", "ключ", "🔑", "x" * 300, "a\\b", "%s", "a'b"]
        tokens = [await self._claimed(store, key) for key in keys]
        for index, (key, token) in enumerate(zip(keys, tokens, strict=True)):
            response = _Response(200, (), str(index).encode())
            assert await store.complete(key, token, response, retention=_LONG) is True
        for index, key in enumerate(keys):
            claim = await store.claim(key, "fp", lease=_LONG)
            assert claim.outcome == "completed", key
            assert claim.response.body == str(index).encode(), key

    async def test_concurrent_claims_of_one_key_give_it_to_exactly_one(self, store: Any) -> None:
        for trial in range(3):
            key = f"contract:race:{trial}"
            claims = await asyncio.gather(
                *(store.claim(key, "fp", lease=_LONG) for _ in range(self.concurrency))
            )
            outcomes = [str(c.outcome) for c in claims]
            assert outcomes.count("claimed") == 1, outcomes
            assert outcomes.count("in_flight") == self.concurrency - 1, outcomes

    async def test_concurrent_claims_of_distinct_keys_all_succeed(self, store: Any) -> None:
        claims = await asyncio.gather(
            *(store.claim(f"contract:many:{i}", "fp", lease=_LONG) for i in range(self.concurrency))
        )
        assert [str(c.outcome) for c in claims] == ["claimed"] * self.concurrency
        assert len({c.token for c in claims}) == self.concurrency

    async def test_a_completion_racing_a_release_leaves_one_outcome(self, store: Any) -> None:
        token = await self._claimed(store, "contract:cr")
        done, released = await asyncio.gather(
            store.complete("contract:cr", token, _SAMPLE, retention=_LONG),
            store.release("contract:cr", token),
        )
        assert (done, released) in {(True, False), (False, True)}
        assert await self._outcome(store, "contract:cr") == ("completed" if done else "claimed")

    @pytest.mark.parametrize("lease", [0, -1, math.inf, math.nan])
    async def test_a_lease_that_is_not_a_positive_finite_number_is_rejected(
        self,
        store: Any,
        lease: float,
    ) -> None:
        with pytest.raises(ValueError, match="lease"):
            await store.claim("contract:bad-lease", "fp", lease=lease)
        token = await self._claimed(store, "contract:bad-lease")
        with pytest.raises(ValueError, match="lease"):
            await store.renew("contract:bad-lease", token, lease=lease)

    @pytest.mark.parametrize("retention", [0, -5, math.inf])
    async def test_a_retention_that_is_not_a_positive_finite_number_is_rejected(
        self,
        store: Any,
        retention: float,
    ) -> None:
        token = await self._claimed(store, "contract:bad-ret")
        with pytest.raises(ValueError, match="retention"):
            await store.complete("contract:bad-ret", token, _SAMPLE, retention=retention)
        assert await self._outcome(store, "contract:bad-ret") == "in_flight"
