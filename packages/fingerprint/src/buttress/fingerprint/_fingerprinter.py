"""Keyed fingerprints: HMAC-SHA256 over a canonical encoding, with key rotation, confidence and similarity."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final, NamedTuple, Self

from ._components import (
    Component,
    Components,
    Headers,
    IPAddress,
    environ_address,
    environ_components,
    environ_header,
    scope_request,
)
from ._components import _build as build
from ._components import _ip as check_ip
from ._components import _items as header_items
from ._components import _tls as check_tls
from .exceptions import (
    FingerprintConfigurationError,
    FingerprintTypeError,
    IncomparableFingerprintsError,
    InvalidFingerprintError,
)

__all__ = [
    "DEFAULT_ENTROPY_BITS",
    "MIN_SECRET_BYTES",
    "Fingerprint",
    "Fingerprinter",
    "IPMode",
]

MIN_SECRET_BYTES: Final = 32
"""The shortest secret accepted: 256 bits, the size of an HMAC-SHA256 key."""

DEFAULT_ENTROPY_BITS: Final[Mapping[Component, float]] = MappingProxyType(
    {
        Component.USER_AGENT: 10.0,
        Component.ACCEPT: 1.5,
        Component.ACCEPT_LANGUAGE: 6.0,
        Component.ACCEPT_ENCODING: 1.5,
        Component.CLIENT_HINTS: 4.0,
        Component.HEADER_ORDER: 4.0,
        Component.COOKIE_NAMES: 3.0,
        Component.IP: 16.0,
        Component.TLS: 6.0,
    }
)
"""Rough bits of identifying information each component carries, used for confidence and similarity.

