"""Ready-made policies: `strict` (nonces and 'strict-dynamic') and the more permissive `compatible`."""

from __future__ import annotations

from ._directives import NONCE, Directive, Keyword, Source
from ._policy import Policy
from .exceptions import CSPTypeError

__all__ = ["compatible", "strict"]


def _with_reporting(policy: Policy, report_uri: str | None, report_to: tuple[str, str] | None) -> Policy:
    if report_uri is not None:
        policy = policy.with_report_uri(report_uri)
    if report_to is not None:
        if not isinstance(report_to, tuple | list) or len(report_to) != 2:
            raise CSPTypeError("report_to", "a (name, url) pair", report_to)
        name, url = report_to
        policy = policy.with_reporting_endpoint(name, url)
    return policy


def _flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise CSPTypeError(name, "a bool", value)


def strict(
    *,
    trusted_types: bool = False,
    fallbacks: bool = True,
    report_uri: str | None = None,
    report_to: tuple[str, str] | None = None,
    report_only: bool = False,
) -> Policy:
    """Return the strict, nonce-based policy: scripts run only if they carry the request's nonce.

    ::

        script-src 'nonce-…' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'none'

    ``'strict-dynamic'`` lets a trusted (nonced) script load further scripts, so bundlers and tag
    managers keep working without a host allowlist. ``https:`` and ``'unsafe-inline'`` are fallbacks
    for browsers older than CSP Level 3; browsers that understand nonces ignore them.

    Args:
        trusted_types: Add ``require-trusted-types-for 'script'``, so DOM XSS sinks accept only
            Trusted Types. Turn it on once your front end creates them.
        fallbacks: Keep the ``https:`` and ``'unsafe-inline'`` fallbacks for old browsers.
        report_uri: Where to send violation reports the legacy way (``report-uri``).
        report_to: ``(name, url)`` of a Reporting-Endpoints entry that ``report-to`` names.
        report_only: Report violations without blocking anything; a safe way to roll the policy out.

    Examples:
        >>> strict().serialize(nonce="abcdefghijklmnopqrstuv")
        "script-src 'nonce-abcdefghijklmnopqrstuv' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'none'"
    """  # noqa: E501
    _flags(trusted_types=trusted_types, fallbacks=fallbacks, report_only=report_only)
    script_src: list[Source] = [NONCE, Keyword.STRICT_DYNAMIC]
    if fallbacks:
        script_src += ["https:", Keyword.UNSAFE_INLINE]
    policy = Policy(
        [
            (Directive.SCRIPT_SRC, script_src),
            (Directive.OBJECT_SRC, Keyword.NONE),
            (Directive.BASE_URI, Keyword.NONE),
        ],
        report_only=report_only,
    )
    if trusted_types:
        policy = policy.with_directive(Directive.REQUIRE_TRUSTED_TYPES_FOR, Keyword.SCRIPT)
    return _with_reporting(policy, report_uri, report_to)


def compatible(
    *,
    report_uri: str | None = None,
    report_to: tuple[str, str] | None = None,
    report_only: bool = False,
) -> Policy:
    """Return a same-origin policy for sites that cannot put a nonce on every script yet.

    ::

        default-src 'self'; script-src 'self' 'nonce-…'; style-src 'self' 'unsafe-inline';
        img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'self';
        form-action 'self'; frame-ancestors 'self'; upgrade-insecure-requests

    Scripts load from your own origin or carry the nonce; inline styles are allowed, since many
    component libraries set them; plugins are off; the page can be framed only by itself. Prefer
    `strict` where you can: a ``'self'`` allowlist is bypassed by any script-like file your origin
    serves (a JSONP endpoint, an uploaded file).

    Args:
        report_uri: Where to send violation reports the legacy way (``report-uri``).
        report_to: ``(name, url)`` of a Reporting-Endpoints entry that ``report-to`` names.
        report_only: Report violations without blocking anything.
    """
    _flags(report_only=report_only)
    policy = Policy(
        [
            (Directive.DEFAULT_SRC, Keyword.SELF),
            (Directive.SCRIPT_SRC, (Keyword.SELF, NONCE)),
            (Directive.STYLE_SRC, (Keyword.SELF, Keyword.UNSAFE_INLINE)),
            (Directive.IMG_SRC, (Keyword.SELF, "data:")),
            (Directive.FONT_SRC, Keyword.SELF),
            (Directive.OBJECT_SRC, Keyword.NONE),
            (Directive.BASE_URI, Keyword.SELF),
            (Directive.FORM_ACTION, Keyword.SELF),
            (Directive.FRAME_ANCESTORS, Keyword.SELF),
            (Directive.UPGRADE_INSECURE_REQUESTS, ()),
        ],
        report_only=report_only,
    )
    return _with_reporting(policy, report_uri, report_to)
