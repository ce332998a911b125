"""Where a request names its tenant: a header, a subdomain, a path prefix or a verified token claim."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from .exceptions import TenancyConfigurationError, TenancyTypeError, TenantTokenError

__all__ = [
    "ClaimResolver",
    "HeaderResolver",
    "PathPrefixResolver",
    "SubdomainResolver",
    "TenantRequest",
    "TenantResolver",
]

_HEADER: Final = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_DOMAIN: Final = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class TenantRequest:
    """What a resolver sees of a request, the same for ASGI and WSGI.

    Attributes:
        host: The host the client asked for, lower-case, without its port (``""`` if none).
        path: The request path as the server decoded it.
        headers: The headers, by lower-case name (the first of repeated ones), values as latin-1 text.
    """

    host: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("host", "path"):
            if not isinstance(getattr(self, name), str):
                raise TenancyTypeError(name, "a str", getattr(self, name))
        if not isinstance(self.headers, Mapping):
            raise TenancyTypeError("headers", "a mapping of str to str", self.headers)


class TenantResolver(Protocol):
    """**Protocol**: finds the tenant id a request names.

    Methods:
        resolve: The tenant id the request names, or ``None`` when it names none. It does not check
            that the tenant exists (the directory does) and never raises for what a client sent,
            except `TenantTokenError` for a credential that fails verification.
    """

    def resolve(self, request: TenantRequest) -> str | None:
        """The tenant id ``request`` names, or ``None``."""
        ...


def _request(request: object) -> TenantRequest:
    if not isinstance(request, TenantRequest):
        raise TenancyTypeError("request", "a TenantRequest", request)
    return request


def _header_name(header: object) -> str:
    if not isinstance(header, str):
        raise TenancyTypeError("header", "a str", header)
    name = header.lower()
    if not _HEADER.fullmatch(name):
        raise TenancyConfigurationError("header", header, "must be an HTTP header name")
    return name


class HeaderResolver:
    """The tenant named by a request header (``X-Tenant-ID`` by default).

    Use it behind a gateway that sets the header itself; a header a client may set freely names a
    tenant the client chose.

    Raises:
        TenancyConfigurationError: ``header`` is not a header name.
    """

    __slots__ = ("header",)

    def __init__(self, header: str = "x-tenant-id") -> None:
        self.header = _header_name(header)

    def resolve(self, request: TenantRequest) -> str | None:
        """The header's value, trimmed, or ``None``."""
        value = _request(request).headers.get(self.header)
        return value.strip() or None if isinstance(value, str) else None


class SubdomainResolver:
    """The tenant named by the first label of the host: ``acme.example.com`` is ``acme``.

    Args:
        domain: The application's domain; hosts outside it, and the bare domain, name no tenant.

    Raises:
        TenancyConfigurationError: ``domain`` is not a lower-case domain name.
    """

    __slots__ = ("domain",)

    def __init__(self, domain: str) -> None:
        if not isinstance(domain, str):
            raise TenancyTypeError("domain", "a str", domain)
        if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
            raise TenancyConfigurationError("domain", domain, "must be a lower-case domain name")
        self.domain = domain

    def resolve(self, request: TenantRequest) -> str | None:
        """The single label in front of the domain, or ``None``."""
        host = _request(request).host.lower().rstrip(".")
        label, dot, rest = host.partition(".")
        if not dot or rest != self.domain or not _LABEL.fullmatch(label):
            return None
        return label


class PathPrefixResolver:
    """The tenant named by the path segment after a prefix: ``/t/acme/orders`` is ``acme``.

    Args:
        prefix: Starts and ends with ``/`` (``"/"`` itself makes the first segment the tenant).

    Raises:
        TenancyConfigurationError: ``prefix`` does not start and end with ``/``.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "/t/") -> None:
        if not isinstance(prefix, str):
            raise TenancyTypeError("prefix", "a str", prefix)
        if not (prefix.startswith("/") and prefix.endswith("/")) or "\x00" in prefix:
            raise TenancyConfigurationError("prefix", prefix, "must start and end with '/'")
        self.prefix = prefix

    def resolve(self, request: TenantRequest) -> str | None:
        """The segment after the prefix, or ``None``."""
        if not _request(request).path.startswith(self.prefix):
            return None
        segment = request.path[len(self.prefix) :].split("/", 1)[0]
        return segment or None


class ClaimResolver:
    """The tenant named by a claim of a bearer token, once the application's verifier accepts it.

    ``verify`` is the application's token check (a JWT library's decode with its keys and audience,
    say): it returns the claims of a valid token and raises for any other. The resolver never reads
    a claim of a token that was not verified::

        resolver = ClaimResolver(lambda token: jwt.decode(token, key, algorithms=["EdDSA"]))

    Args:
        verify: Takes the token, returns its claims; raises when the token is not valid.
        claim: The claim that holds the tenant id.
        header: The header that carries ``Bearer <token>``.

    Raises:
        TenancyTypeError: ``verify`` is not callable, or an argument not a str.
        TenancyConfigurationError: A malformed header name or an empty claim.
    """

    __slots__ = ("claim", "header", "verify")

    def __init__(
        self,
        verify: Callable[[str], Mapping[str, object]],
        *,
        claim: str = "tenant_id",
        header: str = "authorization",
    ) -> None:
        if not callable(verify):
            raise TenancyTypeError("verify", "a callable", verify)
        if not isinstance(claim, str):
            raise TenancyTypeError("claim", "a str", claim)
        if not claim:
            raise TenancyConfigurationError("claim", claim, "must not be empty")
        self.verify = verify
        self.claim = claim
        self.header = _header_name(header)

    def resolve(self, request: TenantRequest) -> str | None:
        """The claim of a verified token; ``None`` when the request carries no bearer token.

        Raises:
            TenantTokenError: The token failed verification, or names no tenant.
        """
        value = _request(request).headers.get(self.header)
        if not isinstance(value, str):
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims = self.verify(token.strip())
        except Exception:  # noqa: BLE001 - any refusal of the verifier is a bad credential
            raise TenantTokenError("the bearer token failed verification") from None
        tenant = claims.get(self.claim) if isinstance(claims, Mapping) else None
        if not isinstance(tenant, str):
            raise TenantTokenError(f"the verified token has no {self.claim!r} claim of type str")
        return tenant
