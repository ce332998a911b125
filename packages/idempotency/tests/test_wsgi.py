"""The synchronous face: SyncMemoryStore, SyncIdempotencySlot and IdempotencyWSGIMiddleware.

They share the async face's rules; the property below drives both middlewares with the same
requests and asserts the same answers. Flask and Django run under a real WSGI server (wsgiref).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from flask import Flask, request
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from buttress.idempotency import (
    ClaimOutcome,
    FingerprintMismatchError,
    IdempotencyMiddleware,
    IdempotencyTypeError,
    IdempotencyWSGIMiddleware,
    KeyInFlightError,
    LeaseLostError,
    MemoryStore,
    StoredResponse,
    SyncIdempotencySlot,
    SyncIdempotencyStore,
    SyncMemoryStore,
)
from buttress.testing import (
    FakeClock,
    IdempotencyStoreContract,
    check_hostile,
    check_hostile_wsgi,
    django_urls,
    serve_wsgi,
)


class InThreads:
    """A `SyncIdempotencyStore` seen as an async store: each call runs in a worker thread, so the
    contract's concurrent claims race in real threads."""

    def __init__(self, store: SyncMemoryStore) -> None:
        self.store = store

    async def claim(self, key: str, fingerprint: str, *, lease: float) -> Any:
        return await asyncio.to_thread(self.store.claim, key, fingerprint, lease=lease)

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        return await asyncio.to_thread(self.store.complete, key, token, response, retention=retention)

    async def release(self, key: str, token: str) -> bool:
        return await asyncio.to_thread(self.store.release, key, token)

    async def renew(self, key: str, token: str, *, lease: float) -> bool:
        return await asyncio.to_thread(self.store.renew, key, token, lease=lease)

    async def aclose(self) -> None:
        self.store.close()


class TestSyncMemoryStore(IdempotencyStoreContract):
    """The async stores' conformance suite, run on the sync store from worker threads."""

    async def make_store(self) -> InThreads:
        return InThreads(SyncMemoryStore())


def test_of_threads_claiming_one_key_at_once_exactly_one_gets_it() -> None:
    store = SyncMemoryStore()
    start = threading.Barrier(16, timeout=10)
    found: list[ClaimOutcome] = []

    def claim() -> None:
        start.wait()
        found.append(store.claim("k", "fp", lease=30).outcome)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found.count(ClaimOutcome.CLAIMED) == 1
    assert found.count(ClaimOutcome.IN_FLIGHT) == 15
    assert isinstance(store, SyncIdempotencyStore)


def test_the_sync_slot_runs_once_and_replays() -> None:
    store = SyncMemoryStore()
    with SyncIdempotencySlot(store, "order-7", "charge:100") as slot:
        assert slot.claimed
        assert slot.replay is None
        slot.complete(StoredResponse(body=b"receipt"))
    with SyncIdempotencySlot(store, "order-7", "charge:100") as again:
        assert again.replay == StoredResponse(body=b"receipt")
    with pytest.raises(FingerprintMismatchError), SyncIdempotencySlot(store, "order-7", "charge:999"):
        pass
    with pytest.raises(RuntimeError), SyncIdempotencySlot(store, "order-8", "x"):
        raise RuntimeError("failed: released")
    holder = SyncIdempotencySlot(store, "order-8", "x").__enter__()
    with pytest.raises(KeyInFlightError), SyncIdempotencySlot(store, "order-8", "x"):
        pass
    assert holder.release() is True
    with pytest.raises(IdempotencyTypeError):
        SyncIdempotencySlot(MemoryStore(), "k", "f")  # type: ignore[arg-type]


class Renewals:
    """A `SyncIdempotencyStore` over a `SyncMemoryStore` that signals each renewal."""

    def __init__(self, store: SyncMemoryStore) -> None:
        self.store = store
        self.renewed = threading.Event()

    def claim(self, key: str, fingerprint: str, *, lease: float) -> Any:
        return self.store.claim(key, fingerprint, lease=lease)

    def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        return self.store.complete(key, token, response, retention=retention)

    def release(self, key: str, token: str) -> bool:
        return self.store.release(key, token)

    def renew(self, key: str, token: str, *, lease: float) -> bool:
        alive = self.store.renew(key, token, lease=lease)
        self.renewed.set()
        return alive


def test_the_heartbeat_thread_keeps_a_long_operation_s_lease() -> None:
    """An operation that runs past its 30 s lease keeps the key: the timer thread renewed it."""
    clock = FakeClock()
    store = Renewals(SyncMemoryStore(clock=clock))
    with SyncIdempotencySlot(store, "slow", "f", lease=30, heartbeat=0.02) as slot:
        clock.advance(25)
        store.renewed.clear()
        assert store.renewed.wait(10)  # renewed at t=25: the lease now ends at t=55
        clock.advance(25)
        slot.complete(StoredResponse(body=b"done"))
    assert not slot.lease_lost
    assert store.claim("slow", "f", lease=1).outcome is ClaimOutcome.COMPLETED


