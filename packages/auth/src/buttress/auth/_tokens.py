"""`TokenService` issues, verifies, refreshes and revokes tokens; `TokenVerifier` only verifies."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from buttress.core import Clock, SystemClock, check_seconds

from ._jose import b64decode, dumps, loads_object, split
from ._jws import sign_jws
from ._keys import VerifyingKey
from ._keyset import KeySet, KeySource, _clock
from ._store import TokenStore, check_id
from ._verify import (
    ACCESS,
    DEFAULT_MAX_TOKEN_BYTES,
    REFRESH,
    TOKEN_TYPES,
    HeaderCache,
    Policy,
    VerifiedToken,
    check_token,
    count,
)
from .exceptions import (
    AuthConfigurationError,
    AuthTypeError,
    MalformedTokenError,
    MissingClaimError,
    RefreshTokenReusedError,
    RevokedTokenError,
    TokenError,
    UnknownKeyError,
)

__all__ = ["TokenPair", "TokenService", "TokenVerifier"]

logger = logging.getLogger(__name__)

# Claims the service sets itself: a caller's extra claims may not replace them.
_RESERVED: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"})
_MAX_TTL: Final = 366 * 24 * 3600.0
_MAX_CLAIMS_BYTES: Final = 4_096


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token that renews it.

    Attributes:
        access_token: The short-lived token to send as ``Authorization: Bearer``.
        refresh_token: The long-lived token to trade for a new pair, once.
        expires_in: Seconds the access token is valid for (OAuth 2.0's ``expires_in``).
        family: The refresh family (``sid``) both belong to.
    """

    access_token: str
    refresh_token: str
    expires_in: int
    family: str


def _check_type(token_type: object) -> str:
    if not isinstance(token_type, str) or token_type not in TOKEN_TYPES:
        raise AuthConfigurationError("token_type", token_type, "must be 'access' or 'refresh'")
    return str(token_type)


def _check_store(store: object) -> TokenStore | None:
    if store is None:
        return None
    for name in ("revoke", "revoke_all_for_user", "is_revoked"):
        if not callable(getattr(store, name, None)):
            raise AuthTypeError("store", "a TokenStore (revoke, revoke_all_for_user, is_revoked)", store)
    return store  # type: ignore[return-value]


async def _check_revocation(store: TokenStore | None, verified: VerifiedToken) -> None:
    if store is None:
        return
    if verified.jti is None:
        raise MissingClaimError("jti", "is missing (a revocable token needs one)")
    if verified.issued_at is None:
        raise MissingClaimError("iat", "is missing (a revocable token needs one)")
    revoked = await store.is_revoked(
        verified.jti, user_id=verified.subject, issued_at=verified.issued_at, family=verified.family
    )
    if revoked:
        raise RevokedTokenError("the token was revoked")


