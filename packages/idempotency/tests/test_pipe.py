"""`RedisStore`'s pipe: batches written back to back on one connection it holds, parsed as they arrive.

What the pipe hands back (an error reply, a lost connection) goes through the client's own path; a
server that stops answering times the pipe out. These tests drive each of those on a private
redis-server, and check the RESP reader on every reply shape and every cut of its bytes.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import BlockingConnectionPool, Redis

from buttress.idempotency import ClaimOutcome, IdempotencyUnavailableError, RedisStore, StoredResponse
from buttress.idempotency._pipe import ErrorReply, Pipe, _Incomplete, _Unreadable, parse_reply
from buttress.testing import RedisServer, open_connections

# --- the RESP reader ---------------------------------------------------------------------------------

_replies: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.binary(max_size=40),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.none(),
        st.binary(max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b).map(ErrorReply),
    ),
    lambda inner: st.lists(inner, max_size=6),
    max_leaves=30,
)


def _encode(value: Any, *, resp3: bool) -> bytes:
    if value is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if isinstance(value, ErrorReply):
        return b"-" + value + b"\r\n"
    if isinstance(value, bytes):
        return b"$%d\r\n%b\r\n" % (len(value), value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    return b"*%d\r\n" % len(value) + b"".join(_encode(item, resp3=resp3) for item in value)


@given(_replies, st.booleans())
def test_the_reader_reads_every_reply_whole_and_waits_on_every_prefix(value: Any, resp3: bool) -> None:
    data = _encode(value, resp3=resp3)
    parsed, end = parse_reply(data + b"+next\r\n", 0)
    assert parsed == value
    assert type(parsed) is type(value)
    assert end == len(data)
    for cut in range(len(data)):
        with pytest.raises(_Incomplete):
            parse_reply(data[:cut], 0)


def test_the_reader_refuses_what_it_does_not_read() -> None:
    for data in (
        b"%1\r\n$1\r\na\r\n:1\r\n",
        b"$x\r\n",
        b":1.5\r\n",
        b"?\r\n",
        b"_x\r\n",
        b"$" + b"9" * 70_000,
    ):
        with pytest.raises(_Unreadable):
            parse_reply(data, 0)


def test_a_push_message_is_skipped_and_a_simple_string_read() -> None:
    push = b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"
    parsed, end = parse_reply(push + b"+OK\r\n", 0)
    assert end == len(push)
    assert parse_reply(push + b"+OK\r\n", end) == (b"OK", len(push) + 5)
    assert parsed is not None


# --- on a server ------------------------------------------------------------------------------------


async def _claims(store: RedisStore, keys: list[str]) -> list[Any]:
    return await asyncio.gather(*(store.claim(key, "fp", lease=30) for key in keys), return_exceptions=True)


async def test_concurrent_operations_travel_on_the_pipe_and_large_replies_arrive_whole(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        keys = [f"k{i}" for i in range(64)]
        claims = await _claims(store, keys)
        assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims)
        pipe = store._pipe_now
        assert isinstance(pipe, Pipe)  # opened by the first batch, used by the next ones
        big = bytes(range(256)) * 4096  # 1 MiB: its reply arrives in many reads
        responses = [
            StoredResponse(
                201, ((b"content-type", b"application/octet-stream"),), big if i % 8 == 0 else b"%d" % i
            )
            for i in range(64)
        ]
        done = await asyncio.gather(
            *(
                store.complete(key, claim.token, response, retention=60)
                for key, claim, response in zip(keys, claims, responses, strict=True)
            )
        )
        assert done == [True] * 64
        replays = await _claims(store, keys)
        assert [replay.outcome for replay in replays] == [ClaimOutcome.COMPLETED] * 64
        assert [replay.response for replay in replays] == responses
        assert store._pipe_now is pipe  # no batch was handed back
    finally:
        await store.aclose()


async def test_a_killed_pipe_connection_costs_its_callers_nothing(redis_server: RedisServer) -> None:
    """Claims written on the pipe while the server holds them (CLIENT PAUSE WRITE), then its connection
    killed: every batch goes through the client again, once, and every claim is the caller's."""
    store = RedisStore.from_url(redis_server.url, socket_timeout=10)
    admin = Redis.from_url(redis_server.url)
    try:
        await _claims(store, ["warm"])
        first = store._pipe_now
        assert isinstance(first, Pipe)
        await admin.execute_command("CLIENT", "PAUSE", 5_000, "WRITE")
        pending = asyncio.ensure_future(_claims(store, [f"k{i}" for i in range(16)]))
        await asyncio.sleep(0.2)
        assert not pending.done()
        killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        assert killed >= 1
        await admin.execute_command("CLIENT", "UNPAUSE")
        claims = await pending
        assert [claim.outcome for claim in claims] == [ClaimOutcome.CLAIMED] * 16
        done = [
            await store.complete(f"k{i}", claim.token, StoredResponse(201, (), b"ok"), retention=60)
            for i, claim in enumerate(claims)
        ]
        assert done == [True] * 16  # the tokens the resent claims took are the ones that hold the keys
        await _claims(store, ["after"])
        assert first.broken
        assert isinstance(store._pipe_now, Pipe)
        assert store._pipe_now is not first  # a new pipe was opened
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await store.aclose()


