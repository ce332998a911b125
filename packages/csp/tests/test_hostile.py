"""Hostile input: typed errors from every public entry point, and HTTP that never breaks its own rules.

The regressions first (issue 17): `ReportReceiver` sent ``content-length: 0`` on its 204, which RFC
9110 forbids, and `Policy.serialize(nonce="a")` accepted a one-character nonce. Then the
hostile-argument helper over every function, constructor and method, and every ASGI and WSGI app.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

import buttress.csp as csp
from buttress.csp import (
    NONCE,
    CompiledPolicy,
    CSPConfigurationError,
    CSPError,
    CSPMiddleware,
    CSPReport,
    CSPTypeError,
    CSPWSGIMiddleware,
    Directive,
    Keyword,
    MissingExtraError,
    Policy,
    PolicyError,
    PolicySyntaxError,
    ReportError,
    ReportReceiver,
    ReportTooLargeError,
    UnsupportedReportTypeError,
    WSGIReportReceiver,
    compatible,
    generate_nonce,
    hash_source,
    install_jinja2,
    parse,
    parse_reports,
    strict,
)
from buttress.testing import (
    HostileTarget,
    HostileTargets,
    check_hostile,
    check_hostile_asgi,
    check_hostile_wsgi,
)

NONCE_22 = "abcdefghijklmnopqrstuv"  # 22 base64url characters: 132 bits, the shortest accepted
REPORT = json.dumps(
    {"csp-report": {"document-uri": "https://example.test/", "violated-directive": "script-src"}}
).encode()


async def asgi_post(app: Any, body: bytes, headers: list[tuple[bytes, bytes]], method: str = "POST") -> Any:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": "/csp", "headers": headers}, receive, send)
    return sent[0]["status"], [n for n, _ in sent[0]["headers"]]


async def ignore(reports: Sequence[CSPReport]) -> None:
    pass


def ignore_sync(reports: Sequence[CSPReport]) -> None:
    pass


# --- the listed defects ---------------------------------------------------------------------------------


async def test_a_204_carries_no_content_length_and_other_answers_do() -> None:
    app = ReportReceiver(ignore, max_bytes=1024)
    csp = [(b"content-type", b"application/csp-report")]
    assert await asgi_post(app, REPORT, csp) == (204, [])
    for body, headers, method, status in [
        (REPORT, csp, "GET", 405),
        (b"{", csp, "POST", 400),
        (REPORT, [(b"content-type", b"text/plain")], "POST", 415),
        (b"x" * 2000, csp, "POST", 413),
        (REPORT, [*csp, (b"content-length", b"12abc")], "POST", 400),
    ]:
        got, names = await asgi_post(app, body, headers, method)
        assert got == status
        assert b"content-length" in names


def test_the_wsgi_204_carries_no_content_length_either() -> None:
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    app = WSGIReportReceiver(ignore_sync)
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/csp-report",
        "CONTENT_LENGTH": str(len(REPORT)),
        "wsgi.input": io.BytesIO(REPORT),
    }
    assert app(environ, lambda status, headers: seen.append((status, headers))) == []
    assert seen == [("204 No Content", [])]
    app(
        {**environ, "CONTENT_LENGTH": "x1", "wsgi.input": io.BytesIO(REPORT)},
        lambda s, h: seen.append((s, h)),
    )
    assert seen[-1] == ("400 Bad Request", [("Content-Length", "0")])


@pytest.mark.parametrize(
    "nonce",
    ["a", "abc", NONCE_22[:-1], "=" * 2, NONCE_22[:20] + "==", "AAAAAAAAAAAAAAAAAAAAA="],
)
def test_a_nonce_shorter_than_128_bits_is_refused_everywhere(nonce: str) -> None:
    with pytest.raises(PolicyError, match=r"at least 128 random bits|base64") as info:
        strict().serialize(nonce=nonce)
    assert nonce not in str(info.value) or len(nonce) < 3
    with pytest.raises(PolicyError):
        strict().compile().render(nonce)
    with pytest.raises(PolicyError):
        strict().headers(nonce)
    with pytest.raises(PolicySyntaxError):
        parse(f"script-src 'nonce-{nonce}'")
    with pytest.raises(PolicyError):
        parse("script-src 'self'", nonce=nonce)


@pytest.mark.parametrize("nonce", [NONCE_22, NONCE_22 + "==", "A" * 22 + "==", generate_nonce(), "+/" * 11])
def test_a_nonce_of_128_bits_or_more_is_accepted(nonce: str) -> None:
    header = strict().serialize(nonce=nonce)
    assert f"'nonce-{nonce}'" in header
    assert parse(header, nonce=nonce) == strict()


@pytest.mark.parametrize("nbytes", [10**400, 2**40, 1025])
def test_a_huge_nonce_size_is_refused_before_anything_is_drawn(nbytes: int) -> None:
    with pytest.raises(PolicyError, match="nbytes"):
        generate_nonce(nbytes)
    with pytest.raises(PolicyError, match="nonce_bytes"):
        strict().compile(nonce_bytes=nbytes)


def test_unknown_enum_values_are_policy_errors() -> None:
    with pytest.raises(PolicyError, match="not a CSP Level 3 directive"):
        Directive("script-source")
    with pytest.raises(PolicyError):
        Keyword("self")


@pytest.mark.parametrize(
    "make",
    [
        lambda: CSPMiddleware(ignore, strict(), state_key=5),
        lambda: CSPMiddleware(ignore, strict(), respect_existing="no"),
        lambda: CSPWSGIMiddleware(ignore_sync, strict(), environ_key=""),
        lambda: hash_source("\ud800"),
        lambda: hash_source("x", algorithm=["sha256"]),
    ],
)
def test_settings_of_the_wrong_kind_are_typed_errors(make: Callable[[], object]) -> None:
    with pytest.raises(CSPError):
        make()


# --- the hostile-argument helper over every public entry point ------------------------------------------

POLICY = strict(report_to=("csp", "/csp-reports"))
COMPILED = POLICY.compile()

TARGETS = HostileTargets()
TARGETS.add(generate_nonce, 16)
TARGETS.add(hash_source, "alert(1)", "sha256")
TARGETS.add(
    parse, "script-src 'self'; object-src 'none'", nonce=None, report_only=False, reporting_endpoints=()
)
TARGETS.add(parse_reports, REPORT, "application/csp-report", max_bytes=1024)
TARGETS.add(
    strict, trusted_types=False, fallbacks=True, report_uri="/csp", report_to=("csp", "/r"), report_only=False
)
TARGETS.add(compatible, report_uri="/csp", report_to=("csp", "/r"), report_only=False)
TARGETS.add(
    Policy,
    {"script-src": [NONCE, Keyword.STRICT_DYNAMIC]},
    report_only=False,
    reporting_endpoints={"csp": "/r"},
)
TARGETS.add(POLICY.with_directive, "img-src", "'self'")
TARGETS.add(POLICY.with_sources, "script-src", "https:")
TARGETS.add(POLICY.without, "object-src")
TARGETS.add(POLICY.as_report_only, True)
TARGETS.add(POLICY.with_report_uri, "/csp")
TARGETS.add(POLICY.with_reporting_endpoint, "csp", "/r", report_to=True)
TARGETS.add(POLICY.get, "script-src")
TARGETS.add(POLICY.serialize, NONCE_22)
TARGETS.add(POLICY.headers, NONCE_22)
TARGETS.add(POLICY.compile, nonce_bytes=16)
TARGETS.add(CompiledPolicy, POLICY, nonce_bytes=16)
TARGETS.add(COMPILED.render, NONCE_22)
TARGETS.add(COMPILED.headers, NONCE_22)
TARGETS.add(Directive, "script-src")
TARGETS.add(Keyword, "'self'")
TARGETS.add(CSPReport, "https://example.test/", "script-src", blocked_uri="inline", line_number=1)
TARGETS.add(CSPMiddleware, ignore, POLICY, nonce_bytes=16, state_key="csp_nonce", respect_existing=True)
TARGETS.add(CSPWSGIMiddleware, ignore_sync, POLICY, nonce_bytes=16, environ_key="k", respect_existing=True)
TARGETS.add(ReportReceiver, ignore, max_bytes=1024)
TARGETS.add(WSGIReportReceiver, ignore_sync, max_bytes=1024)
TARGETS.add(CSPError, "message")
TARGETS.add(CSPConfigurationError, "max_bytes", 0, "bad", show_value=True)
TARGETS.add(PolicyError, "script-src", "x", "bad", show_value=True)
TARGETS.add(PolicySyntaxError, "script-src", "x", "bad")
TARGETS.add(CSPTypeError, "header", "a str", 5)
TARGETS.add(ReportError, "not JSON")
TARGETS.add(ReportTooLargeError, 2000, 1024)
TARGETS.add(UnsupportedReportTypeError, "text/plain")
TARGETS.add(MissingExtraError, "install_jinja2", "jinja2")


@TARGETS.parametrize()
def test_public_entry_points_raise_only_typed_errors(target: HostileTarget) -> None:
    """Property: no argument makes a function, constructor or method of buttress-csp raise untyped errors."""
    target.check()


def test_every_public_name_is_driven() -> None:
    """Every name in ``__all__`` is driven, or has nothing to drive (a Protocol, an alias, a constant)."""
    TARGETS.assert_covers(csp)


@TARGETS.drives("install_jinja2")
def test_install_jinja2_raises_only_typed_errors() -> None:
    """Property: install_jinja2 refuses what is not an environment, or not a name, with a typed error."""
    jinja2 = pytest.importorskip("jinja2")
    check_hostile(install_jinja2, jinja2.Environment(), name="csp_nonce")


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def ok_sync(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.mark.parametrize("policy", [POLICY, compatible(report_uri="/csp").as_report_only()])
async def test_the_asgi_middleware_never_fails_a_request(policy: Policy) -> None:
    """Property: whatever the request, the middleware adds its headers and never answers 5xx."""
    await check_hostile_asgi(CSPMiddleware(ok, policy))


@pytest.mark.parametrize("max_bytes", [64, 64 * 1024])
async def test_the_report_receiver_never_fails_a_request(max_bytes: int) -> None:
    """Property: whatever the request, the receiver answers 204, 400, 405, 413 or 415, by HTTP's rules."""
    await check_hostile_asgi(ReportReceiver(ignore, max_bytes=max_bytes))


def test_the_wsgi_apps_never_fail_a_request() -> None:
    """Property: the same for the WSGI middleware and receiver."""
    check_hostile_wsgi(CSPWSGIMiddleware(ok_sync, POLICY))
    check_hostile_wsgi(WSGIReportReceiver(ignore_sync, max_bytes=64))