They are conservative round numbers in the range that browser fingerprinting studies report for
these headers, not measurements of your traffic; pass ``entropy=`` to use your own. An IP prefix
counts for 60 % of `Component.IP`'s bits.
"""

_FORMAT: Final = b"buttress.fingerprint/v1"
_DIGEST_HEX: Final = re.compile(r"[0-9a-f]{64}")
_COMPONENT_HEX: Final = re.compile(r"[0-9a-f]{32}")
_KEY_ID_HEX: Final = re.compile(r"[0-9a-f]{12}")
_BLOCK: Final = 64  # SHA-256's block size, for HMAC's pads
_PREFIX_WEIGHT: Final = 0.6
_TARGET_BITS: Final = 33.0  # log2 of about 8.6 billion: enough to tell every person apart


class IPMode(StrEnum):
    """How a `Fingerprinter` uses the client address."""

    EXCLUDE = "exclude"
    """Not at all (the default): the fingerprint survives address changes and holds no address."""
    PREFIX = "prefix"
    """The network prefix only: /24 for IPv4 and /48 for IPv6 by default."""
    FULL = "full"
    """The whole address."""

    @classmethod
    def _missing_(cls, value: object) -> IPMode:
        raise FingerprintConfigurationError("ip", value, "use IPMode.EXCLUDE, IPMode.PREFIX or IPMode.FULL")


class _Key:
    """HMAC-SHA256 with one key, its pads hashed once so each message costs two hash continuations."""

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, secret: bytes, purpose: str) -> None:
        # One subkey per (secret, purpose): the same secret used for two purposes yields unlinkable values.
        subkey = hmac.digest(secret, _FORMAT + b"\x00purpose\x00" + purpose.encode("utf-8"), "sha256")
        padded = subkey.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded)).copy
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded)).copy
        self.key_id: str = self.mac(b"key-id")[:6].hex()

    def mac(self, message: bytes) -> bytes:
        inner = self._inner()
        inner.update(message)
        outer = self._outer()
        outer.update(inner.digest())
        return outer.digest()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A request's fingerprint: keyed hashes and a confidence score, nothing of the request itself.

    Attributes:
        digest: HMAC-SHA256 of the canonical encoding of every component used, as 64 hex digits.
            Equal digests mean equal components (under the same key and purpose).
        key_id: A short public identifier of the key that made it (not the key, nor derived usefully
            from it), so you can tell fingerprints made before a key rotation.
        purpose: The purpose declared by the `Fingerprinter`.
        components: Each component used, mapped to its own keyed hash (32 hex digits); what
            `Fingerprinter.similarity` compares.
        confidence: From 0 to 1: the estimated bits of the components present, over 33 bits.
        low_confidence: Fewer high-entropy components were present than the `Fingerprinter` asks for:
            many browsers would share this fingerprint.
    """

    digest: str
    key_id: str
    purpose: str
    components: Mapping[Component, str]
    confidence: float
    low_confidence: bool

    def __str__(self) -> str:
        return self.digest

    def __hash__(self) -> int:
        return hash((self.digest, self.key_id, self.purpose))

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready record of the fingerprint, for storage; `from_dict` reads it back."""
        return {
            "digest": self.digest,
            "key_id": self.key_id,
            "purpose": self.purpose,
            "components": {str(c): d for c, d in self.components.items()},
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> Self:
        """Read a record made by `to_dict`.

        Raises:
            InvalidFingerprintError: The record is not shaped like one.
        """
        if not isinstance(record, Mapping):
            raise InvalidFingerprintError("a record must be a mapping")
        digest, key_id, purpose = record.get("digest"), record.get("key_id"), record.get("purpose")
        if not isinstance(digest, str) or not _DIGEST_HEX.fullmatch(digest):
            raise InvalidFingerprintError("'digest' must be 64 lower-case hex digits")
        if not isinstance(key_id, str) or not _KEY_ID_HEX.fullmatch(key_id):
            raise InvalidFingerprintError("'key_id' must be 12 lower-case hex digits")
        if not isinstance(purpose, str) or not purpose:
            raise InvalidFingerprintError("'purpose' must be a non-empty string")
        confidence = record.get("confidence")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not 0 <= confidence <= 1
        ):
            raise InvalidFingerprintError("'confidence' must be a number from 0 to 1")
        low = record.get("low_confidence")
        if not isinstance(low, bool):
            raise InvalidFingerprintError("'low_confidence' must be a bool")
        raw = record.get("components")
        if not isinstance(raw, Mapping):
            raise InvalidFingerprintError("'components' must be a mapping")
        components: dict[Component, str] = {}
        for name, value in raw.items():
            try:
                component = Component(name)
            except ValueError:
                raise InvalidFingerprintError("'components' names an unknown component") from None
            if not isinstance(value, str) or not _COMPONENT_HEX.fullmatch(value):
                raise InvalidFingerprintError("a component hash must be 32 lower-case hex digits")
            components[component] = value
        return cls(digest, key_id, purpose, MappingProxyType(components), float(confidence), low)


# The slots' own descriptors: `Fingerprinter` fills a new Fingerprint through them, skipping the frozen
# __init__'s checks (a fifth of the cost of a fingerprint not seen before) for values it made itself.
_SET_DIGEST, _SET_KEY_ID, _SET_PURPOSE, _SET_COMPONENTS, _SET_CONFIDENCE, _SET_LOW = (
    vars(Fingerprint)[name].__set__
    for name in ("digest", "key_id", "purpose", "components", "confidence", "low_confidence")
)


class Fingerprinter:
    """Makes keyed, privacy-respecting fingerprints of requests for one declared purpose.

    Every value that leaves it is an HMAC-SHA256 under a key derived from ``secret`` and
    ``purpose``: fingerprints from deployments with different secrets, or made for different
    purposes, cannot be linked. The client address is not used unless you ask for it.

    Args:
        secret: At least 32 random bytes (``secrets.token_bytes(32)``), kept out of your code.
        purpose: What the fingerprints are for, such as ``"fraud-prevention"``; stored on each
            fingerprint and bound into its key.
        previous_secrets: Secrets used before a rotation: `verify` accepts their fingerprints.
        exclude: Components never to use.
        ip: Whether to use the client address: `IPMode.EXCLUDE` (default), ``PREFIX`` or ``FULL``.
        ipv4_prefix: The IPv4 prefix length in ``PREFIX`` mode (default 24).
        ipv6_prefix: The IPv6 prefix length in ``PREFIX`` mode (default 48).
        entropy: Bits per component, replacing `DEFAULT_ENTROPY_BITS` entries.
        high_entropy_bits: A component with at least this many bits counts as high-entropy.
        min_high_entropy: Fewer high-entropy components than this sets `Fingerprint.low_confidence`.
        cache_size: How many entries to keep in memory so that what was seen before is not
            worked out again: each component hash, keyed by the header value it hashes (so the
            values many browsers share are hashed once); what to read from each list of header
            names; and each fingerprint, keyed by the header values it was made from (so a browser
            seen before costs a pass over its header names and a few lookups, no hashing). A
            cookie header is kept only as its length and ``hash()``, never its text, and the
            client address not at all: a fingerprint that uses it is not cached. A full cache is
            emptied. 0 turns the cache off.

    Raises:
        FingerprintConfigurationError: The secret is short, the purpose empty, a prefix length or an
            entropy value out of range, or a component unknown.
        FingerprintTypeError: An argument has the wrong type.

    Examples:
        >>> import secrets
        >>> fingerprinter = Fingerprinter(secrets.token_bytes(32), purpose="fraud-prevention")
        >>> fp = fingerprinter.from_headers({"user-agent": "Mozilla/5.0", "accept-language": "nl"})
        >>> len(fp.digest), fp.low_confidence
        (64, False)
    """

    def __init__(
        self,
        secret: bytes,
        *,
        purpose: str,
        previous_secrets: Sequence[bytes] = (),
        exclude: Iterable[Component | str] = (),
        ip: IPMode | str = IPMode.EXCLUDE,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 48,
        entropy: Mapping[Component | str, float] | None = None,
        high_entropy_bits: float = 4.0,
        min_high_entropy: int = 2,
        cache_size: int = 4096,
    ) -> None:
        self.purpose: Final = _check_purpose(purpose)
        _check_secret(secret, "secret")
        olds: object = previous_secrets
        if isinstance(olds, (bytes, str)) or not isinstance(olds, Sequence):
            raise FingerprintTypeError("previous_secrets", "a sequence of bytes", olds)
        for old in olds:
            _check_secret(old, "previous_secrets")
        self._key = _Key(secret, purpose)
        self._previous = tuple(_Key(old, purpose) for old in previous_secrets)
        self.excluded: Final = frozenset(_component(c, "exclude") for c in _iterable(exclude, "exclude"))
        self.ip_mode: Final = _ip_mode(ip)
        self.ipv4_prefix: Final = _prefix(ipv4_prefix, "ipv4_prefix", 32)
        self.ipv6_prefix: Final = _prefix(ipv6_prefix, "ipv6_prefix", 128)
        self.entropy: Final = _entropy(entropy)
        self.high_entropy_bits: Final = _number(high_entropy_bits, "high_entropy_bits", 0.0, 64.0)
        if isinstance(min_high_entropy, bool) or not isinstance(min_high_entropy, int):
            raise FingerprintTypeError("min_high_entropy", "an int", min_high_entropy)
        if not 0 <= min_high_entropy <= len(Component):
            raise FingerprintConfigurationError(
                "min_high_entropy", min_high_entropy, f"must be from 0 to {len(Component)}"
            )
        self.min_high_entropy: Final = min_high_entropy
        if isinstance(cache_size, bool) or not isinstance(cache_size, int):
            raise FingerprintTypeError("cache_size", "an int", cache_size)
        if cache_size < 0:
            raise FingerprintConfigurationError("cache_size", cache_size, "must be 0 (no cache) or more")
        self.cache_size: Final = cache_size
        self._cache: dict[tuple[object, ...], Any] = {}
        # What each request needs, worked out once for this configuration.
        used = [c for c in Component if c not in self.excluded]
        self._uses_ip: Final = self.ip_mode is not IPMode.EXCLUDE and Component.IP in used
        self._headers: Final = tuple(c for c in _HEADER_VALUES if c in used)
        self._uses_hints: Final = Component.CLIENT_HINTS in used
        self._uses_order: Final = Component.HEADER_ORDER in used
        self._uses_cookies: Final = Component.COOKIE_NAMES in used
        self._uses_tls: Final = Component.TLS in used
        self._scores: list[tuple[float, bool] | None] = [None] * (1 << len(Component))

    def clear_cache(self) -> None:
        """Forget everything cached (and so the header values it was cached under)."""
        self._cache.clear()

    @property
    def key_id(self) -> str:
        """The identifier of the current key, as stored on each new `Fingerprint`."""
        return self._key.key_id

    def __repr__(self) -> str:
        excluded = sorted(c.value for c in self.excluded)
        return (
            f"Fingerprinter(purpose={self.purpose!r}, key_id={self.key_id!r}, "
            f"previous_keys={len(self._previous)}, exclude={excluded}, ip={self.ip_mode.value!r})"
        )

    # --- making fingerprints ------------------------------------------------------------------
    #
    # `used` and `fingerprint` are the definition: the canonical text of each component, encoded,
    # hashed. `from_scope`, `from_environ` and `from_headers` give the same result as `fingerprint`
    # of the `Components` the functions of the same names read (tests/test_fast_path.py checks it),
    # by a shorter road for the common request, each header once under a name that is an HTTP token:
    # one pass over the header names, whose joined text finds a plan of where the headers to read are;
    # then the values read, with the cookie names, find the whole fingerprint if it was made before.
    # Otherwise each component not seen before is hashed, and the fingerprint assembled. Any other
    # request takes the long road.

    def used(self, components: Components) -> dict[Component, str]:
        """Return the canonical text of each component this fingerprinter uses, in `Component` order."""
        if not isinstance(components, Components):
            raise FingerprintTypeError("components", "a Components", components)
        text = components.text()
        if self.excluded:
            text = {c: v for c, v in text.items() if c not in self.excluded}
        ip_text = self._ip_text(components.ip)
        if ip_text is not None:
            text[Component.IP] = ip_text
            if Component.TLS in text:  # keep Component order: IP comes before TLS
                text[Component.TLS] = text.pop(Component.TLS)
        return text

    def _ip_text(self, address: IPAddress | None) -> str | None:
        if address is None or not self._uses_ip:
            return None
        if self.ip_mode is IPMode.FULL:
            return address.compressed
        length = self.ipv4_prefix if address.version == 4 else self.ipv6_prefix
        return ipaddress.ip_network(f"{address}/{length}", strict=False).with_prefixlen

    def fingerprint(self, components: Components) -> Fingerprint:
        """Return the fingerprint of ``components`` under the current key."""
        return self._assemble([self._text_entry(c, v) for c, v in self.used(components).items()])

    def from_scope(
        self, scope: Mapping[str, object], *, tls: str | Sequence[str] | None = None
    ) -> Fingerprint:
        """Fingerprint an ASGI scope. See `from_scope` (the function) for what is read."""
        if scope.__class__ is dict and not self._uses_ip:  # what servers pass, read without detours
            headers = scope.get("headers")
            if headers.__class__ is list and headers and scope.get("type") in _REQUEST_SCOPES:
                found = self._from_pairs(headers, None, tls)
                return found if found is not None else self.fingerprint(build(headers, None, tls))
        headers, address = scope_request(scope, with_ip=self._uses_ip)
        if headers.__class__ is list and headers:
            found = self._from_pairs(headers, self._ip_text(address), tls)
            if found is not None:
                return found
        return self.fingerprint(build(headers, address, tls))

    def from_environ(
        self, environ: Mapping[str, object], *, tls: str | Sequence[str] | None = None
    ) -> Fingerprint:
        """Fingerprint a WSGI environ. See `from_environ` (the function) for what is read."""
        if environ.__class__ is not dict and not isinstance(environ, Mapping):
            raise FingerprintTypeError("environ", "a WSGI environ (a mapping)", environ)
        ip_text = self._ip_text(environ_address(environ)) if self._uses_ip else None
        found = self._from_environ(environ, ip_text, tls)
        if found is not None:
            return found
        return self.fingerprint(environ_components(environ, tls, with_ip=self._uses_ip))

    def from_headers(
        self,
        headers: Headers,
        *,
        client_ip: str | IPAddress | None = None,
        tls: str | Sequence[str] | None = None,
    ) -> Fingerprint:
        """Fingerprint request headers. See `from_headers` (the function) for what is read."""
        address = None if client_ip is None else check_ip(client_ip, "client_ip", strict=True)
        pairs = headers if headers.__class__ is list else list(header_items(headers))
        if pairs:
            found = self._from_pairs(pairs, self._ip_text(address), tls)
            if found is not None:
                return found
        return self.fingerprint(build(pairs, address, tls))

    def _from_environ(
        self, environ: Mapping[str, object], ip_text: str | None, tls: str | Sequence[str] | None
    ) -> Fingerprint | None:
        """The short road for a WSGI environ, or None where it does not apply."""
        try:
            keys = "\n".join(environ)
        except TypeError:  # a key that is not a str: the long road skips it
            return None
        plan: _EnvironPlan | None = self._cache.get((_ENVIRON, keys), _MISSING)
        if plan is _MISSING:
            plan = self._environ_plan(keys, len(environ))
            self._keep((_ENVIRON, keys), plan)
        if plan is None or plan.size != len(environ):
            return None
        try:
            "".join(plan.values(environ))
        except TypeError:  # a value that is not a str: the long road skips it
            return None
        if plan.content and not all(environ[key] for key in plan.content):  # an empty CONTENT_* is no header
            read = zip(plan.read, plan.names, strict=True)
            pairs = [(name, environ[key]) for key, name in read if environ[key] or key[0] == "H"]
            return self._from_pairs(pairs, ip_text, tls) if pairs else None
        cookie: Any = None if plan.cookie is None else environ[plan.cookie]
        return self._from_plan(plan.headers, plan.pick(environ), cookie, plan.order, ip_text=ip_text, tls=tls)

    def _environ_plan(self, keys: str, size: int) -> _EnvironPlan | None:
        """Which keys of an environ whose keys, joined by newlines, are ``keys`` are headers."""
        split = keys.split("\n")
        if len(split) != size:  # a key holding a newline
            return None
        read = [key for key in split if environ_header(key) is not None]
        names = [environ_header(key) or "" for key in read]
        order = ",".join(names)
        headers = self._names_plan(order) if names else None
        if headers is None or headers.size != len(names):
            return None
        return _EnvironPlan(
            size=size,
            values=_picker(read),
            pick=_picker([read[i] for i in headers.positions]),
            cookie=None if headers.cookie is None else read[headers.cookie],
            content=tuple(key for key in read if key[0] != "H"),
            read=tuple(read),
            names=tuple(names),
            order=order,
            headers=headers,
        )

    def _from_pairs(
        self, pairs: list[Any], ip_text: str | None, tls: str | Sequence[str] | None
    ) -> Fingerprint | None:
        """The short road for a non-empty list of header pairs, or None where it does not apply."""
        first = pairs[0]
        if (first.__class__ is not tuple and first.__class__ is not list) or len(first) != 2:
            return None
        kind = first[1].__class__
        try:
            names = [name for name, value in pairs if value.__class__ is kind]
            if len(names) != len(pairs):  # values of more than one type
                return None
            if kind is bytes:
                order: Any = b",".join(names)  # and every name bytes too
            elif kind is str:
                order = ",".join(names)
            else:
                return None
        except (TypeError, ValueError):  # not pairs, or names of another type
            return None
        plan: _NamesPlan | None = self._cache.get((_NAMES, order), _MISSING)
        if plan is _MISSING:
            plan = self._names_plan(order)
            self._keep((_NAMES, order), plan)
        if plan is None or plan.size != len(pairs):
            return None
        cookie = None if plan.cookie is None else pairs[plan.cookie][1]
        values = tuple(map(_VALUE_OF, plan.pick(pairs)))
        return self._from_plan(plan, values, cookie, order, ip_text=ip_text, tls=tls)

    def _from_plan(
        self,
        plan: _NamesPlan,
        values: tuple[Any, ...],
        cookie: bytes | str | None,
        order: bytes | str,
        *,
        ip_text: str | None,
        tls: str | Sequence[str] | None,
    ) -> Fingerprint:
        """Fingerprint a request whose header names, joined by commas, are ``order``.

        ``values`` are those of the headers ``plan`` says to read; ``cookie`` is the cookie header,
        if present and read.
        """
        cache = self._cache
        cookies = None
        if cookie is not None:
            # Cookie names are remembered by the header's length and hash(), never by the header,
            # which holds credentials. Two headers alike in both are taken to name the same cookies:
            # for distinct headers the chance is about 2**-64, and no worse than sending those names.
            seen = (_COOKIE_HEADER, plan.kind, len(cookie), hash(cookie))
            cookies = cache.get(seen)
            if cookies is None:
                cookies = _cookie_names(cookie)
                self._keep(seen, cookies)
        tls_text = None
        if tls is not None:
            tls_text = check_tls(tls)
            if not self._uses_tls:
                tls_text = None
        if ip_text is not None:  # the address is never cached
            return self._make(plan, values, cookies, ip_text, tls_text)
        request = (_REQUEST, order, values, cookies, tls_text)
        known: Fingerprint | None = cache.get(request)
        if known is None:
            known = self._make(plan, values, cookies, None, tls_text)
            self._keep(request, known)
        return known

    def _make(
        self,
        plan: _NamesPlan,
        values: tuple[Any, ...],
        cookies: bytes | str | None,
        ip_text: str | None,
        tls_text: str | None,
    ) -> Fingerprint:
        """The fingerprint of a request not seen before, from the components that were."""
        get = self._cache.get
        entries: list[_Entry] = []
        for component, value in zip(plan.headers, values, strict=False):  # values go on with hints
            entry = get((_VALUE, component, value), _MISSING)
            if entry is _MISSING:
                entry = self._value_entry(component, value)
            if entry is not None:
                entries.append(entry)
        if plan.hints:
            entries.append(self._hints_entry(plan.hints, values[len(plan.headers) :]))
        if plan.order is not None:
            entries.append(plan.order)
        if cookies is not None:
            entry = self._cookies_entry(cookies)
            if entry is not None:
                entries.append(entry)
        if ip_text is not None:
            entries.append(self._entry(Component.IP, ip_text.encode("ascii")))
        if tls_text is not None:
            entries.append(self._text_entry(Component.TLS, tls_text))
        return self._assemble(entries)

    def _names_plan(self, order: bytes | str) -> _NamesPlan | None:
        """What to read from requests whose header names, joined by commas, are ``order``.

        None unless each name is an HTTP token (so that no name holds a comma or whitespace) and
        no name comes twice in any case: such requests take the long road.
        """
        if isinstance(order, str):
            if not order.isascii():
                return None
            raw = order.encode("ascii")
        else:
            raw = order
        lowered = raw.lower()
        if lowered.translate(None, _TOKEN_BYTES):
            return None
        text = lowered.decode("ascii")
        names = text.split(",")
        at = dict(zip(names, range(len(names)), strict=True))
        if len(at) != len(names):
            return None
        headers = tuple(filter(at.__contains__, self._headers))  # a Component is its name
        hints: tuple[str, ...] = ()
        if self._uses_hints and _HINT in text:
            hints = tuple(sorted([_HINT + n.partition(",")[0] for n in ("," + text).split("," + _HINT)[1:]]))
        positions = (*map(at.__getitem__, headers), *map(at.__getitem__, hints))
        return _NamesPlan(
            bytes if isinstance(order, bytes) else str,
            len(names),
            positions,
            _picker(positions),
            headers,
            hints,
            at.get("cookie") if self._uses_cookies else None,
            self._entry(Component.HEADER_ORDER, lowered) if lowered and self._uses_order else None,
        )

    def _value_entry(self, component: Component, value: bytes | str) -> _Entry | None:
        cache_key = (_VALUE, component, value)
        entry: _Entry | None = self._cache.get(cache_key, _MISSING)
        if entry is _MISSING:
            text = " ".join((value.decode("latin-1") if isinstance(value, bytes) else value).split())
            entry = self._entry(component, text.encode("utf-8", "surrogatepass")) if text else None
            self._keep(cache_key, entry)
        return entry

    def _hints_entry(self, names: tuple[str, ...], values: tuple[Any, ...]) -> _Entry:
        cache_key = (_HINTS, names, values)
        entry: _Entry | None = self._cache.get(cache_key)
        if entry is None:
            text = "\n".join(
                [
                    f"{n}={' '.join((v.decode('latin-1') if v.__class__ is bytes else v).split())}"
                    for n, v in zip(names, values, strict=True)
                ]
            )
            entry = self._entry(Component.CLIENT_HINTS, text.encode("utf-8", "surrogatepass"))
            self._keep(cache_key, entry)
        return entry

    def _cookies_entry(self, names: bytes | str) -> _Entry | None:
        cache_key = (_COOKIES, names)
        entry: _Entry | None = self._cache.get(cache_key, _MISSING)
        if entry is _MISSING:
            text = _decoded(names)
            entry = (
                self._entry(Component.COOKIE_NAMES, text.encode("utf-8", "surrogatepass")) if text else None
            )
            self._keep(cache_key, entry)
        return entry

    def _text_entry(self, component: Component, text: str) -> _Entry:
        if component is Component.IP or not self.cache_size:  # the address is never cached
            return self._entry(component, text.encode("utf-8", "surrogatepass"))
        cache_key = (_TEXT, component, text)
        entry: _Entry | None = self._cache.get(cache_key)
        if entry is None:
            entry = self._entry(component, text.encode("utf-8", "surrogatepass"))
            self._keep(cache_key, entry)
        return entry

    def _entry(self, component: Component, encoded: bytes) -> _Entry:
        """A component's field of the canonical encoding, its own keyed hash and its presence bit."""
        field = _FIELD_NAMES[component] + len(encoded).to_bytes(4, "big") + encoded
        digest = self._key.mac(_COMPONENT_LABELS[component] + encoded)[:16].hex()
        return component, field, digest, _BITS[component]

    def _keep(self, cache_key: tuple[object, ...], value: object) -> None:
        if self.cache_size:
            cache = self._cache
            if len(cache) >= self.cache_size:
                cache.clear()  # cheaper than evicting one by one, and bounded all the same
            cache[cache_key] = value

    def _assemble(self, entries: list[_Entry]) -> Fingerprint:
        """The fingerprint of the components in ``entries``, which are in `Component` order."""
        if entries:
            components, fields, digests, bits = zip(*entries, strict=True)
            message = _HEADS[len(fields)] + b"".join(fields)
            hashes = dict(zip(components, digests, strict=True))
            mask = sum(bits)
        else:
            message, hashes, mask = _HEADS[0], {}, 0
        confidence, low = self._scores[mask] or self._score(mask)
        fingerprint = object.__new__(Fingerprint)
        _SET_DIGEST(fingerprint, self._key.mac(message).hex())
        _SET_KEY_ID(fingerprint, self._key.key_id)
        _SET_PURPOSE(fingerprint, self.purpose)
        _SET_COMPONENTS(fingerprint, MappingProxyType(hashes))
        _SET_CONFIDENCE(fingerprint, confidence)
        _SET_LOW(fingerprint, low)
        return fingerprint

    def _score(self, mask: int) -> tuple[float, bool]:
        """Confidence and the low-confidence flag for the components whose bits are set in ``mask``."""
        bits = [self._bits(c) for i, c in enumerate(Component) if mask >> i & 1]
        confidence = min(1.0, sum(bits) / _TARGET_BITS)
        high = sum(1 for b in bits if b >= self.high_entropy_bits)
        score = (round(confidence, 6), high < self.min_high_entropy)
        self._scores[mask] = score
        return score

    def _bits(self, component: Component) -> float:
        bits = self.entropy[component]
        if component is Component.IP and self.ip_mode is IPMode.PREFIX:
            return bits * _PREFIX_WEIGHT
        return bits

    # --- using fingerprints -------------------------------------------------------------------

    def verify(self, fingerprint: Fingerprint | str, components: Components) -> bool:
        """Whether ``fingerprint`` (or its digest) is the fingerprint of ``components``.

        Checks the current key and every previous one, in constant time per key, so fingerprints
        stored before a rotation still verify. Store `fingerprint` output again to move a record
        to the current key.

        Raises:
            InvalidFingerprintError: ``fingerprint`` is not a `Fingerprint` or a 64-hex-digit digest.
        """
        if isinstance(fingerprint, Fingerprint):
            digest = fingerprint.digest
        elif isinstance(fingerprint, str) and _DIGEST_HEX.fullmatch(fingerprint):
            digest = fingerprint
        else:
            raise InvalidFingerprintError("expected a Fingerprint or a digest of 64 lower-case hex digits")
        message = _canonical(
            {c: v.encode("utf-8", "surrogatepass") for c, v in self.used(components).items()}
        )
        expected = bytes.fromhex(digest)
        matched = False
        for key in (self._key, *self._previous):
            matched |= hmac.compare_digest(key.mac(message), expected)
        return matched

    def similarity(self, a: Fingerprint, b: Fingerprint) -> float:
        """Return how alike two fingerprints are, from 0 (nothing shared) to 1 (every component equal).

        It is the entropy-weighted share of components that are equal, over the components present in
        either: a matching user agent counts for more than a matching ``accept-encoding``. Two
        fingerprints with no components have nothing to go on and score 0.

        Raises:
            IncomparableFingerprintsError: They were made with different keys or purposes.
            FingerprintTypeError: Either is not a `Fingerprint`.
        """
        for name, value in (("a", a), ("b", b)):
            if not isinstance(value, Fingerprint):
                raise FingerprintTypeError(name, "a Fingerprint", value)
        if (a.key_id, a.purpose) != (b.key_id, b.purpose):
            raise IncomparableFingerprintsError((a.key_id, a.purpose), (b.key_id, b.purpose))
        union = a.components.keys() | b.components.keys()
        total = sum(self._bits(c) for c in union)
        if total == 0:
            return 0.0
        shared = sum(self._bits(c) for c in union if a.components.get(c) == b.components.get(c))
        return shared / total


