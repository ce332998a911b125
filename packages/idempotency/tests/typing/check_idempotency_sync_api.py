"""Static checks of buttress.idempotency's synchronous face (WSGI); run by mypy only."""

from __future__ import annotations

from typing import assert_type

from buttress.core import WSGIApp, WSGIEnviron
from buttress.idempotency import (
    Claim,
    IdempotencyWSGIMiddleware,
    StoredResponse,
    SyncIdempotencySlot,
    SyncIdempotencyStore,
    SyncMemoryStore,
)


def user_of(environ: WSGIEnviron) -> str | None:
    value = environ.get("HTTP_AUTHORIZATION")
    return value if isinstance(value, str) else None


def sync_face(app: WSGIApp) -> WSGIApp:
    store: SyncIdempotencyStore = SyncMemoryStore(max_records=1000)
    assert_type(store.claim("k", "fp", lease=30.0), Claim)
    assert_type(store.renew("k", "token", lease=30.0), bool)
    with SyncIdempotencySlot(store, "order-7", "charge:100", lease=30.0) as slot:
        assert_type(slot, SyncIdempotencySlot)
        assert_type(slot.replay, StoredResponse | None)
        slot.complete(StoredResponse(body=b"receipt"))
    return IdempotencyWSGIMiddleware(app, store, principal=user_of, required=True, max_request_bytes=65536)
