"""Hypothesis properties: replay fidelity, fingerprint conflicts, key scoping, the store state machine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from buttress.idempotency import (
    IdempotencyMiddleware,
    InvalidKeyError,
    MemoryStore,
    RedisStore,
    StoredResponse,
    decode_response,
    encode_response,
    parse_idempotency_key,
    request_fingerprint,
    scope_key,
)
from buttress.idempotency._keys import framed_identity, request_identity, route_frames
from buttress.idempotency._middleware import _framed
from buttress.testing import FakeClock

SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:~+/="
keys = st.text(SAFE, min_size=1, max_size=255)
header_names = st.binary(min_size=1, max_size=20)
headers = st.lists(st.tuples(header_names, st.binary(max_size=60)), max_size=8)
responses = st.builds(StoredResponse, st.integers(100, 999), headers.map(tuple), st.binary(max_size=2048))


class ScriptedApp:
    """An ASGI app that answers with whatever response it is given, counting calls."""

    def __init__(self) -> None:
        self.response = StoredResponse()
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        while (await receive()).get("more_body", False):
            pass
        response = self.response
        await send(
            {"type": "http.response.start", "status": response.status, "headers": list(response.headers)}
        )
        # Split the body in two chunks to exercise capture of streamed responses too.
        half = len(response.body) // 2
        await send({"type": "http.response.body", "body": response.body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": response.body[half:]})


async def call(
    app: Any, key: bytes, body: bytes, *, path: str = "/r", user: bytes = b""
) -> list[dict[str, Any]]:
    """Call an ASGI app in process; return the messages it sent."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"idempotency-key", key), (b"x-user", user)],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def as_response(messages: list[dict[str, Any]]) -> StoredResponse:
    start = messages[0]
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return StoredResponse(start["status"], tuple((bytes(n), bytes(v)) for n, v in start["headers"]), body)


def user_header(scope: Any) -> str:
    return dict(scope["headers"])[b"x-user"].decode()


async def _replay_fidelity(store: Any, response: StoredResponse, key: str) -> None:
    app = ScriptedApp()
    app.response = response
    middleware = IdempotencyMiddleware(app, store, store_status=lambda _: True)
    first = as_response(await call(middleware, key.encode(), b"body"))
    replay = as_response(await call(middleware, key.encode(), b"body"))
    assert app.calls == 1
    assert first == response
    assert replay.status == response.status
    assert replay.headers == (*response.headers, (b"idempotent-replayed", b"true"))
    assert replay.body == response.body


@given(response=responses, key=keys)
def test_replay_is_faithful_on_memory(response: StoredResponse, key: str) -> None:
    """Property 1: replay fidelity: the stored status, headers (bytes, order, repeats) and body come back."""
    asyncio.run(_replay_fidelity(MemoryStore(), response, key))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=responses, key=keys)
def test_replay_is_faithful_on_redis(
    redis_url: str, redis_prefix: str, response: StoredResponse, key: str
) -> None:
    """Property 1 on Redis: the same fidelity through the stored binary form and a Lua round trip."""

    async def run() -> None:
        store = RedisStore.from_url(redis_url, prefix=redis_prefix)
        try:
            await store.client.delete(store.prefix + scope_key(key, principal="", route="/r"))
            await _replay_fidelity(store, response, key)
        finally:
            await store.aclose()

    asyncio.run(run())


@given(response=responses)
def test_the_stored_form_round_trips(response: StoredResponse) -> None:
    """Property 2: decode(encode(r)) == r for every response."""
    assert decode_response(encode_response(response)) == response


@given(first=st.binary(max_size=64), second=st.binary(max_size=64), key=keys)
def test_a_key_reused_for_another_body_is_a_conflict(first: bytes, second: bytes, key: str) -> None:
    """Property 3: fingerprint conflict detection: same key + other body is 422; same body replays."""

    async def run() -> None:
        app = ScriptedApp()
        middleware = IdempotencyMiddleware(app, MemoryStore())
        await call(middleware, key.encode(), first)
        again = await call(middleware, key.encode(), second)
        expected = 200 if first == second else 422
        assert again[0]["status"] == expected
        assert app.calls == 1

    asyncio.run(run())


