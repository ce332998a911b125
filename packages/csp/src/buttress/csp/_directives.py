"""The CSP Level 3 vocabulary: directive names, keyword sources and what each directive accepts."""

from __future__ import annotations

import difflib
from enum import Enum, StrEnum
from typing import Final, final

from .exceptions import PolicyError

__all__ = ["NONCE", "Directive", "Keyword", "NoncePlaceholder", "Source", "ValueKind", "kind_of"]


class Directive(StrEnum):
    """The directives of CSP Level 3 (and the Trusted Types additions), by their header names.

    Every member is a `str`, so ``Directive.SCRIPT_SRC == "script-src"``; functions that take a
    directive accept either. ``Directive("script-source")`` raises `PolicyError` (a ``ValueError``).
    """

    @classmethod
    def _missing_(cls, value: object) -> Directive:
        names = sorted(d.value for d in cls)
        close = difflib.get_close_matches(value, names, n=1) if isinstance(value, str) else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PolicyError(
            "directive", value, f"not a CSP Level 3 directive; {hint}see Directive for the list"
        )

    BASE_URI = "base-uri"
    CHILD_SRC = "child-src"
    CONNECT_SRC = "connect-src"
    DEFAULT_SRC = "default-src"
    FENCED_FRAME_SRC = "fenced-frame-src"
    FONT_SRC = "font-src"
    FORM_ACTION = "form-action"
    FRAME_ANCESTORS = "frame-ancestors"
    FRAME_SRC = "frame-src"
    IMG_SRC = "img-src"
    MANIFEST_SRC = "manifest-src"
    MEDIA_SRC = "media-src"
    OBJECT_SRC = "object-src"
    REPORT_TO = "report-to"
    REPORT_URI = "report-uri"
    REQUIRE_TRUSTED_TYPES_FOR = "require-trusted-types-for"
    SANDBOX = "sandbox"
    SCRIPT_SRC = "script-src"
    SCRIPT_SRC_ATTR = "script-src-attr"
    SCRIPT_SRC_ELEM = "script-src-elem"
    STYLE_SRC = "style-src"
    STYLE_SRC_ATTR = "style-src-attr"
    STYLE_SRC_ELEM = "style-src-elem"
    TRUSTED_TYPES = "trusted-types"
    UPGRADE_INSECURE_REQUESTS = "upgrade-insecure-requests"
    WEBRTC = "webrtc"
    WORKER_SRC = "worker-src"


class Keyword(StrEnum):
    """Keyword sources, quoted as they appear in a header: ``Keyword.SELF == "'self'"``."""

    @classmethod
    def _missing_(cls, value: object) -> Keyword:
        words = ", ".join(k.value for k in cls)
        raise PolicyError("keyword", value, f"not a CSP keyword source; the keywords are {words}")

    SELF = "'self'"
    NONE = "'none'"
    UNSAFE_INLINE = "'unsafe-inline'"
    UNSAFE_EVAL = "'unsafe-eval'"
    STRICT_DYNAMIC = "'strict-dynamic'"
    UNSAFE_HASHES = "'unsafe-hashes'"
    REPORT_SAMPLE = "'report-sample'"
    UNSAFE_ALLOW_REDIRECTS = "'unsafe-allow-redirects'"
    WASM_UNSAFE_EVAL = "'wasm-unsafe-eval'"
    INLINE_SPECULATION_RULES = "'inline-speculation-rules'"
    SCRIPT = "'script'"
    ALLOW_DUPLICATES = "'allow-duplicates'"
    ALLOW = "'allow'"
    BLOCK = "'block'"


@final
class NoncePlaceholder:
    """The type of `NONCE`: where a per-request nonce goes in a policy.

    A policy holding `NONCE` is a template. `Policy.serialize` and `CompiledPolicy.render` put
    ``'nonce-<value>'`` in its place; the middleware does so with a fresh value on every request.
    """

    __slots__ = ()
    _instance: NoncePlaceholder | None = None

    def __new__(cls) -> NoncePlaceholder:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NONCE"

    def __reduce__(self) -> str:
        return "NONCE"


NONCE: Final = NoncePlaceholder()
"""The per-request nonce source: ``Policy().with_directive("script-src", NONCE)``."""

type Source = str | NoncePlaceholder
"""A source expression (``"'self'"``, ``"https://cdn.example"``, a `Keyword`) or `NONCE`."""


class ValueKind(Enum):
    """What a directive's value is made of."""

    SOURCE_LIST = "source list"
    ANCESTOR_SOURCE_LIST = "ancestor source list"
    URI_LIST = "URI list"
    ENDPOINT_NAME = "endpoint name"
    SANDBOX_FLAGS = "sandbox flags"
    TRUSTED_TYPES_SINKS = "'script'"
    TRUSTED_TYPES_POLICIES = "trusted types policy names"
    NO_VALUE = "no value"
    WEBRTC = "'allow' or 'block'"


_KINDS: Final[dict[str, ValueKind]] = {
    Directive.FRAME_ANCESTORS: ValueKind.ANCESTOR_SOURCE_LIST,
    Directive.REPORT_URI: ValueKind.URI_LIST,
    Directive.REPORT_TO: ValueKind.ENDPOINT_NAME,
    Directive.SANDBOX: ValueKind.SANDBOX_FLAGS,
    Directive.REQUIRE_TRUSTED_TYPES_FOR: ValueKind.TRUSTED_TYPES_SINKS,
    Directive.TRUSTED_TYPES: ValueKind.TRUSTED_TYPES_POLICIES,
    Directive.UPGRADE_INSECURE_REQUESTS: ValueKind.NO_VALUE,
    Directive.WEBRTC: ValueKind.WEBRTC,
}

KNOWN_DIRECTIVES: Final = frozenset(d.value for d in Directive)

# Directives whose sources may carry a nonce or a hash: the script and style families and their fallback.
NONCE_DIRECTIVES: Final = frozenset(
    {
        "default-src",
        "script-src",
        "script-src-elem",
        "script-src-attr",
        "style-src",
        "style-src-elem",
        "style-src-attr",
    }
)


def kind_of(directive: str) -> ValueKind:
    """Return what ``directive`` (a known, lower-case name) takes as its value."""
    return _KINDS.get(directive, ValueKind.SOURCE_LIST)