# Each component's name, length-prefixed, as it opens its field in the canonical encoding.
_FIELD_NAMES: Final = {c: len(c.value).to_bytes(1, "big") + c.value.encode("ascii") for c in Component}
# What the canonical encoding starts with, for each number of fields.
_HEADS: Final = tuple(_FORMAT + n.to_bytes(1, "big") for n in range(len(Component) + 1))
# What each component's own keyed hash is taken over, before its value.
_COMPONENT_LABELS: Final = {c: b"component\x00" + c.value.encode("ascii") + b"\x00" for c in Component}
_BITS: Final = {c: 1 << i for i, c in enumerate(Component)}
_REQUEST_SCOPES: Final = frozenset({"http", "websocket"})
_VALUE_OF: Final = itemgetter(1)  # of a (name, value) pair
_HINT: Final = "sec-ch-ua"  # what the name of every client hint about the user agent starts with
_HEADER_VALUES: Final = (
    Component.USER_AGENT,
    Component.ACCEPT,
    Component.ACCEPT_LANGUAGE,
    Component.ACCEPT_ENCODING,
)
# The characters of HTTP header names (RFC 9110 tokens) in lower case, and the comma that joins them.
_TOKEN_BYTES: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz,"
# What str.strip() strips from latin-1 text and bytes.strip() does not.
_LATIN1_ONLY_SPACE: Final = b"\x1c\x1d\x1e\x1f\x85\xa0"

