"""The immutable `Policy`, its precompiled form and `parse`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Self, final

from ._directives import NONCE, Directive, NoncePlaceholder, Source
from ._grammar import check_directive_name, check_endpoint, check_nonce_value, check_sources
from ._metrics import NONCES
from ._nonce import check_nonce_bytes
from .exceptions import CSPTypeError, PolicyError, PolicySyntaxError

__all__ = [
    "ENFORCE_HEADER",
    "REPORTING_ENDPOINTS_HEADER",
    "REPORT_ONLY_HEADER",
    "CompiledPolicy",
    "Policy",
    "parse",
]

ENFORCE_HEADER: Final = "Content-Security-Policy"
REPORT_ONLY_HEADER: Final = "Content-Security-Policy-Report-Only"
REPORTING_ENDPOINTS_HEADER: Final = "Reporting-Endpoints"

type _Directives = tuple[tuple[str, tuple[Source, ...]], ...]
type DirectiveValue = Source | Iterable[Source]
"""What a directive is given: one source, or several in order (an empty tuple for no value)."""

_ASCII_WHITESPACE: Final = re.compile(r"[\t\n\f\r ]+")


def _as_sources(value: object) -> Iterable[object]:
    # A lone string is one source, not an iterable of characters.
    if isinstance(value, (str, NoncePlaceholder)):
        return (value,)
    if isinstance(value, Iterable):
        return value
    raise CSPTypeError("a directive's value", "a source or an iterable of sources", value)


@final
class Policy:
    """An immutable Content-Security-Policy: directives in the order you configured them.

    Every builder method returns a new policy and validates what it is given against the CSP3
    grammar, so a `Policy` that exists is one a browser will read as written. Put `NONCE` where the
    per-request nonce goes; the middleware fills it in.

    Args:
        directives: Directive names (or `Directive` members) mapped to their sources, or a sequence
            of ``(name, sources)`` pairs. A single string is one source.
        report_only: Send the policy as ``Content-Security-Policy-Report-Only``: violations are
            reported, nothing is blocked.
        reporting_endpoints: Names mapped to report URLs, sent as ``Reporting-Endpoints``; name one of
            them in ``report-to``.

    Raises:
        PolicyError: A directive or source breaks the grammar; the message says what to write.
        CSPTypeError: An argument has the wrong type.

    Examples:
        >>> from buttress.csp import NONCE, Keyword, Policy
        >>> policy = (
        ...     Policy()
        ...     .with_directive("script-src", NONCE, Keyword.STRICT_DYNAMIC)
        ...     .with_directive("object-src", Keyword.NONE)
        ... )
        >>> policy.serialize(nonce="rAnd0m-nonce_value-0123")
        "script-src 'nonce-rAnd0m-nonce_value-0123' 'strict-dynamic'; object-src 'none'"
    """

    __slots__ = ("_directives", "_endpoints", "_report_only")

    _directives: _Directives
    _endpoints: tuple[tuple[str, str], ...]
    _report_only: bool

    def __init__(
        self,
        directives: Mapping[str, DirectiveValue] | Iterable[tuple[str, DirectiveValue]] = (),
        *,
        report_only: bool = False,
        reporting_endpoints: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> None:
        if not isinstance(report_only, bool):
            raise CSPTypeError("report_only", "a bool", report_only)
        pairs = _pairs(directives, "directives")
        built: list[tuple[str, tuple[Source, ...]]] = []
        seen: set[str] = set()
        for name, value in pairs:
            canonical = check_directive_name(name)
            if canonical in seen:
                raise PolicyError("directives", name, "given twice; a browser would ignore the second")
            seen.add(canonical)
            built.append((canonical, check_sources(canonical, _as_sources(value))))
        endpoints: list[tuple[str, str]] = []
        for endpoint, url in _pairs(reporting_endpoints, "reporting_endpoints"):
            checked = check_endpoint(endpoint, url)
            if any(existing == checked[0] for existing, _ in endpoints):
                raise PolicyError("endpoint name", endpoint, "given twice")
            endpoints.append(checked)
        self._set(tuple(built), tuple(endpoints), report_only)

    def _set(
        self, directives: _Directives, endpoints: tuple[tuple[str, str], ...], report_only: bool
    ) -> None:
        object.__setattr__(self, "_directives", directives)
        object.__setattr__(self, "_endpoints", endpoints)
        object.__setattr__(self, "_report_only", report_only)

    @classmethod
    def _trusted(
        cls, directives: _Directives, endpoints: tuple[tuple[str, str], ...], report_only: bool
    ) -> Self:
        policy = cls.__new__(cls)
        policy._set(directives, endpoints, report_only)
        return policy

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, (self._directives, self._endpoints, self._report_only))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Policy is immutable; use a with_* method to get a changed copy ({name})")

    # --- builders -----------------------------------------------------------------------------

    def with_directive(self, directive: Directive | str, *sources: Source) -> Self:
        """Return a copy with ``directive`` set to ``sources``.

        A directive already present keeps its position and has its sources replaced; a new one goes
        last. Pass no sources for a directive without value (``upgrade-insecure-requests``).
        """
        name = check_directive_name(directive)
        value = check_sources(name, sources)
        replaced = False
        directives: list[tuple[str, tuple[Source, ...]]] = []
        for existing, existing_sources in self._directives:
            if existing == name:
                directives.append((name, value))
                replaced = True
            else:
                directives.append((existing, existing_sources))
        if not replaced:
            directives.append((name, value))
        return self._trusted(tuple(directives), self._endpoints, self._report_only)

    def with_sources(self, directive: Directive | str, *sources: Source) -> Self:
        """Return a copy with ``sources`` appended to ``directive`` (added last if it is absent)."""
        name = check_directive_name(directive)
        current = self.get(name) or ()
        return self.with_directive(name, *current, *sources)

    def without(self, *directives: Directive | str) -> Self:
        """Return a copy without the named directives (absent ones are ignored)."""
        names = {check_directive_name(d) for d in directives}
        kept = tuple((n, s) for n, s in self._directives if n not in names)
        return self._trusted(kept, self._endpoints, self._report_only)

    def as_report_only(self, report_only: bool = True) -> Self:
        """Return a copy sent as ``Content-Security-Policy-Report-Only`` (or enforced, with ``False``)."""
        if not isinstance(report_only, bool):
            raise CSPTypeError("report_only", "a bool", report_only)
        return self._trusted(self._directives, self._endpoints, report_only)

    def with_report_uri(self, *uris: str) -> Self:
        """Return a copy whose ``report-uri`` is ``uris`` (the legacy reporting mechanism)."""
        return self.with_directive(Directive.REPORT_URI, *uris)

    def with_reporting_endpoint(self, name: str, url: str, *, report_to: bool = True) -> Self:
        """Return a copy with a ``Reporting-Endpoints`` entry, and ``report-to name`` when ``report_to``.

        Args:
            name: The endpoint's name: lower-case letters, digits and ``_ - . *``.
            url: Where browsers send reports: an absolute ``https://`` URL or a path such as
                ``"/csp-reports"``.
            report_to: Also point the policy's ``report-to`` directive at this endpoint.
        """
        checked = check_endpoint(name, url)
        endpoints = (*tuple((n, u) for n, u in self._endpoints if n != checked[0]), checked)
        policy = self._trusted(self._directives, endpoints, self._report_only)
        return policy.with_directive(Directive.REPORT_TO, checked[0]) if report_to else policy

    # --- reading ------------------------------------------------------------------------------

    @property
    def directives(self) -> tuple[tuple[str, tuple[Source, ...]], ...]:
        """The directives as ``(name, sources)`` pairs, in the configured order."""
        return self._directives

    @property
    def report_only(self) -> bool:
        """Whether the policy is sent as report-only."""
        return self._report_only

    @property
    def reporting_endpoints(self) -> tuple[tuple[str, str], ...]:
        """The ``Reporting-Endpoints`` entries as ``(name, url)`` pairs."""
        return self._endpoints

    @property
    def header_name(self) -> str:
        """``Content-Security-Policy``, or ``Content-Security-Policy-Report-Only``."""
        return REPORT_ONLY_HEADER if self._report_only else ENFORCE_HEADER

    @property
    def uses_nonce(self) -> bool:
        """Whether any directive holds `NONCE`."""
        return any(NONCE in sources for _, sources in self._directives)

    def get(self, directive: Directive | str) -> tuple[Source, ...] | None:
        """Return the sources of ``directive``, or ``None`` when the policy does not set it."""
        name = check_directive_name(directive)
        for existing, sources in self._directives:
            if existing == name:
                return sources
        return None

    def __getitem__(self, directive: Directive | str) -> tuple[Source, ...]:
        found = self.get(directive)
        if found is None:
            raise KeyError(directive)
        return found

    def __contains__(self, directive: object) -> bool:
        return isinstance(directive, str) and any(n == directive.lower() for n, _ in self._directives)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._directives)

    def __len__(self) -> int:
        return len(self._directives)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (self._directives, self._endpoints, self._report_only) == (
            other._directives,
            other._endpoints,
            other._report_only,
        )

    def __hash__(self) -> int:
        return hash((self._directives, self._endpoints, self._report_only))

    def __repr__(self) -> str:
        flags = ", report_only=True" if self._report_only else ""
        endpoints = f", reporting_endpoints={dict(self._endpoints)!r}" if self._endpoints else ""
        return f"Policy({dict(self._directives)!r}{flags}{endpoints})"

    # --- output -------------------------------------------------------------------------------

    def serialize(self, nonce: str | None = None) -> str:
        """Return the header value, with ``nonce`` in place of `NONCE`.

        The output depends on nothing but the policy: the same policy gives the same bytes in any
        process, under any ``PYTHONHASHSEED``.

        Raises:
            PolicyError: The policy is empty, or holds `NONCE` and no ``nonce`` was given, or the
                nonce is not base64 or base64url of at least 22 characters (128 bits, as CSP3 asks).
        """
        if not self._directives:
            raise PolicyError("policy", self, "an empty policy restricts nothing; add directives first")
        if nonce is not None:
            check_nonce_value(nonce)
        elif self.uses_nonce:
            raise PolicyError(
                "nonce", None, "this policy holds NONCE; pass nonce=generate_nonce() or use the middleware"
            )
        return self._render(nonce)

    def _render(self, nonce: str | None) -> str:
        return "; ".join(_serialize_directive(name, sources, nonce) for name, sources in self._directives)

    def headers(self, nonce: str | None = None) -> list[tuple[str, str]]:
        """Return every response header the policy needs: the policy and, if any, ``Reporting-Endpoints``."""
        headers = [(self.header_name, self.serialize(nonce))]
        if self._endpoints:
            headers.append((REPORTING_ENDPOINTS_HEADER, _serialize_endpoints(self._endpoints)))
        return headers

    def compile(self, *, nonce_bytes: int = 16) -> CompiledPolicy:
        """Return a `CompiledPolicy`: the header text prepared once, so a request only adds its nonce."""
        return CompiledPolicy(self, nonce_bytes=nonce_bytes)


def _restore(directives: _Directives, endpoints: tuple[tuple[str, str], ...], report_only: bool) -> Policy:
    return Policy._trusted(directives, endpoints, report_only)


def _serialize_directive(name: str, sources: tuple[Source, ...], nonce: str | None) -> str:
    if not sources:
        return name
    rendered = (f"'nonce-{nonce}'" if isinstance(s, NoncePlaceholder) else s for s in sources)
    return f"{name} {' '.join(rendered)}"


def _serialize_endpoints(endpoints: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f'{name}="{url}"' for name, url in endpoints)


def _pairs[K, V](value: Mapping[K, V] | Iterable[tuple[K, V]], parameter: str) -> list[tuple[K, V]]:
    if isinstance(value, Mapping):
        return list(value.items())
    given: object = value  # callers may not type-check: look at what really came
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise CSPTypeError(parameter, "a mapping or an iterable of pairs", given)
    pairs: list[tuple[K, V]] = []
    for item in value:
        if not isinstance(item, tuple) or len(item) != 2:
            raise CSPTypeError(f"an item of {parameter}", "a (name, value) pair", item)
        pairs.append(item)
    return pairs


@final
class CompiledPolicy:
    """A `Policy` with its header text prepared once; each request only draws and inserts a nonce.

    Args:
        policy: The policy to prepare.
        nonce_bytes: Random bytes per nonce (at least 16).

    Raises:
        PolicyError: The policy is empty or ``nonce_bytes`` is below 16.

    Examples:
        >>> from buttress.csp import strict
        >>> compiled = strict().compile()
        >>> nonce, value = compiled.issue()
        >>> f"'nonce-{nonce}'" in value
        True
    """

    __slots__ = ("_endpoints_value", "_nonce_bytes", "_parts", "header_name", "policy")

    def __init__(self, policy: Policy, *, nonce_bytes: int = 16) -> None:
        if not isinstance(policy, Policy):
            raise CSPTypeError("policy", "a Policy", policy)
        check_nonce_bytes(nonce_bytes, "nonce_bytes")
        self.policy: Final = policy
        self.header_name: Final = policy.header_name
        self._nonce_bytes = nonce_bytes
        # A marker that cannot occur in a valid header splits the text where each nonce goes.
        if not len(policy):
            raise PolicyError("policy", policy, "an empty policy restricts nothing; add directives first")
        marker = "\x00"
        self._parts = tuple(policy._render(marker).split(marker))
        endpoints = policy.reporting_endpoints
        self._endpoints_value = _serialize_endpoints(endpoints) if endpoints else None

    @property
    def uses_nonce(self) -> bool:
        """Whether the policy holds `NONCE`."""
        return len(self._parts) > 1

    @property
    def nonce_bytes(self) -> int:
        """Random bytes drawn for each nonce."""
        return self._nonce_bytes

    @property
    def reporting_endpoints(self) -> str | None:
        """The ``Reporting-Endpoints`` header value, or ``None`` when the policy names no endpoint."""
        return self._endpoints_value

    def issue(self) -> tuple[str, str]:
        """Draw a fresh nonce and return it with the policy header value carrying it."""
        nonce = secrets.token_urlsafe(self._nonce_bytes)
        NONCES.add(1)
        return nonce, nonce.join(self._parts)

    def render(self, nonce: str) -> str:
        """Return the header value with ``nonce`` in place of `NONCE`.

        Raises:
            PolicyError: ``nonce`` is not base64 or base64url of at least 22 characters (128 bits).
        """
        return check_nonce_value(nonce).join(self._parts)

    def headers(self, nonce: str) -> list[tuple[str, str]]:
        """Return every response header for a request whose nonce is ``nonce``."""
        headers = [(self.header_name, self.render(nonce))]
        if self._endpoints_value is not None:
            headers.append((REPORTING_ENDPOINTS_HEADER, self._endpoints_value))
        return headers

    def __repr__(self) -> str:
        return f"CompiledPolicy({self.policy!r}, nonce_bytes={self._nonce_bytes})"


def parse(
    header: str,
    *,
    nonce: str | None = None,
    report_only: bool = False,
    reporting_endpoints: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Policy:
    """Read a serialized policy back into a `Policy`.

    ``parse(policy.serialize(nonce=n), nonce=n) == policy`` for every policy and nonce: sources equal
    to ``'nonce-<n>'`` become `NONCE` again. Directive names and keywords are read
    case-insensitively, as browsers do, and written back in lower case.

    Args:
        header: One policy, as in a ``Content-Security-Policy`` header.
        nonce: The nonce the header was rendered with, if any.
        report_only: Whether the header was the report-only one.
        reporting_endpoints: The ``Reporting-Endpoints`` entries sent beside it.

    Raises:
        PolicySyntaxError: The header holds several policies (a ``,``), a directive twice, or a
            directive or source that breaks the grammar (a ``'nonce-…'`` source of fewer than 22
            base64 characters included: it cannot carry the 128 bits CSP3 asks for).
        CSPTypeError: ``header`` is not a `str`.
    """
    if not isinstance(header, str):
        raise CSPTypeError("header", "a str", header)
    if "," in header:
        raise PolicySyntaxError(
            None, header, "',' separates several policies; split the header and parse each policy alone"
        )
    if not header.isascii():
        raise PolicySyntaxError(None, header, "a header value is ASCII; this one has other characters")
    placeholder = None if nonce is None else f"'nonce-{check_nonce_value(nonce)}'"
    directives: list[tuple[str, tuple[Source, ...]]] = []
    for chunk in header.split(";"):
        tokens = _ASCII_WHITESPACE.split(chunk.strip("\t\n\f\r "))
        if tokens == [""]:
            continue
        raw_name, values = tokens[0], tokens[1:]
        sources: tuple[Source, ...] = tuple(NONCE if v == placeholder else v for v in values)
        directives.append((raw_name, sources))
    try:
        return Policy(directives, report_only=report_only, reporting_endpoints=reporting_endpoints)
    except PolicySyntaxError:
        raise
    except PolicyError as exc:
        raise PolicySyntaxError(exc.parameter, exc.value, exc.reason) from exc
