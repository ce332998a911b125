"""`JWKSClient`: another issuer's JWKS, fetched with httpx, cached, and kept through its outages.

Unlike PyJWT's ``PyJWKClient`` (synchronous urllib, a lock held during the network call), the
fetch is async and single-flight: however many requests find the cache stale or a ``kid`` unknown
at once, one request goes out and the others await its answer. A failed fetch keeps the last good
set; an unknown ``kid`` refetches at most once per cooldown, and is then remembered as unknown for a
while (the negative cache), so a flood of tokens with invented kids costs the issuer nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any, Final

from buttress.core import AsyncResource, Clock, Owned, check_count, check_seconds, check_text, redact_url

from ._jwks import parse_jwks
from ._keys import MAX_KID, VerifyingKey
from ._keyset import _clock
from ._metrics import JWKS_FETCHES
from .exceptions import (
    AuthConfigurationError,
    AuthTypeError,
    JWKSUnavailableError,
    MissingExtraError,
    UnknownKeyError,
)

try:
    import httpx
except ImportError as exc:  # pragma: no cover - exercised by the bare session
    raise MissingExtraError("JWKSClient", "http") from exc

__all__ = ["JWKSClient"]

logger = logging.getLogger(__name__)

_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE: Final = re.compile(r"(?:^|,)\s*(no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)
_MAX_NEGATIVE: Final = 10_000
_OK: Final = {"auth.outcome": "ok"}
_ERROR: Final = {"auth.outcome": "error"}


def cache_seconds(header: str | None, *, default: float, floor: float, ceiling: float) -> float:
    """How long a JWKS may be cached, from its ``Cache-Control`` header.

    ``max-age`` is honoured within [``floor``, ``ceiling``]; ``no-store`` and ``no-cache`` mean
    ``floor`` (the cooldown: refetching faster would hammer the issuer); no header means
    ``default``.
    """
    if header is None:
        return default
    if _NO_CACHE.search(header):
        return floor
    match = _MAX_AGE.search(header)
    if match is None:
        return default
    return min(max(float(match.group(1)), floor), ceiling)


class JWKSClient(AsyncResource):
    """Another issuer's verification keys, from its JWKS URL: a `KeySource` for `TokenVerifier`.

    The URL is configuration (the issuer's ``jwks_uri``), never taken from a token: ``jku`` and
    ``x5u`` headers are refused, not followed. If the URL comes from a user (a tenant's settings,
    say), pass a ``client`` whose transport refuses private addresses, such as buttress-webhooks'
    ``SafeTransport``; this client does not guard against SSRF itself.

    Args:
        url: The JWKS URL (``https://``, or ``http://`` for a local issuer).
        client: An ``httpx.AsyncClient`` to borrow (never closed here); one is opened and owned
            otherwise.
        ttl: Seconds a fetched set is used when the answer has no ``Cache-Control: max-age``.
        max_ttl: The longest ``max-age`` honoured, in seconds.
        cooldown: The least time between two fetches caused by unknown kids or failures, and the
            shortest cache time (``no-store`` means this).
        negative_ttl: Seconds a kid still unknown after a refetch is answered unknown without one.
        timeout: Seconds one fetch may take, connecting and reading included.
        max_bytes: The largest JWKS document accepted.
        clock: Where the time comes from (its ``monotonic``).

    Raises:
        AuthConfigurationError: A setting is out of range, or the URL is not http(s).
        AuthTypeError: ``client`` is not an ``httpx.AsyncClient``, or a setting has the wrong type.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        ttl: float = 300.0,
        max_ttl: float = 86_400.0,
        cooldown: float = 30.0,
        negative_ttl: float = 300.0,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        text = check_text("url", url, max_bytes=2_048, error=AuthConfigurationError, type_error=AuthTypeError)
        if not text.lower().startswith(("https://", "http://")):
            raise AuthConfigurationError("url", redact_url(text), "must be an https:// (or http://) URL")
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise AuthTypeError("client", "an httpx.AsyncClient or None", client)
        self._url = text
        self._cooldown = check_seconds("cooldown", cooldown, maximum=86_400, error=AuthConfigurationError)
        self._max_ttl = check_seconds("max_ttl", max_ttl, maximum=30 * 86_400, error=AuthConfigurationError)
        self._ttl = check_seconds("ttl", ttl, maximum=30 * 86_400, error=AuthConfigurationError)
        self._negative_ttl = check_seconds(
            "negative_ttl", negative_ttl, allow_zero=True, maximum=86_400, error=AuthConfigurationError
        )
        self._timeout = check_seconds("timeout", timeout, maximum=300, error=AuthConfigurationError)
        self._max_bytes = check_count(
            "max_bytes", max_bytes, minimum=1_024, maximum=16 * 1024 * 1024, error=AuthConfigurationError
        )
        self._clock = _clock(clock)
        owned = client is None
        http = httpx.AsyncClient(follow_redirects=False) if client is None else client
        self._client: Owned[httpx.AsyncClient] = Owned(http, http.aclose if owned else None)
        self._keys: dict[str, VerifyingKey] | None = None
        self._fresh_until = float("-inf")
        self._last_attempt = float("-inf")
        self._unknown: dict[str, float] = {}
        self._inflight: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        """The JWKS URL, with any credentials redacted."""
        return redact_url(self._url)

    async def verification_key(self, kid: str) -> VerifyingKey:
        """The key ``kid`` from the issuer's current JWKS.

        Raises:
            UnknownKeyError: No key has this kid, after at most one refetch per cooldown.
            JWKSUnavailableError: The JWKS cannot be fetched and no earlier set is held.
        """
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID:
            raise UnknownKeyError(kid)
        now = self._clock.monotonic()
        if self._keys is None or now >= self._fresh_until:
            await self._refresh_if_due(now)
        keys = self._require_keys()
        key = keys.get(kid)
        if key is not None:
            return key
        if self._unknown.get(kid, float("-inf")) > now:
            raise UnknownKeyError(kid)
        if now - self._last_attempt >= self._cooldown:
            await self._fetch_once()
            key = self._require_keys().get(kid)
            if key is not None:
                return key
        self._remember_unknown(kid, self._clock.monotonic())
        raise UnknownKeyError(kid)

    async def keys(self) -> dict[str, VerifyingKey]:
        """The current keys by kid, fetched first if the cache is stale.

        Raises:
            JWKSUnavailableError: The JWKS cannot be fetched and no earlier set is held.
        """
        now = self._clock.monotonic()
        if self._keys is None or now >= self._fresh_until:
            await self._refresh_if_due(now)
        return dict(self._require_keys())

    async def refresh(self) -> None:
        """Fetch the JWKS now (joining a fetch in flight), whatever the cache says.

        Raises:
            JWKSUnavailableError: The fetch failed and no earlier set is held.
        """
        await self._fetch_once()
        self._require_keys()

    def _require_keys(self) -> dict[str, VerifyingKey]:
        if self._keys is None:
            raise JWKSUnavailableError("jwks", self.url, "no JWKS has been fetched yet")
        return self._keys

    def _remember_unknown(self, kid: str, now: float) -> None:
        if not self._negative_ttl:
            return
        if len(self._unknown) >= _MAX_NEGATIVE:
            self._unknown = {k: until for k, until in self._unknown.items() if until > now}
            if len(self._unknown) >= _MAX_NEGATIVE:
                self._unknown.clear()
        self._unknown[kid] = now + self._negative_ttl

    async def _refresh_if_due(self, now: float) -> None:
        """Refresh a stale cache; after a failure, retry no sooner than the cooldown."""
        if now - self._last_attempt < self._cooldown:
            return  # the last attempt failed recently: keep the last good set (if any) meanwhile
        await self._fetch_once()

    async def _fetch_once(self) -> None:
        """Fetch, or join the fetch in flight (single flight); never raises (failures are logged)."""
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._done)
        await asyncio.shield(self._inflight)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()  # retrieved: _fetch logs its own failures

    async def _fetch(self) -> None:
        self._last_attempt = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                keys, header = await self._download()
        except (httpx.HTTPError, TimeoutError, ValueError, AuthConfigurationError, OSError) as exc:
            JWKS_FETCHES.add(1, _ERROR)
            held = "keeping the last good set" if self._keys is not None else "no keys held"
            logger.warning("fetching the JWKS at %s failed (%s); %s", self.url, type(exc).__name__, held)
            return
        now = self._clock.monotonic()
        self._keys = keys
        self._unknown = {kid: until for kid, until in self._unknown.items() if kid not in keys}
        seconds = cache_seconds(header, default=self._ttl, floor=self._cooldown, ceiling=self._max_ttl)
        self._fresh_until = now + seconds
        JWKS_FETCHES.add(1, _OK)

    async def _download(self) -> tuple[dict[str, VerifyingKey], str | None]:
        request_timeout = httpx.Timeout(self._timeout)
        headers = {"accept": "application/jwk-set+json, application/json"}
        async with self._client.value.stream(
            "GET", self._url, headers=headers, timeout=request_timeout
        ) as answer:
            if answer.status_code != 200:
                raise ValueError(f"status {answer.status_code}")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ValueError("the JWKS is too large")
            cache_control = answer.headers.get("cache-control")
        document: Any = json.loads(bytes(body))
        keys = parse_jwks(document)
        if not keys:
            raise ValueError("the JWKS holds no usable key")
        return keys, cache_control

    async def _aclose(self) -> None:
        inflight = self._inflight
        if inflight is not None:
            inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inflight
        await self._client.release()

    def __repr__(self) -> str:
        held = "none" if self._keys is None else len(self._keys)
        return f"JWKSClient(url={self.url!r}, keys={held})"
