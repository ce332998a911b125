"""What a fingerprint is made of, read from an ASGI scope, a WSGI environ or a list of headers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .exceptions import FingerprintConfigurationError, FingerprintTypeError, InvalidRequestError

__all__ = [
    "Component",
    "Components",
    "IPAddress",
    "environ_address",
    "environ_components",
    "environ_header",
    "from_environ",
    "from_headers",
    "from_scope",
    "scope_components",
    "scope_request",
]

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]
"""Request headers: a mapping, or ``(name, value)`` pairs in the order they arrived (str or bytes)."""

_MAX_TLS_LENGTH: Final = 512


class Component(StrEnum):
    """The parts of a request a fingerprint can be made of."""

    USER_AGENT = "user-agent"
    ACCEPT = "accept"
    ACCEPT_LANGUAGE = "accept-language"
    ACCEPT_ENCODING = "accept-encoding"
    CLIENT_HINTS = "client-hints"
    """Every ``sec-ch-ua*`` header, sorted by name."""
    HEADER_ORDER = "header-order"
    """The request's header names, lower-cased, in the order they arrived."""
    COOKIE_NAMES = "cookie-names"
    """The names of the cookies sent, sorted; never their values."""
    IP = "ip"
    """The client address, or its network prefix; excluded unless the `Fingerprinter` asks for it."""
    TLS = "tls"
    """TLS fingerprint strings (JA3, JA4, ...) supplied by the server or a proxy."""

    @classmethod
    def _missing_(cls, value: object) -> Component:
        names = ", ".join(c.value for c in cls)
        raise FingerprintConfigurationError("component", value, f"not a component; use one of {names}")


@dataclass(frozen=True, slots=True)
class Components:
    """The canonical components of one request; build it with `from_scope`, `from_environ` or `from_headers`.

    Each text component is normalized so that what does not identify a browser does not change it:
    header names are lower-cased, runs of whitespace become one space, cookies keep only their names.
    A component the request does not have is ``None``.

    This object holds the request's own data. Keep it inside the request; what may be stored or sent
    on is the `Fingerprint` made from it, which holds only keyed hashes.

    An IPv6 zone (the ``%eth0`` of ``fe80::1%eth0``) names an interface of the server, not anything
    about the client: it is dropped from ``ip``, so it never reaches a fingerprint.

    Raises:
        FingerprintTypeError: A text component is not a str (or ``None``), or ``ip`` is not an
            ``ipaddress`` address (or ``None``).
    """

    user_agent: str | None = None
    accept: str | None = None
    accept_language: str | None = None
    accept_encoding: str | None = None
    client_hints: str | None = None
    header_order: str | None = None
    cookie_names: str | None = None
    ip: IPAddress | None = None
    tls: str | None = None

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise FingerprintTypeError(name, "a str or None", value)
        ip = self.ip
        if ip is not None:
            if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
                raise FingerprintTypeError("ip", "an ipaddress address or None", ip)
            object.__setattr__(self, "ip", _unzoned(ip))

    def text(self) -> dict[Component, str]:
        """Return the present components other than `Component.IP`, in `Component` order."""
        return {
            component: value
            for component, value in (
                (Component.USER_AGENT, self.user_agent),
                (Component.ACCEPT, self.accept),
                (Component.ACCEPT_LANGUAGE, self.accept_language),
                (Component.ACCEPT_ENCODING, self.accept_encoding),
                (Component.CLIENT_HINTS, self.client_hints),
                (Component.HEADER_ORDER, self.header_order),
                (Component.COOKIE_NAMES, self.cookie_names),
                (Component.TLS, self.tls),
            )
            if value
        }


_TEXT_FIELDS: Final = (
    "user_agent",
    "accept",
    "accept_language",
    "accept_encoding",
    "client_hints",
    "header_order",
    "cookie_names",
    "tls",
)


def _unzoned(address: IPAddress) -> IPAddress:
    """The address without an IPv6 zone, and an IPv4-mapped IPv6 address as the IPv4 address it is."""
    if address.version == 6:
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(address.packed)
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def _normalize(value: str) -> str:
    return " ".join(value.split())


def _items(headers: object) -> Iterable[object]:
    if isinstance(headers, Mapping):
        return headers.items()
    if isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise FingerprintTypeError("headers", "a mapping or an iterable of (name, value) pairs", headers)
    return headers


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    raise InvalidRequestError("headers", f"{what} must be str or bytes, not {type(value).__name__}")


_REQUEST_SCOPES: Final = frozenset({"http", "websocket"})
_CONTENT_KEYS: Final = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
_WANTED: Final = frozenset({"user-agent", "accept", "accept-language", "accept-encoding", "cookie"})
_HINTS: Final = "sec-ch-ua"

