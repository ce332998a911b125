"""The token store's properties (4 to 7 of its specification) and the token round trip, with hypothesis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from buttress.auth import (
    AuthConfigurationError,
    AuthTypeError,
    KeySet,
    MemoryTokenStore,
    SigningKey,
    TokenService,
    VerifyingKey,
)
from buttress.testing import FakeClock

START = datetime(2030, 1, 1, tzinfo=UTC)
KEY = SigningKey.generate("EdDSA")
ids = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=64)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@given(st.one_of(st.text(max_size=300), st.integers(), st.none(), st.binary(), st.lists(st.text())))
def test_property_4_input_validation(value: object) -> None:
    """Property 4: Input Validation. An id is accepted iff it is a non-empty str of at most 256
    UTF-8 bytes without NUL or lone surrogate; anything else is a typed error, and nothing is kept."""
    store = MemoryTokenStore()
    later = datetime.now(UTC) + timedelta(hours=1)
    valid = isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= 256
    valid = (
        valid
        and "\x00" not in str(value)
        and str(value).encode("utf-8", "ignore") == str(value).encode("utf-8", "surrogatepass")
    )
    try:
        assert run(store.revoke(value, expires_at=later)) is True  # type: ignore[arg-type]
    except (AuthConfigurationError, AuthTypeError):
        assert not valid
        assert len(store) == 0
    else:
        assert valid
        assert len(store) == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
extra_claims = st.dictionaries(
    st.text(max_size=12).filter(
        lambda name: name not in {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"}
    ),
    json_values,
    max_size=5,
)


@given(extra_claims, ids)
def test_property_5_serialization_round_trip(claims: dict[str, Any], subject: str) -> None:
    """Property 5: Serialization Round Trip. What is issued is what verification returns, claim for claim."""
    service = TokenService(KeySet(KEY), issuer="https://id.example", audience="api")
    verified = service.decode(service.issue_access(subject, claims=claims))
    assert verified.subject == subject
    assert {name: verified.claims[name] for name in claims} == json.loads(json.dumps(claims))


def test_jwk_round_trip_for_each_algorithm() -> None:
    for alg in ("RS256", "ES256", "EdDSA"):
        key = SigningKey.generate(alg)
        assert VerifyingKey.from_jwk(json.loads(json.dumps(key.verifying_key.jwk()))) == key.verifying_key


@given(st.integers(1, 20), st.lists(ids, unique=True, min_size=1, max_size=60))
def test_property_6_eviction_order(capacity: int, jtis: list[str]) -> None:
    """Property 6: Eviction Order. Past its capacity the store drops the oldest revocations first:
    what remains is exactly the last ``capacity`` revoked."""
    store = MemoryTokenStore(max_entries=capacity)
    later = datetime.now(UTC) + timedelta(hours=1)
    for jti in jtis:
        run(store.revoke(jti, expires_at=later))
    now = datetime.now(UTC)
    kept = {jti for jti in jtis if run(store.is_revoked(jti, user_id="u", issued_at=now))}
    assert kept == set(jtis[-capacity:])


class RevocationMachine(RuleBasedStateMachine):
    """Property 7: Revocation Completeness. Every revocation that has not expired is reported, and
    nothing else is, through any sequence of revocations, cutoffs and passing time (a model check)."""

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock(START)
        self.store = MemoryTokenStore(max_entries=1_000, clock=self.clock)
        self.revoked: dict[str, float] = {}  # jti -> expiry
        self.cutoffs: dict[str, tuple[float, float]] = {}  # user -> (cutoff, expiry)

    def now(self) -> float:
        return self.clock.now().timestamp()

    @rule(jti=st.sampled_from(["a", "b", "c", "d"]), life=st.integers(-5, 100))
    def revoke(self, jti: str, life: int) -> None:
        live = self.revoked.get(jti, float("-inf")) > self.now()
        first = run(self.store.revoke(jti, expires_at=self.clock.now() + timedelta(seconds=life)))
        assert first is not live
        if not live and life > 0:
            self.revoked[jti] = self.now() + life

    @rule(user=st.sampled_from(["u1", "u2"]), back=st.integers(0, 50), life=st.integers(1, 100))
    def revoke_all(self, user: str, back: int, life: int) -> None:
        cutoff, until = self.now() - back, self.now() + life
        held = self.cutoffs.get(user)
        if held is not None and held[1] > self.now():
            cutoff, until = max(cutoff, held[0]), max(until, held[1])
        self.cutoffs[user] = (cutoff, until)
        run(
            self.store.revoke_all_for_user(
                user,
                cutoff=self.clock.now() - timedelta(seconds=back),
                expires_at=self.clock.now() + timedelta(seconds=life),
            )
        )

    @rule(seconds=st.integers(1, 40))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def reports_exactly_the_live_revocations(self) -> None:
        if not hasattr(self, "store"):
            return
        now = self.now()
        cases = [(jti, user, now - age) for jti in "abcd" for user in ("u1", "u2") for age in (0, 20, 60)]

        async def answers() -> list[bool]:
            return [
                await self.store.is_revoked(jti, user_id=user, issued_at=datetime.fromtimestamp(issued, UTC))
                for jti, user, issued in cases
            ]

        for (jti, user, issued), answer in zip(cases, run(answers()), strict=True):
            cut = self.cutoffs.get(user)
            expected = self.revoked.get(jti, float("-inf")) > now or (
                cut is not None and cut[1] > now and issued // 1 <= cut[0]
            )
            assert answer is expected, (jti, user, now - issued)


TestRevocationCompleteness = RevocationMachine.TestCase
TestRevocationCompleteness.settings = settings(max_examples=40, stateful_step_count=25)


class KeyRotationMachine(RuleBasedStateMachine):
    """Keys through rotations, retirements and time: a token verifies iff its key is active, or
    verify-only within its grace; the JWKS lists exactly those keys."""

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock(START)
        self.keys = KeySet(SigningKey.generate("EdDSA"), clock=self.clock)
        self.service = TokenService(
            self.keys, issuer="https://id.example", audience="api", access_ttl=10**6, clock=self.clock
        )
        self.tokens: dict[str, str] = {self.keys.active.kid: self.service.issue_access("u")}
        self.until: dict[str, float | None] = {self.keys.active.kid: None}  # None: active; -inf: retired

    @rule(grace=st.integers(0, 100))
    def rotate(self, grace: int) -> None:
        old = self.keys.active.kid
        self.keys.rotate(SigningKey.generate("EdDSA"), grace=grace)
        self.until[old] = self.clock.now().timestamp() + grace if grace else float("-inf")
        new = self.keys.active.kid
        self.until[new] = None
        self.tokens[new] = self.service.issue_access("u")

    @rule(data=st.data())
    def retire(self, data: st.DataObject) -> None:
        graced = sorted(kid for kid, until in self.until.items() if until is not None)
        if graced:
            kid = data.draw(st.sampled_from(graced))
            self.keys.retire(kid)
            self.until[kid] = float("-inf")

    @rule(seconds=st.integers(1, 60))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def tokens_verify_while_their_key_does(self) -> None:
        if not hasattr(self, "keys"):
            return
        now = self.clock.now().timestamp()
        live = {kid for kid, until in self.until.items() if until is None or until > now}
        for kid, token in self.tokens.items():
            try:
                self.service.decode(token)
            except Exception:  # noqa: BLE001 - any refusal counts as not verifying
                assert kid not in live
            else:
                assert kid in live
        assert {key["kid"] for key in self.keys.jwks()["keys"]} == live


TestKeyRotation = KeyRotationMachine.TestCase
TestKeyRotation.settings = settings(max_examples=30, stateful_step_count=15)


@pytest.mark.parametrize("capacity", [1, 3])
def test_eviction_prefers_expired_entries(capacity: int) -> None:
    clock = FakeClock(START)
    store = MemoryTokenStore(max_entries=capacity, clock=clock)
    run(store.revoke("short", expires_at=START + timedelta(seconds=5)))
    for index in range(capacity - 1):
        run(store.revoke(f"long-{index}", expires_at=START + timedelta(hours=1)))
    clock.advance(10)
    run(store.revoke("new", expires_at=START + timedelta(hours=1)))
    now = clock.now()
    assert run(store.is_revoked("new", user_id="u", issued_at=now))
    for index in range(capacity - 1):
        assert run(store.is_revoked(f"long-{index}", user_id="u", issued_at=now))