class TokenVerifier:
    """Verifies tokens of one issuer against a `KeySource` (a `JWKSClient`, or a `KeySet`).

    For a service that accepts another issuer's tokens: the keys come from its JWKS. The checks are
    those of `TokenService.verify`.

    Args:
        keys: Where the key a token's ``kid`` names is found.
        issuer: The exact ``iss`` required.
        audience: This service's name(s): ``aud`` must hold one of them.
        leeway: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat`` (at most 3,600).
        store: Where revocations are looked up, or ``None`` not to look.
        required: Claims a token must hold besides ``exp``, ``iss`` and ``aud`` (default ``sub``).
        max_token_bytes: Longer tokens are refused before any parsing.
        clock: Where the time comes from.

    Raises:
        AuthConfigurationError: A setting is out of range.
        AuthTypeError: A setting has the wrong type.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str | Sequence[str],
        leeway: float = 30.0,
        store: TokenStore | None = None,
        required: Sequence[str] | None = None,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if not callable(getattr(keys, "verification_key", None)):
            raise AuthTypeError("keys", "a KeySource (a JWKSClient or a KeySet)", keys)
        self._keys = keys
        self._policy = Policy.make(issuer, audience, leeway, max_token_bytes, required)
        self._store = _check_store(store)
        self._clock = _clock(clock)
        self._timestamp = _timestamp_of(self._clock)
        self._headers: HeaderCache = {}

    async def verify(self, token: str, *, token_type: str = ACCESS) -> VerifiedToken:
        """Verify ``token``: signature, claims, type, and revocation when a store is set.

        Raises:
            TokenError: The token must not be trusted (a subclass says why).
            AuthUnavailableError: The key source or the store cannot be reached.
            AuthTypeError: ``token`` is not a str.
        """
        kind = _check_type(token_type)
        if not isinstance(token, str):
            raise AuthTypeError("token", "a str", token)
        try:
            key = await self._key_of(token)
            verified = check_token(
                token, self._policy, lambda _kid: key, self._headers, self._timestamp(), kind
            )
            await _check_revocation(self._store, verified)
        except TokenError as exc:
            count(kind, exc)
            raise
        count(kind, None)
        return verified

    async def _key_of(self, token: str) -> VerifyingKey:
        """The key the token's header names, looked up before the rest is checked."""
        if len(token) > self._policy.max_token_bytes:
            raise MalformedTokenError(f"the token is longer than {self._policy.max_token_bytes} bytes")
        header_segment = split(token)[0]
        cached = self._headers.get(header_segment)
        kid = (
            cached[0]
            if cached is not None
            else loads_object(b64decode(header_segment, "header"), "header").get("kid")
        )
        if not isinstance(kid, str):
            raise UnknownKeyError(kid)
        return await self._keys.verification_key(kid)


def _timestamp_of(clock: Clock) -> Callable[[], float]:
    """``clock.now().timestamp()``; `time.time` itself for the system clock (the same instant, unrounded)."""
    if type(clock) is SystemClock:
        return time.time
    return lambda: clock.now().timestamp()


