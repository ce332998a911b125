"""The shop every framework example serves: its data and the buttress objects, on embedded defaults.

Each ``examples/frameworks/<framework>/app.py`` wires these into one framework, so the examples
differ only where the frameworks do. Nothing here needs a server: the idempotency store, the replay
guard, the cache and the flag source are the in-memory ones (swap in the Redis or PostgreSQL ones
in production; nothing else changes).

A new package joins the shop in three steps: its object as a field of `ShopState` (or of `Shop` and
`SyncShop` when it has an async and a sync form), what it opens in ``start`` (registered with the
shutdown coordinator, which closes it), and its route or middleware in each ``app.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import ariadne
import strawberry
from graphql import ASTValidationRule, GraphQLSchema
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column
from strawberry.extensions import AddValidationRules

from buttress.auth import (
    KeySet,
    MemoryTokenStore,
    SigningKey,
    TokenError,
    TokenService,
    VerifiedToken,
    authenticate,
)
from buttress.caching import MemoryCache
from buttress.core import ASGIApp, Receive, Scope, Send, StartResponse, WSGIApp, WSGIEnviron
from buttress.csp import (
    CSPReport,
    Policy,
    ReportError,
    ReportTooLargeError,
    UnsupportedReportTypeError,
    parse_reports,
    strict,
)
from buttress.feature_flags import (
    ClientStatus,
    Context,
    FlagClient,
    FlagDefinition,
    MemoryFlagSource,
    ThreadedFlagClient,
    flag_from_dict,
)
from buttress.federation import CostLimits, build_federated_schema, cost_limits_rule, federate
from buttress.fingerprint import Fingerprinter
from buttress.health import FunctionCheck, HealthRegistry, ShutdownCoordinator, SQLAlchemyCheck
from buttress.idempotency import MemoryStore, SyncMemoryStore
from buttress.persistence import (
    PROBLEM_JSON,
    DatabaseSession,
    PersistenceError,
    QuerySchema,
    SqlAlchemyRepository,
    problem_details,
)
from buttress.tenancy import (
    HeaderResolver,
    MemoryTenantDirectory,
    Tenant,
    TenantMiddleware,
    TenantStatus,
    WSGITenantMiddleware,
    current_tenant,
)
from buttress.webhooks import (
    MemoryReplayGuard,
    SyncMemoryReplayGuard,
    SyncWebhookReceiver,
    VerifiedWebhook,
    WebhookReceiver,
    WebhookVerifier,
)

# In production both come from your secret store; these are an example's, known to its tests.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the example's own
FINGERPRINT_SECRET = b"an example's fingerprint key, 32+ bytes long"

REPORTS_URL = "/csp-reports"
"""Where browsers send CSP violation reports (the policy names it; each app routes it exactly)."""
BETA = "beta-banner"
"""The flag each app reads in its page: on for the user ``alice`` only."""
STREAM_BYTES = 1024 * 1024
"""The size of ``GET /download``, streamed in 64 KiB chunks."""
CHUNK = 64 * 1024

PRODUCTS = {"1": "teapot", "2": "kettle", "3": "mug"}
PRICES = {"1": 30, "2": 45, "3": 8}

CATALOGUE = QuerySchema(filters={"name": str, "price": int}, sorts=["name", "price"], default_sort=["name"])
"""What ``GET /products`` lets a client ask: ``?filter={"price": {"lt": 40}}&sort=-price&page=1``."""

DATABASE_URL = "sqlite:///:memory:"
"""buttress-persistence's embedded default: SQLite in memory, through aiosqlite (a PostgreSQL URL in
production: ``postgresql://app@db/app``; nothing else changes)."""

HEALTH = "/health"
"""Where the probes are mounted: ``/health/live``, ``/health/ready``, ``/health/startup``."""


TRACED_EXCEPT = (f"{HEALTH}/*",)
"""Paths the tracing middleware leaves alone: the probes, polled every few seconds."""

ISSUER = "https://shop.example"
AUDIENCE = "shop-api"
USERS = {"alice": "wonderland"}
"""The example's one account (a real shop checks a password hash in its user store)."""
CHALLENGE = 'Bearer realm="shop"'
"""The ``WWW-Authenticate`` challenge of a request without a token (RFC 6750)."""


TENANT_PATH = "/tenant"
"""The one route behind buttress-tenancy: it answers the tenant the request's ``X-Tenant-ID`` names."""


