"""Static checks of buttress-csp's public types. Run by mypy (``nox -s typecheck``), never by pytest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

import jinja2

from buttress.csp import (
    NONCE,
    CompiledPolicy,
    CSPConfigurationError,
    CSPMiddleware,
    CSPReport,
    CSPWSGIMiddleware,
    Directive,
    Keyword,
    NoncePlaceholder,
    Policy,
    PolicyError,
    ReportError,
    ReportHandler,
    ReportReceiver,
    Source,
    UnsupportedReportTypeError,
    WSGIReportReceiver,
    compatible,
    current_nonce,
    generate_nonce,
    hash_source,
    install_jinja2,
    parse,
    parse_reports,
    strict,
)


def builder_types() -> None:
    policy = Policy().with_directive(Directive.SCRIPT_SRC, NONCE, Keyword.STRICT_DYNAMIC)
    assert_type(policy, Policy)
    assert_type(policy.with_sources("img-src", "data:"), Policy)
    assert_type(policy.without("img-src"), Policy)
    assert_type(policy.get("script-src"), tuple[Source, ...] | None)
    assert_type(policy.directives, tuple[tuple[str, tuple[Source, ...]], ...])
    assert_type(policy.serialize(nonce="abcdefghijklmnopqrstuv"), str)
    assert_type(policy.headers("abc"), list[tuple[str, str]])
    assert_type(NONCE, NoncePlaceholder)
    assert_type(strict(trusted_types=True), Policy)
    assert_type(compatible(report_uri="/csp"), Policy)
    assert_type(parse("default-src 'self'"), Policy)
    Policy().with_directive("script-src", 42)  # type: ignore[arg-type]
    strict(report_to="/csp")  # type: ignore[arg-type]


def compiled_types() -> None:
    compiled = strict().compile(nonce_bytes=32)
    assert_type(compiled, CompiledPolicy)
    assert_type(compiled.issue(), tuple[str, str])
    assert_type(compiled.render("abc"), str)
    assert_type(compiled.reporting_endpoints, str | None)
    assert_type(generate_nonce(), str)
    assert_type(hash_source("x", "sha384"), str)
    hash_source("x", "md5")  # type: ignore[arg-type]


async def asgi_app(scope: object, receive: object, send: object) -> None: ...


def middleware_types(wsgi_app: object) -> None:
    assert_type(CSPMiddleware(asgi_app, strict()), CSPMiddleware)
    CSPMiddleware(asgi_app, "default-src 'self'")  # type: ignore[arg-type]
    assert_type(current_nonce(), str)
    install_jinja2(jinja2.Environment(autoescape=True))


class Store:
    async def __call__(self, reports: Sequence[CSPReport], /) -> None: ...


def report_types() -> None:
    assert_type(parse_reports(b"{}", "application/csp-report"), list[CSPReport])
    handler: ReportHandler = Store()
    assert_type(ReportReceiver(handler, max_bytes=1024), ReportReceiver)
    assert_type(WSGIReportReceiver(lambda reports: None), WSGIReportReceiver)
    assert_type(CSPWSGIMiddleware(lambda environ, start: [b""], strict()), CSPWSGIMiddleware)


def error_types(
    error: CSPConfigurationError, report: ReportError, unsupported: UnsupportedReportTypeError
) -> None:
    assert_type(error.parameter, str)
    assert_type(error.reason, str)
    assert_type(report.reason, str)
    assert_type(unsupported.content_type, str)
    bad_values: list[CSPConfigurationError] = [PolicyError("script-src", "x", "bad"), report]
    assert_type(bad_values[0].value, object)
    CSPConfigurationError("max_bytes", 0)  # type: ignore[call-arg]
