"""Errors raised by buttress-fingerprint.

::

    ButtressError                                  (buttress.core)
    └── FingerprintError                           every error this package raises
        ├── FingerprintConfigurationError          (also core ConfigurationError, a ValueError) a bad
        │   │                                      value: a weak secret, an empty purpose, an unknown
        │   │                                      component, a bad prefix length
        │   ├── InvalidRequestError                a scope, environ, header list, client IP or TLS
        │   │                                      string that cannot be read
        │   ├── InvalidFingerprintError            a stored fingerprint that is not one
        │   └── IncomparableFingerprintsError      two fingerprints made with different keys or purposes
        └── FingerprintTypeError                   (also core ArgumentTypeError, a TypeError) an
                                                   argument of the wrong type

``except FingerprintConfigurationError`` (or ``ValueError``) catches every bad value, whatever its
kind; the three specific errors keep their own attributes beside ``parameter`` and ``reason``.

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


def _bad_value(error: FingerprintConfigurationError, message: str, parameter: str, reason: str) -> None:
    """Fill a specific error in: its own message, and the attributes of `ConfigurationError`.

    ``value`` is ``None``: what was refused is a request's data or a stored record, which stays
    out of errors (they end up in logs).
    """
    ButtressError.__init__(error, message)
    error.parameter = parameter
    error.value = None
    error.reason = reason


class InvalidRequestError(FingerprintConfigurationError):
    """A request (ASGI scope, WSGI environ, headers, client IP, TLS string) cannot be read.

    Args:
        part: Which part was malformed, such as ``"scope['headers']"`` or ``"client_ip"``.
        reason: What is wrong with it. The request's data itself is never quoted.

    Attributes:
        part: Which part was malformed (also ``parameter``).
        reason: What is wrong with it.
    """

    def __init__(self, part: str, reason: str) -> None:
        _bad_value(self, f"cannot read {part}: {reason}", part, reason)
        self.part = part


class InvalidFingerprintError(FingerprintConfigurationError):
    """A value given as a stored fingerprint (a digest or a `Fingerprint.to_dict` record) is not one.

    Attributes:
        parameter: ``"fingerprint"``.
        reason: What is wrong with it.
    """

    def __init__(self, reason: str) -> None:
        _bad_value(self, f"not a fingerprint: {reason}", "fingerprint", reason)


class IncomparableFingerprintsError(FingerprintConfigurationError):
    """Two fingerprints were compared that were made with different keys or for different purposes.

    Their digests are unrelated by design, so no similarity can be computed: fingerprint both
    requests with the same `Fingerprinter`.

    Attributes:
        left: ``(key_id, purpose)`` of the first fingerprint.
        right: ``(key_id, purpose)`` of the second.
        parameter: ``"b"``, the second fingerprint given to `Fingerprinter.similarity`.
    """

    def __init__(self, left: tuple[str, str], right: tuple[str, str]) -> None:
        reason = (
            f"fingerprints made with {_made_with(left)} and {_made_with(right)} "
            "cannot be compared; fingerprint both requests with the same Fingerprinter"
        )
        _bad_value(self, reason, "b", reason)
        self.left = left
        self.right = right


def _made_with(origin: object) -> str:
    if isinstance(origin, tuple) and len(origin) == 2:
        return f"key {safe_repr(origin[0]).strip(chr(39))} for {safe_repr(origin[1])}"
    return safe_repr(origin)
