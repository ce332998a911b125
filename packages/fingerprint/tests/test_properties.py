"""Properties of buttress-fingerprint: privacy (15, 16), hashing (17), confidence (18), stability."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
from types import MappingProxyType

from hypothesis import assume, given
from hypothesis import strategies as st

from buttress.fingerprint import (
    DEFAULT_ENTROPY_BITS,
    Component,
    Components,
    Fingerprinter,
    IPMode,
    from_headers,
)

SECRETS = st.binary(min_size=32, max_size=64)
PURPOSE = "fraud-prevention"
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
header_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
extra_names = st.lists(token.map(lambda t: "x-" + t), unique=True, max_size=6)
cookie_names = st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True), unique=True, max_size=6)
ipv4 = st.ip_addresses(v=4).map(str)
ips = st.ip_addresses().map(str)
excludable = st.sets(st.sampled_from(list(Component)))


@st.composite
def requests(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A browser-like request: some of the fingerprinted headers, other headers, cookies, in some order."""
    headers: list[tuple[str, str]] = []
    for name in (
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "sec-ch-ua",
        "sec-ch-ua-platform",
    ):
        if draw(st.booleans()):
            headers.append((name, draw(header_value)))  # noqa: PERF401 - each draw is a separate choice
    headers += [(name, draw(header_value)) for name in draw(extra_names)]
    names = draw(cookie_names)
    if names:
        headers.append(("cookie", "; ".join(f"{n}={draw(token)}" for n in names)))
    return draw(st.permutations(headers))


def with_case(headers: list[tuple[str, str]], cases: list[bool]) -> list[tuple[str, str]]:
    return [
        (n.upper() if up else n.title(), v)
        for (n, v), up in zip(headers, cases + [False] * len(headers), strict=False)
    ]


# --- Property 15: privacy controls ---------------------------------------------------------------


@given(request=requests(), excluded=excludable, ip=ips)
def test_excluded_components_never_count(
    request: list[tuple[str, str]], excluded: set[Component], ip: str
) -> None:
    """Property 15: Component exclusion — an excluded component is absent and changing it changes nothing."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE, exclude=excluded, ip=IPMode.FULL)
    fp = f.from_headers(request, client_ip=ip)
    assert not excluded & set(fp.components)
    changed = [(n, v + "-changed" if n in {c.value for c in excluded} else v) for n, v in request]
    other_ip = (
        str(ipaddress.ip_address(ip) + 1)
        if ip not in {"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
        else ip
    )
    if Component.IP in excluded:
        assert f.from_headers(changed, client_ip=other_ip).components == dict(
            f.from_headers(changed, client_ip=ip).components.items()
        )


@given(request=requests(), ip=ips)
def test_ip_is_excluded_by_default_and_a_fingerprint_is_valid_without_it(
    request: list[tuple[str, str]], ip: str
) -> None:
    """Property 15: IP excluded by default — the same fingerprint with or without an address."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    with_ip = f.from_headers(request, client_ip=ip)
    without = f.from_headers(request)
    assert with_ip == without
    assert Component.IP not in with_ip.components
    assert len(with_ip.digest) == 64
    assert f.verify(with_ip, from_headers(request))


# --- Property 16: only hashes leave -------------------------------------------------------------


@given(request=requests(), ip=ipv4, secret=SECRETS)
def test_only_hashes_leave_the_library(request: list[tuple[str, str]], ip: str, secret: bytes) -> None:
    """Property 16: Only hashes leave — no header value, cookie name, address or secret in the output."""
    f = Fingerprinter(secret, purpose=PURPOSE, ip=IPMode.FULL)
    fp = f.from_headers(request, client_ip=ip)
    published = json.dumps(fp.to_dict()) + repr(fp) + str(fp) + repr(f)
    # What every output of this shape says, whatever the request: field and component names, the
    # purpose, the numbers. A header value that is part of it (say "low_conf") proves nothing.
    shape = dataclasses.replace(
        fp,
        digest="-" * 64,
        key_id="-" * 12,
        components=MappingProxyType(dict.fromkeys(fp.components, "-" * 32)),
    )
    vocabulary = json.dumps(shape.to_dict()) + repr(shape) + repr(f).replace(f.key_id, "-" * 12)
    for name, value in request:
        if name == "cookie":
            for crumb in value.split("; "):
                cookie, _, _cookie_value = crumb.partition("=")
                assume(len(cookie) >= 6)
                assert cookie not in published or cookie in vocabulary
        elif len(value) >= 8:
            assert value not in published or value in vocabulary
    assert ip not in published
    assert secret.hex() not in published
    hex_fields = [fp.digest, fp.key_id, *fp.components.values()]
    assert all(set(h) <= set("0123456789abcdef") for h in hex_fields)


# --- Property 17: keyed hashing over a canonical encoding ------------------------------------------


@given(request=requests(), secret=SECRETS, other=SECRETS)
def test_keyed_hashing_and_rotation(request: list[tuple[str, str]], secret: bytes, other: bytes) -> None:
    """Property 17: Keyed hashing — deterministic per key, unlinkable across keys, verifiable on rotation.

    Unlinkable: two secrets share neither the digest nor any component hash.
    """
    assume(secret != other)
    components = from_headers(request)
    a1 = Fingerprinter(secret, purpose=PURPOSE).fingerprint(components)
    a2 = Fingerprinter(secret, purpose=PURPOSE).fingerprint(components)
    b = Fingerprinter(other, purpose=PURPOSE).fingerprint(components)
    assert a1 == a2
    assert a1.digest != b.digest
    assert not set(a1.components.values()) & set(b.components.values()) or not a1.components
    rotated = Fingerprinter(other, purpose=PURPOSE, previous_secrets=[secret])
    assert rotated.verify(a1, components)
    assert rotated.verify(b, components)
    assert not Fingerprinter(other, purpose=PURPOSE).verify(a1, components)


