"""The Policy builder, its validation, serialization and parse()."""

from __future__ import annotations

import pickle

import pytest

from buttress.core import ButtressError, ConfigurationError
from buttress.csp import (
    NONCE,
    CompiledPolicy,
    CSPConfigurationError,
    CSPError,
    CSPTypeError,
    Directive,
    Keyword,
    Policy,
    PolicyError,
    PolicySyntaxError,
    ReportError,
    ReportTooLargeError,
    UnsupportedReportTypeError,
    compatible,
    generate_nonce,
    hash_source,
    parse,
    strict,
)

NONCE_VALUE = "abcdefghijklmnopqrstuv"


def test_builder_keeps_the_configured_order() -> None:
    policy = (
        Policy()
        .with_directive("object-src", Keyword.NONE)
        .with_directive(Directive.SCRIPT_SRC, Keyword.SELF)
        .with_directive("base-uri", Keyword.NONE)
    )
    assert list(policy) == ["object-src", "script-src", "base-uri"]
    assert policy.serialize() == "object-src 'none'; script-src 'self'; base-uri 'none'"


def test_replacing_a_directive_keeps_its_position_and_adding_appends() -> None:
    policy = Policy({"default-src": "'self'", "img-src": "'self'"})
    changed = policy.with_directive("default-src", Keyword.NONE).with_sources("img-src", "data:")
    assert changed.serialize() == "default-src 'none'; img-src 'self' data:"
    assert policy.serialize() == "default-src 'self'; img-src 'self'"  # the original is untouched


def test_policy_is_immutable_hashable_and_picklable() -> None:
    policy = strict()
    with pytest.raises(AttributeError, match="immutable"):
        policy._report_only = True  # type: ignore[misc]
    assert hash(policy) == hash(strict())
    assert pickle.loads(pickle.dumps(policy))  # noqa: S301 - our own bytes == policy
    assert policy == strict()
    assert policy != strict(trusted_types=True)
    assert policy.__eq__("not a policy") is NotImplemented


def test_without_and_reading_helpers() -> None:
    policy = compatible().without("upgrade-insecure-requests", "frame-ancestors", "frame-src")
    assert "upgrade-insecure-requests" not in policy
    assert "SCRIPT-SRC" in policy
    assert policy["script-src"] == (Keyword.SELF, NONCE)
    assert policy.get("frame-src") is None
    with pytest.raises(KeyError):
        policy["frame-src"]
    assert len(policy) == 8


def test_keywords_are_canonicalised_and_duplicates_dropped() -> None:
    policy = Policy({"script-src": ["'SELF'", "'self'", "https:"]})
    assert policy["script-src"] == ("'self'", "https:")


def test_strict_preset() -> None:
    policy = strict()
    assert policy.serialize(nonce=NONCE_VALUE) == (
        f"script-src 'nonce-{NONCE_VALUE}' 'strict-dynamic' https: 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'"
    )
    assert strict(fallbacks=False)["script-src"] == (NONCE, Keyword.STRICT_DYNAMIC)
    assert strict(trusted_types=True)["require-trusted-types-for"] == ("'script'",)
    assert strict(report_only=True).header_name == "Content-Security-Policy-Report-Only"


def test_compatible_preset_uses_the_nonce_and_same_origin() -> None:
    policy = compatible(report_uri="/csp")
    assert policy.uses_nonce
    assert policy["default-src"] == ("'self'",)
    assert policy["object-src"] == ("'none'",)
    assert policy.serialize(nonce=NONCE_VALUE).endswith("upgrade-insecure-requests; report-uri /csp")


def test_report_only_and_reporting_endpoints() -> None:
    policy = strict(report_to=("csp", "https://example.com/csp-reports")).as_report_only()
    headers = policy.headers(NONCE_VALUE)
    assert headers[0][0] == "Content-Security-Policy-Report-Only"
    assert headers[0][1].endswith("; report-to csp")
    assert headers[1] == ("Reporting-Endpoints", 'csp="https://example.com/csp-reports"')
    assert policy.as_report_only(False).header_name == "Content-Security-Policy"


def test_several_reporting_endpoints_and_replacing_one() -> None:
    policy = (
        Policy({"default-src": "'self'"})
        .with_reporting_endpoint("csp", "/a")
        .with_reporting_endpoint("other", "https://r.example/x", report_to=False)
        .with_reporting_endpoint("csp", "/b")
    )
    assert policy.reporting_endpoints == (("other", "https://r.example/x"), ("csp", "/b"))
    assert policy["report-to"] == ("csp",)


def test_hash_sources_are_accepted_and_computed_from_inline_text() -> None:
    source = hash_source("console.log('hi')")
    assert source.startswith("'sha256-")
    assert len(hash_source(b"x", "sha384")) == len("'sha384-'") + 64
    assert len(hash_source("x", "sha512")) == len("'sha512-'") + 88
    policy = Policy({"script-src": [source, hash_source("x", "sha512")]})
    assert source in policy.serialize()


