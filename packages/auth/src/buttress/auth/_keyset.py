"""`KeySet`: the keys of a token issuer, one active, others verify-only for a grace period, or retired."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from buttress.core import Clock, SystemClock, check_seconds

from ._keys import SigningKey, VerifyingKey, is_asymmetric
from .exceptions import AuthConfigurationError, AuthTypeError, UnknownKeyError

__all__ = ["KeySet", "KeySource", "KeyState"]


class KeyState(StrEnum):
    """Where a key stands in its life.

    ``active``: signs new tokens and verifies. ``verify_only``: verifies tokens it signed before a
    rotation, until its grace ends. ``retired``: verifies nothing and leaves the JWKS.
    """

    ACTIVE = "active"
    VERIFY_ONLY = "verify_only"
    RETIRED = "retired"


class KeySource(Protocol):
    """**Protocol**: where a verifier finds the key a token's ``kid`` names.

    `KeySet` (the issuer's own keys) and `JWKSClient` (another issuer's published keys) are both
    key sources.

    Methods:
        verification_key: The key with this ``kid`` that may verify tokens now; raises
            `UnknownKeyError` when there is none (absent, retired, or never known).
    """

    async def verification_key(self, kid: str) -> VerifyingKey:
        """The key with ``kid`` that may verify tokens now, or `UnknownKeyError`."""
        ...


@dataclass(slots=True)
class _Entry:
    key: VerifyingKey
    signing: SigningKey | None
    state: KeyState
    until: float | None  # end of a verify-only key's grace, in seconds since the epoch


def _clock(clock: object) -> Clock:
    if clock is None:
        return SystemClock()
    if not isinstance(clock, Clock):
        raise AuthTypeError("clock", "a Clock (now() and monotonic())", clock)
    return clock


class KeySet:
    """The keys of a token issuer: one active key signs; verify-only keys still verify for a grace.

    Rotation keeps tokens signed before it valid until the old key's grace ends (set it to the
    longest lifetime of a token), then rejects them::

        keys = KeySet(SigningKey.generate("ES256"))
        keys.rotate(SigningKey.generate("ES256"), grace=3600)  # the old key verifies for an hour

    Args:
        active: The key that signs new tokens.
        verify_only: Keys that verify but never sign (another instance's, or an earlier one's),
            kept until retired.
        clock: Where the time comes from (grace periods end by it).

    Raises:
        AuthTypeError: A key is not a `SigningKey` (or `VerifyingKey` among ``verify_only``).
        AuthConfigurationError: Two keys share a ``kid``.
    """

    __slots__ = ("_active", "_clock", "_entries", "_graced")

    def __init__(
        self,
        active: SigningKey,
        *,
        verify_only: tuple[SigningKey | VerifyingKey, ...] = (),
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(active, SigningKey):
            raise AuthTypeError("active", "a SigningKey", active)
        if not isinstance(verify_only, tuple | list):
            raise AuthTypeError("verify_only", "a tuple of keys", verify_only)
        self._clock = _clock(clock)
        self._entries: dict[str, _Entry] = {}
        self._graced = False
        self._active = active
        self._add(active, KeyState.ACTIVE, None)
        for key in verify_only:
            self._add(key, KeyState.VERIFY_ONLY, None)

    def _add(self, key: object, state: KeyState, until: float | None) -> None:
        if isinstance(key, SigningKey):
            entry = _Entry(key.verifying_key, key, state, until)
        elif isinstance(key, VerifyingKey):
            entry = _Entry(key, None, state, until)
        else:
            raise AuthTypeError("key", "a SigningKey or VerifyingKey", key)
        if entry.key.kid in self._entries:
            raise AuthConfigurationError("key", entry.key.kid, "has the kid of a key already in the set")
        self._entries[entry.key.kid] = entry

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._active

    def rotate(self, new: SigningKey, *, grace: float) -> None:
        """Make ``new`` the active key; the old one verifies for ``grace`` seconds more, then retires.

        Raises:
            AuthTypeError: ``new`` is not a `SigningKey`.
            AuthConfigurationError: ``grace`` is not a number of seconds (0 retires the old key now),
                or ``new`` has the kid of a key in the set.
        """
        if not isinstance(new, SigningKey):
            raise AuthTypeError("new", "a SigningKey", new)
        seconds = check_seconds("grace", grace, allow_zero=True, error=AuthConfigurationError)
        if new.kid in self._entries:
            raise AuthConfigurationError("new", new.kid, "has the kid of a key already in the set")
        old = self._entries[self._active.kid]
        old.state = KeyState.VERIFY_ONLY if seconds else KeyState.RETIRED
        old.until = self._clock.now().timestamp() + seconds if seconds else None
        self._graced = self._graced or bool(seconds)
        self._add(new, KeyState.ACTIVE, None)
        self._active = new

    def retire(self, kid: str) -> None:
        """Retire the key ``kid`` now: it verifies nothing more and leaves the JWKS.

        Raises:
            AuthConfigurationError: ``kid`` is the active key (rotate first) or not in the set
                (`UnknownKeyError` is for tokens; this is a programming error).
        """
        entry = self._entries.get(kid) if isinstance(kid, str) else None
        if entry is None:
            raise AuthConfigurationError("kid", kid, "is not a key of this set")
        if entry.state is KeyState.ACTIVE:
            raise AuthConfigurationError("kid", kid, "is the active key: rotate to another one first")
        entry.state = KeyState.RETIRED
        entry.until = None

    def state(self, kid: str) -> KeyState:
        """The state of the key ``kid`` now (a verify-only key whose grace ended is retired).

        Raises:
            AuthConfigurationError: ``kid`` is not a key of this set.
        """
        entry = self._entries.get(kid) if isinstance(kid, str) else None
        if entry is None:
            raise AuthConfigurationError("kid", kid, "is not a key of this set")
        self._expire(entry)
        return entry.state

    def _expire(self, entry: _Entry) -> None:
        if entry.until is not None and self._clock.now().timestamp() >= entry.until:
            entry.state = KeyState.RETIRED
            entry.until = None

    def get(self, kid: object) -> VerifyingKey:
        """The key ``kid`` if it may verify tokens now (active, or verify-only within its grace).

        Raises:
            UnknownKeyError: No such key, or it is retired.
        """
        entry = self._entries.get(kid) if isinstance(kid, str) else None
        if entry is None:
            raise UnknownKeyError(kid)
        if entry.until is not None:
            self._expire(entry)
        if entry.state is KeyState.RETIRED:
            raise UnknownKeyError(kid)
        return entry.key

    async def verification_key(self, kid: str) -> VerifyingKey:
        """`get` for the `KeySource` Protocol."""
        return self.get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document (RFC 7517 section 5): the public keys that verify now, active first.

        HS256 secrets are never in it.
        """
        keys = [self._active.verifying_key] if is_asymmetric(self._active.alg) else []
        for entry in self._entries.values():
            self._expire(entry)
            if entry.state is KeyState.VERIFY_ONLY and is_asymmetric(entry.key.alg):
                keys.append(entry.key)
        return {"keys": [key.jwk() for key in keys]}

    def __iter__(self) -> Iterator[VerifyingKey]:
        return (entry.key for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, kid: object) -> bool:
        return kid in self._entries

    def __repr__(self) -> str:
        states: dict[str, Any] = {kid: str(entry.state) for kid, entry in self._entries.items()}
        return f"KeySet(active={self._active.kid!r}, keys={states!r})"
