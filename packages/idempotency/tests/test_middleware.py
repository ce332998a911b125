"""The middleware through a raw ASGI app: the draft's status codes, replay, scoping and the outcome policy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from buttress.idempotency import (
    IdempotencyMiddleware,
    IdempotencyTypeError,
    MemoryStore,
    StoredResponse,
    default_store_status,
)
from buttress.idempotency.exceptions import IdempotencyConfigurationError

from .conftest import post_scope, receive_json

PROBLEM = "application/problem+json"


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert document["status"] == response.status_code
    assert document["type"].startswith("urn:buttress:idempotency:")
    assert document["title"]
    assert document["detail"]
    return document


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


# (first request, second request, expected second status, replayed?, handler calls after both)
TABLE = [
    pytest.param(
        ("/orders", "k1", b"a"), ("/orders", "k1", b"a"), 201, True, 1, id="same-key-same-body-replays"
    ),
    pytest.param(
        ("/orders", "k1", b"a"), ("/orders", "k1", b"b"), 422, False, 1, id="same-key-other-body-422"
    ),
    pytest.param(("/orders", "k1", b"a"), ("/orders", "k2", b"a"), 201, False, 2, id="other-key-executes"),
    pytest.param(
        ("/orders", "k1", b"a"), ("/other", "k1", b"a"), 201, False, 2, id="other-route-is-another-scope"
    ),
    pytest.param(
        ("/orders?x=1", "k1", b"a"), ("/orders?x=2", "k1", b"a"), 422, False, 1, id="other-query-422"
    ),
    pytest.param(
        ("/orders?x=1", "k1", b"a"), ("/orders?x=1", "k1", b"a"), 201, True, 1, id="same-query-replays"
    ),
    pytest.param(("/status/404", "k", b""), ("/status/404", "k", b""), 404, True, 1, id="4xx-is-stored"),
    pytest.param(("/status/200", "k", b""), ("/status/200", "k", b""), 200, True, 1, id="2xx-is-stored"),
    pytest.param(("/status/503", "k", b""), ("/status/503", "k", b""), 503, False, 2, id="5xx-is-released"),
    pytest.param(("/status/429", "k", b""), ("/status/429", "k", b""), 429, False, 2, id="429-is-released"),
]


@pytest.mark.parametrize(("first", "second", "status", "replayed", "calls"), TABLE)
async def test_the_drafts_status_codes(
    store: MemoryStore,
    counting_app: Any,
    make_client: Any,
    first: tuple[str, str, bytes],
    second: tuple[str, str, bytes],
    status: int,
    replayed: bool,
    calls: int,
) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        one = await client.post(first[0], content=first[2], headers={"Idempotency-Key": first[1]})
        two = await client.post(second[0], content=second[2], headers={"Idempotency-Key": second[1]})
    assert "idempotent-replayed" not in one.headers
    assert two.status_code == status
    assert counting_app.calls == calls
    if replayed:
        assert two.headers["idempotent-replayed"] == "true"
        assert two.content == one.content
        assert two.headers["x-call"] == one.headers["x-call"]
    else:
        assert "idempotent-replayed" not in two.headers
    if status == 422:
        assert problem(two)["type"].endswith("fingerprint-mismatch")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        '""',
        "x" * 256,
        '"' + "x" * 256 + '"',
        "has space",
        '"unterminated',
        '"bad\\escape"',
        '"k"trailing',
        "ключ",
        "semi;colon",
        "a,b",
    ],
)
async def test_a_malformed_key_is_400(
    store: MemoryStore, counting_app: Any, make_client: Any, raw: str
) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        response = await client.post(
            "/orders", content=b"{}", headers=[(b"idempotency-key", raw.encode("utf-8"))]
        )
    assert response.status_code == 400
    assert problem(response)["type"].endswith("invalid-key")
    assert counting_app.calls == 0


@pytest.mark.parametrize(
    ("raw", "same"),
    [
        ('"abc-123"', "abc-123"),
        ("abc-123", '"abc-123"'),
        ('"k";v=1', "k"),
        (" k ", "k"),
        ("x" * 255, '"' + "x" * 255 + '"'),
        ("a/b+c=:~._", '"a/b+c=:~._"'),
    ],
)
async def test_sf_strings_and_bare_tokens_name_the_same_key(
    store: MemoryStore, counting_app: Any, make_client: Any, raw: str, same: str
) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        first = await client.post("/orders", headers={"Idempotency-Key": raw})
        second = await client.post("/orders", headers={"Idempotency-Key": same})
    assert first.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert counting_app.calls == 1


async def test_a_quoted_key_with_escapes_is_rejected_when_unsafe(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        response = await client.post("/orders", headers={"Idempotency-Key": '"a\\"b"'})
    # The sf-string is well formed but a double quote is outside the safe charset.
    assert response.status_code == 400
    assert counting_app.calls == 0


async def test_the_header_sent_twice_is_400(store: MemoryStore, counting_app: Any, make_client: Any) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        response = await client.post(
            "/orders", headers=[(b"idempotency-key", b"a"), (b"idempotency-key", b"b")]
        )
    assert response.status_code == 400
    assert counting_app.calls == 0


async def test_a_missing_key_is_400_where_required(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, required=lambda scope: scope["path"] == "/payments")
    async with make_client(app) as client:
        missing = await client.post("/payments", content=b"{}")
        optional = await client.post("/orders", content=b"{}")
    assert missing.status_code == 400
    assert problem(missing)["type"].endswith("key-missing")
    assert optional.status_code == 201
    assert counting_app.calls == 1


async def test_required_true_applies_to_every_guarded_method(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, required=True)
    async with make_client(app) as client:
        assert (await client.patch("/x")).status_code == 400
        assert (await client.get("/x")).status_code == 201
        assert (await client.put("/x")).status_code == 201
    assert counting_app.calls == 2


async def test_unguarded_methods_pass_through_even_with_a_key(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, methods=["PUT"])
    async with make_client(app) as client:
        for _ in range(2):
            await client.post("/x", headers={"Idempotency-Key": "k"})
        await client.put("/x", headers={"Idempotency-Key": "k"})
        replay = await client.put("/x", headers={"Idempotency-Key": "k"})
    assert counting_app.calls == 3
    assert replay.headers["idempotent-replayed"] == "true"


async def test_a_duplicate_in_flight_is_409_with_retry_after(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    counting_app.gate = asyncio.Event()
    app = IdempotencyMiddleware(counting_app, store, lease=20)
    async with make_client(app) as client:
        first = asyncio.create_task(client.post("/orders", content=b"a", headers={"Idempotency-Key": "k"}))
        await counting_app.entered.wait()
        second = await client.post("/orders", content=b"a", headers={"Idempotency-Key": "k"})
        counting_app.gate.set()
        one = await first
        third = await client.post("/orders", content=b"a", headers={"Idempotency-Key": "k"})
    assert second.status_code == 409
    assert problem(second)["type"].endswith("in-flight")
    assert 1 <= int(second.headers["retry-after"]) <= 20
    assert one.status_code == 201
    assert third.headers["idempotent-replayed"] == "true"
    assert counting_app.calls == 1


async def test_an_exception_releases_the_key(store: MemoryStore, counting_app: Any, make_client: Any) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        for _ in range(2):
            with pytest.raises(RuntimeError, match="handler failed"):
                await client.post("/boom", headers={"Idempotency-Key": "k"})
    assert counting_app.calls == 2
    assert len(store) == 0


async def test_the_outcome_policy_is_configurable(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, store_status=lambda status: status < 400)
    async with make_client(app) as client:
        for _ in range(2):
            await client.post("/status/409", headers={"Idempotency-Key": "a"})
        for _ in range(2):
            await client.post("/status/302", headers={"Idempotency-Key": "b"})
    assert counting_app.calls == 3


def test_the_default_policy() -> None:
    assert [s for s in (200, 201, 204, 301, 400, 404, 409, 422) if not default_store_status(s)] == []
    assert [s for s in (408, 425, 429, 500, 502, 503) if default_store_status(s)] == []


async def test_a_response_over_the_limit_is_sent_but_not_stored(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, max_response_bytes=1000)
    async with make_client(app) as client:
        small = [await client.post("/big/1000", headers={"Idempotency-Key": "s"}) for _ in range(2)]
        large = [await client.post("/big/1001", headers={"Idempotency-Key": "l"}) for _ in range(2)]
    assert small[1].headers["idempotent-replayed"] == "true"
    assert [len(r.content) for r in large] == [1001, 1001]
    assert "idempotent-replayed" not in large[1].headers
    assert counting_app.calls == 3


async def test_a_streamed_response_is_captured_whole(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        first = await client.post("/stream/5", headers={"Idempotency-Key": "k"})
        replay = await client.post("/stream/5", headers={"Idempotency-Key": "k"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert first.content.count(b'"call"') == 5


async def test_a_streamed_response_over_the_limit_is_not_stored(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, max_response_bytes=50)
    async with make_client(app) as client:
        first = await client.post("/stream/4", headers={"Idempotency-Key": "k"})
        again = await client.post("/stream/4", headers={"Idempotency-Key": "k"})
    assert first.content.count(b'"call"') == 4
    assert "idempotent-replayed" not in again.headers
    assert counting_app.calls == 2


async def test_a_request_body_over_the_limit_is_413(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, max_request_bytes=10)
    async with make_client(app) as client:
        ok = await client.post("/orders", content=b"x" * 10, headers={"Idempotency-Key": "a"})
        big = await client.post("/orders", content=b"x" * 11, headers={"Idempotency-Key": "b"})
    assert ok.status_code == 201
    assert big.status_code == 413
    assert problem(big)["type"].endswith("request-too-large")
    assert counting_app.calls == 1


async def test_the_app_receives_the_buffered_body_in_full(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    async def chunks() -> Any:
        for part in (b"ab", b"cd", b"ef"):
            yield part

    app = IdempotencyMiddleware(counting_app, store)
    async with make_client(app) as client:
        response = await client.post("/orders", content=chunks(), headers={"Idempotency-Key": "k"})
    assert json.loads(response.content)["echo"] == b"abcdef".hex()


async def test_principals_scope_keys(store: MemoryStore, counting_app: Any, make_client: Any) -> None:
    async def principal(scope: Any) -> str | None:
        await asyncio.sleep(0)
        for name, value in scope["headers"]:
            if name == b"x-user":
                return str(value.decode())
        return None

    app = IdempotencyMiddleware(counting_app, store, principal=principal)
    async with make_client(app) as client:
        alice = await client.post(
            "/orders", content=b"a", headers={"Idempotency-Key": "k", "x-user": "alice"}
        )
        bob = await client.post("/orders", content=b"b", headers={"Idempotency-Key": "k", "x-user": "bob"})
        alice_again = await client.post(
            "/orders", content=b"a", headers={"Idempotency-Key": "k", "x-user": "alice"}
        )
    assert bob.status_code == 201
    assert "idempotent-replayed" not in bob.headers
    assert bob.content != alice.content
    assert alice_again.content == alice.content
    assert counting_app.calls == 2


async def test_fingerprint_headers_count(store: MemoryStore, counting_app: Any, make_client: Any) -> None:
    app = IdempotencyMiddleware(counting_app, store, fingerprint_headers=["Content-Type"])
    async with make_client(app) as client:
        await client.post("/o", content=b"1", headers={"Idempotency-Key": "k", "content-type": "text/plain"})
        other = await client.post(
            "/o", content=b"1", headers={"Idempotency-Key": "k", "content-type": "application/json"}
        )
        ignored = await client.post(
            "/o", content=b"1", headers={"Idempotency-Key": "k", "content-type": "text/plain", "x-other": "1"}
        )
    assert other.status_code == 422
    assert ignored.headers["idempotent-replayed"] == "true"


async def test_replay_header_name_is_configurable(
    store: MemoryStore, counting_app: Any, make_client: Any
) -> None:
    app = IdempotencyMiddleware(counting_app, store, replayed_header="X-Replayed", header="X-Request-Key")
    async with make_client(app) as client:
        for _ in range(2):
            response = await client.post("/o", headers={"X-Request-Key": "k"})
    assert response.headers["x-replayed"] == "true"
    assert counting_app.calls == 1


async def test_lifespan_and_websocket_scopes_pass_through(store: MemoryStore) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = IdempotencyMiddleware(app, store)
    for kind in ("lifespan", "websocket"):
        await middleware({"type": kind}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan", "websocket"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"lease": 0}, IdempotencyConfigurationError),
        ({"retention": -1}, IdempotencyConfigurationError),
        ({"heartbeat": 40, "lease": 30}, IdempotencyConfigurationError),
        ({"max_response_bytes": 0}, IdempotencyConfigurationError),
        ({"max_request_bytes": 1.5}, IdempotencyConfigurationError),
        ({"retry_after": 0}, IdempotencyConfigurationError),
        ({"header": ""}, IdempotencyConfigurationError),
        ({"methods": "POST"}, IdempotencyTypeError),
        ({"principal": "alice"}, IdempotencyTypeError),
        ({"required": "yes"}, IdempotencyTypeError),
        ({"fingerprint_headers": "content-type"}, IdempotencyTypeError),
    ],
)
def test_bad_configuration_is_rejected(
    counting_app: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        IdempotencyMiddleware(counting_app, MemoryStore(), **kwargs)
    assert isinstance(info.value, ValueError | TypeError)
    assert next(iter(kwargs)) in str(info.value) or "heartbeat" in str(info.value)


def test_a_store_that_is_not_a_store_is_rejected(counting_app: Any) -> None:
    with pytest.raises(IdempotencyTypeError, match="store"):
        IdempotencyMiddleware(counting_app, object())  # type: ignore[arg-type]


async def test_a_principal_that_is_not_a_str_is_a_type_error(counting_app: Any, make_client: Any) -> None:
    app = IdempotencyMiddleware(counting_app, MemoryStore(), principal=lambda scope: 42)  # type: ignore[arg-type,return-value]
    async with make_client(app) as client:
        with pytest.raises(IdempotencyTypeError, match="principal"):
            await client.post("/orders", headers={"Idempotency-Key": "k"})
    assert counting_app.calls == 0


# --- the last chunk: stored, then sent --------------------------------------------------------------------


class _Recorded(MemoryStore):
    """A MemoryStore that writes each completion into a shared log, and can hold it until released."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()
        self.stored = asyncio.Event()

    async def complete(self, key: str, token: str, response: StoredResponse, *, retention: float) -> bool:
        self.writing.set()
        await self.gate.wait()
        stored = await super().complete(key, token, response, retention=retention)
        self.log.append("stored")
        self.stored.set()
        return stored


