"""Request ids: safe ids accepted, unsafe replaced, echoed, bound for exactly the request (Property 14)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.observability import (
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    RequestIdMiddleware,
    WSGIRequestIdMiddleware,
    current_request_id,
    is_safe_request_id,
    new_request_id,
)
from buttress.testing import RecordedMetrics, serve_asgi, serve_wsgi

SAFE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-._:+=/@]{0,60}", fullmatch=True)


async def echo_context(scope: Any, receive: Any, send: Any) -> None:
    bound = structlog.contextvars.get_contextvars().get("request_id")
    body = f"{current_request_id()}|{bound}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"app's own")]})
    await send({"type": "http.response.body", "body": body})


def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    bound = structlog.contextvars.get_contextvars().get("request_id")
    body = f"{current_request_id()}|{bound}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def test_safe_ids_are_accepted_and_echoed_unsafe_ones_replaced(metric_reader: RecordedMetrics) -> None:
    with serve_asgi(RequestIdMiddleware(echo_context)) as base:
        kept = httpx.get(base, headers={"X-Request-ID": "abc-123"})
        made = httpx.get(base)
        replaced = httpx.get(base, headers={"X-Request-ID": 'a b"<script>'})
        too_long = httpx.get(base, headers={"X-Request-ID": "a" * 129})
    assert kept.headers.get_list("x-request-id") == ["abc-123"]
    assert kept.text == "abc-123|abc-123"
    for response in (made, replaced, too_long):
        [echoed] = response.headers.get_list("x-request-id")
        assert is_safe_request_id(echoed)
        assert response.text == f"{echoed}|{echoed}"
    assert replaced.headers["x-request-id"] != 'a b"<script>'
    for source, count in (("accepted", 1), ("generated", 1), ("replaced", 2)):
        assert (
            metric_reader.value("buttress.observability.request_ids", {"request_id.source": source}) == count
        )


def test_the_wsgi_twin(metric_reader: RecordedMetrics) -> None:
    with serve_wsgi(WSGIRequestIdMiddleware(wsgi_echo, header="X-Correlation-ID")) as base:
        kept = httpx.get(base, headers={"X-Correlation-ID": "req-7"})
        made = httpx.get(base, headers={"X-Correlation-ID": "bad id"})
    assert kept.headers["x-correlation-id"] == "req-7"
    assert kept.text == "req-7|req-7"
    assert made.text == f"{made.headers['x-correlation-id']}|{made.headers['x-correlation-id']}"
    assert metric_reader.value("buttress.observability.request_ids") == 2


@settings(max_examples=50, deadline=None)
@given(ids=st.lists(st.one_of(SAFE, st.none(), st.text(max_size=20)), min_size=1, max_size=12))
def test_property_14_request_ids_are_isolated_between_concurrent_tasks(ids: list[str | None]) -> None:
    """Property 14: Request ID context isolation.

    Concurrent requests each see their own id, from the first await to the last, whatever the others
    do in between; after every request nothing is left bound in the context that served them.
    """
    seen: dict[int, list[tuple[str | None, object]]] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        index = scope["index"]
        for _ in range(3):
            seen.setdefault(index, []).append(
                (current_request_id(), structlog.contextvars.get_contextvars().get("request_id"))
            )
            await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = RequestIdMiddleware(app)

    async def one(index: int, incoming: str | None) -> str:
        headers = [] if incoming is None else [(b"x-request-id", incoming.encode("utf-8", "surrogatepass"))]
        scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "index": index}
        echoed: list[bytes] = []

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                echoed.extend(v for k, v in message["headers"] if k == b"x-request-id")

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        await middleware(scope, receive, send)
        assert current_request_id() is None
        assert "request_id" not in structlog.contextvars.get_contextvars()
        [value] = echoed
        return value.decode()

    async def main() -> list[str]:
        structlog.contextvars.clear_contextvars()
        results = await asyncio.gather(*(one(i, incoming) for i, incoming in enumerate(ids)))
        # the caller's own context saw nothing either
        assert current_request_id() is None
        return list(results)

    results = asyncio.run(main())
    for index, incoming in enumerate(ids):
        expected = results[index]
        assert seen[index] == [(expected, expected)] * 3
        if incoming is not None and is_safe_request_id(incoming):
            assert expected == incoming
        else:
            assert is_safe_request_id(expected)
    assert len(set(results)) == len(results) or any(
        ids.count(i) > 1 for i in ids if i is not None and is_safe_request_id(i)
    )


def test_a_failing_app_leaves_nothing_bound() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError

    async def main() -> None:
        scope = {"type": "http", "headers": [(b"x-request-id", b"r-1")]}
        with pytest.raises(RuntimeError):
            await RequestIdMiddleware(broken)(scope, None, None)  # type: ignore[arg-type]
        assert current_request_id() is None
        assert "request_id" not in structlog.contextvars.get_contextvars()

    asyncio.run(main())


def test_wsgi_requests_in_threads_are_isolated() -> None:
    barrier = threading.Barrier(4)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        barrier.wait(timeout=10)
        body = f"{current_request_id()}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    results: list[str] = []
    with serve_wsgi(WSGIRequestIdMiddleware(app)) as base:
        threads = [
            threading.Thread(
                target=lambda i=i: results.append(httpx.get(base, headers={"X-Request-ID": f"t-{i}"}).text)
            )
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [f"t-{i}" for i in range(4)]


@given(SAFE)
def test_safe_ids_are_safe(value: str) -> None:
    assert is_safe_request_id(value)


@given(st.text(min_size=1, max_size=40))
def test_an_accepted_id_never_holds_a_header_breaking_character(value: str) -> None:
    if is_safe_request_id(value):
        assert not set(value) & set(" \t\r\n\"'<>;,\\")
        assert value.isascii()


def test_generated_ids_are_unique_uuids() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_safe_request_id(i) and len(i) == 36 for i in ids)


def test_bad_options_are_typed_errors() -> None:
    with pytest.raises(ObservabilityTypeError):
        RequestIdMiddleware(None)  # type: ignore[arg-type]
    with pytest.raises(ObservabilityConfigurationError):
        RequestIdMiddleware(echo_context, header="X Request")
    with pytest.raises(ObservabilityConfigurationError):
        WSGIRequestIdMiddleware(wsgi_echo, max_length=2)
    with pytest.raises(ObservabilityTypeError):
        WSGIRequestIdMiddleware(wsgi_echo, max_length="64")  # type: ignore[arg-type]