def test_nonce_placeholder_requires_a_nonce_to_serialize() -> None:
    with pytest.raises(PolicyError, match="pass nonce="):
        strict().serialize()
    with pytest.raises(PolicyError, match="base64"):
        strict().serialize(nonce="not a nonce!")


def test_compiled_policy_issues_fresh_nonces() -> None:
    compiled = strict(report_to=("csp", "/r")).compile()
    assert isinstance(compiled, CompiledPolicy)
    nonce, value = compiled.issue()
    assert value == strict(report_to=("csp", "/r")).serialize(nonce)
    assert compiled.render(NONCE_VALUE) == strict(report_to=("csp", "/r")).serialize(NONCE_VALUE)
    assert compiled.headers(NONCE_VALUE)[1] == ("Reporting-Endpoints", 'csp="/r"')
    assert compiled.uses_nonce
    assert compiled.nonce_bytes == 16
    assert "CompiledPolicy(" in repr(compiled)
    static = Policy({"default-src": "'self'"}).compile()
    assert not static.uses_nonce
    assert static.issue()[1] == "default-src 'self'"


def test_parse_reads_a_header() -> None:
    policy = parse("Default-Src 'SELF' https://cdn.example.com;  img-src data: ;; upgrade-insecure-requests")
    assert policy.directives == (
        ("default-src", ("'self'", "https://cdn.example.com")),
        ("img-src", ("data:",)),
        ("upgrade-insecure-requests", ()),
    )


def test_parse_turns_the_nonce_back_into_the_placeholder() -> None:
    header = strict().serialize(NONCE_VALUE)
    assert parse(header, nonce=NONCE_VALUE) == strict()
    assert parse(header).get("script-src") == (
        f"'nonce-{NONCE_VALUE}'",
        "'strict-dynamic'",
        "https:",
        "'unsafe-inline'",
    )


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["self"], "\"'self'\""),
        (["none"], "must be quoted"),
        (["unsafe-inline"], "must be quoted"),
        (["strict-dynamic"], "must be quoted"),
        (["nonce-abcdefghijklmnopqrstuv"], "nonce source must be quoted"),
        (["sha256-" + "a" * 43 + "="], "sha256 source must be quoted"),
        (["'self"], "closing quote"),
        (["'unsafe-everything'"], "not a keyword"),
        (["'nonce-a b'"], "whitespace"),
        (["'nonce-***'"], "base64"),
        (["'sha256-abc'"], "32-byte digest"),
        (["'sha256-" + "a" * 86 + "=='"], "32-byte digest"),
        (["'md5-abcdefghijklmnopqrstuv'"], "not a keyword"),
        (["https://a.example;"], "may not contain ';'"),
        (["https://a.example,https://b.example"], "may not contain ';' (it ends a directive) or ','"),
        (["https://exämple.com"], "IDNA"),
        (["https://a.example/\x7f"], "ASCII"),
        (["ht tp:"], "whitespace"),
        (["https://[::1]"], "not a source expression"),
        ([""], "may not be empty"),
        ([], "empty script-src"),
        (["'none'", "'self'"], "only source"),
    ],
)
def test_bad_sources_say_what_is_wrong(sources: list[str], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        Policy({"script-src": sources})
    assert caught.value.parameter == "script-src"
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, ButtressError)


@pytest.mark.parametrize(
    ("directive", "sources", "message"),
    [
        ("scirpt-src", ["'self'"], "did you mean 'script-src'"),
        ("script_src", ["'self'"], "letters, digits and '-'"),
        ("", ["'self'"], "letters, digits"),
        ("x-unknown", ["'self'"], "not a CSP Level 3 directive"),
        ("frame-ancestors", ["'unsafe-inline'"], "frame-ancestors accepts only"),
        ("img-src", ["'nonce-abcdefghijklmnopqrstuv'"], "a nonce applies only"),
        ("img-src", [hash_source("x")], "a hash applies only"),
        ("report-uri", [], "at least one URI"),
        ("report-uri", ['/a"b'], "not a URI reference"),
        ("report-to", ["a", "b"], "exactly one value"),
        ("report-to", ["a/b"], "Reporting-Endpoints"),
        ("sandbox", ["allow-everything"], "not a sandbox flag"),
        ("require-trusted-types-for", ["script"], "must be quoted"),
        ("require-trusted-types-for", ["'style'"], "accepts 'script'"),
        ("trusted-types", ["none"], "must be quoted"),
        ("trusted-types", ["'self'"], "the quoted values"),
        ("trusted-types", ["a<b"], "a policy name"),
        ("webrtc", ["'maybe'"], "accepts"),
        ("upgrade-insecure-requests", ["'self'"], "takes no value"),
    ],
)
def test_bad_directives_say_what_is_wrong(directive: str, sources: list[str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy({directive: sources})


def test_valid_values_of_the_special_directives() -> None:
    policy = Policy(
        [
            ("sandbox", ["allow-scripts", "ALLOW-FORMS"]),
            ("trusted-types", ["default", "my-policy#1", "'allow-duplicates'"]),
            ("webrtc", "'block'"),
            ("frame-ancestors", ["'self'", "https://*.example.com:*"]),
            ("report-uri", ["/csp", "https://r.example/x?y=1"]),
            ("script-src", ["'wasm-unsafe-eval'", "blob:", "*.cdn.example:443/js/", "*"]),
        ]
    )
    assert policy["sandbox"] == ("allow-scripts", "allow-forms")
    assert "'block'" in policy.serialize()


def test_nonce_placeholder_only_where_nonces_apply() -> None:
    with pytest.raises(PolicyError, match="a nonce applies only"):
        Policy({"img-src": NONCE})
    assert repr(NONCE) == "NONCE"
    assert pickle.loads(pickle.dumps(NONCE))  # noqa: S301 - our own bytes is NONCE


def test_bad_types_raise_csp_type_error() -> None:
    with pytest.raises(CSPTypeError, match="directive must be a str"):
        Policy().with_directive(42, "'self'")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="a source of script-src"):
        Policy().with_directive("script-src", 42)  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="directives must be"):
        Policy("script-src 'self'")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="pair"):
        Policy([("script-src",)])  # type: ignore[list-item]
    with pytest.raises(CSPTypeError, match="report_only"):
        Policy(report_only="yes")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="report_only"):
        strict().as_report_only("no")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError, match="value"):
        Policy({"script-src": 42})  # type: ignore[dict-item]
    with pytest.raises(CSPTypeError):
        parse(b"script-src 'self'")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        CompiledPolicy("script-src 'self'")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        hash_source(42)  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        generate_nonce("16")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        strict().with_reporting_endpoint(1, "/r")  # type: ignore[arg-type]
    with pytest.raises(CSPTypeError):
        strict().with_reporting_endpoint("a", None)  # type: ignore[arg-type]
    assert issubclass(CSPTypeError, TypeError)
    assert issubclass(CSPTypeError, CSPError)


