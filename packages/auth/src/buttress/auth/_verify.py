"""Verification of a compact JWS JWT to RFC 8725, shared by `TokenService` and `TokenVerifier`.

The order matters: size, then structure, then the header's refused parameters, then the key the
``kid`` names and the algorithm that key is pinned to (never the token's), then the signature, and
only then the claims, which an unverified token could have forged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from buttress.core import check_count, check_seconds, check_text

from ._jose import loads_object, parse
from ._jws import REFUSED_HEADERS
from ._keys import VerifyingKey
from ._metrics import VERIFICATIONS
from .exceptions import (
    AlgorithmMismatchError,
    AuthConfigurationError,
    AuthTypeError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    MalformedTokenError,
    MissingClaimError,
    TokenError,
    TokenNotYetValidError,
    UnknownKeyError,
    UnsupportedHeaderError,
    WrongTokenTypeError,
)

__all__ = [
    "ACCESS",
    "DEFAULT_MAX_TOKEN_BYTES",
    "REFRESH",
    "TOKEN_TYPES",
    "Policy",
    "VerifiedToken",
    "check_token",
    "count",
]

ACCESS: Final = "access"
REFRESH: Final = "refresh"
# The header typ of each token type: explicit typing (RFC 8725 section 3.11); at+jwt is RFC 9068's.
TOKEN_TYPES: Final = {ACCESS: "at+jwt", REFRESH: "refresh+jwt"}
_TYPE_OF: Final = {typ: name for name, typ in TOKEN_TYPES.items()}
DEFAULT_MAX_TOKEN_BYTES: Final = 8_192
_HEADER_CACHE: Final = 64
_DEFAULT_REQUIRED: Final = ("exp", "iss", "aud", "sub")
_KNOWN_REQUIRED: Final = frozenset({"exp", "iss", "aud", "sub", "iat", "nbf", "jti"})


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims were verified.

    Attributes:
        subject: ``sub``: whom the token is about.
        token_type: ``"access"`` or ``"refresh"`` (from the header's ``typ``).
        issuer: ``iss``.
        audience: ``aud``, as a tuple.
        expires_at: ``exp``, timezone-aware UTC.
        issued_at: ``iat``, or ``None``.
        jti: The token's id, or ``None``.
        family: ``sid``: the refresh family (session) the token belongs to, or ``None``.
        kid: The key that verified it.
        claims: Every claim of the payload, as sent.
    """

    subject: str
    token_type: str
    issuer: str
    audience: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime | None
    jti: str | None
    family: str | None
    kid: str
    claims: Mapping[str, Any] = field(repr=False)


_OK: Final = {name: {"auth.token_type": name, "auth.outcome": "ok"} for name in TOKEN_TYPES}


def count(token_type: str, error: TokenError | None) -> None:
    """Count one verification in ``buttress.auth.verifications``."""
    if error is None:
        VERIFICATIONS.add(1, _OK[token_type])
    else:
        VERIFICATIONS.add(1, {"auth.token_type": token_type, "auth.outcome": error.reason})


def _text_tuple(parameter: str, value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, Sequence | frozenset | set) or isinstance(items, bytes):
        raise AuthTypeError(parameter, "a str or a sequence of str", value)
    checked = tuple(
        check_text(parameter, item, max_bytes=1_024, error=AuthConfigurationError, type_error=AuthTypeError)
        for item in items
    )
    if not checked:
        raise AuthConfigurationError(parameter, value, "must name at least one value")
    return checked


@dataclass(frozen=True, slots=True)
class Policy:
    """What a verifier demands of a token; checked once, at construction."""

    issuer: str
    audience: tuple[str, ...]
    leeway: float
    max_token_bytes: int
    required: tuple[str, ...]

    @classmethod
    def make(
        cls,
        issuer: object,
        audience: object,
        leeway: object,
        max_token_bytes: object,
        required: object,
    ) -> Policy:
        """Check every setting, raising the package's configuration and type errors."""
        return cls(
            issuer=check_text(
                "issuer", issuer, max_bytes=1_024, error=AuthConfigurationError, type_error=AuthTypeError
            ),
            audience=_text_tuple("audience", audience),
            leeway=check_seconds(
                "leeway", leeway, allow_zero=True, maximum=3_600, error=AuthConfigurationError
            ),
            max_token_bytes=check_count(
                "max_token_bytes",
                max_token_bytes,
                minimum=256,
                maximum=1_048_576,
                error=AuthConfigurationError,
            ),
            required=_required(required),
        )


