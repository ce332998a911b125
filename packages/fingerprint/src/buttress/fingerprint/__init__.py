"""buttress-fingerprint: keyed, privacy-respecting fingerprints of HTTP requests.

A fingerprint is an HMAC-SHA256 of a request's browser-identifying headers (user agent, accept
headers, client hints, header order, cookie names), keyed with your secret and bound to a declared
purpose. The client address is left out unless you ask for it (whole, or a /24 or /48 prefix)::

    import secrets
    from buttress.fingerprint import Fingerprinter

    fingerprinter = Fingerprinter(secrets.token_bytes(32), purpose="fraud-prevention")
    fp = fingerprinter.from_scope(scope)           # or from_environ / from_headers
    fp.digest, fp.confidence, fp.low_confidence

Only keyed hashes leave the library; `Fingerprinter.verify` accepts fingerprints made with previous
secrets, and `Fingerprinter.similarity` compares two fingerprints component by component.
"""

from __future__ import annotations

from ._components import Component, Components, Headers, IPAddress, from_environ, from_headers, from_scope
from ._encoding import MIN_SECRET_BYTES
from ._fingerprint import Fingerprint
from ._fingerprinter import DEFAULT_ENTROPY_BITS, Fingerprinter, IPMode
from ._middleware import (
    FINGERPRINT_ENVIRON_KEY,
    FINGERPRINT_STATE_KEY,
    FingerprintMiddleware,
    FingerprintWSGIMiddleware,
)
from ._version import __version__
from .exceptions import (
    FingerprintConfigurationError,
    FingerprintError,
    FingerprintTypeError,
    IncomparableFingerprintsError,
    InvalidFingerprintError,
    InvalidRequestError,
)

__all__ = [
    "DEFAULT_ENTROPY_BITS",
    "FINGERPRINT_ENVIRON_KEY",
    "FINGERPRINT_STATE_KEY",
    "MIN_SECRET_BYTES",
    "Component",
    "Components",
    "Fingerprint",
    "FingerprintConfigurationError",
    "FingerprintError",
    "FingerprintMiddleware",
    "FingerprintTypeError",
    "FingerprintWSGIMiddleware",
    "Fingerprinter",
    "Headers",
    "IPAddress",
    "IPMode",
    "IncomparableFingerprintsError",
    "InvalidFingerprintError",
    "InvalidRequestError",
    "__version__",
    "from_environ",
    "from_headers",
    "from_scope",
]
