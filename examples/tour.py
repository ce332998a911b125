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
import tempfile
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import asyncpg
import httpx
from graphql import GraphQLResolveInfo, graphql
from pydantic import BaseModel

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
from buttress.event_sourcing import (
    NO_STREAM,
    Aggregate,
    ConcurrencyError,
    Event,
    EventCodec,
    EveryNEvents,
    MemoryEventStore,
    PostgresEventStore,
    Repository,
    applies,
)
from buttress.feature_flags import (
    Context,
    FlagClient,
    FlagManager,
    MemoryFlagSource,
    PostgresAuditSink,
    PostgresFlagSource,
    RedisFlagSource,
    flag_from_dict,
)
from buttress.federation import (
    CostLimitExceededError,
    CostLimits,
    FederationValidationError,
    Representation,
    build_federated_schema,
    enforce_cost_limits,
    validate_subgraph,
)
from buttress.fingerprint import Component, Fingerprinter, FingerprintError, IPMode, from_headers
from buttress.fuzzing import CrashStore, Fuzzer, FuzzingConfig
from buttress.idempotency import (
    IdempotencyMiddleware,
    KeyInFlightError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    execute,
    idempotent,
)
from buttress.notifications import (
    ANY,
    DigestContext,
    DigestRule,
    MemoryOutbox,
    MemoryPreferenceStore,
    Message,
    Notification,
    Notifier,
    Preferences,
    QuietWindow,
    Rate,
    Recipient,
    RecipientResult,
    RedisRateLimiter,
    Template,
    TemplateDefinitionError,
    TemplateRegistry,
    decide,
)
from buttress.notifications import (
    DeliveryWorker as NotificationWorker,
)
from buttress.notifications import (
    PostgresOutbox as NotificationOutbox,
)
from buttress.pooling import AsyncpgFactory, Pool, PoolConfigurationError
from buttress.search import (
    CircuitBreaker,
    FallbackSearch,
    MemorySearch,
    PostgresSearch,
    Range,
    Schema,
    SearchQuery,
    SearchUnavailableError,
)
from buttress.webhooks import (
    DeliveryWorker,
    Endpoints,
    MemoryEndpointStore,
    MemoryReplayGuard,
    NetworkPolicy,
    PostgresOutbox,
    RedisReplayGuard,
    ReplayedWebhookError,
    VerifiedWebhook,
    WebhookEndpoint,
    WebhookInFlightError,
    WebhookReceiver,
    WebhookSigner,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
)


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


# --- buttress-idempotency -----------------------------------------------------------------------

type AsgiMessage = MutableMapping[str, Any]


async def order_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[AsgiMessage]],
    send: Callable[[AsgiMessage], Awaitable[None]],
) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-order", b"8")]})
    await send({"type": "http.response.body", "body": b'{"order": 8}'})


async def post(app: IdempotencyMiddleware, key: str, body: bytes) -> int:
    sent: list[AsgiMessage] = []

    async def receive() -> AsgiMessage:
        return {"type": "http.request", "body": body}

    async def send(message: AsgiMessage) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "headers": [(b"idempotency-key", key.encode())],
    }
    await app(scope, receive, send)
    return int(sent[0]["status"])


