"""Fuzz targets: every public parser of the suite, fed bytes, expected to fail only with typed errors.

Each target turns the fuzzer's bytes into the parser's input (text decoded with ``surrogateescape``,
so invalid UTF-8 arrives as lone surrogates, as it would from a lenient server) and calls it. A
`ButtressError` is the documented rejection; any other exception is a crash. ``fuzz/run.py`` runs
them with buttress-fuzzing, seeded from ``fuzz/corpus/<target>/``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from buttress.auth import (
    RBAC,
    KeySet,
    Role,
    SigningKey,
    TokenError,
    TokenService,
    bearer_token,
    parse_jwks,
    sign_jws,
)
from buttress.csp import parse, parse_reports
from buttress.feature_flags import flag_from_dict, flag_set_from_dict
from buttress.federation import (
    CostLimits,
    build_subgraph,
    check_subgraph,
    execute_with_limits,
    parse_field_set,
)
from buttress.fingerprint import Fingerprinter, from_headers, from_scope
from buttress.health import parse_status
from buttress.idempotency import decode_response, parse_idempotency_key
from buttress.notifications import Template, TemplateRegistry
from buttress.observability import redact_pii, redact_text
from buttress.persistence import CursorCodec, InvalidCursorError, QuerySchema
from buttress.search import parse_query
from buttress.tenancy import (
    ClaimResolver,
    HeaderResolver,
    PathPrefixResolver,
    SubdomainResolver,
    TenancyConfigurationError,
    TenantRequest,
    TenantTokenError,
    check_tenant_id,
)
from buttress.webhooks import GitHubVerifier, StripeVerifier, WebhookVerifier, parse_retry_after

__all__ = ["TARGETS"]

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_FINGERPRINTER = Fingerprinter(b"k" * 32, purpose="fuzz")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _lines(data: bytes, count: int) -> tuple[list[str], bytes]:
    """The first ``count`` lines as header values (text), and the rest as a body (bytes)."""
    parts = data.split(b"\n", count)
    values = [_text(p) for p in parts[:count]]
    values += [""] * (count - len(values))
    body = parts[count] if len(parts) > count else b""
    return values, body


def csp_policy(data: bytes) -> None:
    """A Content-Security-Policy header value, parsed and serialized again."""
    policy = parse(_text(data))
    policy.serialize()


_REPORT_TYPES = ("application/csp-report", "application/reports+json", "application/json", "text/plain")


def csp_reports(data: bytes) -> None:
    """A report body; its first byte picks the content type."""
    kind = _REPORT_TYPES[data[0] % len(_REPORT_TYPES)] if data else _REPORT_TYPES[0]
    parse_reports(data[1:], kind)


def webhook_standard(data: bytes) -> None:
    """Standard Webhooks headers (id, timestamp, signature, one per line) and a body."""
    (msg_id, timestamp, signature), body = _lines(data, 3)
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    WebhookVerifier(_WEBHOOK_SECRET).verify(headers, body)


def webhook_stripe(data: bytes) -> None:
    """A ``Stripe-Signature`` header line and a body."""
    (signature,), body = _lines(data, 1)
    StripeVerifier("whsec_test").verify({"stripe-signature": signature}, body)


def webhook_github(data: bytes) -> None:
    """An ``X-Hub-Signature-256`` header line and a body."""
    (signature,), body = _lines(data, 1)
    GitHubVerifier("secret").verify({"x-hub-signature-256": signature}, body)


def webhook_retry_after(data: bytes) -> None:
    """A ``Retry-After`` header value from a receiver."""
    parse_retry_after(_text(data), _NOW)


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None  # not JSON: the parser's own input is a decoded document


def flag_document(data: bytes) -> None:
    """A flag set document (JSON), then each of its flags alone."""
    document = _json(data)
    flag_set_from_dict(document)
    if isinstance(document, dict):
        for flag in document.get("features", []) if isinstance(document.get("features"), list) else []:
            flag_from_dict(flag)


def federation_sdl(data: bytes) -> None:
    """A subgraph's SDL, checked the way the CLI checks it."""
    check_subgraph(_text(data))


def federation_field_set(data: bytes) -> None:
    """A ``@key(fields: ...)`` field set."""
    parse_field_set(_text(data))


