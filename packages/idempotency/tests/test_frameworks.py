"""The middleware in real framework apps: Starlette, FastAPI and Litestar (test-only dependencies)."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Request
from litestar import Litestar, post
from litestar import Response as LitestarResponse
from litestar.middleware import DefineMiddleware
from litestar.params import Body
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from buttress.idempotency import IdempotencyMiddleware, MemoryStore


def user_of(scope: Any) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode())
    return None


def starlette_app(store: MemoryStore, counter: itertools.count[int]) -> Any:
    async def create(request: Request) -> Response:
        payload = await request.json()
        if payload.get("fail"):
            return JSONResponse({"error": next(counter)}, status_code=502)
        return JSONResponse(
            {"order": next(counter), **payload}, status_code=201, headers={"x-kind": "starlette"}
        )

    return Starlette(
        routes=[Route("/orders", create, methods=["POST"])],
        middleware=[Middleware(IdempotencyMiddleware, store=store, principal=user_of)],
    )


def fastapi_app(store: MemoryStore, counter: itertools.count[int]) -> Any:
    app = FastAPI()

    @app.post("/orders", status_code=201)
    async def create(request: Request) -> Any:
        payload = await request.json()
        if payload.get("fail"):
            return JSONResponse({"error": next(counter)}, status_code=502)
        return JSONResponse(
            {"order": next(counter), **payload}, status_code=201, headers={"x-kind": "fastapi"}
        )

    app.add_middleware(IdempotencyMiddleware, store=store, principal=user_of)
    return app


def litestar_app(store: MemoryStore, counter: itertools.count[int]) -> Any:
    @post("/orders", status_code=201)
    async def create(data: Annotated[dict[str, Any], Body()]) -> LitestarResponse[dict[str, Any]]:
        if data.get("fail"):
            return LitestarResponse({"error": next(counter)}, status_code=502)
        return LitestarResponse(
            {"order": next(counter), **data}, status_code=201, headers={"x-kind": "litestar"}
        )

    return Litestar(
        route_handlers=[create],
        middleware=[DefineMiddleware(IdempotencyMiddleware, store=store, principal=user_of)],
    )


@pytest.mark.parametrize(
    "build", [starlette_app, fastapi_app, litestar_app], ids=["starlette", "fastapi", "litestar"]
)
async def test_the_middleware_guards_a_framework_app(build: Any, make_client: Any) -> None:
    counter = itertools.count(1)
    app = build(MemoryStore(), counter)
    alice = {"Idempotency-Key": "order-1", "authorization": "alice"}
    async with make_client(app) as client:
        first = await client.post("/orders", json={"item": "book"}, headers=alice)
        replay = await client.post("/orders", json={"item": "book"}, headers=alice)
        mismatch = await client.post("/orders", json={"item": "pen"}, headers=alice)
        bob = await client.post(
            "/orders", json={"item": "pen"}, headers={"Idempotency-Key": "order-1", "authorization": "bob"}
        )
        failed = [
            await client.post("/orders", json={"fail": True}, headers={**alice, "Idempotency-Key": "f"})
            for _ in range(2)
        ]
        plain = await client.post("/orders", json={"item": "mug"})
    assert first.status_code == 201
    assert first.json() == {"order": 1, "item": "book"}
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert replay.headers["x-kind"] == first.headers["x-kind"]
    assert mismatch.status_code == 422
    assert mismatch.headers["content-type"] == "application/problem+json"
    assert bob.json()["order"] == 2
    assert [r.status_code for r in failed] == [502, 502]
    assert plain.json()["order"] == 5