def _required(value: object) -> tuple[str, ...]:
    if value is None:
        return _DEFAULT_REQUIRED
    names = _text_tuple("required", value)
    unknown = [name for name in names if name not in _KNOWN_REQUIRED]
    if unknown:
        raise AuthConfigurationError("required", unknown, f"must be among {sorted(_KNOWN_REQUIRED)}")
    return tuple(dict.fromkeys(("exp", "iss", "aud", *names)))  # exp, iss and aud are never optional


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MissingClaimError(name, "is not a number of seconds since the epoch")
    if not -1e11 < value < 1e11:  # beyond year 5000 either way: no real token, and datetime would overflow
        raise MissingClaimError(name, "is out of range")
    return float(value)


def _header(parsed_header: Mapping[str, Any]) -> tuple[str, str]:
    """The header's (kid, token type) after refusing what must be refused."""
    for name in REFUSED_HEADERS:
        if name in parsed_header:
            raise UnsupportedHeaderError(name)
    kid = parsed_header.get("kid")
    if not isinstance(kid, str):
        raise UnknownKeyError(kid)
    return kid, parsed_header.get("typ", "")


def check_token(  # noqa: PLR0917 - private; called from two places in this package
    token: object,
    policy: Policy,
    key_for: Any,  # noqa: ANN401 - Callable[[str], VerifyingKey], sync
    headers: dict[str, dict[str, Any]],
    now: float,
    token_type: str,
) -> VerifiedToken:
    """Verify ``token`` completely (signature and claims), with the key ``key_for(kid)`` returns.

    Raises:
        TokenError: Any reason not to trust the token (its subclasses say which).
        AuthTypeError: ``token`` is not a str.
    """
    if not isinstance(token, str):
        raise AuthTypeError("token", "a str", token)
    if len(token) > policy.max_token_bytes:
        raise MalformedTokenError(f"the token is longer than {policy.max_token_bytes} bytes")
    parsed = parse(token, headers)
    kid, typ = _header(parsed.header)  # a cached header passed it before; checking again costs little
    key: VerifyingKey = key_for(kid)
    alg = parsed.header.get("alg")
    if alg != key.alg:
        raise AlgorithmMismatchError(str(key.alg), alg)
    if not key._verify(parsed.signature, parsed.signing_input):
        raise InvalidSignatureError("the token's signature does not verify under its key")
    if _TYPE_OF.get(typ) != token_type:
        raise WrongTokenTypeError(token_type, typ or None)
    claims = loads_object(parsed.payload, "payload")
    verified = _claims(claims, policy, now, token_type, kid)
    if parsed.header_segment not in headers:
        if len(headers) >= _HEADER_CACHE:
            headers.clear()
        headers[parsed.header_segment] = parsed.header
    return verified


def _claims(claims: dict[str, Any], policy: Policy, now: float, token_type: str, kid: str) -> VerifiedToken:
    for name in policy.required:
        if name not in claims and name not in ("iss", "aud"):  # their own errors say they are missing
            raise MissingClaimError(name)
    exp = _number(claims, "exp")
    if exp is None:  # pragma: no cover - exp is always required
        raise MissingClaimError("exp")
    leeway = policy.leeway
    if now >= exp + leeway:
        raise ExpiredTokenError(exp)
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise TokenNotYetValidError(nbf, "nbf")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + leeway:
        raise TokenNotYetValidError(iat, "iat")
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss != policy.issuer:
        raise InvalidIssuerError("the token's issuer is not the expected issuer")
    audience = _audience(claims.get("aud"))
    if not any(aud in audience for aud in policy.audience):
        raise InvalidAudienceError("the token's audience does not include this service")
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise MissingClaimError("sub", "is not a str" if "sub" in claims else "is missing")
    jti = claims.get("jti")
    if jti is not None and not isinstance(jti, str):
        raise MissingClaimError("jti", "is not a str")
    family = claims.get("sid")
    if family is not None and not isinstance(family, str):
        raise MissingClaimError("sid", "is not a str")
    return VerifiedToken(
        subject=subject,
        token_type=token_type,
        issuer=iss,
        audience=audience,
        expires_at=datetime.fromtimestamp(exp, UTC),
        issued_at=None if iat is None else datetime.fromtimestamp(iat, UTC),
        jti=jti,
        family=family,
        kid=kid,
        claims=claims,
    )


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InvalidAudienceError("the token's aud is not a str or a non-empty list of str")