def _answering(log: list[str], *, then: Any = None) -> Any:
    """An ASGI app sending 201 in two chunks, then running ``then`` (an extra message, an error)."""
    calls: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(1)
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-n", b"%d" % len(calls))]})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b", "more_body": False})
        log.append("app sent the last chunk")
        if isinstance(then, BaseException):
            raise then
        if then is not None:
            await send(then)

    app.calls = calls  # type: ignore[attr-defined]
    return app


def _server(log: list[str]) -> Any:
    async def send(message: dict[str, Any]) -> None:
        body = message.get("body")
        log.append(f"{message['type']} {body!r}" if body is not None else message["type"])

    return send


async def test_the_last_chunk_leaves_only_once_the_outcome_is_stored() -> None:
    log: list[str] = []
    store = _Recorded(log)
    app = _answering(log)
    await IdempotencyMiddleware(app, store)(post_scope(), receive_json, _server(log))
    assert log == [
        "http.response.start",
        "http.response.body b'a'",
        "app sent the last chunk",
        "stored",
        "http.response.body b'b'",
    ]


async def test_a_message_after_the_last_chunk_follows_it_out() -> None:
    log: list[str] = []
    app = _answering(log, then={"type": "http.response.trailers", "headers": [], "more_trailers": False})
    await IdempotencyMiddleware(app, _Recorded(log))(post_scope(), receive_json, _server(log))
    assert log[-3:] == ["stored", "http.response.body b'b'", "http.response.trailers"]