async def idempotency(tour: Tour) -> None:
    stores: list[tuple[str, MemoryStore | RedisStore | PostgresStore]] = [("memory", MemoryStore())]
    if tour.redis_url is not None:
        stores.append(("redis", RedisStore.from_url(tour.redis_url, prefix=f"tour:{secrets.token_hex(4)}:")))
    if tour.postgres_dsn is not None:
        postgres = PostgresStore.from_dsn(tour.postgres_dsn, table="buttress_tour_idempotency")
        await postgres.create_schema()
        stores.append(("postgres", postgres))
    for name, store in stores:
        runs: list[int] = []

        async def charge(runs: list[int] = runs) -> dict[str, int]:
            runs.append(1)
            return {"charged": 100}

        key = secrets.token_hex(4)  # fresh keys, so a second tour run starts clean
        results = [await execute(store, key, "charge:100", charge) for _ in range(3)]
        tour.say(f"{name}: a message delivered 3 times ran {len(runs)} time(s) -> {results[-1]}")
        async with idempotent(store, key + "-b", "charge:5"):
            try:
                await execute(store, key + "-b", "charge:5", charge)
            except KeyInFlightError as exc:
                tour.say(
                    f"{name}: a duplicate while the first runs is refused, retry in {exc.retry_after:.0f} s"
                )
        app = IdempotencyMiddleware(order_app, store)
        statuses = [await post(app, key, body) for body in (b"{}", b"{}", b'{"other": 1}')]
        tour.say(f"{name}: a POST, its retry, the key reused for another body -> {statuses}")
        if isinstance(store, RedisStore):  # leave nothing behind on the tour's Redis
            await store.client.delete(*[k async for k in store.client.scan_iter(match=store.prefix + "*")])
        await store.aclose()


# --- buttress-event-sourcing --------------------------------------------------------------------


@dataclass(frozen=True)
class WalletCredited(Event):
    amount: int


class Wallet(Aggregate[str]):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = 0

    @applies(WalletCredited)
    def _credited(self, event: WalletCredited) -> None:
        self.balance += event.amount


async def wallet_walk(tour: Tour, name: str, store: MemoryEventStore | PostgresEventStore) -> None:
    codec = EventCodec([WalletCredited])
    wallets = Repository(Wallet, store, codec, snapshots=store, policy=EveryNEvents(5))
    wallet = Wallet(f"wallet-{secrets.token_hex(3)}")
    for amount in range(1, 8):
        wallet.trigger(WalletCredited, amount=amount)
    batch = codec.encode_all(wallet.pending_events)
    result = await wallets.save(wallet)
    again = await store.append(wallet.id, batch, NO_STREAM)
    saved = result.version if result else 0
    tour.say(
        f"{name}: 7 events in one append -> v{saved}; the same append retried is a no-op -> v{again.version}"
    )
    first, second = await wallets.load(wallet.id), await wallets.load(wallet.id)
    first.trigger(WalletCredited, amount=100)
    second.trigger(WalletCredited, amount=1)
    await wallets.save(first)
    try:
        await wallets.save(second)
    except ConcurrencyError as exc:
        tour.say(f"{name}: a stale save is refused: expected={exc.expected}, actual={exc.actual}")
    snapshot = await store.load_snapshot(wallet.id)
    loaded = await wallets.load(wallet.id)
    tour.say(f"{name}: snapshot v{snapshot.version if snapshot else 0} + tail -> balance {loaded.balance}")


async def event_sourcing(tour: Tour) -> None:
    await wallet_walk(tour, "memory", MemoryEventStore())
    if tour.postgres_dsn is None:
        tour.say("PostgresEventStore: set BUTTRESS_POSTGRES_DSN to run it")
        return
    async with await PostgresEventStore.open(tour.postgres_dsn, prefix=f"tour_{secrets.token_hex(3)}") as pg:
        await pg.create_schema()
        try:
            await wallet_walk(tour, "postgres", pg)
        finally:
            await pg.drop_schema()


# --- buttress-feature-flags ---------------------------------------------------------------------