_SUBGRAPH = build_subgraph(
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\n'
    "type Query { product(upc: ID!): Product, products(first: Int = 5): [Product!]! }\n"
    'type Product @key(fields: "upc") { upc: ID!, name: String, related(first: Int): [Product!]! }\n'
)
_LIMITS = CostLimits()
assert _SUBGRAPH.schema is not None, _SUBGRAPH.errors  # noqa: S101 - the harness's own fixture
_SCHEMA = _SUBGRAPH.schema


async def federation_query(data: bytes) -> None:
    """A client's GraphQL operation against a subgraph, under the default cost limits.

    Bad client input comes back as GraphQL errors in the result; only an exception is a crash.
    """
    await execute_with_limits(_SCHEMA, _text(data), _LIMITS)


def search_query(data: bytes) -> None:
    """A user's search query text."""
    parse_query(_text(data))


def idempotency_key(data: bytes) -> None:
    """An ``Idempotency-Key`` header value, as bytes and as text."""
    parse_idempotency_key(data)
    parse_idempotency_key(_text(data))


def idempotency_stored_response(data: bytes) -> None:
    """A stored response read back from a store."""
    decode_response(data)


def health_document(data: bytes) -> None:
    """An upstream service's health+json answer, as bytes and as text (what `HTTPCheck` reads)."""
    parse_status(data)
    parse_status(_text(data))


class _Context(BaseModel):
    name: str
    count: int


def notification_template(data: bytes) -> None:
    """A template's subject (first line) and text, registered and rendered."""
    (subject,), body = _lines(data, 1)
    registry = TemplateRegistry()
    registry.register(Template("fuzz", _Context, subject=subject, text=_text(body)))
    registry.render("fuzz", _Context(name="Ann", count=3))


def fingerprint_request(data: bytes) -> None:
    """Request headers (``name: value`` lines; the first line is the client address) to a fingerprint."""
    (client,), rest = _lines(data, 1)
    headers: list[tuple[bytes, bytes]] = []
    for line in rest.split(b"\n"):
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    scope = {"type": "http", "headers": headers, "client": (client, 443)}
    _FINGERPRINTER.fingerprint(from_scope(scope))
    from_headers({_text(n): _text(v) for n, v in headers}, client_ip=client or None)


class _Base(DeclarativeBase):
    pass


class _Author(_Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None]


class _Order(_Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str | None]
    total: Mapped[int | None]
    price: Mapped[Decimal | None]
    ratio: Mapped[float | None]
    paid: Mapped[bool | None]
    placed: Mapped[date | None]
    created_at: Mapped[datetime | None]
    ref: Mapped[UUID | None]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[_Author | None] = relationship()


_ORDER_FIELDS: dict[str, type] = {
    "status": str,
    "total": int,
    "price": Decimal,
    "ratio": float,
    "paid": bool,
    "placed": date,
    "created_at": datetime,
    "ref": UUID,
    "author.name": str,
}
_QUERIES = (
    QuerySchema(filters=_ORDER_FIELDS, sorts=["total", "created_at", "status"], default_sort=["-created_at"]),
    QuerySchema(filters=_ORDER_FIELDS, sorts=["total"], pagination="cursor", per_page=50),
)
_SAMPLE = _Order(
    id=1,
    status="open",
    total=3,
    price=Decimal("9.99"),
    ratio=0.5,
    paid=False,
    placed=date(2026, 1, 1),
    created_at=_NOW,
    ref=UUID(int=7),
    author=_Author(id=1, name="Ann"),
)


def persistence_query(data: bytes) -> None:
    """A client's list query string (``filter=...&sort=...&page=...``), as bytes and as text.

    Both paging modes parse it; a filter the schema accepts must also compile to SQL and evaluate in
    Python.
    """
    for schema in _QUERIES:
        for params in (data, _text(data)):
            query = schema.parse(params)
            if query.where is not None:
                query.where.to_sql_condition(_Order)
                query.where.evaluate(_SAMPLE)


_CURSORS = CursorCodec(b"c" * 32)


