"""Fuzz targets: every public parser of the suite, fed bytes, expected to fail only with typed errors.

Each target turns the fuzzer's bytes into the parser's input (text decoded with ``surrogateescape``,
so invalid UTF-8 arrives as lone surrogates, as it would from a lenient server) and calls it. A
`ButtressError` is the documented rejection; any other exception is a crash. ``fuzz/run.py`` runs
them with buttress-fuzzing, seeded from ``fuzz/corpus/<target>/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

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
from buttress.search import parse_query
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
    )
}