async def test_a_server_that_stops_answering_times_the_pipe_out(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.3)
    admin = Redis.from_url(redis_server.url)
    try:
        await _claims(store, ["warm"])
        assert isinstance(store._pipe_now, Pipe)
        await admin.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
        # Answered before the pause ends (else the claim would succeed): the pipe gave up.
        outcomes = await _claims(store, ["a", "b"])
        assert all(isinstance(outcome, IdempotencyUnavailableError) for outcome in outcomes)
        assert "TimeoutError" in str(outcomes[0])
        await admin.execute_command("CLIENT", "UNPAUSE")
        again = await _claims(store, ["c"])
        assert again[0].outcome is ClaimOutcome.CLAIMED
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await store.aclose()


async def test_a_restarted_server_is_taught_the_script_through_the_client(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url)
    try:
        await _claims(store, ["warm"])
        redis_server.restart()  # the pipe's connection is gone and the script cache empty
        first = store._pipe_now
        for round_ in range(3):
            claims = await _claims(store, [f"k{round_}-{i}" for i in range(8)])
            assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims), claims
        assert isinstance(store._pipe_now, Pipe)
        assert store._pipe_now is not first  # on a connection to the new server
    finally:
        await store.aclose()


async def test_a_server_down_for_a_while_gets_its_pipe_back_when_back(redis_server: RedisServer) -> None:
    """While the server is down every try to open a pipe fails; none of them turns the pipe off for good."""
    store = RedisStore.from_url(redis_server.url, socket_timeout=0.5)
    loop = asyncio.get_running_loop()
    try:
        await _claims(store, ["warm"])
        first = store._pipe_now
        assert isinstance(first, Pipe)
        redis_server.kill()
        for round_ in range(4):  # tries to open a pipe over more than one retry period, all failing
            outcomes = await _claims(store, [f"down{round_}-{i}" for i in range(4)])
            assert all(isinstance(outcome, IdempotencyUnavailableError) for outcome in outcomes), outcomes
            await asyncio.sleep(0.4)
        assert first.broken
        redis_server.start()
        deadline = loop.time() + 10
        round_ = 0
        while not (isinstance(store._pipe_now, Pipe) and not store._pipe_now.broken):
            assert loop.time() < deadline, "the pipe did not come back after the server did"
            claims = await _claims(store, [f"up{round_}-{i}" for i in range(4)])
            assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims), claims
            round_ += 1
            await asyncio.sleep(0.1)
        claims = await _claims(store, [f"after-{i}" for i in range(8)])
        assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims), claims
        assert store._pipe_now is not first
    finally:
        await store.aclose()