def test_without_a_heartbeat_the_lease_runs_out() -> None:
    clock = FakeClock()
    store = SyncMemoryStore(clock=clock)
    slot = SyncIdempotencySlot(store, "slow", "f", lease=30, heartbeat=0).__enter__()
    clock.advance(31)
    with pytest.raises(LeaseLostError):
        slot.complete(StoredResponse(body=b"late"))
    assert slot.lease_lost


# --- the middleware ----------------------------------------------------------------------------------


def orders(counter: Iterator[int]) -> Any:
    """A plain WSGI app: 201 with an order number, or 502 when the body asks for a failure."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if payload.get("fail"):
            start_response("502 Bad Gateway", [("Content-Type", "application/json")])
            return [json.dumps({"error": next(counter)}).encode()]
        body = json.dumps({"order": next(counter), **payload}).encode()
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Kind", "wsgi")])
        return [body[:5], body[5:]]  # in two chunks

    return app


def post(app: Any, body: bytes, key: str | None = "k-1", **environ: Any) -> tuple[int, dict[str, str], bytes]:
    base: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/orders",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
    }
    if key is not None:
        base["HTTP_IDEMPOTENCY_KEY"] = key
    base.update(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = app(base, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[-1]
    return int(status[:3]), {k.lower(): v for k, v in headers}, data


def test_the_wsgi_middleware_runs_once_and_replays() -> None:
    app = IdempotencyWSGIMiddleware(orders(itertools.count(1)), SyncMemoryStore())
    first = post(app, b'{"amount": 100}')
    again = post(app, b'{"amount": 100}')
    assert first[0] == again[0] == 201
    assert first[2] == again[2] == b'{"order": 1, "amount": 100}'
    assert "idempotent-replayed" not in first[1]
    assert again[1]["idempotent-replayed"] == "true"
    assert again[1]["x-kind"] == "wsgi"
    mismatch = post(app, b'{"amount": 999}')
    assert mismatch[0] == 422
    assert mismatch[1]["content-type"] == "application/problem+json"
    assert json.loads(mismatch[2])["type"] == "urn:buttress:idempotency:fingerprint-mismatch"
    assert post(app, b'{"amount": 1}', key=None)[2] == b'{"order": 2, "amount": 1}'  # no key: passes
    assert post(app, b"{}", key='"bad\\key')[0] == 400
    assert post(app, b"{}", REQUEST_METHOD="GET")[0] == 201  # not a guarded method


def test_failures_release_the_key_and_limits_answer_4xx() -> None:
    app = IdempotencyWSGIMiddleware(
        orders(itertools.count(1)), SyncMemoryStore(), max_request_bytes=64, required=True
    )
    assert post(app, b'{"fail": true}', key="f")[0] == 502
    assert post(app, b'{"fail": true}', key="f")[2] == b'{"error": 2}'  # ran again: not stored
    assert post(app, b"x" * 65, key="big")[0] == 413
    assert post(app, b"{}", key=None)[0] == 400
    assert post(app, b"{}", key="t", CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked")[0] == 411
    assert post(app, b"{}", key="t", CONTENT_LENGTH="1x")[0] == 400
    store = SyncMemoryStore()
    app = IdempotencyWSGIMiddleware(orders(itertools.count(1)), store)
    status, headers, _ = _in_flight(app, store)
    assert status == 409
    assert int(headers["retry-after"]) >= 1


def _in_flight(app: IdempotencyWSGIMiddleware, store: SyncMemoryStore) -> tuple[int, dict[str, str], bytes]:
    """A second request while the first one's response is still being sent."""
    gate = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("201 Created", [])
        gate.wait(10)
        return [b"late"]

    blocking = IdempotencyWSGIMiddleware(slow, store)
    first = threading.Thread(target=post, args=(blocking, b"{}", "same"))
    first.start()
    try:
        for _ in range(1000):
            if len(store):
                break
            threading.Event().wait(0.01)
        return post(app, b"{}", key="same")
    finally:
        gate.set()
        first.join()


def test_a_response_the_client_never_received_is_not_stored() -> None:
    store = SyncMemoryStore()
    app = IdempotencyWSGIMiddleware(orders(itertools.count(1)), store)
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/orders",
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
        "HTTP_IDEMPOTENCY_KEY": "gone",
    }
    result = app(base, lambda status, headers, exc_info=None: None)
    iterator = iter(result)
    next(iterator)  # the server sent the first chunk, then the client went away
    result.close()  # type: ignore[attr-defined]
    assert post(app, b"{}", key="gone")[2] == b'{"order": 2}'  # ran again


def test_an_async_store_belongs_to_the_asgi_middleware() -> None:
    with pytest.raises(IdempotencyTypeError):
        IdempotencyWSGIMiddleware(orders(itertools.count(1)), MemoryStore())  # type: ignore[arg-type]