async def feature_flags(tour: Tour) -> None:
    rollout = flag_from_dict(
        {
            "name": "tour-checkout",
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "30"},
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
                }
            ],
        }
    )
    users = [Context(user_id=str(n), properties={"plan": "pro"}) for n in range(1000)]
    async with FlagClient(MemoryFlagSource([rollout])) as flags:
        on = sum(flags.is_enabled("tour-checkout", user) for user in users)
        tour.say(f"a 30% rollout is on for {on} of 1000 pro users, the same ones on every machine")
        details = flags.evaluate("missing-flag", "fallback")
        tour.say(f"an unknown flag -> {details.value!r}, {details.reason}/{details.error_code}")
    if tour.redis_url is not None:
        source = RedisFlagSource.from_url(tour.redis_url, prefix=f"tour:{uuid.uuid4().hex[:8]}:")
        async with FlagClient(source, refresh_interval=60) as flags:
            await asyncio.sleep(0.1)  # let the refresher subscribe
            await source.put(rollout)
            for _ in range(100):  # pub/sub delivers the change: no waiting for the 60 s poll
                if "tour-checkout" in (flags.snapshot or ()):
                    break
                await asyncio.sleep(0.01)
            tour.say(
                f"Redis pub/sub reached the client at once: {flags.is_enabled('tour-checkout', users[3])}"
            )
        await source.delete("tour-checkout")
        await source.aclose()
    if tour.postgres_dsn is not None:
        table = f"tour_flags_{uuid.uuid4().hex[:8]}"
        pg_source = await PostgresFlagSource.from_dsn(tour.postgres_dsn, table=table)
        audit = await PostgresAuditSink.from_dsn(tour.postgres_dsn, table=f"{table}_audit")
        manager = FlagManager(pg_source, audit)
        await manager.create(rollout, actor="tour")
        await manager.disable("tour-checkout", actor="tour")
        history = [event.action.value for event in await manager.history("tour-checkout")]
        tour.say(f"PostgreSQL audit trail of tour-checkout: {history}")
        await pg_source.drop_schema()
        await audit.drop_schema()
        await pg_source.aclose()
        await audit.aclose()


# --- buttress-fuzzing ---------------------------------------------------------------------------


def parse_range(header: bytes) -> tuple[int, int]:
    """Parse an HTTP Range header like b"bytes=0-99" (a planted bug: an empty range divides by zero)."""
    if not header.startswith(b"bytes="):
        raise ValueError("not a byte range")
    first, _, last = header[6:].partition(b"-")
    start, end = int(first or b"0"), int(last or b"0")
    chunks = 100 // (end - start)  # the bug: start == end
    return start, chunks


async def fuzzing(tour: Tour) -> None:
    crashes = Path(tempfile.mkdtemp(prefix="tour-fuzz-"))
    config = FuzzingConfig(
        max_iterations=20_000, seed=1, crashes_dir=crashes, expected_exceptions=(ValueError,)
    )
    report = await Fuzzer(parse_range, config).run_async()
    tour.say(
        f"{report.executions} executions, {report.coverage} coverage features, corpus of {report.corpus_size}"
    )
    for record in report.crashes:
        reproducer = (crashes / str(record.reproducer)).read_bytes()
        tour.say(f"crash {record.signature.id} x{record.count}: {record.signature} <- {reproducer!r}")
    again = await Fuzzer(parse_range, config).run_async()  # the same seed: the same campaign
    merged = [(r.signature.exception_type, r.count) for r in CrashStore(crashes).records()]
    tour.say(
        f"the same seed replays the campaign: {again.crash_counts == report.crash_counts}; index: {merged}"
    )


# --- buttress-webhooks --------------------------------------------------------------------------


