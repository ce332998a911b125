"""Static checks of buttress-fingerprint's public types. Run by mypy, never by pytest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_type

from buttress.fingerprint import (
    Component,
    Components,
    Fingerprint,
    FingerprintConfigurationError,
    Fingerprinter,
    FingerprintMiddleware,
    FingerprintWSGIMiddleware,
    InvalidFingerprintError,
    InvalidRequestError,
    IPAddress,
    IPMode,
    from_environ,
    from_headers,
    from_scope,
)

fingerprinter = Fingerprinter(
    b"0" * 32, purpose="fraud-prevention", ip=IPMode.PREFIX, exclude=[Component.TLS]
)


def components_types(scope: Mapping[str, object], environ: Mapping[str, object]) -> None:
    assert_type(from_scope(scope), Components)
    assert_type(from_environ(environ, tls="t13d"), Components)
    assert_type(from_headers({"user-agent": "x"}, client_ip="192.0.2.1"), Components)
    assert_type(from_headers([(b"user-agent", b"x")]), Components)
    assert_type(from_headers([]).ip, IPAddress | None)
    assert_type(from_headers([]).user_agent, str | None)
    from_headers({"user-agent": 1})  # type: ignore[arg-type]


def fingerprint_types() -> None:
    fp = fingerprinter.from_headers({"user-agent": "x"})
    assert_type(fp, Fingerprint)
    assert_type(fp.digest, str)
    assert_type(fp.components, Mapping[Component, str])
    assert_type(fp.confidence, float)
    assert_type(fp.low_confidence, bool)
    assert_type(fp.to_dict(), dict[str, object])
    assert_type(Fingerprint.from_dict(fp.to_dict()), Fingerprint)
    assert_type(fingerprinter.similarity(fp, fp), float)
    assert_type(fingerprinter.verify(fp.digest, Components()), bool)
    assert_type(fingerprinter.used(Components()), dict[Component, str])
    Fingerprinter("secret", purpose="x")  # type: ignore[arg-type]
    Fingerprinter(b"0" * 32)  # type: ignore[call-arg]


async def asgi_app(scope: object, receive: object, send: object) -> None: ...


def middleware_types() -> None:
    assert_type(
        FingerprintWSGIMiddleware(lambda environ, start: [b""], fingerprinter), FingerprintWSGIMiddleware
    )
    assert_type(FingerprintMiddleware(asgi_app, fingerprinter), FingerprintMiddleware)
    FingerprintMiddleware(asgi_app, "fingerprinter")  # type: ignore[arg-type]


def error_types(error: InvalidRequestError, stored: InvalidFingerprintError) -> None:
    assert_type(error.part, str)
    assert_type(error.parameter, str)
    assert_type(error.reason, str)
    assert_type(stored.reason, str)
    configuration: FingerprintConfigurationError = stored
    assert_type(configuration.value, object)