# The cache holds several kinds of entries; the first item of a key says which.
_TEXT: Final = 0  # (_TEXT, component, canonical text) -> _Entry
_VALUE: Final = 1  # (_VALUE, component, header value as received) -> _Entry | None
_HINTS: Final = 2  # (_HINTS, names, values as received) -> _Entry
_COOKIES: Final = 3  # (_COOKIES, cookie names joined) -> _Entry | None
_NAMES: Final = 4  # (_NAMES, header names joined) -> _NamesPlan | None
_ENVIRON: Final = 5  # (_ENVIRON, environ keys joined) -> _EnvironPlan | None
_REQUEST: Final = 6  # (_REQUEST, names joined, values read, cookie names, tls) -> Fingerprint
_COOKIE_HEADER: Final = 7  # (_COOKIE_HEADER, type, length, hash() of a cookie header) -> cookie names
_MISSING: Final[Any] = object()

type _Entry = tuple[Component, bytes, str, int]
"""A component: itself, its field of the canonical encoding, its own keyed hash, its presence bit."""


class _NamesPlan(NamedTuple):
    """What to read from a request with a given list of header names (see `Fingerprinter._names_plan`)."""

    kind: type
    """The type of the names and values: bytes or str."""
    size: int
    """How many names."""
    positions: tuple[int, ...]
    """Where the headers read are: those of ``headers``, then those of ``hints``."""
    pick: Callable[[Sequence[Any]], tuple[Any, ...]]
    """Takes the pairs read from the list of pairs: those of ``headers``, then those of ``hints``."""
    headers: tuple[Component, ...]
    """The components of `_HEADER_VALUES` used and present."""
    hints: tuple[str, ...]
    """The names of the client hints present, sorted, if client hints are used."""
    cookie: int | None
    """Where the cookie header is, if present and cookie names are used."""
    order: _Entry | None
    """The `Component.HEADER_ORDER` component, if used."""


