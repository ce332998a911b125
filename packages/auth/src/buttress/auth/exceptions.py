"""Errors raised by buttress-auth.

::

    ButtressError                                   (buttress.core)
    └── AuthError                                   every error this package raises
        ├── TokenError                              a token must not be trusted: answer 401
        │   ├── MalformedTokenError                 not a compact JWS we accept (segments, base64, JSON, size)
        │   │   ├── AuthorizationHeaderError        the Authorization header is not 'Bearer <token>'
        │   │   ├── MissingClaimError               a required claim is absent or of the wrong type
        │   │   └── UnsupportedHeaderError          crit, jku, x5u, jwk, x5c or b64 in the header
        │   ├── InvalidSignatureError               the signature does not verify under the key
        │   │   └── AlgorithmMismatchError          the header's alg is not the key's (none, HS256 on RSA)
        │   ├── UnknownKeyError                     no usable key has the token's kid
        │   ├── ExpiredTokenError                   exp is past (beyond the leeway)
        │   ├── TokenNotYetValidError               nbf or iat is in the future (beyond the leeway)
        │   ├── InvalidIssuerError                  iss is not exactly the expected issuer
        │   ├── InvalidAudienceError                aud does not name the expected audience
        │   ├── WrongTokenTypeError                 a refresh token where an access token belongs, or back
        │   └── RevokedTokenError                   the jti, its family or its user's tokens were revoked
        │       └── RefreshTokenReusedError         a used refresh token came back: its family is revoked
        ├── PermissionDeniedError                   the principal's roles do not grant the permission: 403
        ├── AuthConfigurationError                  (also ConfigurationError, ValueError) a bad argument
        │   ├── WeakKeyError                        a key too small, or a key for another algorithm
        │   ├── UnknownRoleError                    a role no policy defines
        │   └── RoleCycleError                      roles that inherit from each other in a circle
        ├── AuthTypeError                           (also ArgumentTypeError, TypeError) a wrong type
        ├── AuthUnavailableError                    (also BackendUnavailableError, ConnectionError)
        │   └── JWKSUnavailableError                the JWKS could not be fetched and no good copy is held
        └── MissingExtraError                       (also ImportError) a feature whose extra is missing

Every way a presented token can be wrong ends in a `TokenError`: catch that one class and answer 401.
`AuthUnavailableError` says nothing about the token: answer 503. Messages never contain a token, a
key or a claim's value other than the small, bounded ones named in the attributes.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
)
from buttress.core import MissingExtraError as CoreMissingExtraError
from buttress.core.exceptions import safe_repr

__all__ = [
    "AlgorithmMismatchError",
    "AuthConfigurationError",
    "AuthError",
    "AuthTypeError",
    "AuthUnavailableError",
    "AuthorizationHeaderError",
    "ExpiredTokenError",
    "InvalidAudienceError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "JWKSUnavailableError",
    "MalformedTokenError",
    "MissingClaimError",
    "MissingExtraError",
    "PermissionDeniedError",
    "RefreshTokenReusedError",
    "RevokedTokenError",
    "RoleCycleError",
    "TokenError",
    "TokenNotYetValidError",
    "UnknownKeyError",
    "UnknownRoleError",
    "UnsupportedHeaderError",
    "WeakKeyError",
    "WrongTokenTypeError",
]

_SHOWN = 64  # the most characters of a token-supplied value (a kid, a type) a message repeats


def _seconds(value: object) -> str:
    """A time in seconds since the epoch, for a message, whatever was given."""
    try:
        return f"{value:.0f}"
    except (TypeError, ValueError, ArithmeticError):
        return _shown(value)


def _shown(value: object) -> str:
    """A token-supplied value, bounded, for a message: the attacker chooses it, so it is cut short."""
    text = safe_repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


class AuthError(ButtressError):
    """Root of every error buttress-auth raises."""


class TokenError(AuthError):
    """A presented token must not be trusted. Answer 401 (`BearerAuthMiddleware` does).

    Attributes:
        reason: A short, stable code for the failure (``"expired"``, ``"signature"``...), fit for a
            metric attribute or the ``error_description`` of a ``WWW-Authenticate`` header.
    """

    reason = "invalid"


class MalformedTokenError(TokenError):
    """The token is not a compact JWS this library accepts: segments, base64url, JSON or size."""

    reason = "malformed"


class AuthorizationHeaderError(MalformedTokenError):
    """The request's ``Authorization`` header is not ``Bearer <token68>``, or is repeated (answer 400)."""

    reason = "invalid_request"


class MissingClaimError(MalformedTokenError):
    """A claim the verifier requires is absent, or has the wrong JSON type.

    Attributes:
        claim: The claim's name (``"exp"``, ``"iss"``...).
    """

    reason = "missing_claim"

    def __init__(self, claim: str, detail: str = "is missing") -> None:
        super().__init__(f"the token's {claim!r} claim {detail}")
        self.claim = claim


class UnsupportedHeaderError(MalformedTokenError):
    """The header holds a parameter that is refused: ``crit``, or a key reference never followed.

    ``jku``, ``x5u``, ``jwk`` and ``x5c`` would let the token choose the key it is checked with
    (RFC 8725 section 3.10); ``crit`` names extensions this library does not implement (RFC 7515
    section 4.1.11).

    Attributes:
        header: The parameter's name.
    """

    reason = "unsupported_header"

    def __init__(self, header: str) -> None:
        super().__init__(f"the token's header holds {header!r}, which is refused")
        self.header = header


class InvalidSignatureError(TokenError):
    """The signature does not verify under the key the token names."""

    reason = "signature"


