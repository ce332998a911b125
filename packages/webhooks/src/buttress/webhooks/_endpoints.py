"""Endpoints: the `Endpoint` record, the `EndpointStore` Protocol, `MemoryEndpointStore` and `Endpoints`."""

from __future__ import annotations

import re
import secrets as _secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

from buttress.core import Clock, SystemClock

from ._keys import Ed25519VerifyKey, generate_secret, parse_key
from .exceptions import (
    EndpointConflictError,
    EndpointNotFoundError,
    InvalidSecretError,
    WebhookConfigurationError,
)

__all__ = ["Endpoint", "EndpointStore", "Endpoints", "MemoryEndpointStore", "new_endpoint_id"]

_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers the sender sets itself; an endpoint may not override them.
_RESERVED_HEADERS: Final = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)
_MAX_URL: Final = 2048


def new_endpoint_id() -> str:
    """Return a fresh endpoint id: ``ep_`` and 22 URL-safe characters."""
    return "ep_" + _secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one subscriber receives webhooks, and how.

    Validated on construction; change one with `dataclasses.replace` (or `Endpoints.update`).

    Attributes:
        url: ``http://`` or ``https://`` URL that receives POSTs.
        secrets: ``whsec_`` secrets (or ``whsk_`` ed25519 keys); every one signs each request. The
            first is the current one; the others are previous secrets kept during a rotation.
        id: The endpoint's id; a fresh ``ep_...`` when omitted.
        event_types: The event types it receives; ``None`` means all.
        enabled: Disabled endpoints receive nothing; their pending deliveries are cancelled.
        disabled_reason: Why it was disabled (410 Gone, failing since..., by hand).
        rate_limit: At most this many deliveries per second from each worker, or ``None``.
        headers: Extra headers sent with every request (not the ``webhook-*`` ones).
        description: Free text for people.
        previous_secrets_expire_at: When ``secrets[1:]`` stop signing (end of a rotation's grace).
        created_at: When it was created (set by `Endpoints`).
        updated_at: When it last changed (set by `Endpoints`).
    """

    url: str
    secrets: tuple[str, ...] = field(repr=False)
    id: str = field(default_factory=new_endpoint_id)
    event_types: frozenset[str] | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    rate_limit: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    previous_secrets_expire_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_url(self.url)
        object.__setattr__(self, "secrets", _check_secrets(self.secrets))
        if self.event_types is not None:
            object.__setattr__(self, "event_types", _check_event_types(self.event_types))
        if not isinstance(self.enabled, bool):
            raise WebhookConfigurationError("enabled", self.enabled, "must be a bool")
        if self.rate_limit is not None and (
            isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, int) or self.rate_limit < 1
        ):
            raise WebhookConfigurationError("rate_limit", self.rate_limit, "must be a positive int or None")
        object.__setattr__(self, "headers", _check_headers(self.headers))
        if not isinstance(self.description, str):
            raise WebhookConfigurationError("description", self.description, "must be a str")
        for name in ("previous_secrets_expire_at", "created_at", "updated_at"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise WebhookConfigurationError(name, value, "must be a timezone-aware datetime or None")

    def accepts(self, event_type: str) -> bool:
        """Return whether this endpoint subscribes to ``event_type``."""
        return self.event_types is None or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """Return the secrets that sign at ``now``: the current one, and the previous ones until expiry."""
        expires = self.previous_secrets_expire_at
        if expires is not None and now >= expires:
            return self.secrets[:1]
        return self.secrets


def _check_id(value: object) -> None:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 128
        or not value.isascii()
        or not value.isprintable()
    ):
        raise WebhookConfigurationError("id", value, "must be 1 to 128 printable ASCII characters")


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        raise WebhookConfigurationError(
            "url", url, f"must be a non-empty str of at most {_MAX_URL} characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookConfigurationError("url", url, "is not a valid URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookConfigurationError("url", url, "must be an http:// or https:// URL with a host")
    if port == 0 or any(c in url for c in "\r\n\t "):
        raise WebhookConfigurationError("url", url, "has an invalid port or whitespace")


def _check_secrets(value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, tuple | list) or not items:
        raise InvalidSecretError("secrets", "must be a non-empty tuple of whsec_/whsk_ strings")
    checked: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidSecretError(f"secrets[{index}]", "must be a whsec_ or whsk_ string")
        key = parse_key(item, parameter=f"secrets[{index}]")
        if isinstance(key, Ed25519VerifyKey):
            raise InvalidSecretError(f"secrets[{index}]", "a whpk_ public key cannot sign")
        checked.append(item)
    return tuple(checked)


def _check_event_types(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise WebhookConfigurationError("event_types", value, "must be a set of event-type names, or None")
    types = frozenset(value)
    if not types or not all(isinstance(t, str) and t and len(t) <= 256 for t in types):
        raise WebhookConfigurationError("event_types", value, "must hold at least one non-empty str")
    return types


def _check_headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise WebhookConfigurationError("headers", value, "must be a mapping of str to str")
    checked: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name) or name.lower() in _RESERVED_HEADERS:
            raise WebhookConfigurationError(
                "headers", name, "names must be HTTP tokens, not reserved headers"
            )
        if not isinstance(text, str) or any(c in text for c in "\r\n\x00") or not text.isascii():
            raise WebhookConfigurationError("headers", name, "values must be ASCII str without CR/LF")
        checked[name] = text
    return checked


@runtime_checkable
class EndpointStore(Protocol):
    """**Protocol**: where endpoints are kept. `MemoryEndpointStore` and `PostgresEndpointStore` implement it.

    The store keeps what it is given, verbatim: timestamps and ids are chosen by the caller
    (`Endpoints`). Conformance: subclass `buttress.testing.EndpointStoreContract`.

    Methods:
        create: Store a new endpoint; `EndpointConflictError` (a ``ConflictError``) if its id exists.
        get: Return the endpoint; `EndpointNotFoundError` (a ``NotFoundError``) if there is none.
        update: Replace the stored endpoint with the same id; `EndpointNotFoundError` if there is none.
        delete: Remove it; return whether it existed.
        list: Return endpoints ordered by id, optionally only those subscribed to ``event_type``
            and/or with ``enabled`` equal to the given value.
    """

    async def create(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint and return it."""
        ...

    async def get(self, endpoint_id: str) -> Endpoint:
        """Return the endpoint with this id."""
        ...

    async def update(self, endpoint: Endpoint) -> Endpoint:
        """Replace the endpoint with ``endpoint.id`` and return it."""
        ...

    async def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; ``True`` if it existed."""
        ...

    async def list(self, *, event_type: str | None = None, enabled: bool | None = None) -> list[Endpoint]:
        """Return matching endpoints, ordered by id."""
        ...


class MemoryEndpointStore:
    """An `EndpointStore` in a dict, for tests and single-process senders."""

    __slots__ = ("_items",)

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._items: dict[str, Endpoint] = {}
        for endpoint in endpoints:
            if endpoint.id in self._items:
                raise EndpointConflictError(endpoint.id)
            self._items[endpoint.id] = endpoint

    async def create(self, endpoint: Endpoint) -> Endpoint:
        """Store a new endpoint."""
        _require_endpoint(endpoint)
        if endpoint.id in self._items:
            raise EndpointConflictError(endpoint.id)
        self._items[endpoint.id] = endpoint
        return endpoint

    async def get(self, endpoint_id: str) -> Endpoint:
        """Return the endpoint with this id."""
        try:
            return self._items[endpoint_id]
        except (KeyError, TypeError):
            raise EndpointNotFoundError(str(endpoint_id)) from None

    async def update(self, endpoint: Endpoint) -> Endpoint:
        """Replace the endpoint with ``endpoint.id``."""
        _require_endpoint(endpoint)
        if endpoint.id not in self._items:
            raise EndpointNotFoundError(endpoint.id)
        self._items[endpoint.id] = endpoint
        return endpoint

    async def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; ``True`` if it existed."""
        return self._items.pop(endpoint_id, None) is not None

    async def list(self, *, event_type: str | None = None, enabled: bool | None = None) -> list[Endpoint]:
        """Return matching endpoints, ordered by id."""
        return [
            e
            for _, e in sorted(self._items.items())
            if (event_type is None or e.accepts(event_type)) and (enabled is None or e.enabled is enabled)
        ]


def _require_endpoint(endpoint: object) -> None:
    if not isinstance(endpoint, Endpoint):
        raise WebhookConfigurationError("endpoint", type(endpoint).__name__, "must be an Endpoint")


class Endpoints:
    """Management operations over any `EndpointStore`: create, update, rotate, disable, enable, list.

    Args:
        store: Where endpoints live.
        clock: Sets ``created_at``/``updated_at`` and rotation expiry.

    Examples:
        >>> endpoints = Endpoints(MemoryEndpointStore())
    """

    __slots__ = ("_clock", "store")

    def __init__(self, store: EndpointStore, *, clock: Clock | None = None) -> None:
        self.store = store
        self._clock: Clock = clock if clock is not None else SystemClock()

    async def create(
        self,
        url: str,
        *,
        secret: str | None = None,
        event_types: Iterable[str] | None = None,
        rate_limit: int | None = None,
        headers: Mapping[str, str] | None = None,
        description: str = "",
        endpoint_id: str | None = None,
    ) -> Endpoint:
        """Create an endpoint (with a fresh ``whsec_`` secret unless one is given) and store it."""
        now = self._clock.now()
        endpoint = Endpoint(
            url=url,
            secrets=(secret if secret is not None else generate_secret(),),
            id=endpoint_id if endpoint_id is not None else new_endpoint_id(),
            event_types=None if event_types is None else frozenset(event_types),
            rate_limit=rate_limit,
            headers=dict(headers or {}),
            description=description,
            created_at=now,
            updated_at=now,
        )
        return await self.store.create(endpoint)

    async def get(self, endpoint_id: str) -> Endpoint:
        """Return one endpoint."""
        return await self.store.get(endpoint_id)

    async def list(self, *, event_type: str | None = None, enabled: bool | None = None) -> list[Endpoint]:
        """List endpoints (see `EndpointStore.list`)."""
        return await self.store.list(event_type=event_type, enabled=enabled)

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Iterable[str] | object | None = ...,
        rate_limit: int | object | None = ...,
        headers: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> Endpoint:
        """Change some fields of an endpoint; leave out what should stay (``event_types=None`` means all)."""
        current = await self.store.get(endpoint_id)
        changes: dict[str, object] = {"updated_at": self._clock.now()}
        if url is not None:
            changes["url"] = url
        if event_types is not ...:
            changes["event_types"] = None if event_types is None else frozenset(event_types)  # type: ignore[call-overload]
        if rate_limit is not ...:
            changes["rate_limit"] = rate_limit
        if headers is not None:
            changes["headers"] = dict(headers)
        if description is not None:
            changes["description"] = description
        return await self.store.update(replace(current, **changes))  # type: ignore[arg-type]

    async def rotate_secret(
        self, endpoint_id: str, *, new_secret: str | None = None, grace: timedelta = timedelta(hours=24)
    ) -> Endpoint:
        """Make a new secret current; the old one keeps signing for ``grace``, then stops.

        During the grace period every request carries two signatures, so the receiver can switch its
        secret at any moment in it without rejecting a delivery.
        """
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise WebhookConfigurationError("grace", grace, "must be a non-negative timedelta")
        current = await self.store.get(endpoint_id)
        now = self._clock.now()
        secret = new_secret if new_secret is not None else generate_secret()
        kept = current.signing_secrets(now)[:1] if grace > timedelta(0) else ()
        return await self.store.update(
            replace(
                current,
                secrets=(secret, *kept),
                previous_secrets_expire_at=now + grace if kept else None,
                updated_at=now,
            )
        )

    async def disable(self, endpoint_id: str, *, reason: str = "disabled by hand") -> Endpoint:
        """Disable an endpoint: it receives nothing until enabled."""
        current = await self.store.get(endpoint_id)
        return await self.store.update(
            replace(current, enabled=False, disabled_reason=reason, updated_at=self._clock.now())
        )

    async def enable(self, endpoint_id: str) -> Endpoint:
        """Enable an endpoint again."""
        current = await self.store.get(endpoint_id)
        return await self.store.update(
            replace(current, enabled=True, disabled_reason=None, updated_at=self._clock.now())
        )

    async def delete(self, endpoint_id: str) -> bool:
        """Delete an endpoint; ``True`` if it existed."""
        return await self.store.delete(endpoint_id)
