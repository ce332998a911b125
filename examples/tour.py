"""A tour of the buttress suite: each package's section runs on embedded defaults.

    uv run examples/tour.py

Set ``BUTTRESS_REDIS_URL`` and/or ``BUTTRESS_POSTGRES_DSN`` and the sections that have a Redis or
PostgreSQL backend run against those servers as well. Every package adds its section here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from wsgiref.util import setup_testing_defaults

from buttress.caching import CacheConfigurationError, MemoryCache, RedisCache, TieredCache, cached
from buttress.core import (
    MISSING,
    AsyncRepository,
    ButtressError,
    ConfigurationError,
    ConflictError,
    JsonSerializer,
    NotFoundError,
    SystemClock,
    redact_url,
)
from buttress.csp import NONCE_ENVIRON_KEY, CSPWSGIMiddleware, PolicyError, hash_source, parse, strict
from buttress.fingerprint import Component, Fingerprinter, FingerprintError, IPMode, from_headers
from buttress.pooling import AsyncpgFactory, Pool, PoolConfigurationError


@dataclass(frozen=True)
class Tour:
    """What every section gets: where the optional real backends are, and a way to report."""

    redis_url: str | None
    postgres_dsn: str | None
    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(f"  {text}")


type Section = Callable[[Tour], Awaitable[None]]


# --- buttress-core ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    created_at: datetime


class CustomerRepository:
    """An AsyncRepository in a dozen lines: the Protocol is all a package needs from you."""

    def __init__(self) -> None:
        self._rows: dict[int, Customer] = {}

    async def get(self, id: int) -> Customer | None:
        return self._rows.get(id)

    async def add(self, entity: Customer) -> None:
        if entity.id in self._rows:
            raise ConflictError("customer", entity.id, "exists already")
        self._rows[entity.id] = entity

    async def update(self, entity: Customer) -> None:
        if entity.id not in self._rows:
            raise NotFoundError("customer", entity.id)
        self._rows[entity.id] = entity

    async def delete(self, id: int) -> bool:
        return self._rows.pop(id, None) is not None

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Customer]:
        if limit < 1:
            raise ConfigurationError("limit", limit, "must be at least 1")
        return list(self._rows.values())[offset : offset + limit]


async def core(tour: Tour) -> None:
    clock = SystemClock()
    repo: AsyncRepository[Customer, int] = CustomerRepository()
    await repo.add(Customer(1, "Ada", clock.now()))
    tour.say(f"repository conforms to AsyncRepository: {isinstance(repo, AsyncRepository)}")
    try:
        await repo.add(Customer(1, "Ada again", clock.now()))
    except ConflictError as exc:
        tour.say(f"a duplicate add is refused: ConflictError({exc})")
    try:
        await repo.update(Customer(2, "Grace", clock.now()))
    except LookupError as exc:
        tour.say(f"an unknown update is a LookupError too: {type(exc).__name__}({exc})")
    first = await repo.get(1)
    if first is not None:
        await repo.update(replace(first, name="Ada Lovelace"))
    tour.say(f"after update: {[c.name for c in await repo.list()]}")

    serializer = JsonSerializer[object]()
    payload = serializer.dumps({"id": 1, "tags": ["vip"], "note": None})
    tour.say(f"JsonSerializer round trip: {payload.decode()} -> {serializer.loads(payload)}")
    try:
        serializer.dumps({1, 2})
    except ButtressError as exc:
        tour.say(f"what JSON cannot hold is a typed error: {type(exc).__name__}: {exc}")
    tour.say(f"a miss is MISSING, not None: {MISSING!r} (falsy: {not MISSING})")
    tour.say(f"clock: {clock.now().astimezone(UTC).isoformat(timespec='seconds')} (UTC, timezone-aware)")
    for name, url in (("Redis", tour.redis_url), ("PostgreSQL", tour.postgres_dsn)):
        where = redact_url(url) if url else "not set: embedded defaults only"
        tour.say(f"{name}: {where}")


# --- buttress-caching ---------------------------------------------------------------------------


async def caching(tour: Tour) -> None:
    memory = MemoryCache[dict[str, object]](max_size=1_000, default_ttl=60)
    loads = 0

    async def fetch_profile(user_id: int) -> dict[str, object]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # a slow query
        return {"id": user_id, "name": f"user-{user_id}"}

    results = await asyncio.gather(
        *(memory.get_or_compute("user:1", lambda: fetch_profile(1)) for _ in range(500))
    )
    tour.say(f"500 concurrent misses of one key -> loader ran {loads}x, all got {results[0]}")

    @cached(memory, ttl=30)
    async def profile(user_id: int) -> dict[str, object]:
        return await fetch_profile(user_id)

    await profile(2)
    await profile(user_id=2)
    tour.say(f"@cached: profile(2) and profile(user_id=2) share one entry; loads so far: {loads}")
    await profile.invalidate(2)
    tour.say(f"after invalidate(2): cached? {await memory.exists(profile.key(2))}")
    try:
        await memory.set("k", {}, ttl=0)
    except CacheConfigurationError as exc:
        tour.say(f"a zero TTL is refused: {exc}")
    tour.say(f"memory stats: {memory.stats}")

    if tour.redis_url is None:
        tour.say("RedisCache and TieredCache: set BUTTRESS_REDIS_URL to run them")
        return
    prefix = f"tour:{os.getpid()}:"
    async with RedisCache[dict[str, object]].from_url(
        tour.redis_url, prefix=prefix, default_ttl=60
    ) as shared:
        loads = 0
        await asyncio.gather(*(shared.get_or_compute("user:3", lambda: fetch_profile(3)) for _ in range(200)))
        tour.say(f"RedisCache: 200 concurrent misses -> loader ran {loads}x (single-flight + Redis lock)")
        a = TieredCache[dict[str, object]](RedisCache.from_url(tour.redis_url, prefix=prefix))
        b = TieredCache[dict[str, object]](RedisCache.from_url(tour.redis_url, prefix=prefix))
        async with a, b:
            await a.wait_until_subscribed()
            await b.wait_until_subscribed()
            await a.set("greeting", {"text": "hello"})
            tour.say(f"TieredCache b reads a's write: {await b.get('greeting')}")
            await a.set("greeting", {"text": "bonjour"})
            for _ in range(100):  # pub/sub delivery is asynchronous
                if await b.get("greeting") == {"text": "bonjour"}:
                    break
                await asyncio.sleep(0.01)
            tour.say(f"after a rewrites it, b's L1 copy was evicted: {await b.get('greeting')}")
        await shared.clear()


# --- buttress-pooling ---------------------------------------------------------------------------


class Worker:
    """Any resource: here a stand-in for an expensive client."""

    def __init__(self, number: int) -> None:
        self.number = number


class WorkerFactory:
    def __init__(self) -> None:
        self.made = 0

    async def create(self) -> Worker:
        self.made += 1
        await asyncio.sleep(0.01)  # connecting takes a while
        return Worker(self.made)

    async def destroy(self, resource: Worker) -> None:
        return None


async def pooling(tour: Tour) -> None:
    factory = WorkerFactory()
    async with Pool(factory, min_size=2, max_size=4, health_check_interval=None) as pool:
        tour.say(f"opened with min_size=2: {pool.stats().idle} idle")

        async def job(n: int) -> int:
            async with pool.acquire(timeout=5) as worker:
                await asyncio.sleep(0.005)
                return worker.number

        used = await asyncio.gather(*(job(n) for n in range(100)))
        stats = pool.stats()
        tour.say(f"100 jobs on {len(set(used))} workers; made {factory.made}, never more than max_size=4")
        tour.say(
            f"idle + in_use + creating + destroying + unhealthy = {stats.total} (checked on every change)"
        )
        try:
            Pool(factory, min_size=5, max_size=2)
        except PoolConfigurationError as exc:
            tour.say(f"bad sizes are refused: {exc}")
    tour.say(f"after close: {pool.stats().total} left, {pool.stats().destroyed} destroyed")

    if tour.postgres_dsn is None:
        tour.say("AsyncpgFactory: set BUTTRESS_POSTGRES_DSN to run it")
        return
    async with (
        Pool(AsyncpgFactory(tour.postgres_dsn), min_size=1, max_size=3, health_check_interval=None) as pg,
        pg.acquire() as connection,
    ):
        version = await connection.fetchval("SHOW server_version")
        tour.say(f"AsyncpgFactory: PostgreSQL {version} through the pool")


# --- buttress-csp -------------------------------------------------------------------------------


async def csp(tour: Tour) -> None:
    policy = strict(report_to=("csp", "/csp-reports"))
    compiled = policy.compile()  # prepared once; each request only draws a nonce
    first, header = compiled.issue()
    second, _ = compiled.issue()
    tour.say(f"strict preset: {header}")
    tour.say(f"a fresh nonce per request: {first != second} ({len(first)} characters from 16 random bytes)")
    again = parse(header, nonce=first, reporting_endpoints=policy.reporting_endpoints)
    tour.say(f"parse() reads the header back to the same policy: {again == policy}")
    try:
        policy.with_directive("img-src", "self")
    except PolicyError as exc:
        tour.say(f"an unquoted keyword is refused: {exc}")

    def page(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [f'<script nonce="{environ[NONCE_ENVIRON_KEY]}">go()</script>'.encode()]

    environ: dict[str, object] = {}
    setup_testing_defaults(environ)
    sent: dict[str, str] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        sent.update(headers)
        return lambda data: None

    body = b"".join(CSPWSGIMiddleware(page, policy)(environ, start_response))
    nonce = str(environ[NONCE_ENVIRON_KEY])
    tour.say(
        f"WSGI middleware: the page's nonce is in its header: "
        f"{f"'nonce-{nonce}'" in sent['Content-Security-Policy'] and nonce.encode() in body}"
    )
    tour.say(f"Reporting-Endpoints: {sent['Reporting-Endpoints']}")
    tour.say(f"hash source for an inline script: {hash_source('go()')}")


# --- buttress-fingerprint -----------------------------------------------------------------------


async def fingerprint(tour: Tour) -> None:
    old_secret, secret = secrets.token_bytes(32), secrets.token_bytes(32)
    fingerprinter = Fingerprinter(secret, purpose="tour", previous_secrets=[old_secret])
    headers = [
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
        ("accept", "text/html,*/*;q=0.8"),
        ("accept-language", "nl-NL,nl;q=0.9"),
        ("accept-encoding", "gzip, br"),
        ("cookie", "session=3f9a1c; theme=dark"),
    ]
    churned = [(n, "session=77b2e0; theme=light" if n == "cookie" else v) for n, v in headers]
    a = fingerprinter.from_headers(headers, client_ip="203.0.113.7")
    b = fingerprinter.from_headers(churned, client_ip="198.51.100.20")
    tour.say(f"same browser, new cookie values and address -> same fingerprint: {a.digest == b.digest}")
    tour.say(f"confidence {a.confidence:.2f}, low_confidence={a.low_confidence}, purpose={a.purpose!r}")
    tour.say(f"only keyed hashes leave: user-agent -> {a.components[Component.USER_AGENT]}")
    thin = fingerprinter.from_headers(headers[:2])
    tour.say(f"similarity to a request with two of the headers: {fingerprinter.similarity(a, thin):.2f}")
    elsewhere = Fingerprinter(secrets.token_bytes(32), purpose="tour").from_headers(headers)
    tour.say(f"another deployment's secret -> unlinkable: {elsewhere.digest != a.digest}")
    before_rotation = Fingerprinter(old_secret, purpose="tour").from_headers(headers)
    verified = fingerprinter.verify(before_rotation, from_headers(headers))
    tour.say(f"a fingerprint made before rotation still verifies: {verified}")
    by_network = Fingerprinter(secret, purpose="tour", ip=IPMode.PREFIX)
    same_24 = by_network.from_headers(headers, client_ip="203.0.113.7") == by_network.from_headers(
        headers, client_ip="203.0.113.99"
    )
    tour.say(f"IPMode.PREFIX: two addresses in one /24 agree: {same_24}")
    try:
        Fingerprinter(b"too short", purpose="tour")
    except FingerprintError as exc:
        tour.say(f"a weak secret is refused: {exc}")


SECTIONS: dict[str, Section] = {
    "buttress-core": core,
    "buttress-caching": caching,
    "buttress-pooling": pooling,
    "buttress-csp": csp,
    "buttress-fingerprint": fingerprint,
}


async def main(argv: Sequence[str]) -> int:
    wanted = set(argv) or set(SECTIONS)
    unknown = wanted - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
        return 2
    tour = Tour(os.environ.get("BUTTRESS_REDIS_URL"), os.environ.get("BUTTRESS_POSTGRES_DSN"))
    for name, section in SECTIONS.items():
        if name in wanted:
            print(f"== {name}")
            await section(tour)
    print(f"tour finished: {len(wanted)} section(s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