async def test_an_error_after_the_whole_response_keeps_the_stored_outcome() -> None:
    """The application sent its response in full, then raised: the response is stored and replayed."""
    log: list[str] = []
    store = _Recorded(log)
    app = _answering(log, then=RuntimeError("after the response"))
    middleware = IdempotencyMiddleware(app, store)
    with pytest.raises(RuntimeError, match="after the response"):
        await middleware(post_scope(), receive_json, _server(log))
    assert log[-2:] == ["stored", "http.response.body b'b'"]
    replay: list[str] = []
    await middleware(post_scope(), receive_json, _server(replay))
    assert app.calls == [1]
    assert replay == ["http.response.start", "http.response.body b'ab'"]


async def test_a_request_cancelled_during_the_last_write_still_stores_its_outcome() -> None:
    log: list[str] = []
    store = _Recorded(log)
    store.gate.clear()  # the write waits
    app = _answering(log)
    middleware = IdempotencyMiddleware(app, store)
    request = asyncio.create_task(middleware(post_scope(), receive_json, _server(log)))
    await store.writing.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    store.gate.set()
    await store.stored.wait()
    replay: list[str] = []
    await middleware(post_scope(), receive_json, _server(replay))
    assert app.calls == [1]
    assert replay == ["http.response.start", "http.response.body b'ab'"]