def test_every_bad_value_is_a_configuration_error() -> None:
    """The drawn tree: policy and report errors sit under CSPConfigurationError, a ConfigurationError."""
    for error in (
        PolicyError,
        PolicySyntaxError,
        ReportError,
        ReportTooLargeError,
        UnsupportedReportTypeError,
    ):
        assert issubclass(error, CSPConfigurationError)
    assert issubclass(CSPConfigurationError, ConfigurationError)
    assert issubclass(CSPConfigurationError, CSPError)
    assert issubclass(CSPConfigurationError, ValueError)
    unsupported = UnsupportedReportTypeError("text/plain")
    assert (unsupported.parameter, unsupported.value, unsupported.content_type) == (
        "content_type",
        None,
        "text/plain",
    )
    unreadable = ReportError("the body is not valid JSON")
    assert (unreadable.parameter, unreadable.value) == ("body", None)
    assert str(unreadable) == "unreadable CSP report: the body is not valid JSON"


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("CSP", "/r", "lower-case"),
        ("1csp", "/r", "lower-case"),
        ("csp", "ftp://r.example", "https://"),
        ("csp", "//r.example/x", "https://"),
        ("csp", "relative/path", "https://"),
        ("csp", '/r"x', "not a URL"),
    ],
)
def test_bad_reporting_endpoints(name: str, url: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        strict().with_reporting_endpoint(name, url)


def test_duplicates_are_refused() -> None:
    with pytest.raises(PolicyError, match="given twice"):
        Policy([("script-src", "'self'"), ("Script-Src", "'none'")])
    with pytest.raises(PolicyError, match="given twice"):
        Policy({"default-src": "'self'"}, reporting_endpoints=[("a", "/x"), ("a", "/y")])


def test_an_empty_policy_cannot_be_sent() -> None:
    with pytest.raises(PolicyError, match="empty policy"):
        Policy().serialize()
    with pytest.raises(PolicyError, match="empty policy"):
        Policy().compile()


def test_generate_nonce_refuses_too_few_bytes() -> None:
    with pytest.raises(PolicyError, match="at least 16"):
        generate_nonce(8)
    with pytest.raises(PolicyError, match="at least 16"):
        strict().compile(nonce_bytes=15)
    with pytest.raises(PolicyError, match="sha256"):
        hash_source("x", "md5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("script-src 'self', img-src 'self'", "several policies"),
        ("script-src 'self'; script-src 'none'", "given twice"),
        ("script-src self", "must be quoted"),
        ("scirpt-src 'self'", "did you mean"),
        ("script-src 'sëlf'", "ASCII"),
        ("script-src 'nonce-a*c'", "base64"),
    ],
)
def test_parse_rejects_malformed_headers(header: str, message: str) -> None:
    with pytest.raises(PolicySyntaxError, match=message):
        parse(header)


def test_parse_rejects_a_bad_nonce_argument() -> None:
    with pytest.raises(PolicyError, match="base64"):
        parse("script-src 'self'", nonce="bad nonce")


def test_repr_shows_the_directives() -> None:
    text = repr(strict(report_to=("csp", "/r")).as_report_only())
    assert "report_only=True" in text
    assert "reporting_endpoints={'csp': '/r'}" in text
    assert "NONCE" in text