class TokenService:
    """Issues and verifies access and refresh tokens with a `KeySet`, to RFC 8725.

    Access tokens (``typ: at+jwt``) are short-lived; refresh tokens (``typ: refresh+jwt``) belong to
    a family (``sid``). Trading a refresh token for a new pair marks it used; a used refresh token
    that comes back revokes its whole family (reuse detection), and the family's access tokens
    with it. Revocation needs a `TokenStore`; without one, `verify` checks signatures and claims
    only, and `refresh` refuses to run (it could not detect reuse).

    Args:
        keys: The issuer's keys; the active one signs.
        issuer: This issuer's ``iss``, checked exactly.
        audience: The ``aud`` of the tokens issued, and the audience(s) verification requires.
        access_ttl: Seconds an access token lives (default 15 minutes).
        refresh_ttl: Seconds a refresh token lives (default 14 days).
        leeway: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat`` (at most 3,600).
        store: Where revocations live (`MemoryTokenStore`, `RedisTokenStore`), or ``None``.
        max_token_bytes: Longer tokens are refused before any parsing.
        clock: Where the time comes from.

    Raises:
        AuthConfigurationError: A setting is out of range.
        AuthTypeError: A setting has the wrong type.

    Examples:
        >>> keys = KeySet(SigningKey.generate("EdDSA"))
        >>> tokens = TokenService(keys, issuer="https://id.example", audience="api")
        >>> tokens.decode(tokens.issue_access("user-7")).subject
        'user-7'
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str | Sequence[str],
        access_ttl: float = 900.0,
        refresh_ttl: float = 14 * 24 * 3600.0,
        leeway: float = 30.0,
        store: TokenStore | None = None,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(keys, KeySet):
            raise AuthTypeError("keys", "a KeySet", keys)
        self._keys = keys
        self._policy = Policy.make(issuer, audience, leeway, max_token_bytes, ("sub", "iat", "jti"))
        self._access_ttl = check_seconds(
            "access_ttl", access_ttl, maximum=_MAX_TTL, error=AuthConfigurationError
        )
        self._refresh_ttl = check_seconds(
            "refresh_ttl", refresh_ttl, maximum=_MAX_TTL, error=AuthConfigurationError
        )
        self._store = _check_store(store)
        self._clock = _clock(clock)
        self._timestamp = _timestamp_of(self._clock)
        self._headers: HeaderCache = {}

    @property
    def keys(self) -> KeySet:
        """The key set that signs and verifies."""
        return self._keys

    def _sign(self, token_type: str, claims: dict[str, Any]) -> str:
        return sign_jws(self._keys.active, dumps(claims), header={"typ": TOKEN_TYPES[token_type]})

    def _claims(
        self, subject: object, ttl: float, family: str | None, extra: object, now: int
    ) -> dict[str, Any]:
        sub = check_id("subject", subject)
        claims: dict[str, Any] = {}
        if extra is not None:
            if not isinstance(extra, Mapping) or not all(isinstance(name, str) for name in extra):
                raise AuthTypeError("claims", "a mapping of str to JSON values", extra)
            clash = sorted(_RESERVED & set(extra))
            if clash:
                raise AuthConfigurationError("claims", clash, "the service sets these claims itself")
            try:
                size = len(dumps(extra))
            except (TypeError, ValueError, RecursionError):
                raise AuthConfigurationError(
                    "claims", None, "must be JSON values", show_value=False
                ) from None
            if size > _MAX_CLAIMS_BYTES:
                raise AuthConfigurationError(
                    "claims", None, f"must be at most {_MAX_CLAIMS_BYTES} bytes of JSON"
                )
            claims.update(extra)
        audience = self._policy.audience
        claims.update(
            iss=self._policy.issuer,
            sub=sub,
            aud=audience[0] if len(audience) == 1 else list(audience),
            iat=now,
            nbf=now,
            exp=now + int(ttl),
            jti=secrets.token_urlsafe(16),
        )
        if family is not None:
            claims["sid"] = family
        return claims

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    def issue_access(
        self,
        subject: str,
        *,
        claims: Mapping[str, Any] | None = None,
        ttl: float | None = None,
        family: str | None = None,
    ) -> str:
        """Sign an access token for ``subject`` with the active key.

        Args:
            subject: The ``sub``: a user or client id (at most 256 UTF-8 bytes).
            claims: Extra claims (``roles``, ``scope``...); the registered ones are the service's.
            ttl: Seconds it lives, instead of ``access_ttl``.
            family: The refresh family it belongs to, so revoking the family revokes it.

        Raises:
            AuthConfigurationError: A bad subject, ttl or claims.
            AuthTypeError: An argument has the wrong type.
        """
        seconds = (
            self._access_ttl
            if ttl is None
            else check_seconds("ttl", ttl, maximum=_MAX_TTL, error=AuthConfigurationError)
        )
        sid = None if family is None else check_id("family", family)
        return self._sign(ACCESS, self._claims(subject, seconds, sid, claims, self._now()))

    async def issue_pair(self, subject: str, *, claims: Mapping[str, Any] | None = None) -> TokenPair:
        """Start a refresh family for ``subject``: an access token and a refresh token.

        Raises:
            AuthConfigurationError: A bad subject or claims.
            AuthTypeError: An argument has the wrong type.
        """
        return self._pair(subject, secrets.token_urlsafe(16), claims)

    def _pair(self, subject: object, family: str, claims: Mapping[str, Any] | None) -> TokenPair:
        now = self._now()
        access = self._sign(ACCESS, self._claims(subject, self._access_ttl, family, claims, now))
        refresh_claims = self._claims(subject, self._refresh_ttl, family, None, now)
        if claims is not None:  # carried to the next pair, so a refresh keeps the roles it had
            refresh_claims["ctx"] = dict(claims)
        refresh = self._sign(REFRESH, refresh_claims)
        return TokenPair(access, refresh, int(self._access_ttl), family)

    def decode(self, token: str, *, token_type: str = ACCESS) -> VerifiedToken:
        """Verify ``token``'s signature, type and claims; no revocation lookup (`verify` does it).

        Raises:
            TokenError: The token must not be trusted (a subclass says why).
            AuthTypeError: ``token`` is not a str.
        """
        kind = _check_type(token_type)
        try:
            verified = check_token(
                token, self._policy, self._keys.get, self._headers, self._timestamp(), kind
            )
        except TokenError as exc:
            count(kind, exc)
            raise
        count(kind, None)
        return verified

    async def verify(self, token: str, *, token_type: str = ACCESS) -> VerifiedToken:
        """`decode`, then the store's revocations: the token's ``jti``, its family, its user's cutoff.

        Raises:
            TokenError: The token must not be trusted (`RevokedTokenError` when revoked).
            AuthUnavailableError: The store cannot be reached.
            AuthTypeError: ``token`` is not a str.
        """
        verified = self.decode(token, token_type=token_type)
        try:
            await _check_revocation(self._store, verified)
        except TokenError as exc:
            count(verified.token_type, exc)
            raise
        return verified

    def _require_store(self) -> TokenStore:
        if self._store is None:
            raise AuthConfigurationError(
                "store", None, "this needs a TokenStore: pass store= to TokenService"
            )
        return self._store

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair in its family; the old one is used up.

        Raises:
            RefreshTokenReusedError: The token was used before: its family is revoked now.
            TokenError: The token must not be trusted otherwise (expired, revoked, an access token).
            AuthConfigurationError: The service has no store.
            AuthUnavailableError: The store cannot be reached.
        """
        store = self._require_store()
        verified = self.decode(refresh_token, token_type=REFRESH)
        family, jti, issued = verified.family, verified.jti, verified.issued_at
        if family is None or jti is None or issued is None:
            raise MissingClaimError("sid", "is missing from a refresh token")
        if await store.is_revoked(family, user_id=verified.subject, issued_at=issued):
            count(REFRESH, RevokedTokenError(""))
            raise RevokedTokenError("the refresh token's family or user was revoked")
        if not await store.revoke(jti, expires_at=verified.expires_at):
            await store.revoke(family, expires_at=self._family_expiry())
            logger.warning("a used refresh token came back: its family was revoked")
            count(REFRESH, RefreshTokenReusedError(""))
            raise RefreshTokenReusedError("the refresh token was used already: its family is revoked")
        context = verified.claims.get("ctx")
        return self._pair(verified.subject, family, context if isinstance(context, dict) else None)

    def _family_expiry(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._refresh_ttl + self._policy.leeway)

    async def revoke(self, token: str) -> None:
        """Revoke one token (access or refresh), until it would have expired.

        A refresh token's whole family is revoked with it (logging out a session).

        Raises:
            TokenError: The token is not one of this service's (so there is nothing to revoke).
            AuthConfigurationError: The service has no store.
            AuthUnavailableError: The store cannot be reached.
        """
        store = self._require_store()
        verified = self._decode_any(token)
        if verified.jti is None:
            raise MissingClaimError("jti")
        await store.revoke(verified.jti, expires_at=verified.expires_at)
        if verified.token_type == REFRESH and verified.family is not None:
            await store.revoke(verified.family, expires_at=self._family_expiry())

    def _decode_any(self, token: str) -> VerifiedToken:
        try:
            return self.decode(token, token_type=ACCESS)
        except TokenError as exc:
            if exc.reason != "token_type":
                raise
        return self.decode(token, token_type=REFRESH)

    async def revoke_family(self, family: str) -> None:
        """Revoke a refresh family (a session): its refresh and access tokens.

        Raises:
            AuthConfigurationError: A bad family id, or the service has no store.
            AuthUnavailableError: The store cannot be reached.
        """
        store = self._require_store()
        await store.revoke(check_id("family", family), expires_at=self._family_expiry())

    async def revoke_all_for_user(self, user_id: str) -> None:
        """Revoke every token issued to ``user_id`` until now, in one write (a per-user cutoff).

        Tokens issued in the same second as the call are revoked too (``iat`` counts whole
        seconds), so a sign-in right after it may need to wait a second.

        Raises:
            AuthConfigurationError: A bad user id, or the service has no store.
            AuthUnavailableError: The store cannot be reached.
        """
        store = self._require_store()
        user = check_id("user_id", user_id)
        now = self._clock.now().astimezone(UTC)
        longest = max(self._access_ttl, self._refresh_ttl) + self._policy.leeway
        await store.revoke_all_for_user(user, cutoff=now, expires_at=now + timedelta(seconds=longest))

    def __repr__(self) -> str:
        return f"TokenService(issuer={self._policy.issuer!r}, active_kid={self._keys.active.kid!r})"
