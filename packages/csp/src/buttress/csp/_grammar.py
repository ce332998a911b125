"""Validation against the CSP Level 3 grammar, with messages that say what to write instead."""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable
from typing import Final

from ._directives import (
    KNOWN_DIRECTIVES,
    NONCE_DIRECTIVES,
    Keyword,
    NoncePlaceholder,
    Source,
    ValueKind,
    kind_of,
)
from .exceptions import CSPTypeError, PolicyError

__all__ = [
    "check_directive_name",
    "check_endpoint",
    "check_nonce_value",
    "check_sources",
]

# directive-name = 1*( ALPHA / DIGIT / "-" )
_DIRECTIVE_NAME: Final = re.compile(r"[A-Za-z0-9-]+")
# base64-value = 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" )*2( "=" )
_BASE64_VALUE: Final = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# 16 bytes (128 bits, CSP3's recommendation) are 22 base64 characters before any padding.
MIN_NONCE_LENGTH: Final = 22
_SCHEME: Final = r"[A-Za-z][A-Za-z0-9+.-]*"
_SCHEME_SOURCE: Final = re.compile(rf"{_SCHEME}:")
# host-source = [ scheme-part "://" ] host-part [ ":" port-part ] [ path-part ]
_HOST_SOURCE: Final = re.compile(
    rf"(?:{_SCHEME}://)?"
    r"(?:\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)"
    r"(?::(?:[0-9]+|\*))?"
    r"(?:/[A-Za-z0-9\-._~!$&'()*+=:@%/]*)?"
)
_URI_REFERENCE: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+=%]+")
_REPORT_TO_TOKEN: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_TT_POLICY_NAME: Final = re.compile(r"[A-Za-z0-9\-#=_/@.%]+")
# Reporting-Endpoints is a structured-field dictionary: its keys are sf-keys.
_SF_KEY: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_HASH_LENGTHS: Final = {"sha256": 32, "sha384": 48, "sha512": 64}

_SOURCE_KEYWORDS: Final = frozenset(
    {
        Keyword.SELF,
        Keyword.NONE,
        Keyword.UNSAFE_INLINE,
        Keyword.UNSAFE_EVAL,
        Keyword.STRICT_DYNAMIC,
        Keyword.UNSAFE_HASHES,
        Keyword.REPORT_SAMPLE,
        Keyword.UNSAFE_ALLOW_REDIRECTS,
        Keyword.WASM_UNSAFE_EVAL,
        Keyword.INLINE_SPECULATION_RULES,
    }
)
_ALL_KEYWORD_WORDS: Final = frozenset(k.value.strip("'") for k in Keyword)
_SANDBOX_FLAGS: Final = frozenset(
    {
        "allow-downloads",
        "allow-forms",
        "allow-modals",
        "allow-orientation-lock",
        "allow-pointer-lock",
        "allow-popups",
        "allow-popups-to-escape-sandbox",
        "allow-presentation",
        "allow-same-origin",
        "allow-scripts",
        "allow-storage-access-by-user-activation",
        "allow-top-navigation",
        "allow-top-navigation-by-user-activation",
        "allow-top-navigation-to-custom-protocols",
    }
)


