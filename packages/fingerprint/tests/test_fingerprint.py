"""Fingerprinter, components, privacy controls, rotation, confidence, similarity and middleware."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable
from typing import Any

import pytest

from buttress.core import ButtressError, ConfigurationError
from buttress.fingerprint import (
    FINGERPRINT_ENVIRON_KEY,
    Component,
    Components,
    Fingerprint,
    FingerprintConfigurationError,
    Fingerprinter,
    FingerprintMiddleware,
    FingerprintTypeError,
    FingerprintWSGIMiddleware,
    IncomparableFingerprintsError,
    InvalidFingerprintError,
    InvalidRequestError,
    IPMode,
    from_environ,
    from_headers,
    from_scope,
)

SECRET = b"s" * 32
OTHER = b"o" * 32
CHROME = [
    ("Host", "example.com"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    ),
    ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-GB,en;q=0.9"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("sec-ch-ua", '"Chromium";v="131"'),
    ("Cookie", "session=abc123; theme=dark"),
]


def fingerprinter(**options: Any) -> Fingerprinter:
    return Fingerprinter(SECRET, purpose="fraud-prevention", **options)


def test_components_from_headers() -> None:
    components = from_headers(CHROME, client_ip="203.0.113.9", tls="t13d1516h2_8daaf6152771_e5627efa2ab1")
    assert components.user_agent is not None
    assert components.user_agent.startswith("Mozilla/5.0")
    assert components.accept_language == "en-GB,en;q=0.9"
    assert components.client_hints == 'sec-ch-ua="Chromium";v="131"\nsec-ch-ua-platform="Linux"'
    assert (
        components.header_order
        == "host,user-agent,accept,accept-language,accept-encoding,sec-ch-ua-platform,sec-ch-ua,cookie"
    )
    assert components.cookie_names == "session,theme"
    assert components.ip == ipaddress.ip_address("203.0.113.9")
    assert components.tls == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_components_from_scope_and_environ_agree() -> None:
    scope = {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in CHROME],
        "client": ("198.51.100.4", 5000),
    }
    environ = {"REQUEST_METHOD": "GET", "REMOTE_ADDR": "198.51.100.4", "wsgi.input": None}
    environ |= {"HTTP_" + k.upper().replace("-", "_"): v for k, v in CHROME}
    assert from_scope(scope) == from_environ(environ)
    assert from_scope(scope).ip == ipaddress.ip_address("198.51.100.4")


def test_repeated_headers_are_joined_and_split_cookies_merged() -> None:
    components = from_headers([("accept", "a"), ("Accept", "b"), ("cookie", "x=1"), ("cookie", "y=2; x=3")])
    assert components.accept == "a, b"
    assert components.cookie_names == "x,y"
    assert components.header_order == "accept,cookie"


def test_unix_socket_clients_and_mapped_addresses() -> None:
    assert from_scope({"type": "http", "headers": [], "client": ("/run/app.sock", 0)}).ip is None
    assert from_scope({"type": "http", "headers": [], "client": None}).ip is None
    assert from_headers({}, client_ip="::ffff:192.0.2.1").ip == ipaddress.ip_address("192.0.2.1")
    assert from_environ({"REMOTE_ADDR": "unix:"}).ip is None


def test_fingerprint_holds_only_hashes() -> None:
    fp = fingerprinter().from_headers(CHROME, client_ip="203.0.113.9")
    assert len(fp.digest) == 64
    assert str(fp) == fp.digest
    assert len(fp.key_id) == 12
    assert fp.purpose == "fraud-prevention"
    assert Component.IP not in fp.components  # excluded by default
    assert set(fp.components) == {
        Component.USER_AGENT,
        Component.ACCEPT,
        Component.ACCEPT_LANGUAGE,
        Component.ACCEPT_ENCODING,
        Component.CLIENT_HINTS,
        Component.HEADER_ORDER,
        Component.COOKIE_NAMES,
    }
    text = json.dumps(fp.to_dict()) + repr(fp)
    for fragment in ("Mozilla", "en-GB", "gzip", "session", "abc123", "203.0.113", "Chromium"):
        assert fragment not in text


def test_digest_is_hmac_sha256_of_the_canonical_encoding() -> None:
    """The fast HMAC is the standard one: recompute it with the stdlib's hmac module."""
    fp = fingerprinter().from_headers({"user-agent": "UA"})
    subkey = hmac.digest(SECRET, b"buttress.fingerprint/v1\x00purpose\x00fraud-prevention", "sha256")
    encoding = b"buttress.fingerprint/v1" + bytes([2])
    for name, value in (("user-agent", b"UA"), ("header-order", b"user-agent")):
        encoding += bytes([len(name)]) + name.encode() + len(value).to_bytes(4, "big") + value
    assert fp.digest == hmac.new(subkey, encoding, hashlib.sha256).hexdigest()