@hypothesis_settings(deadline=None, max_examples=40)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([b'{"x": 1}', b'{"x": 2}', b'{"fail": 1}'])),
        max_size=12,
    )
)
def test_both_middlewares_answer_every_request_alike(requests: list[tuple[str, bytes]]) -> None:
    """Property: IdempotencyWSGIMiddleware and IdempotencyMiddleware, given the same requests against
    the same kind of application, answer each with the same status, body and replay marker."""
    counters = itertools.count(1), itertools.count(1)
    wsgi = IdempotencyWSGIMiddleware(orders(counters[0]), SyncMemoryStore(clock=FakeClock()))

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = json.loads(body or b"{}")
        if payload.get("fail"):
            status, out = 502, json.dumps({"error": next(counters[1])}).encode()
        else:
            status, out = 201, json.dumps({"order": next(counters[1]), **payload}).encode()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": out})

    asgi = IdempotencyMiddleware(asgi_app, MemoryStore(clock=FakeClock()))

    async def through_asgi(key: str, body: bytes) -> tuple[int, bytes, bool]:
        sent: list[dict[str, Any]] = []
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/orders",
            "query_string": b"",
            "headers": [(b"idempotency-key", key.encode())],
        }
        pending = [{"type": "http.request", "body": body}]

        async def receive() -> dict[str, Any]:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asgi(scope, receive, send)
        replayed = any(n == b"idempotent-replayed" for n, _ in sent[0]["headers"])
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), replayed

    for key, body in requests:
        status, headers, data = post(wsgi, body, key=key)
        assert (status, data, "idempotent-replayed" in headers) == asyncio.run(through_asgi(key, body))


# --- Flask and Django under a real WSGI server -------------------------------------------------------


def flask_app(store: SyncMemoryStore) -> Flask:
    app = Flask(__name__)
    counter = itertools.count(1)

    @app.post("/orders")
    def create() -> tuple[dict[str, Any], int]:
        return {"order": next(counter), **(request.get_json() or {})}, 201

    app.wsgi_app = IdempotencyWSGIMiddleware(app.wsgi_app, store)  # type: ignore[method-assign]
    return app


DJANGO_COUNTER = itertools.count(1)


@csrf_exempt
def django_orders(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"order": next(DJANGO_COUNTER), **json.loads(request.body or b"{}")}, status=201)


def _django() -> AbstractContextManager[None]:
    return django_urls([path("orders", django_orders)])


def drive(base: str) -> None:
    """Concurrent retries of one key run the view once; the rest are replays or 409s, never a second run."""
    with httpx.Client(base_url=base, timeout=10) as client:
        results: list[httpx.Response] = []
        lock = threading.Lock()

        def send() -> None:
            response = client.post("/orders", json={"amount": 100}, headers={"Idempotency-Key": "k-1"})
            with lock:
                results.append(response)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        replay = client.post("/orders", json={"amount": 100}, headers={"Idempotency-Key": "k-1"})
        mismatch = client.post("/orders", json={"amount": 999}, headers={"Idempotency-Key": "k-1"})
        bad = client.post("/orders", json={}, headers={"Idempotency-Key": '"a\\'})
    ran = [r for r in results if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(ran) == 1
    assert all(r.status_code in (201, 409) for r in results)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == ran[0].json() == {"order": ran[0].json()["order"], "amount": 100}
    assert (mismatch.status_code, bad.status_code) == (422, 400)


def test_flask_under_a_wsgi_server() -> None:
    with serve_wsgi(flask_app(SyncMemoryStore())) as base:
        drive(base)


def test_django_under_a_wsgi_server() -> None:
    with _django():
        application = IdempotencyWSGIMiddleware(get_wsgi_application(), SyncMemoryStore())  # wsgi.py
        with serve_wsgi(application) as base:
            drive(base)


def test_the_wsgi_middleware_never_answers_5xx_to_a_client() -> None:
    def ok(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    check_hostile_wsgi(IdempotencyWSGIMiddleware(ok, SyncMemoryStore(), max_request_bytes=1024))
    check_hostile_wsgi(flask_app(SyncMemoryStore()))
    with _django():
        check_hostile_wsgi(IdempotencyWSGIMiddleware(get_wsgi_application(), SyncMemoryStore()))


def test_the_sync_names_raise_only_typed_errors() -> None:
    check_hostile(SyncMemoryStore, clock=FakeClock(), max_records=10)
    store = SyncMemoryStore()
    check_hostile(store.claim, "k", "fp", lease=30.0)
    token = store.claim("held", "fp", lease=30.0).token
    assert token is not None
    check_hostile(store.complete, "held", token, StoredResponse(body=b"x"), retention=60.0)
    check_hostile(store.release, "k2", "t")
    check_hostile(store.renew, "k3", "t", lease=30.0)
    check_hostile(
        SyncIdempotencySlot, store, "k", "fp", lease=30.0, retention=60.0, heartbeat=0, fail_open=False
    )
    check_hostile(
        IdempotencyWSGIMiddleware,
        orders(itertools.count(1)),
        store,
        methods=("POST",),
        required=False,
        header="Idempotency-Key",
        lease=30.0,
        retention=60.0,
        max_request_bytes=1024,
        keep={"app"},
    )
