"""Endpoints: the `Endpoint` record, the `EndpointStore` Protocol, `MemoryEndpointStore` and `Endpoints`."""

from __future__ import annotations

import re
import secrets as _secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

from buttress.core import Clock

from ._checks import aware_datetime, clock_or_system, positive_int, text
from ._keys import Ed25519VerifyKey, generate_secret, parse_key
from .exceptions import (
    EndpointConflictError,
    EndpointNotFoundError,
    InvalidSecretError,
    WebhooksConfigurationError,
    WebhooksTypeError,
)

__all__ = ["Endpoint", "EndpointStore", "Endpoints", "MemoryEndpointStore", "new_endpoint_id"]

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")
_MAX_HEADER_VALUE: Final = 8192
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
# Deliveries per second per worker; more is no limit at all.
_MAX_RATE: Final = 1_000_000


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
            raise WebhooksConfigurationError("enabled", self.enabled, "must be a bool")
        if self.rate_limit is not None:
            positive_int("rate_limit", self.rate_limit, maximum=_MAX_RATE)
        if self.disabled_reason is not None:
            text("disabled_reason", self.disabled_reason, max_length=1024, empty=True)
        object.__setattr__(self, "headers", _check_headers(self.headers))
        text("description", self.description, max_length=4096, empty=True)
        for name in ("previous_secrets_expire_at", "created_at", "updated_at"):
            value = getattr(self, name)
            if value is not None:
                aware_datetime(name, value)

    def accepts(self, event_type: str) -> bool:
        """Return whether this endpoint subscribes to ``event_type``.

        Raises:
            WebhooksConfigurationError: ``event_type`` is not a str.
        """
        if not isinstance(event_type, str):
            raise WebhooksConfigurationError("event_type", event_type, "must be a str")
        return self.event_types is None or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """Return the secrets that sign at ``now``: the current one, and the previous ones until expiry.

        Raises:
            WebhooksConfigurationError: ``now`` is not a timezone-aware datetime.
        """
        aware_datetime("now", now)
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
        raise WebhooksConfigurationError("id", value, "must be 1 to 128 printable ASCII characters")


def _check_url(url: object) -> None:
    url = text("url", url, max_length=_MAX_URL)
    if not url.isprintable():
        raise WebhooksConfigurationError("url", url, "must not contain control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhooksConfigurationError("url", url, "is not a valid URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhooksConfigurationError("url", url, "must be an http:// or https:// URL with a host")
    if port == 0 or any(c in url for c in "\r\n\t "):
        raise WebhooksConfigurationError("url", url, "has an invalid port or whitespace")


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
        raise WebhooksConfigurationError("event_types", value, "must be a set of event-type names, or None")
    try:
        types = frozenset(value)
    except TypeError:  # an unhashable item
        raise WebhooksConfigurationError("event_types", value, "must hold strs") from None
    if not types:
        raise WebhooksConfigurationError("event_types", value, "must hold at least one non-empty str")
    for item in types:
        text("event_types item", item)
    return types


def _check_headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise WebhooksConfigurationError("headers", value, "must be a mapping of str to str")
    checked: dict[str, str] = {}
    for name, item in value.items():
        # fullmatch: "$" would also match before a final newline, letting "X-A\n" through.
        if not isinstance(name, str) or not _TOKEN.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            raise WebhooksConfigurationError(
                "headers", name, "names must be HTTP tokens, not reserved headers"
            )
        if not isinstance(item, str) or len(item) > _MAX_HEADER_VALUE or not _HEADER_VALUE.fullmatch(item):
            raise WebhooksConfigurationError(
                "headers", name, "values must be printable ASCII (or tab), at most 8192 characters"
            )
        checked[name] = item
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
        given: object = endpoints
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise WebhooksTypeError("endpoints", "Endpoint objects", given)
        for endpoint in given:
            _require_endpoint(endpoint)
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
        key = endpoint_key(endpoint_id)
        found = None if key is None else self._items.get(key)
        if found is None:
            raise EndpointNotFoundError(str(endpoint_id))
        return found

    async def update(self, endpoint: Endpoint) -> Endpoint:
        """Replace the endpoint with ``endpoint.id``."""
        _require_endpoint(endpoint)
        if endpoint.id not in self._items:
            raise EndpointNotFoundError(endpoint.id)
        self._items[endpoint.id] = endpoint
        return endpoint

    async def delete(self, endpoint_id: str) -> bool:
        """Remove the endpoint; ``True`` if it existed."""
        key = endpoint_key(endpoint_id)
        return key is not None and self._items.pop(key, None) is not None

    async def list(self, *, event_type: str | None = None, enabled: bool | None = None) -> list[Endpoint]:
        """Return matching endpoints, ordered by id."""
        check_list_filters(event_type, enabled)
        return [
            e
            for _, e in sorted(self._items.items())
            if (event_type is None or e.accepts(event_type)) and (enabled is None or e.enabled is enabled)
        ]


def _require_endpoint(endpoint: object) -> None:
    if not isinstance(endpoint, Endpoint):
        raise WebhooksTypeError("endpoint", "an Endpoint", endpoint)


def endpoint_key(endpoint_id: object) -> str | None:
    """Return ``endpoint_id`` if an endpoint could have it (1 to 128 printable ASCII), else ``None``."""
    if isinstance(endpoint_id, str) and 0 < len(endpoint_id) <= 128 and endpoint_id.isascii():
        return endpoint_id if endpoint_id.isprintable() else None
    return None


def check_list_filters(event_type: object, enabled: object) -> None:
    """Check `EndpointStore.list`'s filters: ``event_type`` a str or None, ``enabled`` a bool or None."""
    if event_type is not None:
        text("event_type", event_type)
    if enabled is not None and not isinstance(enabled, bool):
        raise WebhooksConfigurationError("enabled", enabled, "must be a bool or None")


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
        if not isinstance(store, EndpointStore):
            raise WebhooksTypeError("store", "an EndpointStore", store)
        self.store = store
        self._clock: Clock = clock_or_system(clock)

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
            # Endpoint checks and converts these; a bad value is its typed error.
            event_types=event_types,  # type: ignore[arg-type]
            rate_limit=rate_limit,
            headers=headers if headers is not None else {},
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
            changes["event_types"] = event_types
        if rate_limit is not ...:
            changes["rate_limit"] = rate_limit
        if headers is not None:
            changes["headers"] = headers
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
            raise WebhooksConfigurationError("grace", grace, "must be a non-negative timedelta")
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
