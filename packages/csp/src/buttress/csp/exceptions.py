"""Errors raised by buttress-csp.

::

    ButtressError                                  (buttress.core)
    └── CSPError                                   every error this package raises
        ├── CSPConfigurationError                  (also core ConfigurationError, a ValueError) a bad
        │   │                                      value, such as a report size limit below 1
        │   ├── PolicyError                        a directive, source, nonce or endpoint that breaks
        │   │   │                                  the CSP3 grammar
        │   │   └── PolicySyntaxError              a header given to parse() that is not one valid policy
        │   └── ReportError                        a violation report that cannot be read
        │       ├── ReportTooLargeError            a body over the receiver's size limit
        │       └── UnsupportedReportTypeError     a body whose content type is not a CSP report type
        ├── CSPTypeError                           (also core ArgumentTypeError, a TypeError) an
        │                                          argument of the wrong type
        ├── NonceUnavailableError                  (also LookupError) the nonce was asked for outside a
        │                                          request handled by the middleware
        └── MissingExtraError                      (also core MissingExtraError, an ImportError) a
                                                   helper whose extra is not installed

``except CSPConfigurationError`` (or ``ValueError``) catches every bad value, a policy's or a report's.

Every message says what was wrong and what would be accepted. Report bodies are never quoted in an
error: they come from browsers, that is from anyone, and may carry other users' URLs.
"""

from __future__ import annotations

from buttress.core import ArgumentTypeError, ButtressError, ConfigurationError
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "CSPConfigurationError",
    "CSPError",
    "CSPTypeError",
    "MissingExtraError",
    "NonceUnavailableError",
    "PolicyError",
    "PolicySyntaxError",
    "ReportError",
    "ReportTooLargeError",
    "UnsupportedReportTypeError",
]


class CSPError(ButtressError):
    """Root of every error buttress-csp raises."""


class CSPConfigurationError(CSPError, ConfigurationError):
    """A value is invalid; the message names the argument and what would be accepted.

    Args:
        parameter: The argument or setting, as the caller spelled it.
        value: The rejected value.
        reason: What is wrong with it and what to write instead.
        show_value: Whether the message may include ``repr(value)``.

    Attributes:
        parameter: The argument or setting.
        value: The rejected value.
        reason: What is wrong with it.
    """


class PolicyError(CSPConfigurationError):
    """A directive, source expression, nonce or reporting endpoint breaks the CSP3 grammar.

    Args:
        parameter: What was being set, such as ``"script-src"`` or ``"nonce"``.
        value: The rejected value.
        reason: What is wrong with it and what to write instead.
        show_value: Whether the message may include ``repr(value)``.

    Attributes:
        parameter: What was being set.
        value: The rejected value.
        reason: What is wrong with it and what to write instead.
    """


class PolicySyntaxError(PolicyError):
    """A header passed to `parse` is not a single, valid policy.

    Attributes:
        directive: The directive the problem was found in, or ``None`` when it concerns the header as
            a whole.
    """

    def __init__(self, directive: str | None, value: object, reason: str) -> None:
        super().__init__("header" if directive is None else directive, value, reason)
        self.directive = directive


class CSPTypeError(CSPError, ArgumentTypeError):
    """An argument has the wrong type (see `buttress.core.ArgumentTypeError` for the attributes)."""


class ReportError(CSPConfigurationError):
    """A CSP violation report body cannot be read.

    Args:
        reason: What is wrong with the body. The body itself is never part of the message.

    Attributes:
        parameter: ``"body"`` (``"content_type"`` for `UnsupportedReportTypeError`).
        value: ``None``: a report comes from anyone's browser and is never kept on an error.
        reason: What is wrong with the body.
    """

    def __init__(self, reason: str, *, parameter: str = "body") -> None:
        ButtressError.__init__(self, f"unreadable CSP report: {reason}")
        self.parameter = parameter
        self.value = None
        self.reason = reason


class ReportTooLargeError(ReportError):
    """A report body is larger than the receiver accepts.

    Attributes:
        size: The body's size in bytes, or a lower bound when reading stopped at the limit.
        limit: The largest body accepted, in bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the body has at least {size} bytes, over the limit of {limit}; "
            "raise max_bytes if your reports are really that large"
        )
        self.size = size
        self.limit = limit


class UnsupportedReportTypeError(ReportError):
    """A report body arrived with a content type that is not a CSP report type.

    Attributes:
        content_type: The media type that was given (parameters removed).
    """

    def __init__(self, content_type: str) -> None:
        super().__init__(
            f"content type {content_type!r} is not a CSP report type; expected "
            "'application/csp-report', 'application/reports+json' or 'application/json'",
            parameter="content_type",
        )
        self.content_type = content_type


class NonceUnavailableError(CSPError, LookupError):
    """The request's nonce was asked for outside a request handled by the CSP middleware."""

    def __init__(self) -> None:
        super().__init__(
            "no CSP nonce: current_nonce() was called outside a request handled by CSPMiddleware or "
            "CSPWSGIMiddleware; wrap the application in one of them"
        )


class MissingExtraError(CSPError, CoreMissingExtraError):
    """A helper was used without the extra that installs what it needs.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-csp"
