"""The façade: `Fingerprinter` makes, verifies and compares keyed fingerprints (`Fingerprint`).

What it puts together lives beside it, one concern each: reading the request (``_components`` for
the definition, ``_extraction`` for the short road), the canonical encoding and its HMAC with key
rotation (``_encoding``), the memo of what was worked out before (``_memo``), and the value it
returns (``_fingerprint``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from functools import partial
from time import perf_counter
from types import MappingProxyType
from typing import Any, Final

from buttress.core import Attributes

from ._components import (
    Component,
    Components,
    Headers,
    IPAddress,
    environ_address,
    environ_components,
    scope_request,
)
from ._components import _build as build
from ._components import _ip as check_ip
from ._components import _items as header_items
from ._components import _tls as check_tls
from ._encoding import HEADS, Encoder, Entry, Keyring, canonical, check_secret
from ._extraction import NamesPlan, Read, Reader
from ._fingerprint import (
    DIGEST_HEX,
    SET_COMPONENTS,
    SET_CONFIDENCE,
    SET_DIGEST,
    SET_KEY_ID,
    SET_LOW,
    SET_PURPOSE,
    Fingerprint,
)
from ._memo import MISSING, REQUEST, VALUE, Memo
from ._metrics import COMPUTED, DURATION, MEMO_HITS, MEMO_MISSES, SOURCES, VERIFICATIONS, VERIFIED
from .exceptions import (
    FingerprintConfigurationError,
    FingerprintTypeError,
    IncomparableFingerprintsError,
    InvalidFingerprintError,
)

__all__ = ["DEFAULT_ENTROPY_BITS", "Fingerprinter", "IPMode"]

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

_PREFIX_WEIGHT: Final = 0.6
_TARGET_BITS: Final = 33.0  # log2 of about 8.6 billion: enough to tell every person apart
_REQUEST_SCOPES: Final = frozenset({"http", "websocket"})
_BY_COMPONENTS, _BY_SCOPE, _BY_ENVIRON, _BY_HEADERS = (
    SOURCES[s] for s in ("components", "scope", "environ", "headers")
)


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
        check_secret(secret, "secret")
        olds: object = previous_secrets
        if isinstance(olds, (bytes, str)) or not isinstance(olds, Sequence):
            raise FingerprintTypeError("previous_secrets", "a sequence of bytes", olds)
        for old in olds:
            check_secret(old, "previous_secrets")
        self._keys: Final = Keyring(secret, previous_secrets, purpose)
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
        self._cache: Final = Memo(cache_size)
        self._encoder: Final = Encoder(self._keys.current, self._cache)
        # What each request needs, worked out once for this configuration.
        used = [c for c in Component if c not in self.excluded]
        self._uses_ip: Final = self.ip_mode is not IPMode.EXCLUDE and Component.IP in used
        self._uses_tls: Final = Component.TLS in used
        self._reader: Final = Reader(used, self._cache, partial(self._encoder.entry, Component.HEADER_ORDER))
        self._scores: list[tuple[float, bool] | None] = [None] * (1 << len(Component))

    def clear_cache(self) -> None:
        """Forget everything cached (and so the header values it was cached under)."""
        self._cache.clear()

    @property
    def key_id(self) -> str:
        """The identifier of the current key, as stored on each new `Fingerprint`."""
        return self._keys.current.key_id

    def __repr__(self) -> str:
        excluded = sorted(c.value for c in self.excluded)
        return (
            f"Fingerprinter(purpose={self.purpose!r}, key_id={self.key_id!r}, "
            f"previous_keys={len(self._keys.previous)}, exclude={excluded}, ip={self.ip_mode.value!r})"
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
        start = perf_counter()
        found = self._fingerprint(components)
        _measure(start, _BY_COMPONENTS)
        return found

    def from_scope(
        self, scope: Mapping[str, object], *, tls: str | Sequence[str] | None = None
    ) -> Fingerprint:
        """Fingerprint an ASGI scope. See `from_scope` (the function) for what is read."""
        start = perf_counter()
        found = self._from_scope(scope, tls)
        _measure(start, _BY_SCOPE)
        return found

    def from_environ(
        self, environ: Mapping[str, object], *, tls: str | Sequence[str] | None = None
    ) -> Fingerprint:
        """Fingerprint a WSGI environ. See `from_environ` (the function) for what is read."""
        start = perf_counter()
        found = self._from_environ(environ, tls)
        _measure(start, _BY_ENVIRON)
        return found

    def from_headers(
        self,
        headers: Headers,
        *,
        client_ip: str | IPAddress | None = None,
        tls: str | Sequence[str] | None = None,
    ) -> Fingerprint:
        """Fingerprint request headers. See `from_headers` (the function) for what is read."""
        start = perf_counter()
        found = self._from_headers(headers, client_ip, tls)
        _measure(start, _BY_HEADERS)
        return found

    def _fingerprint(self, components: Components) -> Fingerprint:
        text_entry = self._encoder.text_entry
        return self._assemble([text_entry(c, v) for c, v in self.used(components).items()])

    def _from_scope(self, scope: Mapping[str, object], tls: str | Sequence[str] | None) -> Fingerprint:
        if scope.__class__ is dict and not self._uses_ip:  # what servers pass, read without detours
            headers = scope.get("headers")
            if headers.__class__ is list and headers and scope.get("type") in _REQUEST_SCOPES:
                read = self._reader.pairs(headers)
                if read is not None:
                    return self._from_read(read, None, tls)
                return self._fingerprint(build(headers, None, tls))
        headers, address = scope_request(scope, with_ip=self._uses_ip)
        if headers.__class__ is list and headers:
            read = self._reader.pairs(headers)
            if read is not None:
                return self._from_read(read, self._ip_text(address), tls)
        return self._fingerprint(build(headers, address, tls))

    def _from_environ(self, environ: Mapping[str, object], tls: str | Sequence[str] | None) -> Fingerprint:
        if environ.__class__ is not dict and not isinstance(environ, Mapping):
            raise FingerprintTypeError("environ", "a WSGI environ (a mapping)", environ)
        ip_text = self._ip_text(environ_address(environ)) if self._uses_ip else None
        read = self._reader.environ(environ)
        if read is not None:
            return self._from_read(read, ip_text, tls)
        return self._fingerprint(environ_components(environ, tls, with_ip=self._uses_ip))

    def _from_headers(
        self, headers: Headers, client_ip: str | IPAddress | None, tls: str | Sequence[str] | None
    ) -> Fingerprint:
        address = None if client_ip is None else check_ip(client_ip, "client_ip", strict=True)
        pairs = headers if headers.__class__ is list else list(header_items(headers))
        if pairs:
            read = self._reader.pairs(pairs)
            if read is not None:
                return self._from_read(read, self._ip_text(address), tls)
        return self._fingerprint(build(pairs, address, tls))

    def _from_read(self, read: Read, ip_text: str | None, tls: str | Sequence[str] | None) -> Fingerprint:
        """Fingerprint a request the `Reader` read: from the memo if it was made before."""
        plan, values, cookie, order = read
        cookies = None if cookie is None else self._reader.cookies(plan.kind, cookie)
        tls_text = None
        if tls is not None:
            tls_text = check_tls(tls)
            if not self._uses_tls:
                tls_text = None
        if ip_text is not None:  # the address is never kept
            return self._make(plan, values, cookies, ip_text, tls_text)
        request = (REQUEST, order, values, cookies, tls_text)
        known: Fingerprint | None = self._cache.get(request)
        if known is None:
            known = self._make(plan, values, cookies, None, tls_text)
            self._cache.keep(request, known)
            if self.cache_size:
                MEMO_MISSES.add(1)
        else:
            MEMO_HITS.add(1)
        return known

    def _make(
        self,
        plan: NamesPlan,
        values: tuple[Any, ...],
        cookies: bytes | str | None,
        ip_text: str | None,
        tls_text: str | None,
    ) -> Fingerprint:
        """The fingerprint of a request not seen before, from the components that were."""
        get = self._cache.get
        encoder = self._encoder
        entries: list[Entry] = []
        for component, value in zip(plan.headers, values, strict=False):  # values go on with hints
            entry = get((VALUE, component, value), MISSING)
            if entry is MISSING:
                entry = encoder.value_entry(component, value)
            if entry is not None:
                entries.append(entry)
        if plan.hints:
            entries.append(encoder.hints_entry(plan.hints, values[len(plan.headers) :]))
        if plan.order is not None:
            entries.append(plan.order)
        if cookies is not None:
            entry = encoder.cookies_entry(cookies)
            if entry is not None:
                entries.append(entry)
        if ip_text is not None:
            entries.append(encoder.entry(Component.IP, ip_text.encode("ascii")))
        if tls_text is not None:
            entries.append(encoder.text_entry(Component.TLS, tls_text))
        return self._assemble(entries)

    def _assemble(self, entries: list[Entry]) -> Fingerprint:
        """The fingerprint of the components in ``entries``, which are in `Component` order."""
        if entries:
            components, fields, digests, bits = zip(*entries, strict=True)
            message = HEADS[len(fields)] + b"".join(fields)
            hashes = dict(zip(components, digests, strict=True))
            mask = sum(bits)
        else:
            message, hashes, mask = HEADS[0], {}, 0
        confidence, low = self._scores[mask] or self._score(mask)
        key = self._keys.current
        fingerprint = object.__new__(Fingerprint)
        SET_DIGEST(fingerprint, key.mac(message).hex())
        SET_KEY_ID(fingerprint, key.key_id)
        SET_PURPOSE(fingerprint, self.purpose)
        SET_COMPONENTS(fingerprint, MappingProxyType(hashes))
        SET_CONFIDENCE(fingerprint, confidence)
        SET_LOW(fingerprint, low)
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
        elif isinstance(fingerprint, str) and DIGEST_HEX.fullmatch(fingerprint):
            digest = fingerprint
        else:
            raise InvalidFingerprintError("expected a Fingerprint or a digest of 64 lower-case hex digits")
        message = canonical({c: v.encode("utf-8", "surrogatepass") for c, v in self.used(components).items()})
        outcome = self._keys.verify(message, bytes.fromhex(digest))
        VERIFICATIONS.add(1, VERIFIED[outcome])
        return outcome != "mismatch"

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


def _measure(start: float, source: Attributes) -> None:
    """Count a fingerprint made from ``source`` and record how long it took since ``start``."""
    DURATION.record(perf_counter() - start, source)
    COMPUTED.add(1, source)


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