def check_directive_name(name: object) -> str:
    """Return ``name`` lower-cased if it is a known CSP3 directive; raise `PolicyError` otherwise."""
    if not isinstance(name, str):
        raise CSPTypeError("directive", "a str or Directive", name)
    if not _DIRECTIVE_NAME.fullmatch(name):
        raise PolicyError(
            "directive",
            name,
            "a directive name is letters, digits and '-' only (CSP3: 1*(ALPHA / DIGIT / \"-\"))",
        )
    lowered = name.lower()
    if lowered not in KNOWN_DIRECTIVES:
        close = difflib.get_close_matches(lowered, sorted(KNOWN_DIRECTIVES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PolicyError("directive", name, f"not a CSP Level 3 directive; {hint}see Directive for the list")
    return lowered


def check_nonce_value(nonce: object, *, parameter: str = "nonce") -> str:
    """Return ``nonce`` if it is a CSP base64-value carrying at least 128 bits; raise `PolicyError` otherwise.

    CSP3 asks for nonces of at least 128 bits from a secure random source: 16 bytes, which are 22
    base64 or base64url characters (not counting ``=`` padding). A shorter value cannot hold them.
    """
    if not isinstance(nonce, str):
        raise CSPTypeError(parameter, "a str", nonce)
    if not _BASE64_VALUE.fullmatch(nonce):
        raise PolicyError(
            parameter,
            nonce,
            "a nonce is base64 or base64url characters (A-Z a-z 0-9 + / - _, up to two '=' at the end); "
            "use generate_nonce()",
            show_value=False,
        )
    if len(nonce.rstrip("=")) < MIN_NONCE_LENGTH:
        raise PolicyError(
            parameter,
            nonce,
            f"a nonce needs at least 128 random bits: {MIN_NONCE_LENGTH} base64 characters or more "
            "(CSP3); use generate_nonce()",
            show_value=False,
        )
    return nonce


def check_sources(directive: str, sources: Iterable[object]) -> tuple[Source, ...]:
    """Validate the value of ``directive`` (a known, lower-case name); return it with duplicates dropped.

    Raises:
        PolicyError: A source is malformed, unquoted where it must be quoted, or not allowed here.
        CSPTypeError: A source is neither a `str` nor `NONCE`.
    """
    kept: list[Source] = []
    for source in sources:
        if isinstance(source, NoncePlaceholder):
            if directive not in NONCE_DIRECTIVES:
                raise PolicyError(
                    directive,
                    source,
                    "a nonce applies only to default-src and the script-src/style-src family",
                )
        elif isinstance(source, str):
            source = _check_token(directive, str(source))  # noqa: PLW2901 - the canonical spelling replaces it
        else:
            raise CSPTypeError(f"a source of {directive}", "a str, a Keyword or NONCE", source)
        if source not in kept:
            kept.append(source)
    _check_count(directive, kept)
    return tuple(kept)


def _check_count(directive: str, sources: list[Source]) -> None:
    kind = kind_of(directive)
    if kind is ValueKind.NO_VALUE:
        if sources:
            raise PolicyError(directive, tuple(sources), f"{directive} takes no value")
        return
    if (
        kind in {ValueKind.ENDPOINT_NAME, ValueKind.WEBRTC, ValueKind.TRUSTED_TYPES_SINKS}
        and len(sources) != 1
    ):
        raise PolicyError(directive, tuple(sources), f"{directive} takes exactly one value: {kind.value}")
    if kind is ValueKind.URI_LIST and not sources:
        raise PolicyError(directive, (), "report-uri needs at least one URI")
    if kind in {ValueKind.SOURCE_LIST, ValueKind.ANCESTOR_SOURCE_LIST}:
        if not sources:
            raise PolicyError(
                directive, (), f"an empty {directive} is unclear; write Keyword.NONE to block all"
            )
        if Keyword.NONE in sources and len(sources) > 1:
            raise PolicyError(
                directive, tuple(sources), "'none' must be the only source; remove it or the other sources"
            )


def _check_token(directive: str, token: str) -> str:  # noqa: PLR0911 - one return per kind of value
    if not token:
        raise PolicyError(directive, token, "a source may not be empty")
    if ";" in token or "," in token:
        raise PolicyError(
            directive,
            token,
            "a value may not contain ';' (it ends a directive) or ',' (it starts another policy); "
            "pass each source separately",
        )
    if any(c.isspace() for c in token):
        raise PolicyError(
            directive, token, "a source may not contain whitespace; pass each source separately"
        )
    if not token.isascii() or not token.isprintable():
        raise PolicyError(
            directive, token, "a header value is printable ASCII; encode host names with IDNA (punycode)"
        )
    kind = kind_of(directive)
    if kind is ValueKind.URI_LIST:
        return _check_uri(directive, token)
    if kind is ValueKind.ENDPOINT_NAME:
        if not _REPORT_TO_TOKEN.fullmatch(token):
            raise PolicyError(directive, token, "report-to takes the name of a Reporting-Endpoints entry")
        return token
    if kind is ValueKind.SANDBOX_FLAGS:
        return _check_sandbox(token)
    if kind is ValueKind.TRUSTED_TYPES_SINKS:
        return _check_exact(directive, token, {Keyword.SCRIPT})
    if kind is ValueKind.WEBRTC:
        return _check_exact(directive, token, {Keyword.ALLOW, Keyword.BLOCK})
    if kind is ValueKind.TRUSTED_TYPES_POLICIES:
        return _check_trusted_types(token)
    if kind is ValueKind.NO_VALUE:
        raise PolicyError(directive, token, f"{directive} takes no value")
    return _check_source(directive, token, ancestors=kind is ValueKind.ANCESTOR_SOURCE_LIST)


def _check_source(directive: str, token: str, *, ancestors: bool) -> str:
    if token.startswith("'"):
        return _check_quoted(directive, token, ancestors=ancestors)
    _refuse_unquoted_keyword(directive, token)
    if _SCHEME_SOURCE.fullmatch(token) or _HOST_SOURCE.fullmatch(token):
        return token
    raise PolicyError(
        directive,
        token,
        "not a source expression: expected a quoted keyword ('self'), a scheme ('https:'), a host "
        "('https://cdn.example.com', '*.example.com:443/path'), a nonce or a hash",
    )


def _refuse_unquoted_keyword(directive: str, token: str) -> None:
    lowered = token.lower()
    if lowered in _ALL_KEYWORD_WORDS:
        raise PolicyError(
            directive, token, f"{lowered!r} is a keyword and must be quoted: write \"'{lowered}'\""
        )
    for prefix in ("nonce-", "sha256-", "sha384-", "sha512-"):
        if lowered.startswith(prefix):
            raise PolicyError(
                directive,
                token,
                f"a {prefix[:-1]} source must be quoted: write \"'{token}'\"",
                show_value=prefix != "nonce-",
            )


def _check_quoted(directive: str, token: str, *, ancestors: bool) -> str:
    if len(token) < 3 or not token.endswith("'"):
        raise PolicyError(directive, token, "a quoted source needs a closing quote, like \"'self'\"")
    inner = token[1:-1].lower()
    canonical = f"'{inner}'"
    if ancestors:
        if canonical not in {Keyword.SELF, Keyword.NONE}:
            raise PolicyError(
                directive, token, "frame-ancestors accepts only 'self', 'none', schemes and hosts"
            )
        return canonical
    if canonical in _SOURCE_KEYWORDS:
        return canonical
    if inner.startswith("nonce-"):
        if directive not in NONCE_DIRECTIVES:
            raise PolicyError(
                directive,
                token,
                "a nonce applies only to default-src and the script-src/style-src family",
                show_value=False,
            )
        check_nonce_value(token[7:-1], parameter=directive)
        return "'nonce-" + token[7:-1] + "'"
    algorithm, dash, _digest = inner.partition("-")
    if dash and algorithm in _HASH_LENGTHS:
        return _check_hash(directive, algorithm, token[len(algorithm) + 2 : -1])
    raise PolicyError(
        directive,
        token,
        "not a keyword, nonce or hash; the keywords are " + ", ".join(sorted(_SOURCE_KEYWORDS)),
    )


def _check_hash(directive: str, algorithm: str, digest: str) -> str:
    if directive not in NONCE_DIRECTIVES:
        raise PolicyError(
            directive, digest, "a hash applies only to default-src and the script-src/style-src family"
        )
    expected = _HASH_LENGTHS[algorithm]
    try:
        raw = base64.b64decode(digest.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not _BASE64_VALUE.fullmatch(digest) or len(raw) != expected:
        raise PolicyError(
            directive,
            digest,
            f"a {algorithm} source holds the base64 of a {expected}-byte digest; "
            "compute it with hash_source()",
        )
    return f"'{algorithm}-{digest}'"


def _check_uri(directive: str, token: str) -> str:
    if not _URI_REFERENCE.fullmatch(token):
        raise PolicyError(directive, token, "not a URI reference; percent-encode unusual characters")
    return token


def _check_sandbox(token: str) -> str:
    lowered = token.lower()
    if lowered not in _SANDBOX_FLAGS:
        raise PolicyError(
            "sandbox", token, "not a sandbox flag; use one of " + ", ".join(sorted(_SANDBOX_FLAGS))
        )
    return lowered


def _check_exact(directive: str, token: str, allowed: set[Keyword]) -> str:
    canonical = token.lower()
    if canonical in allowed:
        return canonical
    if f"'{canonical}'" in allowed:
        raise PolicyError(
            directive, token, f"{canonical!r} is a keyword and must be quoted: write \"'{canonical}'\""
        )
    raise PolicyError(directive, token, f"{directive} accepts " + " or ".join(sorted(allowed)))


def _check_trusted_types(value: str) -> str:
    token = value
    if token.startswith("'"):
        canonical = token.lower()
        if canonical in {Keyword.NONE, Keyword.ALLOW_DUPLICATES}:
            return canonical
        raise PolicyError("trusted-types", token, "the quoted values are 'none' and 'allow-duplicates'")
    if token.lower() in {"none", "allow-duplicates"}:
        raise PolicyError(
            "trusted-types",
            token,
            f"{token.lower()!r} is a keyword and must be quoted: write \"'{token.lower()}'\"",
        )
    if value == "*" or _TT_POLICY_NAME.fullmatch(value):
        return token
    raise PolicyError("trusted-types", token, "a policy name is letters, digits and - # = _ / @ . %")


def check_endpoint(name: object, url: object) -> tuple[str, str]:
    """Validate one Reporting-Endpoints entry: an sf-key name and an http(s) URL or absolute path."""
    if not isinstance(name, str):
        raise CSPTypeError("endpoint name", "a str", name)
    if not isinstance(url, str):
        raise CSPTypeError("endpoint url", "a str", url)
    if not _SF_KEY.fullmatch(name):
        raise PolicyError(
            "endpoint name",
            name,
            "a Reporting-Endpoints name starts with a lower-case letter or '*' and holds only "
            "lower-case letters, digits and _ - . *",
        )
    if not (url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//"))):
        raise PolicyError("endpoint url", url, "use an absolute https:// URL, or a path starting with '/'")
    if not _URI_REFERENCE.fullmatch(url):
        raise PolicyError("endpoint url", url, "not a URL; percent-encode spaces, quotes and backslashes")
    return name, url