class _EnvironPlan(NamedTuple):
    """Which keys of a WSGI environ with given keys are headers (see `Fingerprinter._environ_plan`)."""

    size: int
    """How many keys."""
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """Takes the value of every header."""
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """Takes the values ``headers`` says to read."""
    cookie: str | None
    """The cookie header's key, if present and cookie names are used."""
    content: tuple[str, ...]
    """``CONTENT_TYPE`` and ``CONTENT_LENGTH``, if present: they count only when not empty."""
    read: tuple[str, ...]
    """The keys that are headers, in environ order."""
    names: tuple[str, ...]
    """Their header names."""
    order: str
    """The names joined by commas."""
    headers: _NamesPlan
    """What to read from those headers."""


def _picker(positions: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function taking the items at ``positions`` (indexes or keys) from its argument, as a tuple."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        (position,) = positions
        return lambda items: (items[position],)
    return lambda _: ()


def _decoded(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _cookie_names(value: bytes | str) -> bytes | str:
    """The sorted, distinct names in a cookie header, joined by commas (as `Components` has them)."""
    if isinstance(value, bytes):
        raw = {crumb.split(b"=", 1)[0].strip() for crumb in value.split(b";")}
        raw.discard(b"")
        joined = b",".join(sorted(raw))
        if len(joined.translate(None, _LATIN1_ONLY_SPACE)) == len(joined):
            return joined
        value = value.decode("latin-1")  # a name with space that only the text's strip() sees
    names = {crumb.split("=", 1)[0].strip() for crumb in value.split(";")}
    names.discard("")
    return ",".join(sorted(names))


def _canonical(encoded: Mapping[Component, bytes]) -> bytes:
    """Length-prefixed fields in `Fingerprinter.used` order, which is fixed: no two sets share an encoding."""
    parts = [_FORMAT, len(encoded).to_bytes(1, "big")]
    for component, value in encoded.items():
        parts += (_FIELD_NAMES[component], len(value).to_bytes(4, "big"), value)
    return b"".join(parts)


def _check_purpose(purpose: object) -> str:
    if not isinstance(purpose, str):
        raise FingerprintTypeError("purpose", "a str", purpose)
    if not purpose.strip() or len(purpose) > 200 or not purpose.isprintable():
        raise FingerprintConfigurationError(
            "purpose",
            purpose,
            "declare what the fingerprints are for in 1 to 200 printable characters, e.g. 'fraud-prevention'",
        )
    return purpose


def _check_secret(secret: object, parameter: str) -> None:
    if not isinstance(secret, (bytes, bytearray)):
        raise FingerprintTypeError(parameter, "bytes", secret)
    if len(secret) < MIN_SECRET_BYTES:
        raise FingerprintConfigurationError(
            parameter,
            secret,
            f"a secret needs at least {MIN_SECRET_BYTES} bytes; make one with secrets.token_bytes(32)",
            show_value=False,
        )


def _iterable(value: object, parameter: str) -> Iterable[object]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FingerprintTypeError(parameter, "an iterable of Component", value)
    return value


def _component(value: object, parameter: str) -> Component:
    if not isinstance(value, str):
        raise FingerprintTypeError(parameter, "a Component or its name", value)
    try:
        return Component(value)
    except ValueError:
        names = ", ".join(c.value for c in Component)
        raise FingerprintConfigurationError(
            parameter, value, f"not a component; use one of {names}"
        ) from None


def _ip_mode(value: object) -> IPMode:
    if not isinstance(value, str):
        raise FingerprintTypeError("ip", "an IPMode", value)
    try:
        return IPMode(value)
    except ValueError:
        raise FingerprintConfigurationError(
            "ip", value, "use IPMode.EXCLUDE, IPMode.PREFIX or IPMode.FULL"
        ) from None


def _prefix(value: object, parameter: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FingerprintTypeError(parameter, "an int", value)
    if not 0 <= value <= bits:
        raise FingerprintConfigurationError(parameter, value, f"a prefix length is from 0 to {bits}")
    return value


def _number(value: object, parameter: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FingerprintTypeError(parameter, "a number", value)
    if not low <= value <= high:  # NaN and infinities fail too; an int of any size is compared exactly
        raise FingerprintConfigurationError(parameter, value, f"must be from {low:g} to {high:g}")
    return float(value)


def _entropy(overrides: Mapping[Component | str, float] | None) -> Mapping[Component, float]:
    if overrides is None:
        return DEFAULT_ENTROPY_BITS
    if not isinstance(overrides, Mapping):
        raise FingerprintTypeError("entropy", "a mapping of Component to bits", overrides)
    merged = dict(DEFAULT_ENTROPY_BITS)
    for name, bits in overrides.items():
        merged[_component(name, "entropy")] = _number(bits, "entropy", 0.0, 64.0)
    return MappingProxyType(merged)
