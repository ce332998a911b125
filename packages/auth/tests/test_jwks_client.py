"""JWKSClient against a real local HTTP server that answers, fails, hangs and rotates its keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from buttress.auth import (
    AuthConfigurationError,
    JWKSApp,
    JWKSClient,
    JWKSUnavailableError,
    KeySet,
    SigningKey,
    TokenService,
    TokenVerifier,
    UnknownKeyError,
)
from buttress.testing import FakeClock, RecordedMetrics, free_port, serve_asgi


@dataclass
class Issuer:
    """An ASGI JWKS endpoint whose behaviour a test switches: ok, fail, hang, garbage, huge."""

    keys: KeySet
    mode: str = "ok"
    cache_control: str | None = "public, max-age=300"
    delay: float = 0.0
    requests: int = 0
    release: asyncio.Event | None = field(default=None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        for _ in range(600):  # hang while the test says so (a hung answer would delay the server's stop)
            if self.mode != "hang":
                break
            await asyncio.sleep(0.05)
        if self.mode == "fail":
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        body = {
            "ok": json.dumps(self.keys.jwks()).encode(),
            "garbage": b"<html>not json</html>",
            "huge": b'{"keys": [' + b" " * 2_000_000 + b"]}",
            "empty": b'{"keys": []}',
        }[self.mode]
        headers = [(b"content-type", b"application/json")]
        if self.cache_control is not None:
            headers.append((b"cache-control", self.cache_control.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def issuer(es_key: SigningKey) -> Issuer:
    return Issuer(KeySet(es_key))


@pytest.fixture
def url(issuer: Issuer) -> Iterator[str]:
    with serve_asgi(issuer) as base:
        yield f"{base}/.well-known/jwks.json"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(url: str, clock: FakeClock, **options: Any) -> JWKSClient:
    settings: dict[str, Any] = {"ttl": 300, "cooldown": 30, "negative_ttl": 120, "timeout": 1.0}
    settings.update(options)
    return JWKSClient(url, clock=clock, **settings)


async def test_the_set_is_fetched_once_and_cached_for_its_max_age(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey
) -> None:
    issuer.cache_control = "public, max-age=60"
    async with client(url, clock) as jwks:
        assert await jwks.verification_key(es_key.kid) == es_key.verifying_key
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 1
        clock.advance(59)
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 1
        clock.advance(1)  # max-age=60 honoured, not the 300 s ttl
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 2


@pytest.mark.parametrize(("header", "requests_after_40s"), [(None, 1), ("no-store", 2), ("max-age=5", 2)])
async def test_cache_control_decides_the_lifetime_within_the_cooldown(
    issuer: Issuer,
    url: str,
    clock: FakeClock,
    es_key: SigningKey,
    header: str | None,
    requests_after_40s: int,
) -> None:
    issuer.cache_control = header
    async with client(url, clock) as jwks:
        await jwks.verification_key(es_key.kid)
        clock.advance(10)  # below the 30 s cooldown: max-age=5 and no-store are raised to it
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 1
        clock.advance(30)
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == requests_after_40s  # no header: the 300 s ttl


async def test_concurrent_misses_make_one_request(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey
) -> None:
    issuer.delay = 0.3
    async with client(url, clock) as jwks:
        keys = await asyncio.gather(*(jwks.verification_key(es_key.kid) for _ in range(50)))
    assert set(keys) == {es_key.verifying_key}
    assert issuer.requests == 1


async def test_an_unknown_kid_refetches_at_most_once_per_cooldown(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey
) -> None:
    async with client(url, clock) as jwks:
        await jwks.verification_key(es_key.kid)
        clock.advance(31)
        for kid in ("invented-1", "invented-2", "invented-3"):
            with pytest.raises(UnknownKeyError):
                await jwks.verification_key(kid)
        assert issuer.requests == 2  # one refetch for the first; the others fall within the cooldown
        clock.advance(31)
        with pytest.raises(UnknownKeyError):
            await jwks.verification_key("invented-1")  # in the negative cache: no request
        assert issuer.requests == 2
        with pytest.raises(UnknownKeyError):
            await jwks.verification_key("invented-4")  # new, and the cooldown passed
        assert issuer.requests == 3
        for hostile in ("", "k" * 10_000):
            with pytest.raises(UnknownKeyError):
                await jwks.verification_key(hostile)
        assert issuer.requests == 3


async def test_a_rotated_key_is_found_and_a_removed_key_goes(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey
) -> None:
    """Rotation on the issuer: the new kid triggers a refetch; the retired kid leaves with the next set.

    PyJWT's cached client could keep serving a removed key (pyjwt #1051); here the set is replaced whole.
    """
    keys = KeySet(SigningKey.generate("ES256"), clock=clock)
    issuer.keys = keys
    old = keys.active
    service = TokenService(keys, issuer="https://id.example", audience="api", clock=clock)
    async with client(url, clock) as jwks:
        verifier = TokenVerifier(jwks, issuer="https://id.example", audience="api", clock=clock)
        await verifier.verify(service.issue_access("user-1"))
        clock.advance(31)
        keys.rotate(SigningKey.generate("ES256"), grace=600)
        await verifier.verify(service.issue_access("user-1"))  # a new kid: one refetch finds it
        assert issuer.requests == 2
        keys.retire(old.kid)
        clock.advance(300)  # the cached set's max-age runs out
        with pytest.raises(UnknownKeyError):
            await jwks.verification_key(old.kid)


@pytest.mark.parametrize("mode", ["fail", "hang", "garbage", "huge", "empty"])
async def test_a_failed_fetch_keeps_the_last_good_set(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey, metric_reader: RecordedMetrics, mode: str
) -> None:
    async with client(url, clock, timeout=0.5) as jwks:
        await jwks.verification_key(es_key.kid)
        issuer.mode = mode
        clock.advance(301)
        assert await jwks.verification_key(es_key.kid) == es_key.verifying_key
        assert issuer.requests == 2
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 2  # no retry within the cooldown
        issuer.mode = "ok"
        clock.advance(31)
        await jwks.verification_key(es_key.kid)
        assert issuer.requests == 3
    assert metric_reader.value("buttress.auth.jwks.fetches", {"auth.outcome": "error"}) == 1
    assert metric_reader.value("buttress.auth.jwks.fetches", {"auth.outcome": "ok"}) == 2


async def test_with_no_good_set_a_failure_is_unavailable(
    issuer: Issuer, url: str, clock: FakeClock, es_key: SigningKey
) -> None:
    issuer.mode = "hang"
    async with client(url, clock, timeout=0.3) as jwks:
        with pytest.raises(JWKSUnavailableError):
            await jwks.verification_key(es_key.kid)
        issuer.mode = "ok"
        with pytest.raises(JWKSUnavailableError):
            await jwks.verification_key(es_key.kid)  # within the cooldown: fail fast, no request
        assert issuer.requests == 1
        clock.advance(30)
        assert await jwks.verification_key(es_key.kid) == es_key.verifying_key


async def test_a_server_that_is_gone_is_unavailable(clock: FakeClock, es_key: SigningKey) -> None:
    async with client(f"http://127.0.0.1:{free_port()}/jwks.json", clock) as jwks:
        with pytest.raises(JWKSUnavailableError):
            await jwks.keys()


async def test_it_reads_what_jwksapp_serves(es_key: SigningKey, clock: FakeClock) -> None:
    keys = KeySet(es_key)
    with serve_asgi(JWKSApp(keys, max_age=120)) as base:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{base}/.well-known/jwks.json")
            assert answer.headers["cache-control"] == "public, max-age=120"
            assert answer.headers["content-type"] == "application/jwk-set+json"
            assert answer.json() == keys.jwks()
            assert (await http.post(f"{base}/.well-known/jwks.json")).status_code == 405
            async with JWKSClient(f"{base}/.well-known/jwks.json", client=http, clock=clock) as jwks:
                assert list(await jwks.keys()) == [es_key.kid]
            assert not http.is_closed  # a borrowed client is left open


def test_bad_settings_are_refused() -> None:
    with pytest.raises(AuthConfigurationError):
        JWKSClient("file:///etc/passwd")
    with pytest.raises(AuthConfigurationError):
        JWKSClient("https://id.example/jwks.json", cooldown=0)