type _Collected = tuple[dict[str, list[str]], str]


def _collect(headers: object) -> _Collected:
    """Return the values of the headers a fingerprint reads, by lower-case name, and the name order.

    This runs on every request. The common case (no repeated header, names already lower-case, as
    ASGI servers give them) takes a path made of C-level operations; anything else takes the loop.
    """
    pairs = list(_items(headers))
    return _collect_fast(pairs) or _collect_slow(pairs)


def _collect_fast(pairs: list[Any]) -> _Collected | None:
    shape = _fast_shape(pairs)
    if shape is None:
        return None
    names, values, text = shape
    raw = bool(names) and names[0].__class__ is bytes
    by_key = dict(zip(names, values, strict=True))
    found: dict[str, list[str]] = {}
    wanted = [n for n in text.split(",") if n.startswith(_HINTS)] if _HINTS in text else []
    for name in (*_WANTED, *wanted):
        value = by_key.get(name.encode("latin-1") if raw else name)
        if value is not None:
            found[name] = [_text(value, "a header value")]
    return found, text


def _fast_shape(pairs: list[Any]) -> tuple[list[Any], list[Any], str] | None:
    """Names, values and the joined names, when the pairs are plain: no repeats, one type, lower case."""
    try:
        names = [n for n, _ in pairs]
        values = [v for _, v in pairs]
    except (TypeError, ValueError):
        return None
    if not names:
        return names, values, ""
    kind = names[0].__class__
    sep: Any = b"," if kind is bytes else "," if kind is str else None
    if sep is None:
        return None
    try:
        joined = sep.join(names)
        sep.join(values)  # every value has the same type too
    except TypeError:
        return None
    text: str = joined.decode("latin-1") if kind is bytes else joined
    plain = (
        len(set(names)) == len(names)
        and text == text.lower()
        and text.count(",") == len(names) - 1
        and " " not in text
        and text.isprintable()  # no other whitespace either: the slow path would strip it
    )
    return (names, values, text) if plain else None


def _collect_slow(pairs: list[object]) -> _Collected:
    values: dict[str, list[str]] = {}
    order: list[str] = []
    last = None
    for item in pairs:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidRequestError("headers", "each header must be a (name, value) pair")
        raw_name, raw_value = item
        name = _text(raw_name, "a header name").strip().lower()
        value = _text(raw_value, "a header value")
        if name != last:  # HTTP/2 may split one header (cookie) into several
            order.append(name)
            last = name
        if name in _WANTED or name.startswith(_HINTS):
            values.setdefault(name, []).append(value)
    return values, ",".join(order)


def _cookie_names(values: list[str]) -> str | None:
    names = set()
    for value in values:
        for crumb in value.split(";"):
            name = crumb.split("=", 1)[0].strip()
            if name:
                names.add(name)
    return ",".join(sorted(names)) or None


def _tls(tls: str | Sequence[str] | None) -> str | None:
    if tls is None:
        return None
    strings = (tls,) if isinstance(tls, str) else tls
    if not isinstance(strings, Sequence):
        raise FingerprintTypeError("tls", "a str or a sequence of str", tls)
    checked: list[str] = []
    for item in strings:
        if not isinstance(item, str):
            raise FingerprintTypeError("tls", "a str or a sequence of str", item)
        if not item or len(item) > _MAX_TLS_LENGTH or not item.isascii() or not item.isprintable():
            raise InvalidRequestError(
                "tls", f"a TLS fingerprint is 1 to {_MAX_TLS_LENGTH} printable ASCII characters"
            )
        checked.append(item)
    return "|".join(checked) or None


def _ip(value: object, part: str, *, strict: bool) -> IPAddress | None:
    if value is None:
        return None
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return _unzoned(value)
    if not isinstance(value, str):
        raise FingerprintTypeError(part, "a str or an ipaddress address", value)
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        if strict:
            raise InvalidRequestError(part, "not an IPv4 or IPv6 address") from None
        return None  # a server's client field may be a socket path or a name: no address to use
    return _unzoned(address)


def from_headers(
    headers: Headers,
    *,
    client_ip: str | IPAddress | None = None,
    tls: str | Sequence[str] | None = None,
) -> Components:
    """Read the components from request headers.

    Args:
        headers: A mapping, or ``(name, value)`` pairs in arrival order (give pairs to make
            `Component.HEADER_ORDER` meaningful). Names are matched case-insensitively.
        client_ip: The client's address, if you want it available to a `Fingerprinter` that uses it.
            Behind a proxy, pass the address the proxy reported, after checking the proxy is yours.
            An IPv6 zone (``%eth0``) is dropped: it names a server interface.
        tls: TLS fingerprint strings supplied by your server or proxy (JA3, JA4, ...).

    Raises:
        InvalidRequestError: A header is not a pair of str or bytes, ``client_ip`` is not an address,
            or a TLS string is empty, too long or not printable ASCII.
        FingerprintTypeError: ``headers`` is not a mapping or an iterable of pairs.
    """
    return _build(headers, _ip(client_ip, "client_ip", strict=True), tls)


