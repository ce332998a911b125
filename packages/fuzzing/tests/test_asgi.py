"""ASGI targets: generated requests against a hand-written app; 5xx and exceptions are crashes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from buttress.fuzzing import (
    AsgiTarget,
    Fuzzer,
    FuzzingConfig,
    FuzzingConfigurationError,
    FuzzingTypeError,
    ServerErrorResponse,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

CONFIG = {"code_constants": False}


async def _respond(send: Send, status: int, body: bytes = b"") -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
    )
    await send({"type": "http.response.body", "body": body})


def _load_item(item_id: str) -> dict[str, object]:
    if item_id.startswith("-"):
        raise LookupError(f"negative id {item_id}")
    return {"id": item_id}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A tiny API with two bugs: a negative item id raises; a body that is a JSON list answers 500."""
    assert scope["type"] == "http"
    path: str = scope["path"]
    message = await receive()
    body: bytes = message.get("body", b"")
    if path == "/health":
        await _respond(send, 200, b"ok")
    elif path.startswith("/items/"):
        item = _load_item(path.removeprefix("/items/"))
        await _respond(send, 200, json.dumps(item).encode())
    elif path == "/orders" and scope["method"] == "POST":
        if body.lstrip().startswith(b"["):
            await _respond(send, 500)  # the bug: batch orders were never implemented
            return
        try:
            json.loads(body)
        except ValueError:
            await _respond(send, 400)
            return
        await _respond(send, 201)
    else:
        await _respond(send, 404)


async def healthy(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers every request properly."""
    await receive()
    await _respond(send, 404 if scope["path"] != "/" else 200)


ROUTES = ["/health", "/items/{item_id}", "/orders"]


def test_asgi_bugs_are_found_and_told_apart(tmp_path: Path) -> None:
    """An exception and a 500 on another route: two signatures, each with a reproducer that replays."""
    target = AsgiTarget(app, ROUTES, methods=["GET", "POST"])
    config = FuzzingConfig(
        max_iterations=3_000, seed=1, crashes_dir=tmp_path, dictionary=[b"-", b"[", b"[]"], **CONFIG
    )
    fuzzer = Fuzzer(target, config)
    report = fuzzer.run()

    kinds = {r.signature.exception_type: r for r in report.crashes}
    assert set(kinds) == {"LookupError", "buttress.fuzzing.exceptions.ServerErrorResponse"}
    assert kinds["LookupError"].signature.frames[0].function == "_load_item"
    assert (
        str(kinds["buttress.fuzzing.exceptions.ServerErrorResponse"].signature.frames[0])
        == "POST /orders (<asgi>:500)"
    )
    for record in report.crashes:
        assert record.reproducer is not None
        replay = fuzzer.reproduce((tmp_path / record.reproducer).read_bytes())
        assert replay.signature == record.signature
        assert "request: HttpRequest(" in (tmp_path / f"{record.reproducer}.txt").read_text()


def test_a_healthy_app_has_no_crashes() -> None:
    """404s and 400s are answers, not crashes."""
    report = Fuzzer(
        AsgiTarget(healthy, ["/", "/{name}"]), FuzzingConfig(max_iterations=1_000, **CONFIG)
    ).run()
    assert report.crashes == ()
    assert report.executions == 1_000


async def test_no_response_is_a_crash() -> None:
    """An app that returns without answering is reported (status None)."""

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(ServerErrorResponse) as caught:
        await AsgiTarget(silent, ["/"])(b"")
    assert caught.value.status is None
    assert "no response" in str(caught.value)


def test_requests_are_decoded_within_the_declared_shape() -> None:
    """Every input maps to a declared method and route, parameters filled and escaped, headers visible."""
    target = AsgiTarget(healthy, ["/a/{x}/b"], methods=["put"])
    for data in (b"", b"\x00\x00\x05a/b c", bytes(range(256))):
        request = target.request(data)
        assert request.method == "PUT"
        assert request.route == "/a/{x}/b"
        assert request.path.startswith("/a/")
        assert request.path.endswith("/b")
        assert " " not in request.path
        assert all(32 <= b < 127 for _, value in request.headers for b in value)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"app": "not an app", "routes": ["/"]}, FuzzingTypeError),
        ({"app": healthy, "routes": []}, FuzzingConfigurationError),
        ({"app": healthy, "routes": "/"}, FuzzingTypeError),
        ({"app": healthy, "routes": ["no-slash"]}, FuzzingConfigurationError),
        ({"app": healthy, "routes": [1]}, FuzzingTypeError),
        ({"app": healthy, "routes": ["/"], "methods": []}, FuzzingConfigurationError),
        ({"app": healthy, "routes": ["/"], "max_body": -1}, FuzzingConfigurationError),
    ],
)
def test_bad_asgi_targets_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """Bad apps, routes and limits are typed errors."""
    with pytest.raises(error):
        AsgiTarget(**kwargs)