requests = st.tuples(
    st.sampled_from(["POST", "PATCH"]), st.sampled_from(["/a", "/b", "/a/"]), st.binary(max_size=8)
)


@given(
    one=requests,
    two=requests,
    queries=st.tuples(st.sampled_from([b"", b"a=1", b"a=2"]), st.sampled_from([b"", b"a=1"])),
)
def test_fingerprints_differ_exactly_when_requests_differ(
    one: tuple[str, str, bytes], two: tuple[str, str, bytes], queries: tuple[bytes, bytes]
) -> None:
    """Property 4: the fingerprint is equal iff method, route, query string and body are equal."""
    same = one == two and queries[0] == queries[1]
    assert (
        request_fingerprint(*one, query=queries[0]) == request_fingerprint(*two, query=queries[1])
    ) == same


parts = st.text(max_size=12)


@given(one=st.tuples(parts, parts, parts), two=st.tuples(parts, parts, parts))
def test_scoped_keys_differ_exactly_when_a_part_differs(
    one: tuple[str, str, str], two: tuple[str, str, str]
) -> None:
    """Property 5: key scoping: (key, principal, route) -> store key is injective, even across separators."""
    a = scope_key(one[0], principal=one[1], route=one[2])
    b = scope_key(two[0], principal=two[1], route=two[2])
    assert (a == b) == (one == two)


@given(key=keys, users=st.lists(st.text(SAFE, min_size=1, max_size=8), min_size=2, max_size=4, unique=True))
def test_principals_never_see_each_others_responses(key: str, users: list[str]) -> None:
    """Property 6: key scoping through the middleware: each principal's key runs once and replays its own."""

    async def run() -> None:
        app = ScriptedApp()
        middleware = IdempotencyMiddleware(app, MemoryStore(), principal=user_header)
        for user in users:
            app.response = StoredResponse(201, (), user.encode())
            first = await call(middleware, key.encode(), b"same", user=user.encode())
            assert as_response(first).body == user.encode()
        for user in users:
            replay = await call(middleware, key.encode(), b"same", user=user.encode())
            assert as_response(replay).body == user.encode()
        assert app.calls == len(users)

    asyncio.run(run())


@given(key=keys)
def test_a_safe_key_parses_the_same_bare_and_quoted(key: str) -> None:
    """Property 7: an sf-string and a bare token name the same key."""
    assert parse_idempotency_key(key) == key
    assert parse_idempotency_key(f'"{key}"') == key
    assert parse_idempotency_key(f'"{key}"'.encode()) == key


# --- the store as a state machine, against a model -------------------------------------------------


