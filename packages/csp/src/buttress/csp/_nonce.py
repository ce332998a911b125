"""Per-request nonces and hash sources."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Final, Literal

from ._metrics import NONCES
from .exceptions import CSPTypeError, PolicyError

__all__ = [
    "MAX_NONCE_BYTES",
    "MIN_NONCE_BYTES",
    "HashAlgorithm",
    "check_nonce_bytes",
    "generate_nonce",
    "hash_source",
]

MIN_NONCE_BYTES: Final = 16
"""The fewest random bytes a nonce is made from: 128 bits, as CSP3 recommends."""

MAX_NONCE_BYTES: Final = 1024
"""The most random bytes a nonce is made from: more only lengthens every response header."""

type HashAlgorithm = Literal["sha256", "sha384", "sha512"]


def generate_nonce(nbytes: int = MIN_NONCE_BYTES) -> str:
    """Return a fresh nonce: ``nbytes`` random bytes from `secrets`, base64url-encoded without padding.

    Args:
        nbytes: How many random bytes; from `MIN_NONCE_BYTES` (16) to `MAX_NONCE_BYTES` (1024).

    Raises:
        PolicyError: ``nbytes`` is below 16 or above 1024.
        CSPTypeError: ``nbytes`` is not an int.

    Examples:
        >>> len(generate_nonce())
        22
    """
    nonce = secrets.token_urlsafe(check_nonce_bytes(nbytes))
    NONCES.add(1)
    return nonce


def check_nonce_bytes(nbytes: object, parameter: str = "nbytes") -> int:
    """Refuse a nonce size that is not an int from `MIN_NONCE_BYTES` to `MAX_NONCE_BYTES`."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise CSPTypeError(parameter, "an int", nbytes)
    if nbytes < MIN_NONCE_BYTES:
        raise PolicyError(parameter, nbytes, f"a nonce needs at least {MIN_NONCE_BYTES} random bytes")
    if nbytes > MAX_NONCE_BYTES:
        raise PolicyError(
            parameter, nbytes, f"a nonce of more than {MAX_NONCE_BYTES} bytes only costs header size"
        )
    return nbytes


def hash_source(content: str | bytes, algorithm: HashAlgorithm = "sha256") -> str:
    """Return the hash source (``'sha256-…'``) that allows an inline script or style with this content.

    The browser hashes the element's text exactly as it appears between the tags, encoded as UTF-8,
    so pass that text, whitespace included.

    Args:
        content: The inline script or style text.
        algorithm: ``"sha256"``, ``"sha384"`` or ``"sha512"``.

    Raises:
        PolicyError: ``algorithm`` is not one of the three.
        CSPTypeError: ``content`` is neither str nor bytes.

    Examples:
        >>> hash_source("alert(1)")
        "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
    """
    if isinstance(content, str):
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            raise PolicyError(
                "content", "", "holds a lone surrogate, which no page can contain", show_value=False
            ) from None
    elif isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
    else:
        raise CSPTypeError("content", "a str or bytes", content)
    if not isinstance(algorithm, str) or algorithm not in ("sha256", "sha384", "sha512"):
        raise PolicyError("algorithm", algorithm, "use 'sha256', 'sha384' or 'sha512'")
    digest = hashlib.new(algorithm, data).digest()
    return f"'{algorithm}-{base64.b64encode(digest).decode('ascii')}'"
