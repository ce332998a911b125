"""The SSRF guard: the address table, resolution once, the checked address connected, redirects checked."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from buttress.webhooks import (
    BLOCKED_NETWORKS,
    NetworkPolicy,
    SafeNetworkBackend,
    SafeTransport,
    UnsafeDestinationError,
    WebhooksConfigurationError,
    safe_client,
)

from .conftest import Receiver, serve, stop

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "this network"),  # noqa: S104 - an address to refuse, not to bind
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b::a00:1", "private"),
    ("2002:7f00:1::", "loopback"),
    ("2001:db8::1", "documentation"),
    ("168.63.129.16", "cloud metadata"),
]
ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_by_default(address: str, reason: str) -> None:
    refusal = NetworkPolicy().refusal(address)
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert NetworkPolicy().refusal(address) is None


def test_allow_and_block_lists() -> None:
    policy = NetworkPolicy(allow=["127.0.0.0/8", ipaddress.ip_network("10.1.0.0/16")], block=["8.8.8.0/24"])
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("10.2.0.1") is not None
    assert "blocked by policy" in str(policy.refusal("8.8.8.8"))
    assert policy.refusal("not-an-ip") == "not an IP address"
    assert NetworkPolicy(allow="127.0.0.1/32").refusal("127.0.0.1") is None
    with pytest.raises(WebhooksConfigurationError):
        NetworkPolicy(allow=["nonsense"])


@given(st.sampled_from([n for n, _ in BLOCKED_NETWORKS if n.version == 4]), st.integers(min_value=0))
def test_every_address_of_a_blocked_ipv4_network_is_refused_in_every_ipv6_form(
    network: ipaddress.IPv4Network, offset: int
) -> None:
    """Property: a blocked IPv4 address is refused as itself, IPv4-mapped, NAT64 and 6to4."""
    address = network[offset % network.num_addresses]
    policy = NetworkPolicy()
    forms = [
        str(address),
        f"::ffff:{address}",
        str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))),
        str(ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))),
    ]
    for form in forms:
        assert policy.refusal(form) is not None, form


class MapResolver:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        try:
            return self.table[host]
        except KeyError:
            raise OSError(f"{host} does not resolve") from None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://internal.example/",
        "http://mixed.example/",
        "http://localhost/",
    ],
)
async def test_the_client_refuses_before_connecting(url: str) -> None:
    resolver = MapResolver(
        {
            "internal.example": ["10.0.0.7"],
            "mixed.example": ["93.184.216.34", "192.168.0.9"],
            "localhost": ["127.0.0.1"],
        }
    )
    async with safe_client(resolver=resolver) as client:
        with pytest.raises(UnsafeDestinationError) as caught:
            await client.post(url, content=b"{}")
    assert caught.value.reason


async def test_the_system_resolver_is_used_for_names(receiver: Receiver) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    async with safe_client() as client:
        with pytest.raises(UnsafeDestinationError) as caught:
            await client.post(f"http://localhost:{port}/x/ok")
    assert caught.value.host == "localhost"


async def test_names_that_do_not_resolve_are_connect_errors() -> None:
    async with safe_client(resolver=MapResolver({})) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://nowhere.example/")
    async with safe_client(resolver=MapResolver({"empty.example": []})) as client:
        with pytest.raises(UnsafeDestinationError):
            await client.get("http://empty.example/")


@pytest.fixture(scope="module")
def echo_servers() -> Iterator[dict[str, str]]:
    """Two servers: one on 127.0.0.2 that redirects or echoes the Host header, one on 127.0.0.1."""

    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def host(request: Request) -> Response:
        return PlainTextResponse(request.headers["host"])

    app = Starlette(routes=[Route("/redirect", redirect), Route("/host", host)])
    second, second_thread, second_port = serve(app, "127.0.0.2")
    first, first_thread, first_port = serve(app, "127.0.0.1")
    try:
        yield {"allowed": f"http://127.0.0.2:{second_port}", "loopback": f"http://127.0.0.1:{first_port}"}
    finally:
        stop(second, second_thread)
        stop(first, first_thread)


async def test_a_redirect_to_loopback_is_refused(echo_servers: dict[str, str]) -> None:
    policy = NetworkPolicy(allow=["127.0.0.2/32"])
    target = f"{echo_servers['loopback']}/host"
    async with safe_client(policy, follow_redirects=True) as client:
        assert (await client.get(f"{echo_servers['allowed']}/host")).status_code == 200
        with pytest.raises(UnsafeDestinationError) as caught:
            await client.get(f"{echo_servers['allowed']}/redirect", params={"to": target})
    assert caught.value.address == "127.0.0.1"


async def test_the_checked_address_is_connected_and_the_host_name_kept(echo_servers: dict[str, str]) -> None:
    port = echo_servers["allowed"].rsplit(":", 1)[1]
    # A resolver that would answer differently the second time (DNS rebinding): it is asked once.
    answers = iter([["127.0.0.2"], ["10.0.0.1"]])

    class Rebinding:
        calls = 0

        async def resolve(self, host: str, port: int) -> list[str]:
            Rebinding.calls += 1
            return next(answers)

    async with safe_client(NetworkPolicy(allow=["127.0.0.2/32"]), resolver=Rebinding()) as client:
        response = await client.get(f"http://hooks.example:{port}/host")
    assert response.text == f"hooks.example:{port}"
    assert Rebinding.calls == 1


async def test_unix_sockets_and_env_proxies_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = SafeNetworkBackend()
    with pytest.raises(UnsafeDestinationError):
        await backend.connect_unix_socket("/nonexistent/x.sock")
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    async with httpx.AsyncClient(transport=SafeTransport()) as client:
        with pytest.raises(UnsafeDestinationError):
            await client.get("http://127.0.0.1:9/")
    assert SafeTransport(NetworkPolicy(allow=["127.0.0.0/8"])).policy.allowed[0].version == 4
    with pytest.raises(WebhooksConfigurationError):
        safe_client(timeout=0)


async def test_each_idle_connection_goes_to_one_waiting_request(
    echo_servers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Property: a pooled connection is handed to one request at a time; every new one is checked.

    httpcore's own pool hands one idle connection to every queued request, and all but one of them
    bounce off it (``ConnectionNotAvailable``) and go round again.
    """
    bounced = 0
    original = httpcore.AsyncHTTP11Connection.handle_async_request

    async def counting(self: httpcore.AsyncHTTP11Connection, request: httpcore.Request) -> httpcore.Response:
        nonlocal bounced
        try:
            return await original(self, request)
        except httpcore.ConnectionNotAvailable:
            bounced += 1
            raise

    monkeypatch.setattr(httpcore.AsyncHTTP11Connection, "handle_async_request", counting)
    port = echo_servers["loopback"].rsplit(":", 1)[1]
    resolver = MapResolver({"pool.example": ["127.0.0.1"]})
    transport = SafeTransport(
        NetworkPolicy(allow=["127.0.0.0/8"]),
        resolver=resolver,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        # More requests than connections, so requests queue for connections that come free.
        answers = await asyncio.gather(*(client.get(f"http://pool.example:{port}/host") for _ in range(200)))
    assert [a.text for a in answers] == [f"pool.example:{port}"] * 200
    # The pool's connections were reused, and each new one was resolved and checked.
    assert 1 <= len(resolver.calls) <= 4
    assert bounced == 0


async def test_a_connection_the_server_hung_up_is_not_reused() -> None:
    """Property: an idle connection is checked for a server hang-up just before it is handed out."""
    served = 0

    async def answer_once_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # no "connection: close": the client still holds the connection as idle

    server = await asyncio.start_server(answer_once_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, safe_client(NetworkPolicy(allow=["127.0.0.0/8"])) as client:
        for _ in range(3):
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
            await asyncio.sleep(0.05)  # the hang-up reaches the client's socket
    assert served == 3