def test_ip_modes() -> None:
    components = from_headers(CHROME, client_ip="203.0.113.9")
    moved = from_headers(CHROME, client_ip="203.0.113.200")
    elsewhere = from_headers(CHROME, client_ip="198.51.100.1")
    full, prefix = fingerprinter(ip=IPMode.FULL), fingerprinter(ip="prefix")
    assert full.fingerprint(components).digest != full.fingerprint(moved).digest
    assert prefix.fingerprint(components).digest == prefix.fingerprint(moved).digest
    assert prefix.fingerprint(components).digest != prefix.fingerprint(elsewhere).digest
    assert prefix.used(components)[Component.IP] == "203.0.113.0/24"
    v6 = from_headers({}, client_ip="2001:db8:abcd:12::1")
    assert prefix.used(v6)[Component.IP] == "2001:db8:abcd::/48"
    assert fingerprinter(ip="prefix", ipv6_prefix=56).used(v6)[Component.IP] == "2001:db8:abcd::/56"
    assert full.used(components)[Component.IP] == "203.0.113.9"
    assert Component.IP not in fingerprinter(ip="full", exclude=[Component.IP]).used(components)


def test_exclusions_remove_components() -> None:
    fp = fingerprinter(exclude=["cookie-names", Component.HEADER_ORDER]).from_headers(CHROME)
    assert Component.COOKIE_NAMES not in fp.components
    assert Component.HEADER_ORDER not in fp.components


def test_purpose_and_secret_separate_fingerprints() -> None:
    a = Fingerprinter(SECRET, purpose="fraud-prevention").from_headers(CHROME)
    b = Fingerprinter(SECRET, purpose="rate-limiting").from_headers(CHROME)
    c = Fingerprinter(OTHER, purpose="fraud-prevention").from_headers(CHROME)
    assert len({a.digest, b.digest, c.digest}) == 3
    assert not set(a.components.values()) & set(b.components.values())
    assert not set(a.components.values()) & set(c.components.values())
    assert len({a.key_id, b.key_id, c.key_id}) == 3


def test_key_rotation() -> None:
    components = from_headers(CHROME)
    old = Fingerprinter(OTHER, purpose="fraud-prevention")
    stored = old.fingerprint(components)
    rotated = Fingerprinter(SECRET, purpose="fraud-prevention", previous_secrets=[OTHER])
    assert rotated.verify(stored, components)
    assert rotated.verify(stored.digest, components)
    assert rotated.fingerprint(components).key_id != stored.key_id
    assert rotated.verify(rotated.fingerprint(components), components)
    assert not rotated.verify(stored, from_headers({"user-agent": "other"}))
    assert not Fingerprinter(SECRET, purpose="fraud-prevention").verify(stored, components)


def test_confidence_and_low_confidence() -> None:
    f = fingerprinter()
    rich = f.from_headers(CHROME)
    assert 0.8 < rich.confidence <= 1.0
    assert not rich.low_confidence
    bare = f.from_headers({"accept": "*/*"})
    assert bare.low_confidence
    assert bare.confidence < 0.2
    empty = f.fingerprint(Components())
    assert empty.confidence == 0.0
    assert empty.low_confidence
    assert empty.components == {}
    assert f.from_headers(
        {"accept": "*/*", "accept-encoding": "gzip"}
    ).low_confidence  # only header order is high
    assert not f.from_headers({"user-agent": "x"}).low_confidence  # user agent and header order
    strict_f = fingerprinter(min_high_entropy=4)
    assert strict_f.from_headers({"user-agent": "x", "accept-language": "nl"}).low_confidence
    with_ip = fingerprinter(ip="full").from_headers(CHROME, client_ip="192.0.2.1")
    assert with_ip.confidence == 1.0


def test_similarity() -> None:
    f = fingerprinter()
    a = f.from_headers(CHROME)
    assert f.similarity(a, a) == 1.0
    other_language = f.from_headers([(k, "fr" if k == "Accept-Language" else v) for k, v in CHROME])
    other_browser = f.from_headers({"user-agent": "curl/8.0", "accept": "*/*"})
    assert 0.5 < f.similarity(a, other_language) < 1.0
    assert f.similarity(a, other_browser) < f.similarity(a, other_language)
    assert f.similarity(a, other_language) == f.similarity(other_language, a)
    empty = f.fingerprint(Components())
    assert f.similarity(empty, empty) == 0.0
    with pytest.raises(IncomparableFingerprintsError, match="cannot be compared") as caught:
        f.similarity(a, Fingerprinter(OTHER, purpose="fraud-prevention").from_headers(CHROME))
    assert isinstance(caught.value, ValueError)
    with pytest.raises(FingerprintTypeError):
        f.similarity(a, a.digest)  # type: ignore[arg-type]