async def test_closing_the_store_or_only_the_client_closes_the_pipe(redis_server: RedisServer) -> None:
    owned = RedisStore.from_url(redis_server.url)
    await _claims(owned, ["a"])
    assert isinstance(owned._pipe_now, Pipe)
    await owned.aclose()
    assert open_connections(redis_server.port) == 0
    client = Redis.from_pool(BlockingConnectionPool.from_url(redis_server.url, max_connections=8))
    borrowed = RedisStore(client)
    await _claims(borrowed, ["b"])
    assert isinstance(borrowed._pipe_now, Pipe)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        await client.aclose()  # the application closes its client and forgets the store
        assert open_connections(redis_server.port) == 0
        await borrowed.aclose()
        gc.collect()


async def test_a_pool_of_one_connection_gets_no_pipe(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_pool(BlockingConnectionPool.from_url(redis_url, max_connections=1))
    store = RedisStore(client, prefix=redis_prefix)
    try:
        claims = await _claims(store, [f"k{i}" for i in range(8)])
        assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims)
        assert store._pipe_now is None
    finally:
        await client.aclose()


async def test_a_resp3_client_speaks_through_the_pipe(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url, protocol=3)
    store = RedisStore(client, prefix=redis_prefix)
    try:
        claims = await _claims(store, [f"k{i}" for i in range(8)])
        assert isinstance(store._pipe_now, Pipe)
        again = await _claims(store, [f"k{i}" for i in range(8)])
        assert [claim.outcome for claim in again] == [ClaimOutcome.IN_FLIGHT] * 8
        assert all(0 < claim.retry_after <= 30 for claim in again)
        assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims)
    finally:
        await client.aclose()


async def test_a_lone_operation_leaves_at_once_not_at_the_end_of_the_iteration(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        await _claims(store, ["warm"])
        pipe = store._pipe_now
        assert isinstance(pipe, Pipe)
        claim = asyncio.ensure_future(store.claim("k", "fp", lease=30))
        await asyncio.sleep(0)  # the claim's task ran once, within this iteration, up to its wait
        assert len(pipe._waiting) == 1  # written already: Redis answers while the loop goes on
        assert (await claim).outcome is ClaimOutcome.CLAIMED
    finally:
        await store.aclose()


async def test_a_burst_leaves_two_alone_then_in_batches_of_eight_then_with_a_reply(
    redis_server: RedisServer,
) -> None:
    """20 claims made in one loop iteration: the first two leave alone (fewer than two batches were in
    flight), the next eight and eight as they fill up (four in flight then), the last two together when
    the first reply frees a place: five script calls, every claim the caller's."""
    store = RedisStore.from_url(redis_server.url)
    admin = Redis.from_url(redis_server.url)
    try:
        await _claims(store, ["warm"])
        await _claims(store, ["warm-2"])
        assert isinstance(store._pipe_now, Pipe)
        before = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
        claims = await _claims(store, [f"k{i}" for i in range(20)])
        assert all(claim.outcome is ClaimOutcome.CLAIMED for claim in claims)
        assert len({claim.token for claim in claims}) == 20
        after = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
        assert after - before == 5
    finally:
        await admin.aclose()
        await store.aclose()


async def test_an_answer_that_closes_the_pipe_leaves_each_other_batch_answered_once(redis_url: str) -> None:
    """Two replies read at once; the first one's answer closes the pipe: the second is handed back
    (``None``) once, and not answered again by the read that was under way."""
    client = Redis.from_url(redis_url)
    connection = await client.connection_pool.get_connection()
    answers: list[tuple[str, Any]] = []
    pipe = Pipe.take(connection, lambda _: None, None)
    assert pipe is not None

    def first(reply: Any) -> None:
        answers.append(("first", reply))
        pipe.close()

    def second(reply: Any) -> None:
        answers.append(("second", reply))

    ping = b"*1\r\n$4\r\nPING\r\n"
    try:
        assert pipe.send([ping + ping], first)  # both commands in one write: both replies in one read
        assert pipe.send([b""], second)
        for _ in range(100):
            if answers:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert answers == [("first", b"PONG"), ("second", None)]
    finally:
        await connection.disconnect()
        await client.connection_pool.release(connection)
        await client.aclose()
