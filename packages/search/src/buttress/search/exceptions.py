"""Errors raised by buttress-search.

::

    ButtressError                                 (buttress.core)
    └── SearchError                               every error this package raises
        ├── SearchConfigurationError              (also ConfigurationError, ValueError) a bad argument
        │   ├── QuerySyntaxError                  the full-text string cannot be parsed; names the position
        │   ├── UnknownFieldError                 a filter, facet, stat or sort names a field the schema
        │   │                                     does not declare for that use
        │   └── InvalidDocumentError              a document lacks its id or holds a value of the wrong type
        ├── SearchTypeError                       (also ArgumentTypeError, TypeError) an argument of the
        │                                         wrong type
        ├── SearchUnavailableError                (also BackendUnavailableError, ConnectionError) the backend
        │                                         (and, behind `FallbackSearch`, the fallback too) is down
        ├── IndexFileError                        (also SerializationError, ValueError) a saved index file is
        │                                         corrupt, truncated or of an unknown format version
        └── MissingExtraError                     (also ImportError) a backend whose extra is not installed

Errors about the caller's input (`SearchConfigurationError`, `SearchTypeError`) are never hidden by
`FallbackSearch`: a malformed query is the caller's bug and fails the same way on every backend.
"""

from __future__ import annotations

from buttress.core import (
    ArgumentTypeError,
    BackendUnavailableError,
    ButtressError,
    ConfigurationError,
    SerializationError,
    safe_repr,
)
from buttress.core import MissingExtraError as CoreMissingExtraError

__all__ = [
    "IndexFileError",
    "InvalidDocumentError",
    "MissingExtraError",
    "QuerySyntaxError",
    "SearchConfigurationError",
    "SearchError",
    "SearchTypeError",
    "SearchUnavailableError",
    "UnknownFieldError",
]


class SearchError(ButtressError):
    """Root of every error buttress-search raises."""


class SearchConfigurationError(SearchError, ConfigurationError):
    """An argument to a provider, a schema or a query is invalid; the message names it."""


class QuerySyntaxError(SearchConfigurationError):
    """The full-text query string is malformed.

    Attributes:
        text: The query string.
        position: The 0-based character offset where the problem is.
    """

    def __init__(self, text: str, position: int, reason: str) -> None:
        super().__init__("query text", text, f"{reason} at position {position}")
        self.text = text
        self.position = position


class UnknownFieldError(SearchConfigurationError):
    """A query names a field the schema does not declare for the use asked of it.

    Attributes:
        field: The field's name.
        use: ``"filter"``, ``"facet"``, ``"stats"``, ``"sort"`` or ``"search"``.
    """

    def __init__(self, field: str, use: str, declared: tuple[str, ...]) -> None:
        names = declared if isinstance(declared, tuple | list | set | frozenset) else ()
        choices = ", ".join(safe_repr(name) for name in names) or "none"
        super().__init__(
            f"{use} field",
            field,
            f"the schema declares no {use} field {field!r}; declared {use} fields: {choices}",
            show_value=False,
        )
        self.field = field
        self.use = use


class InvalidDocumentError(SearchConfigurationError):
    """A document cannot be indexed: no string id, or a field value of the wrong type.

    Attributes:
        document_id: The document's id when it has one, else ``None``.
        field: The offending field, or ``None`` when the document itself is wrong.
    """

    def __init__(self, document_id: str | None, field: str | None, reason: str) -> None:
        where = f"field {field!r} of " if field is not None else ""
        whose = f"document {document_id!r}" if document_id is not None else "a document"
        super().__init__("document", document_id, f"{where}{whose} {reason}", show_value=False)
        self.document_id = document_id
        self.field = field


class SearchTypeError(SearchError, ArgumentTypeError):
    """An argument has the wrong type; the message names it and the type given."""


class SearchUnavailableError(SearchError, BackendUnavailableError):
    """The search backend cannot be reached (behind `FallbackSearch`: neither can the fallback)."""


class IndexFileError(SearchError, SerializationError):
    """A saved index cannot be read: corrupt, truncated, not an index, or a newer format version.

    Attributes:
        path: The file's path.
    """

    def __init__(self, path: str, reason: str, *, operation: str = "load") -> None:
        super().__init__("buttress-search index", operation, f"{path}: {reason}")
        self.path = path


class MissingExtraError(SearchError, CoreMissingExtraError):
    """A backend or feature was used without the extra that installs its dependency.

    Raised with the feature asked for and the extra that installs it (``feature``, ``extra``).
    """

    distribution = "buttress-search"