def test_to_dict_round_trip() -> None:
    fp = fingerprinter().from_headers(CHROME)
    record = json.loads(json.dumps(fp.to_dict()))
    assert Fingerprint.from_dict(record) == fp
    assert hash(Fingerprint.from_dict(record)) == hash(fp)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"digest": "XYZ"}, "'digest'"),
        ({"key_id": 5}, "'key_id'"),
        ({"purpose": ""}, "'purpose'"),
        ({"confidence": 2}, "'confidence'"),
        ({"confidence": True}, "'confidence'"),
        ({"low_confidence": "no"}, "'low_confidence'"),
        ({"components": []}, "'components' must be"),
        ({"components": {"nope": "0" * 32}}, "unknown component"),
        ({"components": {"accept": "short"}}, "32 lower-case hex"),
    ],
)
def test_from_dict_rejects_malformed_records(change: dict[str, Any], message: str) -> None:
    record = fingerprinter().from_headers(CHROME).to_dict() | change
    with pytest.raises(InvalidFingerprintError, match=message):
        Fingerprint.from_dict(record)


def test_from_dict_rejects_non_mappings_and_verify_rejects_non_digests() -> None:
    with pytest.raises(InvalidFingerprintError):
        Fingerprint.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(InvalidFingerprintError, match="64 lower-case hex"):
        fingerprinter().verify("abc", from_headers(CHROME))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"secret": b"short"}, FingerprintConfigurationError, "at least 32 bytes"),
        ({"secret": "s" * 32}, FingerprintTypeError, "secret must be bytes"),
        ({"purpose": ""}, FingerprintConfigurationError, "declare what"),
        ({"purpose": " "}, FingerprintConfigurationError, "declare what"),
        ({"purpose": "x" * 201}, FingerprintConfigurationError, "declare what"),
        ({"purpose": None}, FingerprintTypeError, "purpose must be a str"),
        ({"previous_secrets": b"o" * 32}, FingerprintTypeError, "previous_secrets"),
        ({"previous_secrets": [b"short"]}, FingerprintConfigurationError, "at least 32 bytes"),
        ({"exclude": "ip"}, FingerprintTypeError, "exclude"),
        ({"exclude": ["nose"]}, FingerprintConfigurationError, "not a component"),
        ({"exclude": [1]}, FingerprintTypeError, "exclude"),
        ({"ip": "sometimes"}, FingerprintConfigurationError, "IPMode"),
        ({"ip": 4}, FingerprintTypeError, "ip"),
        ({"ipv4_prefix": 33}, FingerprintConfigurationError, "from 0 to 32"),
        ({"ipv6_prefix": -1}, FingerprintConfigurationError, "from 0 to 128"),
        ({"ipv4_prefix": 24.0}, FingerprintTypeError, "ipv4_prefix"),
        ({"entropy": {"accept": -1}}, FingerprintConfigurationError, "from 0 to 64"),
        ({"entropy": {"accept": float("nan")}}, FingerprintConfigurationError, "from 0 to 64"),
        ({"entropy": [("accept", 1)]}, FingerprintTypeError, "entropy"),
        ({"high_entropy_bits": "4"}, FingerprintTypeError, "high_entropy_bits"),
        ({"min_high_entropy": 99}, FingerprintConfigurationError, "min_high_entropy"),
        ({"min_high_entropy": True}, FingerprintTypeError, "min_high_entropy"),
        ({"cache_size": -1}, FingerprintConfigurationError, "cache_size"),
        ({"cache_size": None}, FingerprintTypeError, "cache_size"),
    ],
)
def test_bad_configuration(options: dict[str, Any], error: type[Exception], message: str) -> None:
    arguments: dict[str, Any] = {"secret": SECRET, "purpose": "fraud-prevention"} | options
    secret = arguments.pop("secret")
    with pytest.raises(error, match=message) as caught:
        Fingerprinter(secret, **arguments)
    assert isinstance(caught.value, ButtressError)
    assert "sssss" not in str(caught.value)
    assert "short" not in str(caught.value)
    if error is FingerprintConfigurationError:
        assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: from_headers("user-agent: x"), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: from_headers(42), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: from_headers([("only-name",)]), InvalidRequestError),  # type: ignore[list-item]
        (lambda: from_headers([("a", 1)]), InvalidRequestError),  # type: ignore[list-item]
        (lambda: from_headers([(1, "a")]), InvalidRequestError),  # type: ignore[list-item]
        (lambda: from_headers({}, client_ip="not an ip"), InvalidRequestError),
        (lambda: from_headers({}, client_ip=1234), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: from_headers({}, tls=""), InvalidRequestError),
        (lambda: from_headers({}, tls="x" * 513), InvalidRequestError),
        (lambda: from_headers({}, tls="caf\u00e9"), InvalidRequestError),
        (lambda: from_headers({}, tls=[1]), FingerprintTypeError),  # type: ignore[list-item]
        (lambda: from_headers({}, tls=42), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: from_scope([]), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: from_scope({"type": "lifespan"}), InvalidRequestError),
        (lambda: from_scope({"type": "http"}), InvalidRequestError),
        (lambda: from_scope({"type": "http", "headers": b"x"}), InvalidRequestError),
        (lambda: from_environ(None), FingerprintTypeError),  # type: ignore[arg-type]
        (lambda: fingerprinter().fingerprint({"user-agent": "x"}), FingerprintTypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_requests_raise_typed_errors(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        call()
    assert "not an ip" not in str(caught.value)


def test_cache_is_bounded_and_can_be_cleared() -> None:
    f = fingerprinter(cache_size=3)
    results = {f.from_headers({"user-agent": f"agent-{i}"}).digest for i in range(10)}
    assert len(results) == 10
    assert len(f._cache) <= 3
    f.clear_cache()
    assert not f._cache
    uncached = fingerprinter(cache_size=0)
    assert uncached.from_headers(CHROME) == fingerprinter().from_headers(CHROME)
    assert not uncached._cache


def test_repr_names_no_secret() -> None:
    text = repr(fingerprinter(previous_secrets=[OTHER]))
    assert "sss" not in text
    assert "ooo" not in text
    assert "previous_keys=1" in text


async def test_asgi_middleware() -> None:
    f = fingerprinter()
    seen: list[Fingerprint] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            seen.append(scope["state"]["fingerprint"])

    wrapped = FingerprintMiddleware(app, f, tls_header="X-JA4")
    headers = [(k.lower().encode(), v.encode()) for k, v in CHROME]
    await wrapped(
        {"type": "http", "headers": [*headers, (b"x-ja4", b"t13d_abc")], "client": ("192.0.2.1", 1)},
        None,
        None,
    )  # type: ignore[arg-type]
    await wrapped({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert len(seen) == 1
    fp = seen[0]
    assert Component.TLS in fp.components
    assert fp == f.fingerprint(from_headers([*CHROME, ("x-ja4", "t13d_abc")], tls="t13d_abc"))
    plain = FingerprintMiddleware(app, f)
    await plain({"type": "websocket", "headers": headers, "state": {"kept": 1}}, None, None)  # type: ignore[arg-type]
    assert Component.TLS not in seen[-1].components
    with pytest.raises(FingerprintTypeError):
        FingerprintMiddleware(app, "not a fingerprinter")  # type: ignore[arg-type]


def test_wsgi_middleware() -> None:
    f = fingerprinter()
    seen: list[Fingerprint] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ[FINGERPRINT_ENVIRON_KEY])
        return []

    environ = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in CHROME} | {"HTTP_X_JA4": "t13d_abc"}
    FingerprintWSGIMiddleware(app, f, tls_header="x-ja4")(environ, lambda *a: None)
    FingerprintWSGIMiddleware(app, f)(dict(environ), lambda *a: None)
    assert Component.TLS in seen[0].components
    assert Component.TLS not in seen[1].components
    with pytest.raises(FingerprintTypeError):
        FingerprintWSGIMiddleware(app, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "parameter"),
    [
        (InvalidRequestError("client_ip", "not an address"), "client_ip"),
        (InvalidFingerprintError("'digest' must be 64 lower-case hex digits"), "fingerprint"),
        (IncomparableFingerprintsError(("0" * 12, "a"), ("1" * 12, "b")), "b"),
    ],
)
def test_every_bad_value_is_a_configuration_error(
    error: FingerprintConfigurationError, parameter: str
) -> None:
    """The drawn tree: the specific errors of a bad value sit under FingerprintConfigurationError."""
    assert isinstance(error, FingerprintConfigurationError)
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, ValueError)
    assert error.parameter == parameter
    assert error.value is None  # a request's data or a stored record never rides on an error
    assert error.reason in str(error)
