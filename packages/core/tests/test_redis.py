"""What the Redis backends share: the tuned client, owned or borrowed, the prefix, outages.

Run against the real server (buttress-testing's ``redis_url``) and private ones it starts and kills.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Self, Unpack

import pytest

pytest.importorskip("redis", reason="the Redis plumbing's tests need redis-py (core's test group has it)")

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from buttress.core import (
    ArgumentTypeError,
    BackendErrors,
    BackendUnavailableError,
    ConfigurationError,
    RedisBackend,
    RedisOptions,
    Telemetry,
    open_redis,
)
from buttress.testing import RedisServer, acheck_hostile, check_hostile


class StoreConfigurationError(ConfigurationError):
    """A package's configuration error."""


class StoreTypeError(ArgumentTypeError):
    """A package's type error."""


class StoreUnavailableError(BackendUnavailableError):
    """A package's unavailable error."""


class StoreBusyError(StoreUnavailableError):
    """A refinement a package makes of one outage."""


ERRORS = BackendErrors(StoreConfigurationError, StoreTypeError, StoreUnavailableError)


class Store(RedisBackend):
    errors = ERRORS

    def __init__(self, client: Redis, *, prefix: str = "store:") -> None:
        super().__init__(client, prefix=prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "store:", **options: Unpack[RedisOptions]) -> Self:
        return cls._from_url(url, lambda client: cls(client, prefix=prefix), **options)

    async def run(self, *command: object) -> Any:
        with self._unavailable():
            return await self.client.execute_command(*command)


class RepliesStore(Store):
    """A backend for which any error reply means the server cannot serve it."""

    outages = (RedisError,)


class ClusterStore(Store):
    accepts_cluster = True


class BusyStore(Store):
    def _outage(self, exc: BaseException) -> BackendUnavailableError:
        return StoreBusyError("redis", self._address, type(exc).__name__)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def connected(redis_url: str, name: str) -> int:
    """How many connections named ``name`` the server holds."""
    admin = Redis.from_url(redis_url)
    try:
        return sum(1 for c in await admin.client_list() if c.get("name") == name)
    finally:
        await admin.aclose()


async def until_gone(redis_url: str, name: str) -> int:
    """The named connections left once the server has seen the closed ones go (it reads a close late)."""
    for _ in range(200):
        if (left := await connected(redis_url, name)) == 0:
            return 0
        await asyncio.sleep(0.01)
    return left


# --- the client and the prefix ------------------------------------------------------------------


def test_a_client_that_is_not_a_redis_client_is_the_packages_type_error() -> None:
    with pytest.raises(StoreTypeError, match=r"redis\.asyncio\.Redis"):
        Store(object())  # type: ignore[arg-type]


async def test_a_cluster_client_is_refused_unless_the_backend_accepts_cluster() -> None:
    cluster = open_redis("redis://127.0.0.1:7000/0", cluster=True)
    assert isinstance(cluster, RedisCluster)
    with pytest.raises(StoreTypeError, match="does not run on Redis Cluster"):
        Store(cluster)
    assert ClusterStore(cluster).client is cluster
    with pytest.raises(StoreConfigurationError, match="cluster"):
        Store._from_url("redis://127.0.0.1:7000/0", Store, cluster=True)
    await cluster.aclose()


async def test_a_client_that_decodes_responses_is_the_packages_configuration_error(redis_url: str) -> None:
    decoding = Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(StoreConfigurationError, match="decode_responses=False"):
        Store(decoding)
    await decoding.aclose()


@pytest.mark.parametrize("prefix", ["", "a\x00b", "\ud800", "p" * 1025])
async def test_a_prefix_must_be_non_empty_text_redis_can_carry(client: Redis, prefix: str) -> None:
    with pytest.raises(StoreConfigurationError, match="prefix"):
        Store(client, prefix=prefix)


async def test_a_prefix_that_is_not_a_str_is_the_packages_type_error(client: Redis) -> None:
    with pytest.raises(StoreTypeError, match="prefix"):
        Store(client, prefix=b"p:")  # type: ignore[arg-type]


# --- telemetry bound when a backend is made -----------------------------------------------------


