"""Verification of a compact JWS JWT to RFC 8725, shared by `TokenService` and `TokenVerifier`.

The order matters: size, then structure, then the header's refused parameters, then the key the
``kid`` names and the algorithm that key is pinned to (never the token's), then the signature, and
only then the claims, which an unverified token could have forged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final

from buttress.core import check_count, check_seconds, check_text

from ._jose import decode_segments, loads_claims, loads_object, parse
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
# The times a claim may hold, in seconds since the epoch: the years 68 to 5138, which datetime holds.
_EARLIEST: Final = -6e10
_LATEST: Final = 1e11


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


def _field_setters() -> Callable[..., VerifiedToken]:
    """`VerifiedToken`'s constructor without the frozen dataclass's ``object.__setattr__`` per field.

    The slots' own descriptors set the fields, in the order of `dataclasses.fields` (checked here);
    the result equals ``VerifiedToken(...)`` (a property test holds it to that).
    """
    names = tuple(item.name for item in fields(VerifiedToken))
    if names != _FIELDS:  # pragma: no cover - a changed VerifiedToken must change this too
        raise RuntimeError(f"VerifiedToken's fields changed: {names}")
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = (getattr(VerifiedToken, name).__set__ for name in names)
    new = object.__new__

    def make(  # noqa: PLR0917 - the fields of VerifiedToken, in order
        subject: str,
        token_type: str,
        issuer: str,
        audience: tuple[str, ...],
        expires_at: datetime,
        issued_at: datetime | None,
        jti: str | None,
        family: str | None,
        kid: str,
        claims: Mapping[str, Any],
    ) -> VerifiedToken:
        token = new(VerifiedToken)
        s0(token, subject)
        s1(token, token_type)
        s2(token, issuer)
        s3(token, audience)
        s4(token, expires_at)
        s5(token, issued_at)
        s6(token, jti)
        s7(token, family)
        s8(token, kid)
        s9(token, claims)
        return token

    return make


_FIELDS: Final = (
    "subject",
    "token_type",
    "issuer",
    "audience",
    "expires_at",
    "issued_at",
    "jti",
    "family",
    "kid",
    "claims",
)
new_verified_token: Final = _field_setters()


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
    present: frozenset[str] = field(init=False, repr=False, compare=False)
    """The claims a token must hold: ``required`` and ``sub`` (for `_fast_claims`)."""
    audience_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "present", frozenset((*self.required, "sub")))
        object.__setattr__(self, "audience_set", frozenset(self.audience))

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
    if not _EARLIEST < value < _LATEST:  # no real token; beyond them datetime would overflow
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


type HeaderCache = dict[str, tuple[str, str, str]]
"""The headers of tokens verified before, by header segment: (kid, alg, typ), checked already."""


def check_token(  # noqa: PLR0917 - private; called from two places in this package
    token: object,
    policy: Policy,
    key_for: Any,  # noqa: ANN401 - Callable[[str], VerifyingKey], sync
    headers: HeaderCache,
    now: float,
    token_type: str,
) -> VerifiedToken:
    """Verify ``token`` completely (signature and claims), with the key ``key_for(kid)`` returns.

    Each step takes its common case first and leaves anything else to the general code, which
    decides (and raises): a cached header, base64url that decodes, a payload that is one JSON object
    end to end, claims of the expected types (`_fast_claims`).

    Raises:
        TokenError: Any reason not to trust the token (its subclasses say which).
        AuthTypeError: ``token`` is not a str.
    """
    if not isinstance(token, str):
        raise AuthTypeError("token", "a str", token)
    if len(token) > policy.max_token_bytes:
        raise MalformedTokenError(f"the token is longer than {policy.max_token_bytes} bytes")
    parts = token.split(".")
    cached = headers.get(parts[0]) if len(parts) == 3 else None
    if cached is None:
        return _check_uncached(token, policy, key_for, headers, now, token_type)
    header_segment, payload_segment, signature_segment = parts
    payload, signature = decode_segments(payload_segment, signature_segment)
    kid, alg, typ = cached
    key: VerifyingKey = key_for(kid)
    if alg != key.alg:
        raise AlgorithmMismatchError(str(key.alg), alg)
    if not key._verify(signature, f"{header_segment}.{payload_segment}".encode("ascii")):
        raise InvalidSignatureError("the token's signature does not verify under its key")
    if _TYPE_OF.get(typ) != token_type:
        raise WrongTokenTypeError(token_type, typ or None)
    claims = loads_claims(payload)
    if claims is None:
        claims = loads_object(payload, "payload")
    verified = _fast_claims(claims, policy, now, token_type, kid)
    return verified if verified is not None else _claims(claims, policy, now, token_type, kid)


def _check_uncached(  # noqa: PLR0917
    token: str,
    policy: Policy,
    key_for: Any,  # noqa: ANN401
    headers: HeaderCache,
    now: float,
    token_type: str,
) -> VerifiedToken:
    """`check_token` for a header not seen before: checked in full, then cached once the token verifies."""
    parsed = parse(token, {})
    kid, typ = _header(parsed.header)
    key: VerifyingKey = key_for(kid)
    alg = parsed.header.get("alg")
    if alg != key.alg:
        raise AlgorithmMismatchError(str(key.alg), alg)
    if not key._verify(parsed.signature, parsed.signing_input):
        raise InvalidSignatureError("the token's signature does not verify under its key")
    if not isinstance(typ, str) or _TYPE_OF.get(typ) != token_type:  # a list or an object is unhashable
        raise WrongTokenTypeError(token_type, typ or None)
    claims = loads_object(parsed.payload, "payload")
    verified = _claims(claims, policy, now, token_type, kid)
    if len(headers) >= _HEADER_CACHE:
        headers.clear()
    headers[parsed.header_segment] = (kid, alg, typ)
    return verified


_NUMBER: Final = (int, float)


def _fast_claims(  # noqa: PLR0911, PLR0912 - one pass, in order; each exit leaves it to _claims
    claims: dict[str, Any], policy: Policy, now: float, token_type: str, kid: str
) -> VerifiedToken | None:
    """`_claims` for claims of the expected types that pass, in one pass; ``None`` leaves it to `_claims`.

    It never decides against a token: where it returns a token, `_claims` returns the same one
    (a property test holds them to it); where anything is missing, of another type, out of range
    or refused, `_claims` says why.
    """
    if not policy.present <= claims.keys():
        return None
    exp = claims["exp"]
    if type(exp) not in _NUMBER or not _EARLIEST < exp < _LATEST:  # bool is not int here; NaN fails the range
        return None
    leeway = policy.leeway
    if now >= exp + leeway:
        return None
    latest = now + leeway
    nbf = claims.get("nbf")
    if nbf is not None and (type(nbf) not in _NUMBER or not _EARLIEST < nbf < _LATEST or nbf > latest):
        return None
    iat = claims.get("iat")
    if iat is not None and (type(iat) not in _NUMBER or not _EARLIEST < iat < _LATEST or iat > latest):
        return None
    iss = claims["iss"]
    if type(iss) is not str or iss != policy.issuer:
        return None
    aud = claims["aud"]
    if type(aud) is str:
        if aud not in policy.audience_set:
            return None
        audience: tuple[str, ...] = (aud,)
    elif type(aud) is list and aud:
        audience = tuple(aud)
        if not all(type(item) is str for item in audience) or policy.audience_set.isdisjoint(audience):
            return None
    else:
        return None
    subject = claims["sub"]
    jti = claims.get("jti")
    family = claims.get("sid")
    if type(subject) is not str or (jti is not None and type(jti) is not str):
        return None
    if family is not None and type(family) is not str:
        return None
    return new_verified_token(
        subject,
        token_type,
        iss,
        audience,
        datetime.fromtimestamp(exp, UTC),
        None if iat is None else datetime.fromtimestamp(iat, UTC),
        jti,
        family,
        kid,
        claims,
    )


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