async def webhooks(tour: Tour) -> None:
    secret = generate_secret()
    body = b'{"type": "invoice.paid", "id": "in_42"}'
    headers = WebhookSigner(secret).headers(body)
    verifier = WebhookVerifier(secret)
    tour.say(f"signed {headers['webhook-id']}, verified: {verifier.verify(headers, body).json()}")
    try:
        verifier.verify({**headers, "webhook-timestamp": "not-a-number"}, body)
    except WebhookVerificationError as exc:
        tour.say(f"tampered headers are refused with a typed error: {type(exc).__name__}")
    tour.say(f"SSRF guard: 169.254.169.254 -> {NetworkPolicy().refusal('169.254.169.254')}")
    received: list[VerifiedWebhook] = []

    async def handle(webhook: VerifiedWebhook) -> None:
        received.append(webhook)

    app = WebhookEndpoint(handle, WebhookReceiver(verifier, replay_guard=MemoryReplayGuard()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hooks") as client:
        first = await client.post("/", headers=headers, content=body)
        again = await client.post("/", headers=headers, content=body)
    tour.say(
        f"ASGI endpoint: {first.status_code}, then {again.status_code} to its replay; handled {len(received)}"
    )
    if tour.redis_url is not None:
        await shared_replay_guard(tour, tour.redis_url, verifier, headers, body)
    if tour.postgres_dsn is None:
        tour.say("PostgresOutbox: set BUTTRESS_POSTGRES_DSN to run it")
        return
    endpoints = Endpoints(MemoryEndpointStore())
    await endpoints.create("https://hooks.example.test/billing", secret=secret, event_types=["invoice.paid"])
    prefix = f"tour_{secrets.token_hex(4)}_"
    async with asyncpg.create_pool(tour.postgres_dsn, min_size=1, max_size=2) as pool:
        outbox = PostgresOutbox(pool, endpoints.store, table_prefix=prefix)
        await outbox.create_schema()
        try:
            async with pool.acquire() as connection, connection.transaction():
                message = await outbox.send("invoice.paid", {"id": "in_43"}, connection=connection)
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as delivery_client,
                DeliveryWorker(outbox, client=delivery_client) as worker,
            ):
                await worker.drain()
            (attempt,) = await outbox.attempts(message.id)
            tour.say(f"outbox: sent in the caller's transaction, delivered with status {attempt.status_code}")
        finally:
            tables = ", ".join(
                f"{prefix}{name}" for name in ("attempts", "deliveries", "messages", "endpoint_health")
            )
            await pool.execute(f"DROP TABLE {tables}")


async def shared_replay_guard(
    tour: Tour, redis_url: str, verifier: WebhookVerifier, headers: dict[str, str], body: bytes
) -> None:
    guard = RedisReplayGuard.from_url(redis_url, prefix=f"tour:{secrets.token_hex(4)}:")
    shared = WebhookReceiver(verifier, replay_guard=guard)
    webhook = await shared.receive(headers, body)  # claimed under a lease, not yet handled
    try:
        await shared.receive(headers, body)
    except WebhookInFlightError:
        tour.say("RedisReplayGuard: a copy arriving while the first is handled is told to retry (503)")
    await shared.complete(webhook)
    try:
        async with shared.accept(headers, body):
            pass
    except ReplayedWebhookError:
        tour.say("RedisReplayGuard: once handled, a copy is a replay in every process")
    await guard.aclose()


# --- buttress-search ----------------------------------------------------------------------------

PRODUCTS = [
    {
        "id": "p1",
        "title": "Trail running shoes",
        "body": "Grippy soles for mud.",
        "brand": "Peak",
        "price": 120,
    },
    {"id": "p2", "title": "Road running shoes", "body": "Light on tarmac.", "brand": "Swift", "price": 95},
    {"id": "p3", "title": "Kids' running shoes", "body": "Velcro straps.", "brand": "Swift", "price": 45},
]
PRODUCT_SCHEMA = Schema(
    searchable={"title": 2.0, "body": 1.0},
    fields={"brand": "keyword", "price": "number"},
    facetable={"brand", "price"},
    sortable={"price"},
)


async def search(tour: Tour) -> None:
    memory = MemorySearch(PRODUCT_SCHEMA)
    await memory.index(PRODUCTS)
    query = SearchQuery(
        '"running shoes" -kids', filter=Range("price", lte=150), facets=("brand",), highlight=True
    )
    result = await memory.search(query)
    tour.say(f"memory: {result.ids}, brands {[(f.value, f.count) for f in result.facets['brand']]}")
    tour.say(f"highlight: {result.hits[0].highlights['title'][0]}")
    with tempfile.TemporaryDirectory() as directory:
        await memory.save(Path(directory) / "products.bsi")
        reloaded = await MemorySearch.load(Path(directory) / "products.bsi")
    tour.say(f"reloaded from a file: {await reloaded.count()} documents")
    if tour.postgres_dsn is None:
        tour.say("PostgresSearch: set BUTTRESS_POSTGRES_DSN to run it")
        return
    postgres = PostgresSearch.from_dsn(
        tour.postgres_dsn, PRODUCT_SCHEMA, table=f"tour_products_{secrets.token_hex(3)}"
    )
    try:
        await postgres.create_schema()
        await postgres.index(PRODUCTS)
        same = await postgres.search(query)
        tour.say(f"postgres: {sorted(same.ids)}, the same facets: {same.facets == result.facets}")
        dead = PostgresSearch.from_dsn("postgresql://nobody@127.0.0.1:1/none", PRODUCT_SCHEMA)
        fallback = FallbackSearch(dead, postgres, timeout=2, breaker=CircuitBreaker(failure_threshold=1))
        answer = await fallback.search(query)
        tour.say(f"primary down: degraded={answer.degraded}, {sorted(answer.ids)} from PostgreSQL")
        await dead.aclose()
        await postgres.drop_schema()
    except SearchUnavailableError as exc:
        tour.say(f"postgres unavailable: {exc}")
    finally:
        await postgres.aclose()


# --- buttress-notifications ---------------------------------------------------------------------


class TourShipped(BaseModel):
    order: str


class TourInbox:
    """A channel is anything with a name, prepare() and deliver(); this one keeps what it gets."""

    name = "email"

    def __init__(self) -> None:
        self.subjects: list[str] = []

    def prepare(self, message: Message) -> Message:
        return message

    async def deliver(self, payload: Message) -> list[RecipientResult]:
        self.subjects.append(payload.content.subject)
        return [RecipientResult(payload.address)]


async def notifications(tour: Tour) -> None:
    templates = TemplateRegistry()
    templates.register(
        Template("shipped", TourShipped, subject="Order {{ order }} shipped", text="On its way.")
    )
    templates.register(Template("digest", DigestContext, subject="{{ count }} updates", text="..."))
    try:
        templates.register(Template("typo", TourShipped, subject="Order {{ ordr }}", text="x"))
    except TemplateDefinitionError as exc:
        tour.say(f"refused when registered: {exc}")
    ann = Preferences("ann", "Europe/Berlin", {("sms", ANY): False}, QuietWindow.daily(time(22), time(7)))
    night = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)  # 23:30 in Berlin; clocks spring forward at 02:00
    held = decide(ann, "email", "orders", now=night)
    released = f"{held.release_at:%H:%M}" if held.release_at else "-"
    tour.say(f"email at 23:30 Berlin: {held.verdict}, released {released} UTC (07:00 CEST)")
    critical = decide(ann, "sms", "security", now=night, critical=True)
    tour.say(f"critical SMS after an SMS opt-out: {critical.verdict}")
    outboxes: list[tuple[str, MemoryOutbox | NotificationOutbox]] = [("memory", MemoryOutbox())]
    if tour.postgres_dsn is not None:
        pg = await NotificationOutbox.connect(tour.postgres_dsn, table_prefix=f"tour_{secrets.token_hex(3)}_")
        await pg.create_schema()
        outboxes.append(("postgres", pg))
    for label, outbox in outboxes:
        inbox = TourInbox()
        notifier = Notifier(
            templates=templates,
            channels=[inbox],
            outbox=outbox,
            preferences=MemoryPreferenceStore([ann]),
            digests={"social": DigestRule("hourly", "digest", window=timedelta(hours=1))},
        )
        who = Recipient("ann", {"email": "ann@example.com"})
        for n in range(3):
            await notifier.send(Notification(who, "social", "shipped", TourShipped(order=f"L{n}")))
        for _ in range(2):  # the same dedupe key twice: one job
            urgent = TourShipped(order="A-42")
            await notifier.send(
                Notification(who, "orders", "shipped", urgent, critical=True, dedupe_key="A-42")
            )
        await NotificationWorker(notifier).drain()
        counts = {status.value: n for status, n in sorted((await outbox.counts()).items())}
        tour.say(f"{label} outbox: sent {inbox.subjects}, statuses {counts} (social waits for its digest)")
        if isinstance(outbox, NotificationOutbox):
            await outbox.drop_schema()
            await outbox.aclose()
    if tour.redis_url is not None:
        prefix = f"tour:{secrets.token_hex(4)}:"
        async with RedisRateLimiter.from_url(tour.redis_url, prefix=prefix) as limiter:
            waits = [round(await limiter.acquire("sms-provider", Rate(2, 60))) for _ in range(3)]
            tour.say(f"Redis token bucket, 2 per minute shared by every worker: waits {waits} s")


