"""Signing and verification keys, each pinned to one algorithm, named by its RFC 7638 thumbprint.

A key knows its algorithm; a token never chooses it (RFC 8725 section 3.1). RS256 keys have at
least 2048 bits, ES256 keys are on P-256, EdDSA and Ed25519 keys are Ed25519, and HS256 secrets have at least
32 bytes and exist only when asked for by name (`SigningKey.from_secret`). No key ever appears in a
``repr``, a message or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final, Self

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from buttress.core import check_text

from ._jose import b64decode, b64encode, dumps
from .exceptions import AuthConfigurationError, AuthTypeError, MalformedTokenError, WeakKeyError

__all__ = ["Algorithm", "SigningKey", "VerifyingKey", "thumbprint"]

MIN_RSA_BITS: Final = 2048
MIN_SECRET_BYTES: Final = 32
MAX_KID: Final = 256
_MAX_RSA_BITS: Final = 16384
_P256_BYTES: Final = 32
_MAX_PASSWORD: Final = 1_023  # what OpenSSL's PEM encryption takes
_PKCS1: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()
_ECDSA: Final = ec.ECDSA(hashes.SHA256())

type _Private = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | bytes
type _Public = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | bytes


class Algorithm(StrEnum):
    """The JWS algorithms a key may be pinned to (RFC 7518 section 3.1, RFC 8037 for EdDSA).

    ``Ed25519`` is RFC 9864's fully-specified name for EdDSA over Ed25519: the same keys and
    signatures, another ``alg`` value. A key is pinned to one of the two names, like any algorithm.
    """

    RS256 = "RS256"
    ES256 = "ES256"
    EDDSA = "EdDSA"
    ED25519 = "Ed25519"
    HS256 = "HS256"


_EDWARDS: Final = frozenset({Algorithm.EDDSA, Algorithm.ED25519})
_ASYMMETRIC: Final = frozenset({Algorithm.RS256, Algorithm.ES256, *_EDWARDS})


def _algorithm(value: object, *, allow_hmac: bool = False) -> Algorithm:
    if not isinstance(value, str):
        raise AuthTypeError("alg", "an Algorithm or its name", value)
    try:
        alg = Algorithm(value)
    except ValueError:
        raise AuthConfigurationError(
            "alg", value, "must be RS256, ES256, EdDSA or Ed25519 (HS256 only through SigningKey.from_secret)"
        ) from None
    if alg is Algorithm.HS256 and not allow_hmac:
        raise AuthConfigurationError(
            "alg", value, "HS256 keys are made with SigningKey.from_secret, where the choice is explicit"
        )
    return alg


def _b64int(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64encode(value.to_bytes(length, "big"))


def _public_members(alg: Algorithm, key: _Public) -> dict[str, str]:
    """The JWK members that identify a public key (RFC 7638 section 3.2), in lexicographic order."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"e": _b64int(numbers.e), "kty": "RSA", "n": _b64int(numbers.n)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64int(point.x, _P256_BYTES),
            "y": _b64int(point.y, _P256_BYTES),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64encode(raw)}
    return {"k": b64encode(key), "kty": "oct"}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a key's required members.

    Args:
        jwk: A JWK holding at least the members RFC 7638 section 3.2 requires for its ``kty``.

    Raises:
        AuthConfigurationError: ``kty`` is not RSA, EC, OKP or oct, or a required member is missing.
    """
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    required["oct"] = ("k", "kty")
    if not isinstance(jwk, Mapping):
        raise AuthTypeError("jwk", "a mapping", jwk)
    kty = jwk.get("kty")
    members = required.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise AuthConfigurationError("jwk", kty, "kty must be RSA, EC, OKP or oct", show_value=False)
    try:
        canonical = {name: jwk[name] for name in members}
    except KeyError as exc:
        raise AuthConfigurationError("jwk", None, f"lacks {exc.args[0]!r}", show_value=False) from None
    if not all(isinstance(value, str) for value in canonical.values()):
        raise AuthConfigurationError("jwk", None, "members must be str", show_value=False)
    return b64encode(hashlib.sha256(dumps(canonical)).digest())


def _check_kid(kid: object) -> str | None:
    if kid is None:
        return None
    return check_text("kid", kid, max_bytes=MAX_KID, error=AuthConfigurationError, type_error=AuthTypeError)


def _check_public(alg: Algorithm, key: object, parameter: str) -> _Public:
    """``key`` if it is a public key of ``alg``'s kind and strength."""
    if alg is Algorithm.RS256:
        if not isinstance(key, rsa.RSAPublicKey):
            raise WeakKeyError(parameter, "RS256 needs an RSA key")
        if not MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
            raise WeakKeyError(parameter, f"RS256 needs an RSA key of {MIN_RSA_BITS} to {_MAX_RSA_BITS} bits")
        return key
    if alg is Algorithm.ES256:
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise WeakKeyError(parameter, "ES256 needs an EC key on P-256")
        return key
    if alg in _EDWARDS:
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise WeakKeyError(parameter, f"{alg} needs an Ed25519 key")
        return key
    if not isinstance(key, bytes) or len(key) < MIN_SECRET_BYTES:
        raise WeakKeyError(parameter, f"HS256 needs a secret of at least {MIN_SECRET_BYTES} bytes")
    return key