class StoreMachine(RuleBasedStateMachine):
    """Property 8: MemoryStore follows the record lifecycle (free -> in flight -> completed | free)."""

    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock, max_records=1000)
        self.now = 0.0
        # key -> (fingerprint, token or None when completed, body or None, expires_at)
        self.model: dict[str, tuple[str, str | None, bytes | None, float]] = {}

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def live(self, key: str) -> tuple[str, str | None, bytes | None, float] | None:
        record = self.model.get(key)
        if record is not None and record[3] <= self.now:
            del self.model[key]
            return None
        return record

    @rule(
        target=tokens, key=st.sampled_from("abc"), fp=st.sampled_from("xy"), lease=st.sampled_from([1.0, 5.0])
    )
    def claim(self, key: str, fp: str, lease: float) -> tuple[str, str]:
        got = self.run(self.store.claim(key, fp, lease=lease))
        record = self.live(key)
        if record is None:
            assert got.outcome == "claimed"
            self.model[key] = (fp, got.token, None, self.now + lease)
            return key, got.token
        if record[0] != fp:
            assert got.outcome == "mismatch"
        elif record[1] is None:
            assert got.outcome == "completed"
            assert got.response.body == record[2]
        else:
            assert got.outcome == "in_flight"
            assert got.retry_after == pytest.approx(record[3] - self.now)
        return key, "not-a-token"

    @rule(held=tokens, body=st.binary(max_size=4))
    def complete(self, held: tuple[str, str], body: bytes) -> None:
        key, token = held
        ok = self.run(self.store.complete(key, token, StoredResponse(body=body), retention=3.0))
        record = self.live(key)
        expected = record is not None and record[1] == token
        assert ok == expected
        if ok and record is not None:
            self.model[key] = (record[0], None, body, self.now + 3.0)

    @rule(held=consumes(tokens))
    def release(self, held: tuple[str, str]) -> None:
        key, token = held
        record = self.live(key)
        expected = record is not None and record[1] == token
        assert self.run(self.store.release(key, token)) == expected
        if expected:
            del self.model[key]

    @rule(held=tokens, lease=st.sampled_from([1.0, 4.0]))
    def renew(self, held: tuple[str, str], lease: float) -> None:
        key, token = held
        record = self.live(key)
        expected = record is not None and record[1] == token
        assert self.run(self.store.renew(key, token, lease=lease)) == expected
        if expected and record is not None:
            self.model[key] = (*record[:3], self.now + lease)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.now += seconds

    @invariant()
    def purge_drops_exactly_the_expired(self) -> None:
        expired = sum(1 for record in self.model.values() if record[3] <= self.now)
        self.run(self.store.purge())
        for key in [k for k, r in self.model.items() if r[3] <= self.now]:
            del self.model[key]
        assert len(self.store) == len(self.model), expired

    def teardown(self) -> None:
        self.loop.close()


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@given(
    keys,
    st.text(),
    st.sampled_from(["POST", "patch", "PUT"]),
    st.text(),
    st.binary(max_size=64),
    st.binary(max_size=512),
)
def test_the_middleware_s_identity_is_scope_key_and_request_fingerprint(
    key: str, principal: str, method: str, route: str, query: bytes, body: bytes
) -> None:
    """The per-request path computes both digests together: the very digests of the two public functions."""
    assert request_identity(key, principal=principal, method=method, route=route, query=query, body=body) == (
        scope_key(key, principal=principal, route=route),
        request_fingerprint(method, route, body, query=query),
    )


@given(
    keys,
    st.one_of(st.none(), st.text()),
    st.sampled_from(["POST", "patch", "PUT"]),
    st.text(),
    st.binary(max_size=64),
    st.binary(max_size=512),
    st.booleans(),
)
def test_the_identity_from_frames_kept_per_route_is_the_same(
    key: str, principal: str | None, method: str, route: str, query: bytes, body: bytes, large: bool
) -> None:
    """The middleware's per-request digests from the route's frames kept per route (any route, surrogates
    and NUL included, any principal, a body hashed in one buffer or apart): scope_key and
    request_fingerprint's."""
    if large:  # past 64 KiB the body is hashed apart from the rest
        body += b"b" * (64 * 1024)
    frames = route_frames(method, route)
    assert framed_identity(key, _framed(principal), frames, query, body) == (
        scope_key(key, principal=principal or "", route=route),
        request_fingerprint(method, route, body, query=query),
    )


@given(st.one_of(st.text(SAFE + ' \t";=\\', max_size=300).map(str.encode), st.binary(max_size=300)))
def test_the_bare_token_fast_path_reads_a_key_as_the_parser_does(raw: bytes) -> None:
    """A header value read by the fast path (a bare token) gives the key the full parser gives, and any
    other value the same key or the same error."""
    try:
        expected: object = parse_idempotency_key(raw.decode("latin-1"))
    except InvalidKeyError as exc:
        expected = type(exc)
    try:
        got: object = parse_idempotency_key(raw)
    except InvalidKeyError as exc:
        got = type(exc)
    if raw.isascii():
        assert got == expected
    else:
        assert got is InvalidKeyError