def persistence_cursor(data: bytes) -> None:
    """A cursor a client sends back: the text as a token, then the bytes as a signed token's payload.

    Signing the bytes with the server's key reaches the decoding behind the signature check (what a
    bug in encoding could hand out); a position that decodes is encoded and decoded back to itself.
    """
    with contextlib.suppress(InvalidCursorError):
        _CURSORS.decode(_text(data), query="q")
    token = f"{_b64(data)}.{_b64(hmac.new(b'c' * 32, data, hashlib.sha256).digest()[:16])}"
    position = _CURSORS.decode(token, query="q")
    encoded = _CURSORS.encode(position)
    again = _CURSORS.encode(_CURSORS.decode(encoded, query="q"))
    if again != encoded:  # tokens, not values: a NaN sort value is not equal to itself
        raise AssertionError(f"{encoded!r} came back as {again!r}")


def observability_redaction(data: bytes) -> None:
    """The PII redactor on text and on the JSON document the bytes hold: no crash, and idempotent."""
    text = _text(data)
    once = redact_text(text)
    if redact_text(once) != once:
        raise AssertionError("redacting twice changed the text")
    with contextlib.suppress(ValueError, RecursionError):
        document = json.loads(data)
        event = redact_pii(None, "info", {"event": text, "payload": document})
        json.dumps(event, default=repr)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_AUTH_KEY = SigningKey.from_secret(b"f" * 32, kid="fuzz")
_AUTH = TokenService(KeySet(_AUTH_KEY), issuer="https://id.example", audience="api")
_RBAC = RBAC({"viewer": Role(("posts:read",)), "editor": Role(("posts:*",), ("viewer",))})


def auth_token(data: bytes) -> None:
    """A bearer token: the text as a token, then the bytes as the payload of a token the key signed.

    Signing the bytes reaches the claims checks behind the signature (what a forged token cannot).
    """
    for token in (_text(data), sign_jws(_AUTH_KEY, data, header={"typ": "at+jwt"})):
        with contextlib.suppress(TokenError):
            _AUTH.decode(token)


def auth_request(data: bytes) -> None:
    """An Authorization header, a JWKS document and a permission, as a client or an issuer sends them."""
    first, rest = _lines(data, 1)
    with contextlib.suppress(TokenError):
        bearer_token(
            {"type": "http", "headers": [(b"authorization", first[0].encode("utf-8", "surrogateescape"))]}
        )
    with contextlib.suppress(ValueError):
        parse_jwks(json.loads(rest))
    with contextlib.suppress(LookupError):
        _RBAC.allows("editor", _text(rest))


_TENANT_RESOLVERS = (
    HeaderResolver(),
    SubdomainResolver("example.com"),
    PathPrefixResolver("/t/"),
    ClaimResolver(lambda token: {"tenant_id": token.partition(".")[0]} if token.endswith(".ok") else {}),
)


def tenancy_request(data: bytes) -> None:
    """A request's host, path, tenant header and Authorization header, through every tenant resolver.

    A resolver answers a tenant id or None (a ClaimResolver may refuse the token, typed); whatever it
    answers is then checked as a tenant id, as the middleware does.
    """
    (host, path, tenant, authorization), _ = _lines(data, 4)
    request = TenantRequest(host, path, {"x-tenant-id": tenant, "authorization": authorization})
    for resolver in _TENANT_RESOLVERS:
        try:
            found = resolver.resolve(request)
        except TenantTokenError:
            continue
        if found is not None and not isinstance(found, str):
            raise AssertionError(f"{type(resolver).__name__} resolved {found!r}")
        if found is not None:
            with contextlib.suppress(TenancyConfigurationError):
                check_tenant_id(found)


TARGETS: dict[str, Callable[[bytes], object]] = {
    target.__name__: target
    for target in (
        csp_policy,
        csp_reports,
        webhook_standard,
        webhook_stripe,
        webhook_github,
        webhook_retry_after,
        flag_document,
        federation_sdl,
        federation_field_set,
        federation_query,
        search_query,
        idempotency_key,
        idempotency_stored_response,
        health_document,
        notification_template,
        fingerprint_request,
        persistence_query,
        persistence_cursor,
        observability_redaction,
        auth_token,
        auth_request,
        tenancy_request,
    )
}
