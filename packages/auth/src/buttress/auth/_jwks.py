"""The JWKS document (RFC 7517 section 5): published by `JWKSApp`, read by `parse_jwks`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

from buttress.core import Receive, Scope, Send, check_seconds, respond

from ._keys import VerifyingKey
from ._keyset import KeySet
from .exceptions import AuthConfigurationError, AuthTypeError, UnknownKeyError

__all__ = ["MAX_JWKS_KEYS", "JWKSApp", "VerificationKeys", "parse_jwks"]

logger = logging.getLogger(__name__)

MAX_JWKS_KEYS: Final = 100
"""The most keys a JWKS document may hold; a longer one is refused whole."""


def parse_jwks(document: object) -> dict[str, VerifyingKey]:
    """The usable signing keys of a JWKS document, by kid.

    Keys this library cannot use (another algorithm, ``use: enc``, no ``alg``, no ``kid``, a
    symmetric key) are skipped, as RFC 7517 section 5 asks of a reader; a duplicate kid is skipped
    after its first occurrence.

    Raises:
        AuthConfigurationError: The document is not an object with a ``keys`` array, or holds more
            than `MAX_JWKS_KEYS` keys.
    """
    if not isinstance(document, Mapping):
        raise AuthConfigurationError("jwks", None, "must be a JSON object", show_value=False)
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise AuthConfigurationError("jwks", None, "must have a 'keys' array", show_value=False)
    if len(entries) > MAX_JWKS_KEYS:
        raise AuthConfigurationError("jwks", None, f"holds more than {MAX_JWKS_KEYS} keys", show_value=False)
    keys: dict[str, VerifyingKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("kid"), str):
            continue
        try:
            key = VerifyingKey.from_jwk(entry)
        except (AuthConfigurationError, AuthTypeError):
            continue
        keys.setdefault(key.kid, key)
    return keys


class VerificationKeys:
    """A fixed `KeySource`: verification keys known in advance (another issuer's, from its JWKS).

    Args:
        keys: The keys, or a JWKS document (parsed with `parse_jwks`).

    Raises:
        AuthTypeError: ``keys`` is neither.
        AuthConfigurationError: A malformed JWKS document.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[VerifyingKey] | Mapping[str, Any]) -> None:
        given: object = keys
        if isinstance(given, Mapping):
            self._keys = parse_jwks(given)
            return
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise AuthTypeError("keys", "verification keys or a JWKS document", keys)
        found: dict[str, VerifyingKey] = {}
        for key in given:
            if not isinstance(key, VerifyingKey):
                raise AuthTypeError("keys", "VerifyingKey items", key)
            found.setdefault(key.kid, key)
        self._keys = found

    async def verification_key(self, kid: str) -> VerifyingKey:
        """The key ``kid``, or `UnknownKeyError`."""
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnknownKeyError(kid)
        return key

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"VerificationKeys(kids={sorted(self._keys)!r})"


class JWKSApp:
    """An ASGI app serving a `KeySet`'s public keys as a JWKS document, with ``Cache-Control``.

    Mount it at ``/.well-known/jwks.json``. It answers ``GET`` and ``HEAD`` with the keys that
    verify now (so a key leaves the document when it retires), ``405`` to other methods, and
    ignores lifespan and WebSocket scopes. Keep ``max_age`` well below the grace a rotation gives
    the old key: clients then learn the new key while the old one still verifies.

    Args:
        keys: The key set whose public keys are served.
        max_age: Seconds clients may cache the document (``Cache-Control: public, max-age``).

    Raises:
        AuthTypeError: ``keys`` is not a `KeySet`.
        AuthConfigurationError: ``max_age`` is not a number of seconds from 0 to a day.
    """

    def __init__(self, keys: KeySet, *, max_age: float = 300.0) -> None:
        if not isinstance(keys, KeySet):
            raise AuthTypeError("keys", "a KeySet", keys)
        self._keys = keys
        self._max_age = int(
            check_seconds("max_age", max_age, allow_zero=True, maximum=86_400, error=AuthConfigurationError)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the document."""
        if scope.get("type") != "http":
            return
        method = scope.get("method")
        if method not in ("GET", "HEAD"):
            await respond(send, 405, headers=[(b"allow", b"GET, HEAD")])
            return
        body = json.dumps(self._keys.jwks(), separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/jwk-set+json"),
            (b"cache-control", f"public, max-age={self._max_age}".encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if method == "HEAD":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await respond(send, 200, headers=headers, body=body)

    def __repr__(self) -> str:
        return f"JWKSApp(max_age={self._max_age})"
