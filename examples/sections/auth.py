"""The tour's buttress-auth section."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from buttress.auth import (
    RBAC,
    KeySet,
    MemoryTokenStore,
    RedisTokenStore,
    RefreshTokenReusedError,
    RevokedTokenError,
    Role,
    SigningKey,
    TokenError,
    TokenService,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "an access token for user-7 verifies: typ at+jwt, roles ['editor']",
    "alg none is refused: AlgorithmMismatchError",
    "memory: a reused refresh token revokes its family: RefreshTokenReusedError, then RevokedTokenError",
    "rbac: editor may posts:read True, posts:delete False; admin may users:delete True",
)
REAL: tuple[str, ...] = (
    "redis: a reused refresh token revokes its family: RefreshTokenReusedError, then RevokedTokenError",
)

POLICY = RBAC(
    {
        "viewer": Role(permissions=("posts:read",)),
        "editor": Role(permissions=("posts:write",), inherits=("viewer",)),
        "admin": Role(permissions=("*:*",), inherits=("editor",)),
    }
)


async def run(tour: Tour) -> None:
    keys = KeySet(SigningKey.generate("ES256"))
    tokens = TokenService(keys, issuer="https://id.example", audience="api")
    verified = tokens.decode(tokens.issue_access("user-7", claims={"roles": ["editor"]}))
    tour.say(f"an access token for {verified.subject} verifies: typ at+jwt, roles {verified.claims['roles']}")
    _, payload, _ = tokens.issue_access("user-7").split(".")
    forged = f"{_none_header(keys)}.{payload}."
    try:
        tokens.decode(forged)
    except TokenError as exc:
        tour.say(f"alg none is refused: {type(exc).__name__}")

    stores: list[tuple[str, Any]] = [("memory", MemoryTokenStore())]
    if tour.redis_url is not None:
        prefix = f"tour:auth:{secrets.token_hex(4)}:"
        stores.append(("redis", RedisTokenStore.from_url(tour.redis_url, prefix=prefix)))
    for name, store in stores:
        service = TokenService(keys, issuer="https://id.example", audience="api", store=store)
        pair = await service.issue_pair("user-7")
        renewed = await service.refresh(pair.refresh_token)
        outcome: list[str] = []
        try:
            await service.refresh(pair.refresh_token)
        except RefreshTokenReusedError as exc:
            outcome.append(type(exc).__name__)
        try:
            await service.verify(renewed.access_token)
        except RevokedTokenError as exc:
            outcome.append(type(exc).__name__)
        tour.say(f"{name}: a reused refresh token revokes its family: {', then '.join(outcome)}")
        if isinstance(store, RedisTokenStore):  # leave nothing behind on the tour's Redis
            await store.client.delete(*[k async for k in store.client.scan_iter(match=store.prefix + "*")])
            await store.aclose()

    tour.say(
        f"rbac: editor may posts:read {POLICY.allows('editor', 'posts:read')}, "
        f"posts:delete {POLICY.allows('editor', 'posts:delete')}; "
        f"admin may users:delete {POLICY.allows('admin', 'users:delete')}"
    )


def _none_header(keys: KeySet) -> str:
    """The header an attacker writes: the right kid, and ``alg: none``."""
    header = json.dumps({"alg": "none", "kid": keys.active.kid, "typ": "at+jwt"}).encode()
    return base64.urlsafe_b64encode(header).rstrip(b"=").decode()