async def test_making_a_backend_binds_its_package_s_instruments(
    client: Redis, counters_made: Callable[[Telemetry], list[str]]
) -> None:
    """A backend class that names its package's Telemetry makes every instrument when it is made.

    At start-up, then, rather than on the first request; a client the backend refuses binds nothing.
    """
    own = Telemetry("buttress.core_test_redis_bind")
    calls = own.counter("buttress.core_test_redis_bind.calls")

    class Bound(Store):
        telemetry = own

    made = counters_made(own)
    with pytest.raises(StoreTypeError):
        Bound(object())  # type: ignore[arg-type]
    assert made == []
    Bound(client)
    assert made == ["buttress.core_test_redis_bind.calls"]
    calls.add(1)  # the first measurement makes nothing
    Store(client)  # a class without telemetry binds nothing (and calls nothing)
    assert made == ["buttress.core_test_redis_bind.calls"]


# --- open_redis ---------------------------------------------------------------------------------


def test_open_redis_builds_the_suites_client_without_connecting() -> None:
    client = open_redis("redis://127.0.0.1:1/3", socket_timeout=2.5, max_connections=7, pool_timeout=0.5)
    pool = client.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == 7
    assert pool.pool_timeout == 0.5  # kept by the pool itself: redis-py's per-call timer is off
    assert pool.connection_kwargs["socket_timeout"] == 2.5
    assert pool.connection_kwargs["socket_connect_timeout"] == 2.5
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["retry"].get_retries() == 1


# --- timeouts without a timer per command -----------------------------------------------------


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A TCP port whose connections the kernel completes and nobody ever answers: a hung server."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


async def test_a_command_to_a_server_that_never_answers_ends_in_a_timeout(silent_url: str) -> None:
    client = open_redis(silent_url, socket_timeout=0.2)
    try:
        for _ in range(2):  # and again, once the first connection was dropped
            with pytest.raises(RedisTimeoutError):
                await asyncio.wait_for(client.get("k"), 30)
        assert not client.connection_pool._in_use_connections
    finally:
        await client.aclose()


async def test_a_backend_reports_a_server_that_never_answers_as_unavailable(silent_url: str) -> None:
    store = Store.from_url(silent_url, socket_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailableError, match="TimeoutError"):
            await asyncio.wait_for(store.run("GET", "k"), 30)
    finally:
        await store.aclose()


async def test_a_caller_waits_for_a_free_connection_only_pool_timeout(silent_url: str) -> None:
    client = open_redis(silent_url, socket_timeout=60, max_connections=1, pool_timeout=0.2)
    hung = asyncio.create_task(client.get("k"))
    try:
        await asyncio.sleep(0)  # the first call takes the one connection
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await asyncio.wait_for(client.get("k"), 30)
    finally:
        hung.cancel()
        await asyncio.gather(hung, return_exceptions=True)
        await client.aclose()


async def test_a_connection_that_timed_out_is_replaced_once_the_server_answers(
    redis_server: RedisServer,
) -> None:
    client = open_redis(redis_server.url, socket_timeout=0.1, max_connections=1)
    admin = Redis.from_url(redis_server.url)
    try:
        await client.set("k", b"v")
        await admin.client_pause(600, all=True)
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(client.get("k"), 30)
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # the pause ends by itself; the same client then reads again
            try:
                assert await client.get("k") == b"v"
                break
            except RedisTimeoutError:
                assert asyncio.get_running_loop().time() < deadline
    finally:
        await admin.aclose()
        await client.aclose()
        redis_server.kill()


async def test_explicit_read_timeouts_are_redis_pys_own(redis_url: str) -> None:
    """A pub/sub read with its own timeout outlives ``socket_timeout`` and is not cut by it."""
    client = open_redis(redis_url, socket_timeout=0.05)
    channel = f"core-test:{uuid.uuid4().hex}"
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=1.0))["type"] == "subscribe"
        assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
        await client.publish(channel, b"hello")
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
        assert message is not None
        assert message["data"] == b"hello"
    finally:
        await pubsub.aclose()
        await client.aclose()


async def test_a_subscriber_that_reads_later_than_socket_timeout_keeps_its_connection(redis_url: str) -> None:
    """Subscribing writes a command whose replies are read later: only the write is bounded."""
    client = open_redis(redis_url, socket_timeout=0.05)
    channel = f"core-test:{uuid.uuid4().hex}"
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        await asyncio.sleep(0.3)  # six socket_timeouts between the subscription and its first read
        await client.publish(channel, b"late")
        messages = [await pubsub.get_message(timeout=5.0) for _ in range(2)]
        assert [m["type"] for m in messages if m] == ["subscribe", "message"]
        assert messages[1] is not None
        assert messages[1]["data"] == b"late"
    finally:
        await pubsub.aclose()
        await client.aclose()


