"""The Fingerprinter's short road for common requests agrees with the definition on every request.

`Fingerprinter.from_scope`, `from_environ` and `from_headers` read most requests without building a
`Components`, and remember what they have seen. Whatever the request and the configuration, the
result must be `Fingerprinter.fingerprint` of what the functions of the same names read, or the
same error; and the cache must never hold a cookie value or the client address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.fingerprint import (
    Component,
    Fingerprinter,
    FingerprintError,
    IPMode,
    from_environ,
    from_headers,
    from_scope,
)
from buttress.fingerprint._components import _cookie_names as reference_cookie_names
from buttress.fingerprint._extraction import cookie_names

SECRET = b"k" * 32
PURPOSE = "fraud-prevention"

# Names: the ones a fingerprint reads, in any case, client hints, and names that are not plain tokens.
wanted = st.sampled_from(
    [
        *("user-agent", "accept", "accept-language", "accept-encoding", "cookie", "sec-ch-ua"),
        *("sec-ch-ua-platform", "sec-ch-ua-mobile", "sec-ch-ua-full-version-list"),
    ]
).flatmap(lambda n: st.sampled_from([n, n.upper(), n.title()]))
plain = st.from_regex(r"x-[a-z0-9!#$%&'*+.^_`|~-]{1,8}", fullmatch=True)
odd = st.sampled_from(
    [
        "Host",
        " accept",
        "user-agent ",
        "a,b",
        "x y",
        "x\ty",
        "\x0baccept",
        "caf\u00e9",
        "\u212a",
        "",
        "sec-ch-ua\xa0",
    ]
)
names = st.one_of(wanted, wanted, plain, plain, odd)
# Values: whitespace runs, latin-1 and other text, characters only str.split() sees as space.
value_chars = st.sampled_from([*"abc xyz=;,\t", "\x1c", "\x85", "\xa0", "\u00e9", "\u20ac", "  "])
values = st.lists(value_chars, max_size=12).map("".join)
crumbs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", " a", "b ", "", "\xa0c", "\x1fd", "e\x85", "f g"]),
        st.sampled_from(["", "=", "=1", "=x=y", " = 2"]),
    ),
    max_size=5,
)
cookie_values = st.tuples(crumbs, st.sampled_from([";", "; ", " ;"])).map(
    lambda drawn: drawn[1].join(name + value for name, value in drawn[0])
)


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Headers in some order: often each once, sometimes repeated, sometimes odd."""
    pairs = draw(st.lists(st.tuples(names, values), max_size=10))
    if draw(st.booleans()):
        pairs.append((draw(st.sampled_from(["cookie", "Cookie"])), draw(cookie_values)))
    if draw(st.booleans()):  # most requests: no name twice
        seen: set[str] = set()
        pairs = [p for p in pairs if p[0].lower() not in seen and not seen.add(p[0].lower())]
    return draw(st.permutations(pairs))


configurations = st.fixed_dictionaries(
    {
        "exclude": st.sets(st.sampled_from(list(Component)), max_size=3),
        "ip": st.sampled_from(list(IPMode)),
        "cache_size": st.sampled_from([0, 1, 3, 4096]),
    }
)
# An IPv6 zone is client-controlled text in the scope: non-ASCII, a lone surrogate, NUL, spaces.
zones = st.sampled_from(["eth0", "1", "\u00fc", "\udcff", "\x00", "a b", "\u4e2d"])
zoned = st.tuples(st.ip_addresses(v=6).map(str), zones).map(lambda drawn: f"{drawn[0]}%{drawn[1]}")
addresses = st.one_of(st.none(), st.ip_addresses().map(str), zoned)
tls_values = st.one_of(st.none(), st.just("t13d1516h2_8daaf6152771"), st.just(["ja3", "ja4"]))


def outcome(call: Any) -> Any:
    """The result of ``call()``, or the type of the library error it raised."""
    try:
        return call()
    except FingerprintError as error:
        return type(error)


def latin1(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]] | None:
    try:
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
    except UnicodeEncodeError:
        return None


@settings(max_examples=300)
@given(pairs=header_lists(), options=configurations, address=addresses, tls=tls_values)
def test_from_headers_is_fingerprint_of_from_headers(
    pairs: list[tuple[str, str]], options: dict[str, Any], address: str | None, tls: Any
) -> None:
    f = Fingerprinter(SECRET, purpose=PURPOSE, **options)
    requests: list[Any] = [pairs, dict(pairs)]
    raw = latin1(pairs)
    if raw is not None:
        requests += [raw, [(n, v) for n, v in raw]]
    for request in requests:
        expected = outcome(lambda r=request: f.fingerprint(from_headers(r, client_ip=address, tls=tls)))
        for _ in range(2):  # the second time from the cache
            assert outcome(lambda r=request: f.from_headers(r, client_ip=address, tls=tls)) == expected
        assert len(f._cache) <= f.cache_size


@settings(max_examples=200)
@given(pairs=header_lists(), options=configurations, address=addresses, tls=tls_values)
def test_from_scope_is_fingerprint_of_from_scope(
    pairs: list[tuple[str, str]], options: dict[str, Any], address: str | None, tls: Any
) -> None:
    raw = latin1(pairs)
    if raw is None:
        return
    f = Fingerprinter(SECRET, purpose=PURPOSE, **options)
    client = None if address is None else (address, 1)
    expected = outcome(
        lambda: f.fingerprint(from_scope({"type": "http", "headers": raw, "client": client}, tls=tls))
    )
    for shape in (list, lambda pairs: [list(p) for p in pairs], iter):
        for _ in range(2):
            scope = {"type": "http", "headers": shape(raw), "client": client}
            assert outcome(lambda s=scope: f.from_scope(s, tls=tls)) == expected