class AlgorithmMismatchError(InvalidSignatureError):
    """The header's ``alg`` is not the algorithm its key is pinned to (``none``, or HS256 on an RSA key).

    Attributes:
        expected: The key's algorithm.
        actual: The header's ``alg``, bounded.
    """

    reason = "algorithm"

    def __init__(self, expected: str, actual: object) -> None:
        super().__init__(f"the token's alg {_shown(actual)} is not its key's algorithm {expected}")
        self.expected = expected
        self.actual = _shown(actual)


class UnknownKeyError(TokenError):
    """No key that may verify tokens has the token's ``kid`` (absent, retired or never known).

    Attributes:
        kid: The ``kid`` asked for, bounded (the token chose it).
    """

    reason = "unknown_key"

    def __init__(self, kid: object) -> None:
        super().__init__(f"no verification key has kid {_shown(kid)}")
        self.kid = _shown(kid)


class ExpiredTokenError(TokenError):
    """The token's ``exp`` is past, beyond the leeway.

    Attributes:
        expired_at: The ``exp`` claim, in seconds since the epoch.
    """

    reason = "expired"

    def __init__(self, expired_at: float) -> None:
        super().__init__(f"the token expired at {_seconds(expired_at)} (seconds since the epoch)")
        self.expired_at = expired_at


class TokenNotYetValidError(TokenError):
    """The token's ``nbf`` (or ``iat``) is in the future, beyond the leeway.

    Attributes:
        valid_from: The claim's value, in seconds since the epoch.
        claim: ``"nbf"`` or ``"iat"``.
    """

    reason = "not_yet_valid"

    def __init__(self, valid_from: float, claim: str = "nbf") -> None:
        super().__init__(
            f"the token is not valid before {_seconds(valid_from)} ({_shown(claim)}); check both clocks"
        )
        self.valid_from = valid_from
        self.claim = claim


class InvalidIssuerError(TokenError):
    """The token's ``iss`` is not exactly the expected issuer (no prefix or substring match)."""

    reason = "issuer"


class InvalidAudienceError(TokenError):
    """The token's ``aud`` is absent or does not name the expected audience."""

    reason = "audience"


class WrongTokenTypeError(TokenError):
    """The token is of another type than asked for: a refresh token used as an access token, say.

    Attributes:
        expected: The type asked for.
        actual: The token's ``typ``, bounded.
    """

    reason = "token_type"

    def __init__(self, expected: str, actual: object) -> None:
        super().__init__(f"expected a {expected} token, got typ {_shown(actual)}")
        self.expected = expected
        self.actual = _shown(actual)


class RevokedTokenError(TokenError):
    """The token was revoked: its ``jti``, its refresh family, or all of its user's tokens."""

    reason = "revoked"


class RefreshTokenReusedError(RevokedTokenError):
    """A refresh token that was used already came back: its whole family is now revoked.

    Either the legitimate client or a thief holds a copy; neither can refresh again, and the user
    signs in anew (RFC 9700 section 4.14.2, refresh token rotation).
    """

    reason = "reused"


class PermissionDeniedError(AuthError):
    """The principal's roles do not grant the permission asked for. Answer 403.

    Attributes:
        permission: The permission asked for (``"posts:write"``).
    """

    def __init__(self, permission: str) -> None:
        super().__init__(f"permission {_shown(permission)} is not granted")
        self.permission = permission


class AuthConfigurationError(AuthError, ConfigurationError):
    """An argument is invalid; the message names it.

    The value is shown in the message only when ``show_value`` is exactly ``True``.
    """

    def __init__(self, parameter: str, value: object, reason: str, *, show_value: bool = True) -> None:
        super().__init__(parameter, value, reason, show_value=show_value is True)


class WeakKeyError(AuthConfigurationError):
    """A key cannot be used: too small, or of another kind than its algorithm.

    RSA keys need 2048 bits, HMAC secrets 32 bytes. The message never shows the key.
    """

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(parameter, None, reason, show_value=False)


class UnknownRoleError(AuthConfigurationError, LookupError):
    """A role that the policy does not define, as a parent or in a check.

    Attributes:
        role: The role's name.
    """

    def __init__(self, role: str, parameter: str = "role") -> None:
        super().__init__(parameter, role, "is not a role of this policy")
        self.role = role


class RoleCycleError(AuthConfigurationError):
    """Roles inherit from each other in a circle, so none of their closures is defined.

    Attributes:
        cycle: The roles of the circle, in order, the first repeated at the end.
    """

    def __init__(self, cycle: tuple[str, ...]) -> None:
        roles = cycle if isinstance(cycle, tuple | list) else (cycle,)
        names = " > ".join(_shown(role) for role in roles)
        super().__init__("roles", cycle, f"inherit in a circle: {names}", show_value=False)
        self.cycle = cycle


class AuthTypeError(AuthError, ArgumentTypeError):
    """An argument has the wrong type; the message names the argument and the type given (never the value).

    Attributes:
        parameter: The argument's name.
        expected: What it should have been.
        actual: The name of the type that was given.
    """


class AuthUnavailableError(AuthError, BackendUnavailableError):
    """The token store's server, or the JWKS endpoint, cannot be reached. Answer 503.

    Attributes:
        backend: ``"redis"``, ``"jwks"`` or the name of a store of your own.
        address: Where it was reached, redacted (no password).
        reason: The driver's error type.
    """


class JWKSUnavailableError(AuthUnavailableError):
    """The JWKS endpoint could not be fetched, and the client holds no earlier good set to use."""


class MissingExtraError(AuthError, CoreMissingExtraError):
    """A feature was used without the extra that installs its library.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-auth"