def test_a_client_keeps_its_timeouts_on_a_second_event_loop(silent_url: str) -> None:
    client = open_redis(silent_url, socket_timeout=0.2)

    async def hang_once() -> None:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(client.get("k"), 30)

    asyncio.run(hang_once())
    asyncio.run(hang_once())  # the first loop's watchdog died with it; this one gets its own


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@127.0.0.1/0",
        "hunter2",
        "redis://user:hunter2@127.0.0.1:port/0",
        "redis://user:hunter2@127.0.0.1:99999/0",
        "redis://user:hunter2@[127.0.0.1/0",
        "redis://user:hunter2@127.0.0.1/0?socket_timeout=soon",
        "redis://user:hunter2@127.0.0.1/0?max_connections=many",
    ],
)
def test_a_bad_url_is_configuration_and_never_quoted(url: str) -> None:
    with pytest.raises(StoreConfigurationError, match="url") as caught:
        open_redis(url, errors=ERRORS)
    assert "hunter2" not in str(caught.value)
    assert url not in str(caught.value)


def test_a_cluster_is_never_reached_over_a_unix_socket() -> None:
    with pytest.raises(StoreConfigurationError, match="Redis Cluster"):
        open_redis("unix://:hunter2@/tmp/redis.sock", cluster=True, errors=ERRORS)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("socket_timeout", 0),
        ("socket_timeout", float("nan")),
        ("socket_timeout", 10**400),
        ("pool_timeout", -1),
        ("max_connections", 0),
        ("max_connections", 100_001),
        ("max_connections", True),
        ("cluster", "yes"),
        ("cluster", 1),
    ],
)
def test_options_out_of_range_are_configuration(option: str, value: object) -> None:
    with pytest.raises(StoreConfigurationError, match=option):
        open_redis("redis://127.0.0.1/0", errors=ERRORS, **{option: value})  # type: ignore[arg-type]


def test_a_url_of_the_wrong_type_is_the_packages_type_error() -> None:
    with pytest.raises(StoreTypeError, match="url"):
        open_redis(b"redis://127.0.0.1/0", errors=ERRORS)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="errors"):
        open_redis("redis://127.0.0.1/0", errors=StoreConfigurationError)  # type: ignore[arg-type]


# --- owned and borrowed -------------------------------------------------------------------------


async def test_from_url_owns_its_client_and_aclose_closes_it(redis_url: str) -> None:
    name = f"bt-owned-{uuid.uuid4().hex[:8]}"
    store = Store.from_url(f"{redis_url}?client_name={name}")
    assert store.owns_client
    assert store.prefix == "store:"
    assert await store.run("PING") is True
    assert await connected(redis_url, name) == 1
    await store.aclose()
    await store.aclose()
    assert store.closed
    assert await until_gone(redis_url, name) == 0


async def test_a_borrowed_client_is_never_closed(redis_url: str) -> None:
    name = f"bt-borrowed-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(f"{redis_url}?client_name={name}")
    async with Store(client) as store:
        assert not store.owns_client
        assert store.client is client
        assert await store.run("PING") is True
    assert await connected(redis_url, name) == 1
    assert await client.ping() is True
    await client.aclose()


async def test_a_build_that_fails_leaves_nothing_open(redis_url: str) -> None:
    name = f"bt-build-{uuid.uuid4().hex[:8]}"
    made: list[Redis] = []

    def refuse(client: Redis) -> Store:
        made.append(client)
        raise StoreConfigurationError("prefix", "x", "refused by the backend")

    with pytest.raises(StoreConfigurationError, match="refused by the backend"):
        Store._from_url(f"{redis_url}?client_name={name}", refuse)
    assert len(made) == 1
    made.clear()
    gc.collect()  # an unclosed client with a connection would warn here (warnings are errors)
    assert await connected(redis_url, name) == 0
    with pytest.raises(StoreConfigurationError, match="prefix"):
        Store.from_url(f"{redis_url}?client_name={name}", prefix="")
    gc.collect()
    assert await connected(redis_url, name) == 0