@st.composite
def environs(draw: st.DrawFn) -> dict[str, object]:
    environ: dict[str, object] = {"REQUEST_METHOD": "GET", "wsgi.input": object()}
    for name, value in draw(header_lists()):
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    for key in draw(st.sets(st.sampled_from(["CONTENT_TYPE", "CONTENT_LENGTH"]))):
        environ[key] = draw(st.sampled_from(["", "text/plain", "12"]))
    if draw(st.booleans()):
        environ["HTTP_X_NUMBER"] = 5  # not a str: skipped
    if draw(st.booleans()):
        environ[1] = "not a str key"  # type: ignore[index]
    address = draw(addresses)
    if address is not None:
        environ["REMOTE_ADDR"] = address
    keys = draw(st.permutations(list(environ)))
    return {k: environ[k] for k in keys}


@settings(max_examples=200)
@given(environ=environs(), options=configurations, tls=tls_values)
def test_from_environ_is_fingerprint_of_from_environ(
    environ: dict[str, object], options: dict[str, Any], tls: Any
) -> None:
    f = Fingerprinter(SECRET, purpose=PURPOSE, **options)
    expected = outcome(lambda: f.fingerprint(from_environ(environ, tls=tls)))
    for _ in range(2):
        assert outcome(lambda: f.from_environ(environ, tls=tls)) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [("user-agent", "x"), ("accept", 1)],
        [("user-agent", "x"), (b"accept", b"y")],
        [(b"user-agent", b"x"), (b"accept", "y")],
        [("user-agent", "x", "z")],
        [("user-agent", "x"), ("accept",)],
        [("user-agent", "x"), 5],
        [(1, "x")],
        [("user-agent", "x"), ("cookie", 1)],
        [(b"user-agent", bytearray(b"x")), (b"cookie", memoryview(b"a=1"))],
        [(bytearray(b"user-agent"), b"x")],
        ["ab", ("user-agent", "x")],
        [("user-agent", "x"), "ab"],
        [["user-agent", "x"], ["accept", "y"]],
    ],
)
def test_odd_header_lists_give_what_the_definition_gives(headers: list[Any]) -> None:
    f = Fingerprinter(SECRET, purpose=PURPOSE)
    expected = outcome(lambda: f.fingerprint(from_headers(headers)))
    assert outcome(lambda: f.from_headers(headers)) == expected
    assert outcome(lambda: f.from_scope({"type": "http", "headers": headers})) == outcome(
        lambda: f.fingerprint(from_scope({"type": "http", "headers": headers}))
    )


@given(text=st.text(alphabet=st.sampled_from([*"ab=; \t", "\x1c", "\x85", "\xa0", "\u00e9"]), max_size=30))
def test_cookie_names_match_the_definition(text: str) -> None:
    expected = reference_cookie_names([text]) or ""
    assert cookie_names(text) == expected
    assert cookie_names(text.encode("latin-1")) in {expected, expected.encode("latin-1")}
    decoded = cookie_names(text.encode("latin-1"))
    assert (decoded.decode("latin-1") if isinstance(decoded, bytes) else decoded) == expected


def holds(container: object, secret: str) -> bool:
    """Whether ``secret`` appears in any str or bytes reachable through tuples in ``container``."""
    if isinstance(container, str):
        return secret in container
    if isinstance(container, (bytes, bytearray)):
        return secret.encode("latin-1") in container
    if isinstance(container, tuple):
        return any(holds(item, secret) for item in container)
    return False


@pytest.mark.parametrize("ip", [IPMode.EXCLUDE, IPMode.FULL, IPMode.PREFIX])
def test_the_cache_holds_no_cookie_value_and_no_address(ip: IPMode) -> None:
    f = Fingerprinter(SECRET, purpose=PURPOSE, ip=ip)
    token = "s3cr3t-session-token-4f9a"  # noqa: S105 - a made-up cookie value to look for
    address = "203.0.113.77"
    headers = [("user-agent", "UA"), ("accept", "*/*"), ("cookie", f"session={token}; theme=dark")]
    environ = {"HTTP_" + n.upper().replace("-", "_"): v for n, v in headers} | {"REMOTE_ADDR": address}
    for _ in range(2):
        f.from_headers(headers, client_ip=address)
        f.from_scope({"type": "http", "headers": latin1(headers), "client": (address, 1)})
        f.from_environ(environ)
        f.from_headers([*headers, ("cookie", "other=1")], client_ip=address)  # the long road
    assert f._cache
    for key, value in f._cache.items():
        for part in (key, value):
            assert not holds(part, token)
            assert not holds(part, address)
            assert not holds(part, str(ipaddress.ip_network(address + "/24", strict=False).network_address))
    fp = f.from_headers(headers, client_ip=address)
    assert f.from_headers(
        [(n, "session=changed; theme=light" if n == "cookie" else v) for n, v in headers]
    ) == (f.from_headers(headers))
    assert (Component.IP in fp.components) == (ip is not IPMode.EXCLUDE)


def test_a_full_cache_is_emptied_and_results_do_not_change() -> None:
    small = Fingerprinter(SECRET, purpose=PURPOSE, cache_size=5)
    none = Fingerprinter(SECRET, purpose=PURPOSE, cache_size=0)
    for i in range(50):
        headers = [("user-agent", f"agent {i % 7}"), ("accept", "*/*"), ("cookie", f"id{i % 3}=1")]
        assert small.from_headers(headers) == none.from_headers(headers)
        assert len(small._cache) <= 5
    assert not none._cache