def tenant_directory() -> MemoryTenantDirectory:
    """buttress-tenancy on embedded defaults: two active tenants and a suspended one, in memory.

    In production the tenants come from PostgreSQL (``PostgresTenantDirectory``); nothing else changes.
    """
    return MemoryTenantDirectory(
        [Tenant("acme"), Tenant("globex"), Tenant("initech", TenantStatus.SUSPENDED)]
    )


def tenant_resolver() -> HeaderResolver:
    """The package's default resolver: the ``X-Tenant-ID`` header (set by your gateway, not a client)."""
    return HeaderResolver()


def which_tenant() -> dict[str, str]:
    """The body of ``GET /tenant``: the tenant whose scope the request runs in."""
    return {"tenant": current_tenant()}


def tenant_route(site: ASGIApp, directory: MemoryTenantDirectory) -> ASGIApp:
    """``site`` with `TENANT_PATH` alone behind ``TenantMiddleware``: no other route needs a tenant.

    For the frameworks that route views, not ASGI apps (Quart, Django): the middleware wraps the
    framework's app, and only that path goes through it.
    """
    scoped = TenantMiddleware(site, resolver=tenant_resolver(), directory=directory)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
        if scope["type"] == "http" and path == TENANT_PATH:
            await scoped(scope, receive, send)
        else:
            await site(scope, receive, send)

    return app