@given(left=requests(), right=requests())
def test_canonical_encoding_is_injective(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> None:
    """Property 17: Canonical encoding — equal digests if and only if the used components are equal."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    a, b = from_headers(left), from_headers(right)
    assert (f.fingerprint(a).digest == f.fingerprint(b).digest) == (f.used(a) == f.used(b))


@given(value=st.text(max_size=50), secret=SECRETS)
def test_fast_hmac_matches_the_standard_library(value: str, secret: bytes) -> None:
    """Property 17: The digest is HMAC-SHA256 — recomputed with hmac.new for any user agent and secret."""
    assume(value.strip())
    f = Fingerprinter(secret, purpose=PURPOSE, exclude=[Component.HEADER_ORDER])
    components = Components(user_agent=value)
    subkey = hmac.digest(secret, b"buttress.fingerprint/v1\x00purpose\x00" + PURPOSE.encode(), "sha256")
    encoded = value.encode("utf-8", "surrogatepass")
    message = (
        b"buttress.fingerprint/v1\x01"
        + bytes([10])
        + b"user-agent"
        + len(encoded).to_bytes(4, "big")
        + encoded
    )
    assert f.fingerprint(components).digest == hmac.new(subkey, message, hashlib.sha256).hexdigest()


# --- Property 18: confidence ------------------------------------------------------------------


@given(request=requests(), excluded=excludable)
def test_confidence_is_bounded_and_monotone(request: list[tuple[str, str]], excluded: set[Component]) -> None:
    """Property 18: Confidence — in [0, 1], never raised by removing components, low_confidence consistent."""
    full = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    fewer = Fingerprinter(b"k" * 32, purpose=PURPOSE, exclude=excluded)
    a, b = full.from_headers(request), fewer.from_headers(request)
    assert 0.0 <= b.confidence <= a.confidence <= 1.0
    high = [c for c in a.components if DEFAULT_ENTROPY_BITS[c] >= full.high_entropy_bits]
    assert a.low_confidence == (len(high) < full.min_high_entropy)
    assert (not b.low_confidence) <= (not a.low_confidence)
    if not a.components:
        assert a.confidence == 0.0
        assert a.low_confidence


@given(left=requests(), right=requests())
def test_similarity_is_a_bounded_symmetric_score(
    left: list[tuple[str, str]], right: list[tuple[str, str]]
) -> None:
    """Property 18: Similarity — in [0, 1], symmetric, 1 for identical non-empty fingerprints."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    a, b = f.from_headers(left), f.from_headers(right)
    score = f.similarity(a, b)
    assert 0.0 <= score <= 1.0
    assert score == f.similarity(b, a)
    if a.components:
        assert f.similarity(a, a) == 1.0
    if a.digest == b.digest and a.components:
        assert score == 1.0


# --- stability --------------------------------------------------------------------------------


@given(request=requests(), cases=st.lists(st.booleans(), max_size=20))
def test_stable_under_header_name_case(request: list[tuple[str, str]], cases: list[bool]) -> None:
    """Stability: header-name case — the fingerprint does not depend on how header names are cased."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    assert f.from_headers(request) == f.from_headers(with_case(request, cases))


@given(request=requests(), values=st.lists(token, min_size=1, max_size=6))
def test_stable_under_cookie_value_churn(request: list[tuple[str, str]], values: list[str]) -> None:
    """Stability: cookie churn — new cookie values (same names) leave the fingerprint unchanged."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    churned = []
    for name, value in request:
        new_value = value
        if name == "cookie":
            crumbs = [c.partition("=")[0] for c in value.split("; ")]
            new_value = "; ".join(f"{c}={values[i % len(values)]}" for i, c in enumerate(crumbs))
        churned.append((name, new_value))
    assert f.from_headers(request) == f.from_headers(churned)


@given(request=requests(), first=ips, second=ips)
def test_stable_under_ip_change_when_ip_is_excluded(
    request: list[tuple[str, str]], first: str, second: str
) -> None:
    """Stability: IP change — with IP excluded (the default), a new address gives the same fingerprint."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE)
    assert f.from_headers(request, client_ip=first) == f.from_headers(request, client_ip=second)
    scope = {"type": "http", "headers": [(n.encode(), v.encode()) for n, v in request]}
    assert f.from_scope(scope | {"client": (first, 1)}) == f.from_scope(scope | {"client": (second, 2)})


@given(request=requests(), last_octet=st.integers(0, 255))
def test_prefix_mode_is_stable_inside_the_network(request: list[tuple[str, str]], last_octet: int) -> None:
    """Stability: IP prefix — in PREFIX mode every address of the same /24 gives the same fingerprint."""
    f = Fingerprinter(b"k" * 32, purpose=PURPOSE, ip=IPMode.PREFIX)
    assert f.from_headers(request, client_ip="192.0.2.7") == f.from_headers(
        request, client_ip=f"192.0.2.{last_octet}"
    )