class VerifyingKey:
    """A key that checks signatures of one algorithm: a public key, or an HS256 secret.

    Made from a JWK (`from_jwk`, as a JWKS publishes it), from a PEM public key (`from_pem`), or as
    `SigningKey.verifying_key`. Its ``kid`` is the RFC 7638 thumbprint unless one is given.

    Attributes:
        alg: The one algorithm this key verifies.
        kid: Its key id.
    """

    __slots__ = ("_key", "_verify", "alg", "kid")

    _verify: Callable[[bytes, bytes], bool]

    def __init__(self, alg: Algorithm, key: _Public, kid: str | None = None) -> None:
        self.alg = _algorithm(alg, allow_hmac=True)
        self._key = _check_public(self.alg, key, "key")
        self.kid = _check_kid(kid) or thumbprint(_public_members(self.alg, self._key))
        self._verify = _verifier(self._key)

    @classmethod
    def from_pem(cls, pem: bytes | str, alg: Algorithm | str, *, kid: str | None = None) -> Self:
        """Load a PEM public key (``-----BEGIN PUBLIC KEY-----``) for ``alg``.

        Raises:
            WeakKeyError: The PEM holds no public key of ``alg``'s kind and strength.
            AuthConfigurationError: ``alg`` is not RS256, ES256, EdDSA or Ed25519.
            AuthTypeError: ``pem`` is not bytes or str.
        """
        algorithm = _algorithm(alg)
        data = _pem_bytes(pem)
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise WeakKeyError("pem", "is not a PEM public key") from None
        return cls(algorithm, _check_public(algorithm, key, "pem"), kid)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> Self:
        """Load a public key from a JWK (RFC 7517) with its ``alg``; symmetric (``oct``) keys are refused.

        The JWK's ``alg`` pins the key; a JWK without one is refused, since its algorithm would
        otherwise come from the token. A ``use`` other than ``sig`` is refused too.

        Raises:
            AuthConfigurationError: The JWK is incomplete, of another kind than its ``alg``, or not a
                signing key (`WeakKeyError` for a key too small).
            AuthTypeError: ``jwk`` is not a mapping.
        """
        if not isinstance(jwk, Mapping):
            raise AuthTypeError("jwk", "a mapping", jwk)
        if jwk.get("use", "sig") != "sig":
            raise AuthConfigurationError("jwk", None, "use must be 'sig'", show_value=False)
        alg = jwk.get("alg")
        if alg is None:
            raise AuthConfigurationError(
                "jwk", None, "has no 'alg': its algorithm would be the token's choice"
            )
        algorithm = _algorithm(alg)
        try:
            key = _jwk_public(algorithm, jwk)
        except (MalformedTokenError, ValueError, TypeError, KeyError, UnsupportedAlgorithm):
            raise AuthConfigurationError("jwk", None, f"is not a valid {algorithm} public key") from None
        kid = jwk.get("kid")
        return cls(algorithm, _check_public(algorithm, key, "jwk"), kid if isinstance(kid, str) else None)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``.

        Raises:
            AuthTypeError: ``signature`` or ``data`` is not bytes.
        """
        if not isinstance(signature, bytes) or not isinstance(data, bytes):
            raise AuthTypeError("signature", "bytes", signature if not isinstance(signature, bytes) else data)
        return self._verify(signature, data)

    def jwk(self) -> dict[str, str]:
        """The public JWK: ``kty``, the key's members, ``kid``, ``alg`` and ``use``.

        Raises:
            AuthConfigurationError: The key is an HS256 secret, which is never published.
        """
        if self.alg is Algorithm.HS256:
            raise AuthConfigurationError("key", None, "an HS256 secret is never published", show_value=False)
        return {**_public_members(self.alg, self._key), "kid": self.kid, "alg": str(self.alg), "use": "sig"}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyingKey):
            return NotImplemented
        return self.alg == other.alg and self.kid == other.kid

    def __hash__(self) -> int:
        return hash((self.alg, self.kid))

    def __repr__(self) -> str:
        return f"VerifyingKey(alg={str(self.alg)!r}, kid={self.kid!r})"


def _pem_bytes(pem: object) -> bytes:
    if isinstance(pem, str):
        try:
            return pem.encode("ascii")
        except UnicodeEncodeError:
            raise WeakKeyError("pem", "is not a PEM key (not ASCII)") from None
    if isinstance(pem, bytes | bytearray):
        return bytes(pem)
    raise AuthTypeError("pem", "bytes or a str", pem)


def _jwk_public(alg: Algorithm, jwk: Mapping[str, Any]) -> _Public:
    def number(name: str) -> int:
        value = jwk[name]
        if not isinstance(value, str):
            raise TypeError(name)
        return int.from_bytes(b64decode(value, name), "big")

    kty = jwk.get("kty")
    if alg is Algorithm.RS256 and kty == "RSA":
        return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    if alg is Algorithm.ES256 and kty == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()
    if alg in _EDWARDS and kty == "OKP" and jwk.get("crv") == "Ed25519":
        raw = jwk["x"]
        if not isinstance(raw, str):
            raise TypeError("x")
        return ed25519.Ed25519PublicKey.from_public_bytes(b64decode(raw, "x"))
    raise ValueError("kty and crv do not match alg")


def _jwk_private(alg: Algorithm, jwk: Mapping[str, Any]) -> _Private:
    def raw(name: str) -> bytes:
        value = jwk[name]
        if not isinstance(value, str):
            raise TypeError(name)
        return b64decode(value, name)

    def number(name: str) -> int:
        return int.from_bytes(raw(name), "big")

    kty = jwk.get("kty")
    if alg is Algorithm.RS256 and kty == "RSA":
        public = rsa.RSAPublicNumbers(number("e"), number("n"))
        return rsa.RSAPrivateNumbers(
            number("p"), number("q"), number("d"), number("dp"), number("dq"), number("qi"), public
        ).private_key()
    if alg is Algorithm.ES256 and kty == "EC" and jwk.get("crv") == "P-256":
        point = ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1())
        return ec.EllipticCurvePrivateNumbers(number("d"), point).private_key()
    if alg in _EDWARDS and kty == "OKP" and jwk.get("crv") == "Ed25519":
        private = ed25519.Ed25519PrivateKey.from_private_bytes(raw("d"))
        raw_format = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        encoded = private.public_key().public_bytes(*raw_format)
        if encoded != raw("x"):
            raise ValueError("x is not d's public key")
        return private
    raise ValueError("kty and crv do not match alg")


def _verifier(key: _Public) -> Callable[[bytes, bytes], bool]:
    """A function (signature, data) -> bool for the key, with everything bound once."""
    if isinstance(key, rsa.RSAPublicKey):
        rsa_verify = key.verify

        def verify_rsa(signature: bytes, data: bytes) -> bool:
            try:
                rsa_verify(signature, data, _PKCS1, _SHA256)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        ec_verify = key.verify

        def verify_ec(signature: bytes, data: bytes) -> bool:
            if len(signature) != 2 * _P256_BYTES:
                return False
            r = int.from_bytes(signature[:_P256_BYTES], "big")
            s = int.from_bytes(signature[_P256_BYTES:], "big")
            try:
                ec_verify(encode_dss_signature(r, s), data, _ECDSA)
            except InvalidSignature:
                return False
            return True

        return verify_ec
    if isinstance(key, ed25519.Ed25519PublicKey):
        ed_verify = key.verify

        def verify_ed(signature: bytes, data: bytes) -> bool:
            try:
                ed_verify(signature, data)
            except InvalidSignature:
                return False
            return True

        return verify_ed
    secret = key

    def verify_hmac(signature: bytes, data: bytes) -> bool:
        return hmac.compare_digest(hmac.digest(secret, data, "sha256"), signature)

    return verify_hmac


class SigningKey:
    """A private key (or HS256 secret) pinned to one algorithm, that signs tokens.

    Make one with `generate`, `from_pem` (a PEM private key: from a file, or from the application's
    secret store; the library reads no environment) or `from_secret` (HS256, chosen explicitly).
    The key material never appears in ``repr`` or in any message.

    Attributes:
        alg: The one algorithm this key signs with.
        kid: Its key id: the RFC 7638 thumbprint of its public key unless one is given.

    Examples:
        >>> key = SigningKey.generate("ES256")
        >>> key.alg, len(key.kid)
        (<Algorithm.ES256: 'ES256'>, 43)
    """

    __slots__ = ("_private", "alg", "kid", "verifying_key")

    def __init__(self, alg: Algorithm | str, private: _Private, *, kid: str | None = None) -> None:
        self.alg = _algorithm(alg, allow_hmac=isinstance(private, bytes))
        self._private = private
        public = _public_of(self.alg, private)
        self.verifying_key = VerifyingKey(self.alg, public, kid)
        self.kid = self.verifying_key.kid

    @classmethod
    def generate(cls, alg: Algorithm | str = Algorithm.ES256, *, kid: str | None = None) -> Self:
        """Generate a new key for ``alg``: RSA 2048 bits for RS256, P-256 for ES256, else Ed25519.

        Raises:
            AuthConfigurationError: ``alg`` is not RS256, ES256, EdDSA or Ed25519 (HS256: `from_secret`).
        """
        algorithm = _algorithm(alg)
        private: _Private
        if algorithm is Algorithm.RS256:
            private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
        elif algorithm is Algorithm.ES256:
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        return cls(algorithm, private, kid=kid)

    @classmethod
    def from_pem(
        cls, pem: bytes | str, alg: Algorithm | str, *, password: bytes | None = None, kid: str | None = None
    ) -> Self:
        """Load a PEM private key (PKCS#8 or traditional) for ``alg``; ``password`` if it is encrypted.

        Raises:
            WeakKeyError: The PEM is not a private key of ``alg``'s kind and strength, or the password
                is wrong or missing.
            AuthConfigurationError: ``alg`` is not RS256, ES256, EdDSA or Ed25519.
            AuthTypeError: ``pem`` is not bytes or str, or ``password`` not bytes.
        """
        algorithm = _algorithm(alg)
        data = _pem_bytes(pem)
        _check_password(password)
        try:
            private = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise WeakKeyError("pem", "is not a PEM private key (or the password is wrong)") from None
        if not isinstance(
            private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise WeakKeyError("pem", f"{algorithm} needs an RSA, P-256 or Ed25519 private key")
        return cls(algorithm, private, kid=kid)

    @classmethod
    def from_secret(cls, secret: bytes, *, kid: str | None = None) -> Self:
        """An HS256 key: the explicit choice of a shared secret of at least 32 bytes.

        Prefer an asymmetric key: whoever can verify an HS256 token can also mint one.

        Raises:
            WeakKeyError: The secret is shorter than 32 bytes.
            AuthTypeError: ``secret`` is not bytes.
        """
        if not isinstance(secret, bytes | bytearray):
            raise AuthTypeError("secret", "bytes", secret)
        return cls(Algorithm.HS256, bytes(secret), kid=kid)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> Self:
        """Load a private key from a JWK (RFC 7517, RFC 7518 section 6) that names its ``alg``.

        RSA keys need ``n``, ``e``, ``d``, ``p``, ``q``, ``dp``, ``dq`` and ``qi``; EC keys ``crv``
        (P-256), ``x``, ``y`` and ``d``; OKP keys ``crv`` (Ed25519), ``x`` and ``d``. The JWK's
        ``kid`` is kept when it has one. HS256 secrets come through `from_secret` only.

        Raises:
            AuthConfigurationError: The JWK lacks ``alg`` or a member, or its members do not make a
                key of ``alg``'s kind (`WeakKeyError` for a key too small).
            AuthTypeError: ``jwk`` is not a mapping.
        """
        if not isinstance(jwk, Mapping):
            raise AuthTypeError("jwk", "a mapping", jwk)
        alg = jwk.get("alg")
        if alg is None:
            raise AuthConfigurationError("jwk", None, "has no 'alg': a key is pinned to one algorithm")
        algorithm = _algorithm(alg)
        try:
            private = _jwk_private(algorithm, jwk)
        except (MalformedTokenError, ValueError, TypeError, KeyError, UnsupportedAlgorithm):
            raise AuthConfigurationError(
                "jwk", None, f"is not a valid {algorithm} private key", show_value=False
            ) from None
        kid = jwk.get("kid")
        return cls(algorithm, private, kid=kid if isinstance(kid, str) else None)

    @staticmethod
    def generate_secret() -> bytes:
        """32 random bytes from `secrets`, for `from_secret`."""
        return secrets.token_bytes(MIN_SECRET_BYTES)

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (for ES256 the 64-byte ``r || s`` of RFC 7518 section 3.4).

        Raises:
            AuthTypeError: ``data`` is not bytes.
        """
        if not isinstance(data, bytes):
            raise AuthTypeError("data", "bytes", data)
        private = self._private
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(data, _PKCS1, _SHA256)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(data, _ECDSA))
            return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        if isinstance(private, ed25519.Ed25519PrivateKey):
            return private.sign(data)
        return hmac.digest(private, data, "sha256")

    def private_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``password`` if given, to store it.

        Raises:
            AuthConfigurationError: The key is an HS256 secret (store its bytes instead).
            AuthTypeError: ``password`` is not bytes.
        """
        private = self._private
        if isinstance(private, bytes):
            raise AuthConfigurationError("key", None, "an HS256 secret has no PEM form", show_value=False)
        _check_password(password)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def __repr__(self) -> str:
        return f"SigningKey(alg={str(self.alg)!r}, kid={self.kid!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise AuthTypeError("key", "never pickled (a private key stays where it was loaded)", self)


def _check_password(password: object) -> None:
    if password is None:
        return
    if not isinstance(password, bytes):
        raise AuthTypeError("password", "bytes or None", password)
    if not 0 < len(password) <= _MAX_PASSWORD:
        reason = f"must be 1 to {_MAX_PASSWORD} bytes"
        raise AuthConfigurationError("password", None, reason, show_value=False)


def _public_of(alg: Algorithm, private: object) -> _Public:
    if isinstance(private, bytes):
        return _check_public(alg, private, "secret")
    if isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return _check_public(alg, private.public_key(), "key")
    raise AuthTypeError("private", "an RSA, EC or Ed25519 private key, or bytes", private)


def is_asymmetric(alg: Algorithm) -> bool:
    """Whether keys of ``alg`` have a public half that a JWKS may publish."""
    return alg in _ASYMMETRIC