# --- outages ------------------------------------------------------------------------------------


async def test_a_server_that_is_gone_is_the_packages_unavailable_error_without_the_password(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url.replace("redis://", "redis://:s3cret@", 1)
    store = Store.from_url(redis_server.url, socket_timeout=0.5)
    assert await store.run("PING") is True
    redis_server.kill()
    with pytest.raises(StoreUnavailableError) as caught:
        await store.run("PING")
    assert caught.value.backend == "redis"
    assert caught.value.reason == "ConnectionError"
    await store.aclose()
    async with Store.from_url(url, socket_timeout=0.5) as store:
        with pytest.raises(StoreUnavailableError) as caught:
            await store.run("PING")
    assert "s3cret" not in str(caught.value)
    assert ":***@" in caught.value.address


async def test_a_borrowed_client_is_named_by_its_address_without_credentials(
    redis_server: RedisServer,
) -> None:
    client = Redis.from_url(redis_server.url.replace("redis://", "redis://user:s3cret@", 1))
    store = Store(client)
    redis_server.kill()
    with pytest.raises(StoreUnavailableError) as caught:
        await store.run("PING")
    assert caught.value.address == f"redis://127.0.0.1:{redis_server.port}/0"
    assert "s3cret" not in str(caught.value)
    await client.aclose()


async def test_an_outage_can_be_refined_by_the_package(redis_server: RedisServer) -> None:
    store = BusyStore.from_url(redis_server.url, socket_timeout=0.5)
    redis_server.kill()
    with pytest.raises(StoreBusyError):
        await store.run("PING")
    await store.aclose()


async def test_an_error_reply_keeps_only_its_code_never_a_key(redis_url: str, redis_prefix: str) -> None:
    secret = f"{redis_prefix}card-4111111111111111"
    script = "return redis.error_reply('OOPS ' .. KEYS[1] .. ' ' .. ARGV[1])"
    async with RepliesStore.from_url(redis_url, prefix=redis_prefix) as store:
        with pytest.raises(StoreUnavailableError) as caught:
            await store.run("EVAL", script, 1, secret, "the-value")
        assert caught.value.reason == "ResponseError OOPS"
        assert "4111" not in str(caught.value)
        assert "the-value" not in str(caught.value)
    async with Store.from_url(redis_url, prefix=redis_prefix) as store:
        # Not an outage for a backend that does not declare error replies as one: its own to handle.
        with pytest.raises(ResponseError):
            await store.run("EVAL", script, 1, secret, "the-value")


async def test_a_database_the_server_does_not_have_is_configuration(redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/99999"
    async with RepliesStore.from_url(url) as store:
        with pytest.raises(StoreConfigurationError, match="database") as caught:
            await store.run("PING")
    assert not isinstance(caught.value, BackendUnavailableError)


async def test_credentials_the_server_refuses_are_configuration_never_shown(
    redis_server: RedisServer,
) -> None:
    admin = Redis.from_url(redis_server.url)
    await admin.config_set("requirepass", "the-right-one")
    await admin.aclose()
    url = redis_server.url.replace("redis://", "redis://:wrong-one@", 1)
    async with Store.from_url(url) as store:
        with pytest.raises(StoreConfigurationError, match="credentials") as caught:
            await store.run("PING")
    assert caught.value.parameter == "url"
    assert "wrong-one" not in str(caught.value)
    client = Redis.from_url(url)
    with pytest.raises(StoreConfigurationError) as caught:
        await Store(client).run("PING")
    assert caught.value.parameter == "client"
    await client.aclose()


# --- hostile arguments --------------------------------------------------------------------------


def test_open_redis_raises_only_typed_errors(redis_url: str) -> None:
    check_hostile(open_redis, redis_url, socket_timeout=1.0, max_connections=2, pool_timeout=1.0,
                  cluster=False, errors=ERRORS, keep=("errors",), max_examples=60)  # fmt: skip


async def test_the_backend_raises_only_typed_errors(client: Redis, redis_url: str) -> None:
    await acheck_hostile(Store, client, prefix="store:", max_examples=40)
    await acheck_hostile(Store.from_url, redis_url, prefix="store:", socket_timeout=1.0, max_examples=40)
    await acheck_hostile(RedisBackend, client, prefix="p:", max_examples=20)
