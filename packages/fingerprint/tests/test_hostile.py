"""Hostile input: only typed errors from every public entry point, and middleware that never fails.

The regression first (issue 17): a non-ASCII IPv6 zone in the scope's client address raised
``UnicodeEncodeError``. Then the class: every scope field the fingerprinter reads, and the
hostile-argument helper over every function, constructor and method, and over both middlewares.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import buttress.fingerprint as fingerprint
from buttress.fingerprint import (
    Component,
    Components,
    Fingerprint,
    FingerprintConfigurationError,
    Fingerprinter,
    FingerprintError,
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
from buttress.testing import HostileTarget, HostileTargets, check_hostile_asgi, check_hostile_wsgi

SECRET = b"h" * 32
HEADERS = [(b"user-agent", b"Mozilla/5.0"), (b"accept-language", b"nl")]


def fingerprinter(**options: Any) -> Fingerprinter:
    return Fingerprinter(SECRET, purpose="fraud-prevention", **options)


def scope(client: object, headers: object = HEADERS) -> dict[str, Any]:
    return {"type": "http", "headers": headers, "client": client}


# --- the listed defect and the scope fields around it ---------------------------------------------------


@pytest.mark.parametrize("zone", ["\u00fc", "\udcff", "\x00", "a b", "eth0", "1", "\u4e2d" * 100])
@pytest.mark.parametrize("mode", [IPMode.FULL, IPMode.PREFIX])
@pytest.mark.parametrize("headers", [HEADERS, []])
def test_an_ipv6_zone_is_dropped_whatever_it_holds(zone: str, mode: IPMode, headers: list[Any]) -> None:
    """The zone names a server interface: fingerprints with and without it are the same."""
    f = fingerprinter(ip=mode)
    zoned = f.from_scope(scope((f"fe80::1%{zone}", 443), headers))
    plain = f.from_scope(scope(("fe80::1", 443), headers))
    assert zoned == plain
    assert Component.IP in zoned.components
    assert f.from_headers(headers, client_ip=f"fe80::1%{zone}") == plain
    assert f.from_environ({"REMOTE_ADDR": f"fe80::1%{zone}", "HTTP_USER_AGENT": "x"}) == f.from_environ(
        {"REMOTE_ADDR": "fe80::1", "HTTP_USER_AGENT": "x"}
    )


def test_components_drop_the_zone_of_an_address_given_as_an_object() -> None:
    address = ipaddress.IPv6Address("fe80::1%\u00fc")
    assert Components(ip=address).ip == ipaddress.IPv6Address("fe80::1")
    assert Components(ip=ipaddress.IPv6Address("::ffff:192.0.2.1%x")).ip == ipaddress.IPv4Address("192.0.2.1")
    f = fingerprinter(ip=IPMode.FULL)
    assert f.fingerprint(Components(ip=address)) == f.fingerprint(
        Components(ip=ipaddress.ip_address("fe80::1"))
    )


@pytest.mark.parametrize(
    "client",
    [
        None,
        (),
        ("192.0.2.1",),
        ["192.0.2.1", 80],
        ("192.0.2.1", 80, "extra"),
        (b"192.0.2.1", 80),
        (None, None),
        ("", 0),
        ("not an ip", 1),
        ("/run/app.sock", None),
        ("\ud800", 1),
        ("x" * 100_000, 1),
        5,
        "192.0.2.1",
        {"host": "192.0.2.1"},
    ],
)
@pytest.mark.parametrize("mode", list(IPMode))
def test_any_client_field_is_read_or_left_out_never_an_error(client: object, mode: IPMode) -> None:
    """A client field that holds no address gives a fingerprint without `Component.IP`."""
    fp = fingerprinter(ip=mode).from_scope(scope(client))
    assert isinstance(fp, Fingerprint)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"user-agent", b"\xff\xfe\x00\r\n"), (b"\xff\xfe", b"x")],  # not UTF-8, not a token
        [(b"user-agent", b"a"), (b"user-agent", b"b"), (b"cookie", b"a=1"), (b"cookie", b"b=2")],  # repeats
        [(b"user-agent", b"x" * 1_000_000)],  # huge
        [(b"x-" + str(i).encode(), b"v") for i in range(20_000)],  # many
        [("user-agent", "\ud800\x00")],  # str, with a lone surrogate and NUL
        [(bytearray(b"user-agent"), memoryview(b"x"))],
        (),
    ],
)
def test_any_header_bytes_are_read(headers: Any) -> None:
    """Header names and values of any bytes, repeated, huge or many, give a fingerprint."""
    f = fingerprinter()
    assert f.from_scope({"type": "http", "headers": headers}) == f.fingerprint(
        from_scope(scope(None, headers))
    )


@pytest.mark.parametrize(
    "headers",
    [None, b"x", 5, [(b"a",)], [(b"a", b"b", b"c")], [(1, b"x")], [(b"x", None)], [b"ab"]],
)
def test_an_unreadable_header_list_is_a_typed_error(headers: object) -> None:
    with pytest.raises(InvalidRequestError):
        fingerprinter().from_scope({"type": "http", "headers": headers})


async def call(app: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(request, receive, send)
    return sent


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("value", [b"", b"\x00", b"caf\xc3\xa9", b"x" * 513, b"\r\n", b"\xff"])
async def test_a_tls_header_that_is_not_a_tls_fingerprint_is_ignored(value: bytes) -> None:
    """A client-sent TLS header used to raise InvalidRequestError out of the middleware: a 500."""
    f = fingerprinter()
    seen: list[Fingerprint] = []

    async def app(request: Any, receive: Any, send: Any) -> None:
        seen.append(request["state"]["fingerprint"])
        await ok(request, receive, send)

    sent = await call(
        FingerprintMiddleware(app, f, tls_header="x-ja4"), scope(None, [*HEADERS, (b"x-ja4", value)])
    )
    assert sent[0]["status"] == 200
    assert Component.TLS not in seen[0].components
    environ = {"HTTP_USER_AGENT": "Mozilla/5.0", "HTTP_X_JA4": value.decode("latin-1")}
    started: list[str] = []
    FingerprintWSGIMiddleware(lambda e, s: (s("200 OK", []), [b"ok"])[1], f, tls_header="x-ja4")(
        environ, lambda status, headers: started.append(status)
    )
    assert started == ["200 OK"]
    assert Component.TLS not in environ["buttress.fingerprint"].components


@pytest.mark.parametrize("kind", ["http", "websocket"])
async def test_an_unreadable_scope_is_refused_without_calling_the_application(kind: str) -> None:
    called: list[object] = []

    async def app(request: Any, receive: Any, send: Any) -> None:
        called.append(request)

    sent = await call(FingerprintMiddleware(app, fingerprinter()), {"type": kind, "headers": [(b"a",)]})
    assert not called
    if kind == "websocket":
        assert sent == [{"type": "websocket.close", "code": 1008}]
    else:
        assert sent[0]["status"] == 400
        document = json.loads(sent[1]["body"])
        assert document["type"] == "urn:buttress:fingerprint:invalid-request"
        assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"high_entropy_bits": 10**400}, FingerprintConfigurationError),
        ({"entropy": {"user-agent": 10**400}}, FingerprintConfigurationError),
        ({"entropy": {"nope": 1.0}}, FingerprintConfigurationError),
        ({"ip": "sometimes"}, FingerprintConfigurationError),
    ],
)
def test_out_of_range_settings_are_typed_errors(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        fingerprinter(**options)


def test_unknown_enum_values_are_typed_errors_and_still_value_errors() -> None:
    with pytest.raises(FingerprintConfigurationError) as info:
        Component("voice")
    assert isinstance(info.value, ValueError)
    with pytest.raises(FingerprintConfigurationError):
        IPMode("sometimes")


def test_components_check_their_fields() -> None:
    with pytest.raises(FingerprintTypeError, match="user_agent"):
        Components(user_agent=b"raw")  # type: ignore[arg-type]
    with pytest.raises(FingerprintTypeError, match="ip"):
        Components(ip="192.0.2.1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "middleware",
    [
        lambda: FingerprintMiddleware(ok, fingerprinter(), tls_header="x\r\ny"),
        lambda: FingerprintMiddleware(ok, fingerprinter(), tls_header=5),  # type: ignore[arg-type]
        lambda: FingerprintMiddleware(ok, fingerprinter(), state_key=None),  # type: ignore[arg-type]
        lambda: FingerprintMiddleware("app", fingerprinter()),  # type: ignore[arg-type]
        lambda: FingerprintWSGIMiddleware(ok, fingerprinter(), tls_header="é"),  # type: ignore[arg-type]
    ],
)
def test_middleware_settings_are_typed_errors(middleware: Callable[[], object]) -> None:
    with pytest.raises(FingerprintError):
        middleware()


# --- the hostile-argument helper over every public entry point ------------------------------------------

FULL = fingerprinter(ip=IPMode.FULL, cache_size=64)
PREFIX = fingerprinter(ip=IPMode.PREFIX, cache_size=0)
SAMPLE = FULL.from_headers(HEADERS, client_ip="192.0.2.1")
SCOPE = scope(("fe80::1%eth0", 1))

TARGETS = HostileTargets()
TARGETS.add(
    Fingerprinter,
    SECRET,
    purpose="fraud-prevention",
    previous_secrets=(b"p" * 32,),
    exclude=(Component.TLS,),
    ip=IPMode.PREFIX,
    ipv4_prefix=24,
    ipv6_prefix=48,
    entropy={Component.USER_AGENT: 9.0},
    high_entropy_bits=4.0,
    min_high_entropy=2,
    cache_size=16,
)
TARGETS.add(from_headers, HEADERS, client_ip="192.0.2.1", tls="t13d_abc")
TARGETS.add(from_scope, SCOPE, tls="t13d_abc")
TARGETS.add(from_environ, {"HTTP_USER_AGENT": "x", "REMOTE_ADDR": "192.0.2.1"}, tls="t13d_abc")
TARGETS.add(
    Components,
    user_agent="x",
    accept="a",
    accept_language="nl",
    accept_encoding="gzip",
    client_hints="sec-ch-ua=x",
    header_order="user-agent",
    cookie_names="a",
    ip=ipaddress.ip_address("192.0.2.1"),
    tls="t13d_abc",
)
TARGETS.add(Component, "user-agent")
TARGETS.add(IPMode, "full")
TARGETS.add(Fingerprint.from_dict, SAMPLE.to_dict())
TARGETS.add(
    Fingerprint,
    SAMPLE.digest,
    SAMPLE.key_id,
    SAMPLE.purpose,
    SAMPLE.components,
    SAMPLE.confidence,
    SAMPLE.low_confidence,
)
TARGETS.add(FingerprintMiddleware, ok, FULL, state_key="fingerprint", tls_header="x-ja4")
TARGETS.add(FingerprintWSGIMiddleware, ok, FULL, environ_key="buttress.fingerprint", tls_header="x-ja4")
TARGETS.add(FingerprintError, "message")
TARGETS.add(FingerprintConfigurationError, "purpose", "", "declare it", show_value=True)
TARGETS.add(FingerprintTypeError, "secret", "bytes", "x")
TARGETS.add(InvalidRequestError, "scope['headers']", "must be a list")
TARGETS.add(InvalidFingerprintError, "'digest' must be 64 hex digits")
TARGETS.add(IncomparableFingerprintsError, ("a" * 12, "p"), ("b" * 12, "q"))
for _f in (FULL, PREFIX):
    TARGETS.add(_f.from_scope, SCOPE, tls="t13d_abc")
    TARGETS.add(
        _f.from_environ, {"HTTP_USER_AGENT": "x", "REMOTE_ADDR": "fe80::1%\u00fc"}, tls=["ja3", "ja4"]
    )
    TARGETS.add(_f.from_headers, HEADERS, client_ip="fe80::1%\u00fc", tls="t13d_abc")
    TARGETS.add(_f.fingerprint, from_headers(HEADERS, client_ip="192.0.2.1"))
    TARGETS.add(_f.used, from_headers(HEADERS))
    TARGETS.add(_f.verify, SAMPLE, from_headers(HEADERS))
    TARGETS.add(_f.similarity, SAMPLE, SAMPLE)


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a function, constructor or method of buttress-fingerprint fail untyped."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(fingerprint)


@pytest.mark.parametrize("mode", list(IPMode))
@pytest.mark.parametrize("tls_header", [None, "x-ja4", "user-agent"])
async def test_the_asgi_middleware_never_fails_a_request(mode: IPMode, tls_header: str | None) -> None:
    """Property: whatever the request (header bytes, client address, IPv6 zone), no 5xx, no exception."""
    await check_hostile_asgi(FingerprintMiddleware(ok, fingerprinter(ip=mode), tls_header=tls_header))


@pytest.mark.parametrize("mode", list(IPMode))
def test_the_wsgi_middleware_never_fails_a_request(mode: IPMode) -> None:
    """Property: the same for WSGI environs."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    check_hostile_wsgi(FingerprintWSGIMiddleware(app, fingerprinter(ip=mode), tls_header="x-ja4"))