def wsgi_tenant_route(site: WSGIApp, directory: MemoryTenantDirectory) -> WSGIApp:
    """The WSGI twin of `tenant_route`: ``WSGITenantMiddleware`` on `TENANT_PATH` only."""
    scoped = WSGITenantMiddleware(site, resolver=tenant_resolver(), directory=directory)

    def app(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == TENANT_PATH:
            return scoped(environ, start_response)
        return site(environ, start_response)

    return app


def token_service() -> TokenService:
    """buttress-auth on embedded defaults: a key generated at startup, revocations in memory.

    In production the key comes from your secret store (``SigningKey.from_pem``) and revocations
    from Redis (``RedisTokenStore``), so that every instance accepts the same tokens.
    """
    return TokenService(
        KeySet(SigningKey.generate("ES256")), issuer=ISSUER, audience=AUDIENCE, store=MemoryTokenStore()
    )


class Unauthorized(Exception):  # noqa: N818 - named after the status it becomes
    """A request to a protected route without a valid token: each app answers 401 with `challenge`."""

    def __init__(self, challenge: str) -> None:
        super().__init__(challenge)
        self.challenge = challenge


def authorization_scope(authorization: str | None) -> Scope:
    """A minimal ASGI scope holding one ``Authorization`` header, for `authenticate` outside ASGI."""
    headers = [] if authorization is None else [(b"authorization", authorization.encode("latin-1"))]
    return {"type": "http", "headers": headers}


async def principal(scope: Scope, tokens: TokenService) -> VerifiedToken:
    """The verified access token of a request, for a framework's dependency or view decorator.

    Raises:
        Unauthorized: No token, or one that must not be trusted (malformed, expired, forged,
            revoked); its ``challenge`` says which (``error="invalid_token"``).
    """
    try:
        verified = await authenticate(scope, tokens)
    except TokenError as exc:
        raise Unauthorized(f'{CHALLENGE}, error="invalid_token"') from exc
    if verified is None:
        raise Unauthorized(CHALLENGE)
    return verified


def whoami(verified: VerifiedToken) -> dict[str, Any]:
    """The body of ``GET /me``: who the token says the caller is."""
    return {"subject": verified.subject, "roles": list(verified.claims.get("roles", []))}


def beta_flag() -> FlagDefinition:
    """The Unleash-format definition of `BETA`."""
    return flag_from_dict(
        {"name": BETA, "strategies": [{"name": "userWithId", "parameters": {"userIds": "alice"}}]}
    )


def policy(root_path: str = "") -> Policy:
    """The strict CSP preset, reporting to `REPORTS_URL` under the app's root path."""
    return strict(report_to=("csp", f"{root_path}{REPORTS_URL}"))


def user(query_user: str | None) -> Context:
    """The flag context of a request (a real app reads its session; here ``?user_id=`` names it)."""
    return Context(user_id=query_user or None)


def download() -> Iterator[bytes]:
    """`STREAM_BYTES` of a known pattern, in chunks (a test compares its SHA-256)."""
    block = bytes(range(256)) * (CHUNK // 256)
    for _ in range(STREAM_BYTES // CHUNK):
        yield block


def download_digest() -> str:
    return hashlib.sha256(b"".join(download())).hexdigest()


class Base(MappedAsDataclass, DeclarativeBase):
    pass


class CatalogueRow(Base):
    """A product as the database keeps it (what ``GET /products`` lists)."""

    __tablename__ = "products"
    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    price: Mapped[int]

    def to_dict(self) -> dict[str, str | int]:
        return {"id": self.id, "name": self.name, "price": self.price}


def catalogue() -> list[CatalogueRow]:
    """The rows behind ``GET /products``."""
    return [CatalogueRow(id=i, name=name, price=PRICES[i]) for i, name in PRODUCTS.items()]


def beside_probes(site: ASGIApp, probes: ASGIApp) -> ASGIApp:
    """One ASGI app: ``/health/...`` goes to ``probes``, the rest (the lifespan too) to ``site``.

    For the frameworks that route views, not ASGI apps (Quart, and Django before its URLconf).
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
        if scope["type"] in {"http", "websocket"} and path.startswith(f"{HEALTH}/"):
            await probes(scope, receive, send)
        else:
            await site(scope, receive, send)

    return app


def problem(error: PersistenceError) -> tuple[int, bytes, str]:
    """The RFC 9457 answer to a persistence error: status, body and media type (``PROBLEM_JSON``)."""
    details = problem_details(error)
    return details.status, details.to_json(), PROBLEM_JSON


class _Flags(Protocol):
    @property
    def status(self) -> ClientStatus: ...


def health_checks(flags: _Flags) -> HealthRegistry:
    """The shop's checks: the startup and readiness probes pass once the flags are loaded.

    Liveness has no check (it must never depend on a dependency): it passes while the process
    answers. A real shop adds its database and Redis here (``SQLAlchemyCheck``, ``RedisCheck``).
    """
    registry = HealthRegistry(timeout=1.0)

    async def flags_loaded() -> bool:
        return flags.status in (ClientStatus.READY, ClientStatus.STALE)

    registry.add("flags:loaded", FunctionCheck(flags_loaded), groups=("startup", "ready"))
    return registry


@dataclass
class ShopState:
    """What every form of the shop holds: the objects with no async/sync form, and its counters."""

    policy: Policy = field(default_factory=policy)
    fingerprinter: Fingerprinter = field(
        default_factory=lambda: Fingerprinter(FINGERPRINT_SECRET, purpose="example-shop")
    )
    cache: MemoryCache[Any] = field(default_factory=lambda: MemoryCache[Any](max_size=1000))
    orders: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    loads: list[str] = field(default_factory=list)
    """The product ids the cached view loaded (a hit loads nothing)."""
    handled: list[str | None] = field(default_factory=list)
    """The ids of the webhooks handled."""
    reports: list[CSPReport] = field(default_factory=list)
    """The CSP violation reports browsers sent."""
    lifespan: list[str] = field(default_factory=list)
    """``startup`` and ``shutdown``, as the framework ran them."""
    tokens: TokenService = field(default_factory=token_service)
    """Issues the tokens of ``POST /token`` and verifies those of ``GET /me``."""
    tenants: MemoryTenantDirectory = field(default_factory=tenant_directory)
    """Who may call ``GET /tenant``: `tenant_directory`."""

    def login(self, payload: Any) -> tuple[int, dict[str, str]]:  # noqa: ANN401 - any JSON
        """``POST /token``: an access token for a known user and password, else 401."""
        name = payload.get("user") if isinstance(payload, dict) else None
        password = payload.get("password") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not isinstance(password, str) or name not in USERS:
            return 401, {"error": "invalid_grant"}
        if not hmac.compare_digest(USERS[name].encode(), password.encode()):
            return 401, {"error": "invalid_grant"}
        token = self.tokens.issue_access(name, claims={"roles": ["customer"]})
        return 200, {"access_token": token, "token_type": "Bearer"}

    def handle(self, webhook: VerifiedWebhook) -> None:
        """What the shop does with a verified webhook (raise, and the sender retries it)."""
        self.handled.append(webhook.id)

    def read_reports(self, body: bytes, content_type: str) -> int:
        """A report view's work where no receiver app can be routed: parse, keep, answer a status."""
        try:
            reports = parse_reports(body, content_type)
        except ReportTooLargeError:
            return 413
        except UnsupportedReportTypeError:
            return 415
        except ReportError:
            return 400
        self.reports.extend(reports)
        return 204

    def product(self, product_id: str) -> dict[str, str | int]:
        """The product behind the cached view; each call is a load (a database query in real life)."""
        self.loads.append(product_id)
        return {"id": product_id, "name": PRODUCTS.get(product_id, "unknown"), "load": len(self.loads)}

    def order(self, payload: Any) -> dict[str, Any]:  # noqa: ANN401 - any JSON
        """Place an order: each call is a new one (idempotency keeps a retry from calling it again)."""
        item = payload.get("item") if isinstance(payload, dict) else None
        return {"order": next(self.orders), "item": item}


@dataclass
class Shop(ShopState):
    """The shop of an ASGI app: the async store, flag client and webhook receiver.

    Each ``create_app()`` makes a new one, so two apps (two tests) share nothing.
    """

    idempotency: MemoryStore = field(default_factory=MemoryStore)
    flags: FlagClient = field(default_factory=lambda: FlagClient(MemoryFlagSource([beta_flag()])))
    webhooks: WebhookReceiver = field(
        default_factory=lambda: WebhookReceiver(
            WebhookVerifier(WEBHOOK_SECRET), replay_guard=MemoryReplayGuard()
        )
    )

    health: HealthRegistry = field(init=False)
    """The probes' checks (`health_checks`)."""
    shutdown: ShutdownCoordinator = field(init=False)
    """Fails readiness, drains, then closes what ``start`` opened, the last opened first."""
    database: DatabaseSession | None = None
    """The catalogue's database, opened by ``start``."""
    products: SqlAlchemyRepository[CatalogueRow, str] | None = None
    """The catalogue's repository, once started."""
    closed: tuple[str, ...] = ()
    """What the shutdown closed, in order."""
    loop: asyncio.AbstractEventLoop | None = None
    """The loop the app runs on, once started (a test hands it a shutdown from another thread)."""

    def __post_init__(self) -> None:
        self.health = health_checks(self.flags)
        self.shutdown = ShutdownCoordinator(self.health, drain_delay=5, grace=20)

    async def start(self) -> None:
        """The app's startup: the catalogue's database and the flags' first load (then their refresh).

        Each resource is registered with the shutdown coordinator as it opens, so the shutdown
        closes them the other way round.
        """
        self.loop = asyncio.get_running_loop()
        self.shutdown.register(self.health, name="health")
        self.shutdown.register(self.cache, name="cache")
        self.shutdown.register(self.idempotency, name="idempotency")
        self.database = await DatabaseSession.connect(DATABASE_URL)
        self.shutdown.register(self.database, name="database")
        await self.database.create_all(Base.metadata)
        self.products = SqlAlchemyRepository(self.database, CatalogueRow)
        await self.products.add_many(catalogue())
        self.health.add("sqlite:responseTime", SQLAlchemyCheck(self.database.engine), timeout=1.0)
        await self.flags.start()
        self.shutdown.register(self.flags, name="flags")
        self.lifespan.append("startup")

    async def stop(self) -> None:
        """The app's shutdown: the coordinator's sequence (the server stopped accepting: no drain)."""
        report = await self.shutdown.shutdown(drain=False)
        self.closed = report.closed
        self.lifespan.append("shutdown")

    async def list_products(self, query: str | bytes) -> dict[str, Any]:
        """``GET /products``: the catalogue, filtered, sorted and paged as the query string asks.

        `CATALOGUE` checks the query against its allow-list; the repository runs it as SQL.

        Raises:
            InvalidQueryError: A bad filter, sort or page: each app answers it with `problem` (400).
        """
        if self.products is None:
            raise RuntimeError("the shop is not started")
        page = await self.products.fetch(CATALOGUE.parse(query))
        return {"items": [row.to_dict() for row in page.items], "page": page.page}

    async def handle_webhook(self, webhook: VerifiedWebhook) -> None:
        self.handle(webhook)

    async def store_reports(self, reports: Sequence[CSPReport]) -> None:
        """Where CSP violation reports go (a log or a table in real life)."""
        self.reports.extend(reports)


@dataclass
class SyncShop(ShopState):
    """The shop of a WSGI app (and of Django's views): the synchronous twins, no event loop needed."""

    idempotency: SyncMemoryStore = field(default_factory=SyncMemoryStore)
    flags: ThreadedFlagClient = field(
        default_factory=lambda: ThreadedFlagClient(MemoryFlagSource([beta_flag()]))
    )
    webhooks: SyncWebhookReceiver = field(
        default_factory=lambda: SyncWebhookReceiver(
            WebhookVerifier(WEBHOOK_SECRET), replay_guard=SyncMemoryReplayGuard()
        )
    )

    health: HealthRegistry = field(init=False)
    """The probes' checks (`health_checks`), served by ``WSGIHealthApp`` or ``HealthApp``."""

    def __post_init__(self) -> None:
        self.health = health_checks(self.flags)

    def start(self) -> None:
        """The flag client's first load, then its refresh in a thread of its own."""
        self.flags.start()
        self.lifespan.append("startup")

    def stop(self) -> None:
        self.flags.close()
        self.lifespan.append("shutdown")

    def store_reports(self, reports: Sequence[CSPReport]) -> None:
        self.reports.extend(reports)

    def list_products(self, query: str | bytes) -> dict[str, Any]:
        """``GET /products`` for WSGI views: the specification `CATALOGUE` returns, run in Python.

        SQLAlchemy's async engine belongs to one event loop, and a WSGI app's async views each run
        on a new one; the same query runs as SQL in `Shop.list_products`, with the same answers.

        Raises:
            InvalidQueryError: A bad filter, sort or page: each app answers it with `problem` (400).
        """
        listed = CATALOGUE.parse(query)
        rows = catalogue()
        if listed.where is not None:
            rows = [row for row in rows if listed.where.is_satisfied_by(row)]
        for key in (None, *reversed(listed.sort)):  # stable sorts: the id (the last key) first
            field_name = "id" if key is None else key.field
            rows.sort(key=operator.attrgetter(field_name), reverse=key is not None and key.descending)
        start = ((listed.page or 1) - 1) * listed.per_page
        items = rows[start : start + listed.per_page]
        return {"items": [row.to_dict() for row in items], "page": listed.page}


# --- Federation: a subgraph whose Product entities resolve in one batch per request ---


def graphql_validation_rules() -> list[type[ASTValidationRule]]:
    """Cost limits as a graphql-core validation rule: an operation over them never runs."""
    return [cost_limits_rule(CostLimits(max_cost=100, max_aliases=10))]


# strawberry: its own federation types; buttress-federation replaces _entities with the batched one.


@strawberry.federation.type(keys=["id"])
class Product:
    id: strawberry.ID
    name: str


@strawberry.type
class Query:
    @strawberry.field
    def products(self) -> list[Product]:
        return [Product(id=strawberry.ID(i), name=name) for i, name in PRODUCTS.items()]


async def products_by_id(representations: Sequence[Any], info: Any) -> list[Product | None]:  # noqa: ANN401
    """Every ``Product`` representation of a request, in one call (one SQL query in real life)."""
    ids = [str(r["id"]) for r in representations]
    return [Product(id=strawberry.ID(i), name=PRODUCTS[i]) if i in PRODUCTS else None for i in ids]


def strawberry_schema() -> strawberry.federation.Schema:
    """The strawberry federation schema with the batched ``_entities`` (changed in place)."""
    schema = strawberry.federation.Schema(
        query=Query, extensions=[lambda: AddValidationRules(graphql_validation_rules())]
    )
    federate(schema._schema, {"Product": products_by_id})
    return schema


# ariadne: the SDL is built by buttress-federation (ariadne alone does not know @link or @key).

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
type Query { products: [Product!]! }
type Product @key(fields: "id") { id: ID! name: String! }
"""


async def product_rows(representations: Sequence[Any], info: Any) -> list[dict[str, str] | None]:  # noqa: ANN401
    ids = [str(r["id"]) for r in representations]
    return [{"id": i, "name": PRODUCTS[i]} if i in PRODUCTS else None for i in ids]


def ariadne_schema() -> GraphQLSchema:
    """The subgraph for ariadne: validated, ``_entities`` batched, ariadne's bindables on it."""
    query = ariadne.QueryType()
    query.set_field("products", lambda *_: [{"id": i, "name": n} for i, n in PRODUCTS.items()])
    schema = build_federated_schema(SDL, {"Product": product_rows})
    query.bind_to_schema(schema)
    return schema
