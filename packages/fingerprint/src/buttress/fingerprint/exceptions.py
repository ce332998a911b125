"""Errors raised by buttress-fingerprint.

::

    ButtressError                                  (buttress.core)
    └── FingerprintError                           every error this package raises
        ├── FingerprintConfigurationError          (also ConfigurationError, ValueError) a weak secret, an
        │                                          empty purpose, an unknown component, a bad prefix length
        ├── FingerprintTypeError                   (also TypeError) an argument of the wrong type
        ├── InvalidRequestError                    (also ValueError) a scope, environ, header list, client
        │                                          IP or TLS string that cannot be read
        ├── InvalidFingerprintError                (also ValueError) a stored fingerprint that is not one
        └── IncomparableFingerprintsError          (also ValueError) two fingerprints made with different
                                                   keys or purposes

No message carries a secret, a header value or an address: a request's data is personal data, and
errors end up in logs.
"""

from __future__ import annotations

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError, safe_repr

__all__ = [
    "FingerprintConfigurationError",
    "FingerprintError",
    "FingerprintTypeError",
    "IncomparableFingerprintsError",
    "InvalidFingerprintError",
    "InvalidRequestError",
]


class FingerprintError(ButtressError):
    """Root of every error buttress-fingerprint raises."""


class FingerprintConfigurationError(FingerprintError, ConfigurationError):
    """An argument to `Fingerprinter` is invalid; the message names it and what would be accepted.

    Attributes:
        parameter: The argument's name.
        value: The rejected value (never shown in the message for secrets).
        reason: What is wrong and what to do.
    """


class FingerprintTypeError(FingerprintError, ArgumentTypeError):
    """An argument has the wrong type (see `buttress.core.ArgumentTypeError` for the attributes)."""


class InvalidRequestError(FingerprintError, ValueError):
    """A request (ASGI scope, WSGI environ, headers, client IP, TLS string) cannot be read.

    Args:
        part: Which part was malformed, such as ``"scope['headers']"`` or ``"client_ip"``.
        reason: What is wrong with it. The request's data itself is never quoted.

    Attributes:
        part: Which part was malformed.
        reason: What is wrong with it.
    """

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"cannot read {part}: {reason}")
        self.part = part
        self.reason = reason


class InvalidFingerprintError(FingerprintError, ValueError):
    """A value given as a stored fingerprint (a digest or a `Fingerprint.to_dict` record) is not one.

    Attributes:
        reason: What is wrong with it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a fingerprint: {reason}")
        self.reason = reason


class IncomparableFingerprintsError(FingerprintError, ValueError):
    """Two fingerprints were compared that were made with different keys or for different purposes.

    Their digests are unrelated by design, so no similarity can be computed: fingerprint both
    requests with the same `Fingerprinter`.

    Attributes:
        left: ``(key_id, purpose)`` of the first fingerprint.
        right: ``(key_id, purpose)`` of the second.
    """

    def __init__(self, left: tuple[str, str], right: tuple[str, str]) -> None:
        super().__init__(
            f"fingerprints made with {_made_with(left)} and {_made_with(right)} "
            "cannot be compared; fingerprint both requests with the same Fingerprinter"
        )
        self.left = left
        self.right = right


def _made_with(origin: object) -> str:
    if isinstance(origin, tuple) and len(origin) == 2:
        return f"key {safe_repr(origin[0]).strip(chr(39))} for {safe_repr(origin[1])}"
    return safe_repr(origin)