def _build(headers: object, ip: IPAddress | None, tls: str | Sequence[str] | None) -> Components:
    by_name, order = _collect(headers)
    get = by_name.get
    hints = sorted(n for n in by_name if n.startswith("sec-ch-ua"))
    cookies = get("cookie")
    return Components(
        user_agent=_joined(get("user-agent")),
        accept=_joined(get("accept")),
        accept_language=_joined(get("accept-language")),
        accept_encoding=_joined(get("accept-encoding")),
        client_hints="\n".join(f"{n}={_joined(by_name[n]) or ''}" for n in hints) or None,
        header_order=order or None,
        cookie_names=_cookie_names(cookies) if cookies else None,
        ip=ip,
        tls=None if tls is None else _tls(tls),
    )


def _joined(found: list[str] | None) -> str | None:
    if not found:
        return None
    return _normalize(found[0] if len(found) == 1 else ", ".join(found)) or None


def from_scope(scope: Mapping[str, object], *, tls: str | Sequence[str] | None = None) -> Components:
    """Read the components from an ASGI HTTP or WebSocket scope (its headers and ``client``).

    Raises:
        InvalidRequestError: The scope has no header list, or a malformed one.
        FingerprintTypeError: ``scope`` is not a mapping.
    """
    return scope_components(scope, tls, with_ip=True)


def scope_components(scope: object, tls: str | Sequence[str] | None, *, with_ip: bool) -> Components:
    """`from_scope`, skipping the client address when the caller will not use it."""
    headers, address = scope_request(scope, with_ip=with_ip)
    return _build(headers, address, tls)


def scope_request(scope: object, *, with_ip: bool) -> tuple[Iterable[object], IPAddress | None]:
    """The checked header list of an ASGI scope and, if ``with_ip``, its client address."""
    if not isinstance(scope, Mapping):
        raise FingerprintTypeError("scope", "an ASGI scope (a mapping)", scope)
    if scope.get("type") not in _REQUEST_SCOPES:
        raise InvalidRequestError("scope['type']", "only 'http' and 'websocket' scopes carry a request")
    headers = scope.get("headers")
    if headers.__class__ is not list and (
        headers is None or isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable)
    ):
        raise InvalidRequestError("scope['headers']", "must be an iterable of (name, value) byte pairs")
    address = None
    if with_ip:
        client = scope.get("client")
        host = client[0] if isinstance(client, (tuple, list)) and client else None
        address = _ip(host, "scope['client']", strict=False) if isinstance(host, str) else None
    return headers, address


def from_environ(environ: Mapping[str, object], *, tls: str | Sequence[str] | None = None) -> Components:
    """Read the components from a WSGI environ (its ``HTTP_*`` keys and ``REMOTE_ADDR``).

    WSGI servers hand headers over in a dict, so `Component.HEADER_ORDER` is the order the server
    put them in, which for the common servers is the order they arrived.

    Raises:
        FingerprintTypeError: ``environ`` is not a mapping.
    """
    return environ_components(environ, tls, with_ip=True)


def environ_components(environ: object, tls: str | Sequence[str] | None, *, with_ip: bool) -> Components:
    """`from_environ`, skipping the client address when the caller will not use it."""
    if not isinstance(environ, Mapping):
        raise FingerprintTypeError("environ", "a WSGI environ (a mapping)", environ)
    pairs: list[tuple[str, str]] = []
    for key, value in environ.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        name = environ_header(key)
        if name is not None and (value or key[0] == "H"):  # an empty CONTENT_* is no header
            pairs.append((name, value))
    return _build(pairs, environ_address(environ) if with_ip else None, tls)


def environ_header(key: str) -> str | None:
    """The header name a WSGI environ key stands for (``HTTP_USER_AGENT`` is ``user-agent``), if any."""
    if key.startswith("HTTP_"):
        return key[5:].replace("_", "-").lower()
    if key in _CONTENT_KEYS:
        return key.replace("_", "-").lower()
    return None


def environ_address(environ: Mapping[str, object]) -> IPAddress | None:
    """The client address of a WSGI environ (``REMOTE_ADDR``), if it is one."""
    remote = environ.get("REMOTE_ADDR")
    return _ip(remote, "environ['REMOTE_ADDR']", strict=False) if isinstance(remote, str) else None
