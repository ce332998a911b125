"""Races and crashes on every store, Redis and PostgreSQL real: at most once, and never locked forever."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from typing import Any

import pytest

from buttress.idempotency import (
    IdempotencyMiddleware,
    KeyInFlightError,
    LeaseLostError,
    MemoryStore,
    PostgresStore,
    RedisStore,
    StoredResponse,
    idempotent,
    request_fingerprint,
    scope_key,
)
from buttress.testing import PostgresSchema

DUPLICATES = 100
TRIALS = 8


class Handler:
    """An ASGI app that counts executions per idempotency key and takes a little while."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.serial = itertools.count(1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        key = json.loads(message["body"])["key"]
        self.runs[key] = self.runs.get(key, 0) + 1
        await asyncio.sleep(0.02)
        body = json.dumps({"key": key, "serial": next(self.serial)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _stores(kind: str, request: pytest.FixtureRequest, workers: int) -> list[Any]:
    """``workers`` stores on one backend, each with its own connections, as separate processes would have."""
    if kind == "memory":
        return [MemoryStore()] * workers
    if kind in {"redis", "redis-cluster"}:
        cluster = kind == "redis-cluster"
        url = request.getfixturevalue("redis_cluster_url" if cluster else "redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        # A connect may wait its turn on a loaded machine (a batch opens up to 40 per node at once):
        # 5 s, not the default 1 s, so that only a real outage fails these races.
        return [
            RedisStore.from_url(url, prefix=prefix, max_connections=40, cluster=cluster, socket_timeout=5)
            for _ in range(workers)
        ]
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    stores = [
        await PostgresStore.connect(schema.dsn, table=f"{schema.name}.race", max_size=10)
        for _ in range(workers)
    ]
    await stores[0].create_schema()
    return stores


async def _close(stores: list[Any]) -> None:
    for store in {id(s): s for s in stores}.values():
        await store.aclose()


@pytest.mark.parametrize("kind", ["memory", "redis", "redis-cluster", "postgres"])
async def test_100_simultaneous_duplicates_run_the_handler_exactly_once(
    kind: str, request: pytest.FixtureRequest, make_client: Any
) -> None:
    handler = Handler()
    stores = await _stores(kind, request, workers=4)
    clients = [make_client(IdempotencyMiddleware(handler, store, lease=10)) for store in stores]
    try:
        for trial in range(TRIALS):
            key = f"trial-{trial}-{kind}"
            body = json.dumps({"key": key}).encode()
            responses = await asyncio.gather(
                *(
                    clients[i % len(clients)].post("/pay", content=body, headers={"Idempotency-Key": key})
                    for i in range(DUPLICATES)
                )
            )
            assert handler.runs[key] == 1, f"trial {trial}: the handler ran {handler.runs[key]} times"
            firsts = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
            replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
            conflicts = [r for r in responses if r.status_code == 409]
            assert len(firsts) == 1
            assert len(firsts) + len(replays) + len(conflicts) == DUPLICATES
            assert all(r.content == firsts[0].content for r in replays)
            after = await clients[0].post("/pay", content=body, headers={"Idempotency-Key": key})
            assert after.headers["idempotent-replayed"] == "true"
            assert after.content == firsts[0].content
    finally:
        for client in clients:
            await client.aclose()
        await _close(stores)


@pytest.mark.parametrize("kind", ["memory", "redis", "postgres"])
async def test_a_crashed_claim_is_409_until_its_lease_runs_out_then_executes(
    kind: str, request: pytest.FixtureRequest, make_client: Any
) -> None:
    """A worker claimed the key and died: no heartbeat, no release. Its lease is all that holds the key."""
    handler = Handler()
    (store,) = await _stores(kind, request, workers=1)
    body = json.dumps({"key": "crash"}).encode()
    try:
        # What the dead worker's middleware did before it died: claim the scoped key, nothing more.
        dead = await store.claim(
            scope_key("crash", principal="", route="/pay"),
            request_fingerprint("POST", "/pay", body),
            lease=0.6,
        )
        assert dead.outcome == "claimed"
        async with make_client(IdempotencyMiddleware(handler, store)) as client:
            before = await client.post("/pay", content=body, headers={"Idempotency-Key": "crash"})
            assert before.status_code == 409
            assert handler.runs.get("crash") is None
            await asyncio.sleep(0.7)
            after = await client.post("/pay", content=body, headers={"Idempotency-Key": "crash"})
            assert after.status_code == 201
            assert handler.runs["crash"] == 1
            replay = await client.post("/pay", content=body, headers={"Idempotency-Key": "crash"})
            assert replay.headers["idempotent-replayed"] == "true"
        # The dead worker's token is fenced off: it cannot overwrite the live outcome.
        assert dead.token is not None
        late = StoredResponse(500, (), b"late")
        key = scope_key("crash", principal="", route="/pay")
        assert await store.complete(key, dead.token, late, retention=60) is False
    finally:
        await _close([store])


WORKER = """
import asyncio, sys
from buttress.idempotency import PostgresStore, RedisStore, idempotent

async def main(kind, address, where):
    if kind in {"redis", "redis-cluster"}:
        store = RedisStore.from_url(address, prefix=where, cluster=kind == "redis-cluster")
    else:
        store = await PostgresStore.connect(address, table=where)
    async with idempotent(store, "job-1", "fp", lease=1.0) as slot:
        assert slot.claimed
        print("claimed", flush=True)
        await asyncio.sleep(60)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize("kind", ["redis", "redis-cluster", "postgres"])
async def test_a_killed_worker_process_holds_the_key_only_until_its_lease_runs_out(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """A worker process is SIGKILLed mid-operation: no release, no heartbeat, just its lease."""
    (store,) = await _stores(kind, request, workers=1)
    if kind in {"redis", "redis-cluster"}:
        fixture = "redis_cluster_url" if kind == "redis-cluster" else "redis_url"
        address, where = request.getfixturevalue(fixture), store.prefix
    else:
        address, where = request.getfixturevalue("postgres_schema").dsn, store.table
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, kind, address, where, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), 30) == b"claimed\n"
        worker.kill()
        await worker.wait()
        with pytest.raises(KeyInFlightError) as info:
            async with idempotent(store, "job-1", "fp"):
                pytest.fail("ran while the dead worker's lease was live")
        assert info.value.retry_after is not None
        assert 0 <= info.value.retry_after <= 1.0
        await asyncio.sleep(info.value.retry_after + 0.1)
        ran = []
        async with idempotent(store, "job-1", "fp") as slot:
            assert slot.claimed
            ran.append(True)
        assert ran == [True]
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await _close([store])


@pytest.mark.parametrize("kind", ["memory", "redis", "postgres"])
async def test_a_stalled_worker_loses_its_lease_and_cannot_overwrite_the_retry(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Without a heartbeat, a handler that outlives its lease is fenced off when it finally finishes."""
    (store,) = await _stores(kind, request, workers=1)
    resume = asyncio.Event()
    try:

        async def stalled() -> None:
            async with idempotent(store, "job-2", "fp", lease=0.4, heartbeat=0) as slot:
                await resume.wait()
                await slot.complete(StoredResponse(body=b"stale"))

        first = asyncio.create_task(stalled())
        await asyncio.sleep(0.6)
        async with idempotent(store, "job-2", "fp") as retry:
            assert retry.claimed
            await retry.complete(StoredResponse(body=b"fresh"))
        resume.set()
        with pytest.raises(LeaseLostError):
            await first
        async with idempotent(store, "job-2", "fp") as replay:
            assert replay.replay is not None
            assert replay.replay.body == b"fresh"
    finally:
        await _close([store])


@pytest.mark.parametrize("kind", ["memory", "redis", "postgres"])
async def test_the_heartbeat_keeps_a_long_handler_exclusive(
    kind: str, request: pytest.FixtureRequest
) -> None:
    (store,) = await _stores(kind, request, workers=1)
    try:
        async with idempotent(store, "job-3", "fp", lease=0.3, heartbeat=0.1) as slot:
            for _ in range(4):
                await asyncio.sleep(0.25)
                with pytest.raises(KeyInFlightError):
                    async with idempotent(store, "job-3", "fp"):
                        pytest.fail("a duplicate ran while the heartbeat held the lease")
            assert not slot.lease_lost
            await slot.complete(StoredResponse(body=b"done"))
    finally:
        await _close([store])


async def _post(app: Any, path: str, key: str) -> int:
    """One POST through ``app`` as an ASGI server would send it; the response's status."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"idempotency-key", key.encode())],
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_middleware_s_heartbeat_keeps_long_handlers_exclusive(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Handlers that outlive their lease several times over, started at different moments, keep their
    keys through the middleware's heartbeat (one timer for all its requests): every duplicate is
    answered 409, each handler runs once, and each response is stored and replayed."""
    (store,) = await _stores(kind, request, workers=1)
    runs: dict[str, int] = {}

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        runs[scope["path"]] = runs.get(scope["path"], 0) + 1
        await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    app = IdempotencyMiddleware(slow, store, lease=0.3, heartbeat=0.1)
    paths = [f"/job/{i}" for i in range(6)]
    try:
        first = [asyncio.create_task(_post(app, path, "k")) for path in paths[:3]]
        await asyncio.sleep(0.07)  # the others join between two sweeps
        first += [asyncio.create_task(_post(app, path, "k")) for path in paths[3:]]
        for _ in range(3):
            await asyncio.sleep(0.25)
            assert await asyncio.gather(*(_post(app, path, "k") for path in paths)) == [409] * len(paths)
        assert await asyncio.gather(*first) == [201] * len(paths)
        assert await asyncio.gather(*(_post(app, path, "k") for path in paths)) == [201] * len(paths)
        assert runs == dict.fromkeys(paths, 1)
        assert app._beats is not None
        assert not app._beats._fresh
        assert not app._beats._due  # finished requests leave the sweeps at once
    finally:
        await _close([store])


async def test_a_batch_spanning_every_cluster_slot_is_split_per_slot(request: pytest.FixtureRequest) -> None:
    """Hundreds of concurrent claims on distinct keys go out as batches that one EVALSHA could not carry."""
    (store,) = await _stores("redis-cluster", request, workers=1)
    try:
        keys = [f"spread-{i}" for i in range(300)]
        claims = await asyncio.gather(*(store.claim(key, "fp", lease=10) for key in keys))
        assert [claim.outcome for claim in claims] == ["claimed"] * len(keys)
        again = await asyncio.gather(*(store.claim(key, "fp", lease=10) for key in keys))
        assert {claim.outcome for claim in again} == {"in_flight"}
        done = await asyncio.gather(
            *(
                store.complete(key, claim.token, StoredResponse(200, (), key.encode()), retention=60)
                for key, claim in zip(keys, claims, strict=True)
            )
        )
        assert all(done)
        replays = await asyncio.gather(*(store.claim(key, "fp", lease=10) for key in keys))
        assert [claim.response.body for claim in replays] == [key.encode() for key in keys]
    finally:
        await _close([store])


RACER = """
import asyncio, os, sys
from buttress.idempotency import KeyInFlightError, RedisStore, StoredResponse, idempotent

async def main(kind, address, prefix):
    store = RedisStore.from_url(address, prefix=prefix, cluster=kind == "redis-cluster")
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while key := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        try:
            async with idempotent(store, key, "fp", lease=30) as slot:
                if slot.claimed:
                    await asyncio.sleep(0.1)  # the handler: long enough for every racer to arrive
                    await slot.complete(StoredResponse(body=str(os.getpid()).encode()))
                    print("ran", flush=True)
                else:
                    print("replay", slot.replay.body.decode(), flush=True)
        except KeyInFlightError:
            print("in_flight", flush=True)
    await store.aclose()

asyncio.run(main(*sys.argv[1:]))
"""
PROCESSES = 4
ROUNDS = 3


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_processes_racing_for_one_key_run_the_handler_exactly_once(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Property 1 across processes: racers in separate processes, each with its own connections, one key
    at a time; the handler runs once per key and every other racer sees it in flight or replays it."""
    (store,) = await _stores(kind, request, workers=1)
    address = request.getfixturevalue("redis_cluster_url" if kind == "redis-cluster" else "redis_url")
    racers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RACER,
            kind,
            address,
            store.prefix,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert await asyncio.wait_for(racer.stdout.readline(), 60) == b"ready\n"
        for round_ in range(ROUNDS):
            key = f"race-{round_}"
            for racer in racers:  # every racer gets the key before any answer is read
                assert racer.stdin is not None
                racer.stdin.write(f"{key}\n".encode())
                await racer.stdin.drain()
            answers = [
                (await asyncio.wait_for(racer.stdout.readline(), 30)).decode().split()  # type: ignore[union-attr]
                for racer in racers
            ]
            ran = [answer for answer in answers if answer == ["ran"]]
            assert len(ran) == 1, f"round {round_}: the handler ran {len(ran)} times: {answers}"
            assert all(answer[0] in {"ran", "replay", "in_flight"} for answer in answers), answers
            winner = racers[answers.index(["ran"])].pid
            assert all(answer[1] == str(winner) for answer in answers if answer[0] == "replay")
            claim = await store.claim(key, "fp", lease=30)
            assert claim.outcome == "completed"
            assert claim.response is not None
            assert claim.response.body == str(winner).encode()
    finally:
        for racer in racers:
            if racer.stdin is not None and not racer.stdin.is_closing():
                racer.stdin.close()
        for racer in racers:
            try:
                await asyncio.wait_for(racer.wait(), 10)
            except TimeoutError:
                racer.kill()
                await racer.wait()
        await _close([store])


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_a_claim_sent_twice_is_still_the_caller_s(kind: str, request: pytest.FixtureRequest) -> None:
    """A client that retries a claim whose first attempt reached Redis (a timeout, a cut connection)
    sends the same lease token again: the retry answers "claimed", not "in flight" for its own lease;
    another claimant, with another token, still finds it in flight."""
    (store,) = await _stores(kind, request, workers=1)
    try:
        # The script's arguments, as the store sends them.
        attempt = store._arguments((b"c", b"fp", b"the-token", b"30000"))
        key = store._key("retried")
        assert (await store._run("claim", key, attempt, 4))[0] == 1
        assert (await store._run("claim", key, attempt, 4))[0] == 1  # the retry
        assert (await store.claim("retried", "fp", lease=30)).outcome == "in_flight"
        assert await store.complete("retried", "the-token", StoredResponse(body=b"ok"), retention=60)
        assert (await store._run("claim", key, attempt, 4))[0] == 3  # completed: replayed, not re-run
    finally:
        await _close([store])
