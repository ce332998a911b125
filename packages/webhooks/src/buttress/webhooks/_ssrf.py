"""`NetworkPolicy`: which addresses a webhook may be delivered to (the SSRF guard's rules)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from .exceptions import UnsafeDestinationError, WebhooksConfigurationError, WebhooksTypeError

__all__ = ["BLOCKED_NETWORKS", "CLOUD_METADATA_ADDRESSES", "NetworkPolicy"]

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud instance-metadata services: the most valuable SSRF target. Named first so errors say so.
CLOUD_METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address, so it needs naming)
    )
)

# The IANA special-purpose registries (RFC 6890 and successors) plus multicast; nothing here is a
# public web server. The table is explicit rather than `ipaddress.is_global`, whose answers have
# changed between Python releases.
BLOCKED_NETWORKS: Final[tuple[tuple[IPNetwork, str], ...]] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
        ("::/128", "unspecified (::)"),
        ("::1/128", "loopback (::1)"),
        ("::ffff:0:0/96", "IPv4-mapped IPv6 (::ffff:0:0/96)"),
        ("::/96", "IPv4-compatible IPv6 (::/96)"),
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/23", "IETF protocol assignments (2001::/23)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("fc00::/7", "unique local (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    )
)

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR: Final = ipaddress.IPv6Network("2002::/16")


class NetworkPolicy:
    """Which IP addresses webhooks may be delivered to.

    By default every address in `BLOCKED_NETWORKS` (loopback, private, link-local, CGNAT, multicast,
    reserved, documentation, benchmarking, unique-local IPv6, IPv4-mapped IPv6...) and every address in
    `CLOUD_METADATA_ADDRESSES` is refused. IPv6 forms that embed an IPv4 address (NAT64 ``64:ff9b::/96``,
    6to4 ``2002::/16``) are judged by the embedded address.

    Args:
        allow: Networks to allow even though they are blocked, such as ``["127.0.0.0/8"]`` for a test
            receiver on loopback, or an internal range you deliver to on purpose. Checked first.
        block: Extra networks to refuse on top of the defaults.

    Raises:
        WebhooksConfigurationError: A network is not valid CIDR notation.

    Examples:
        >>> NetworkPolicy().refusal("10.1.2.3")
        'private (10.0.0.0/8)'
        >>> NetworkPolicy(allow=["127.0.0.0/8"]).refusal("127.0.0.1") is None
        True
    """

    __slots__ = ("_allow", "_block")

    def __init__(
        self, *, allow: Iterable[str | IPNetwork] = (), block: Iterable[str | IPNetwork] = ()
    ) -> None:
        self._allow = _networks("allow", allow)
        self._block = tuple((net, f"blocked by policy ({net})") for net in _networks("block", block))

    @property
    def allowed(self) -> tuple[IPNetwork, ...]:
        """The allow-list."""
        return self._allow

    def refusal(self, address: str | IPAddress) -> str | None:
        """Return why ``address`` is refused, or ``None`` when it may be connected to.

        A string (or anything else) that is not an IP address is refused (``"not an IP address"``).
        """
        given: object = address
        if isinstance(given, ipaddress.IPv4Address | ipaddress.IPv6Address):
            ip = given
        elif isinstance(given, str):
            try:
                ip = ipaddress.ip_address(given.split("%", 1)[0])
            except ValueError:
                return "not an IP address"
        else:
            return "not an IP address"
        if any(ip in net for net in self._allow):
            return None
        return self._blocked(ip)

    def check(self, host: str, address: str | IPAddress) -> None:
        """Raise `UnsafeDestinationError` when ``address`` (resolved from ``host``) is refused."""
        reason = self.refusal(address)
        if reason is not None:
            raise UnsafeDestinationError(host, str(address), reason)

    def _blocked(self, ip: IPAddress) -> str | None:
        if ip in CLOUD_METADATA_ADDRESSES:
            return "cloud metadata service"
        for net, reason in (*self._block, *BLOCKED_NETWORKS):
            if ip.version == net.version and ip in net:
                return reason
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(ip)
            if embedded is not None:
                inner = self._blocked(embedded)
                return None if inner is None else f"{inner}, embedded in {ip}"
        return None

    def __repr__(self) -> str:
        return (
            f"NetworkPolicy(allow={[str(n) for n in self._allow]}, block={[str(n) for n, _ in self._block]})"
        )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


def _networks(parameter: str, values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    given: object = values
    if isinstance(given, str | ipaddress.IPv4Network | ipaddress.IPv6Network):
        given = [given]
    if not isinstance(given, Iterable) or isinstance(given, bytes | bytearray):
        raise WebhooksTypeError(parameter, "networks in CIDR notation", given)
    result: list[IPNetwork] = []
    for value in given:
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            result.append(value)
            continue
        try:
            network = ipaddress.ip_network(value, strict=False) if isinstance(value, str) else None
        except ValueError:
            network = None
        if network is None:
            raise WebhooksConfigurationError(parameter, value, "must be networks in CIDR notation")
        result.append(network)
    return tuple(result)