# --- buttress-federation ------------------------------------------------------------------------

FEDERATION_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
                    import: ["@key", "@external", "@listSize"])
type Query { users(first: Int): [User!]! @listSize(slicingArguments: ["first"]) }
type User @key(fields: "id") { id: ID! name: String friends: [User!]! }
"""
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"


async def federation(tour: Tour) -> None:
    try:
        validate_subgraph(FEDERATION_SDL.replace("name: String", "name: String @external"))
    except FederationValidationError as exc:
        tour.say(f"validation: {[e.code for e in exc.errors]} ({exc.errors[0].coordinate})")
    calls: list[int] = []

    async def users_in_memory(reps: Sequence[Representation], info: GraphQLResolveInfo[Any]) -> list[Any]:
        calls.append(len(reps))
        return [{"id": r["id"], "name": f"user {r['id']}"} for r in reps]

    schema = build_federated_schema(FEDERATION_SDL, {"User": users_in_memory})
    reps: list[dict[str, str]] = [{"__typename": "User", "id": str(i)} for i in range(100)]
    result = await graphql(schema, ENTITIES, variable_values={"r": [*reps, {"id": "x"}]})
    errors = result.errors or []
    tour.say(f"_entities: 100 users in {len(calls)} resolver call; a bad one: {errors[0].message}")
    query = "{ users(first: 100) { ...F } } fragment F on User { a: friends { id } b: friends { id } }"
    try:
        enforce_cost_limits(schema, query, CostLimits(max_cost=100))
    except CostLimitExceededError as exc:
        tour.say(f"cost limit, fragments expanded: {exc}")
    if tour.postgres_dsn is None:
        tour.say("PostgreSQL entities: set BUTTRESS_POSTGRES_DSN to resolve them from a table")
        return
    conn = await asyncpg.connect(tour.postgres_dsn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE tour_users AS"
            " SELECT g AS id, 'user ' || g AS name FROM generate_series(1, 1000) g"
        )

        async def users_in_postgres(
            reps: Sequence[Representation], info: GraphQLResolveInfo[Any]
        ) -> list[Any]:
            ids = [int(r["id"]) for r in reps]
            sql = "SELECT id::text AS id, name FROM tour_users WHERE id = ANY($1::int[])"
            rows = await conn.fetch(sql, ids)
            by_id = {int(r["id"]): r for r in rows}
            return [by_id.get(i) for i in ids]

        pg_schema = build_federated_schema(FEDERATION_SDL, {"User": users_in_postgres})
        reps = [{"__typename": "User", "id": str(i)} for i in range(1, 1001)]
        result = await graphql(pg_schema, ENTITIES, variable_values={"r": reps})
        found = len((result.data or {}).get("_entities", []))
        tour.say(f"PostgreSQL: {found} entities from one SELECT ... = ANY($1)")
    finally:
        await conn.close()


SECTIONS: dict[str, Section] = {
    "buttress-core": core,
    "buttress-caching": caching,
    "buttress-pooling": pooling,
    "buttress-csp": csp,
    "buttress-fingerprint": fingerprint,
    "buttress-idempotency": idempotency,
    "buttress-event-sourcing": event_sourcing,
    "buttress-feature-flags": feature_flags,
    "buttress-webhooks": webhooks,
    "buttress-federation": federation,
    "buttress-fuzzing": fuzzing,
    "buttress-search": search,
    "buttress-notifications": notifications,
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
