"""`Schema`: which fields are searched (with weights), filtered, faceted and sorted on."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from buttress.core import ButtressError

from ._filters import (
    MAX_SAFE_INTEGER,
    And,
    Exists,
    Filter,
    Not,
    Or,
    Range,
    Term,
    Terms,
    Value,
    check_filter_tree,
    check_number,
    check_str,
    is_text,
)
from ._query import SearchQuery
from .exceptions import InvalidDocumentError, SearchConfigurationError, SearchTypeError, UnknownFieldError

__all__ = ["MAX_DOCUMENT_DEPTH", "MAX_ID_LENGTH", "FieldType", "Schema", "check_id", "check_ids"]

type FieldType = Literal["keyword", "number", "boolean"]
"""The type of a filterable field: ``keyword`` (a str or a list of str), ``number`` or ``boolean``."""

_TYPES = ("keyword", "number", "boolean")

MAX_ID_LENGTH: Final = 512
"""The longest document id, in characters (Elasticsearch's limit is 512 bytes; PostgreSQL's B-tree
refuses keys past about 2,700 bytes, which 512 characters of 4-byte UTF-8 stay under)."""

MAX_DOCUMENT_DEPTH: Final = 64
"""How deep lists and objects may nest inside a document."""

_INT_LIMIT: Final = 10**4000  # ints outside number fields: JSON-encodable on every Python


def _names(parameter: str, value: object) -> frozenset[str]:
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise SearchTypeError(parameter, "a collection of field names", value)
    return frozenset(check_str(parameter, name) for name in list(value))


def check_id(parameter: str, value: object) -> str:
    """Return ``value`` if it can be a document id: a non-empty str of valid text, at most 512 characters.

    Raises:
        SearchTypeError: ``value`` is not a str.
        SearchConfigurationError: It is empty, too long, or holds NUL or a lone surrogate.
    """
    doc_id = check_str(parameter, value)
    if len(doc_id) > MAX_ID_LENGTH:
        raise SearchConfigurationError(
            parameter, len(doc_id), f"an id has at most {MAX_ID_LENGTH} characters", show_value=False
        )
    return doc_id


def check_ids(ids: object) -> list[str]:
    """Return the distinct ids of ``ids`` (an iterable of str), in order, each checked by `check_id`."""
    if isinstance(ids, str | bytes | bytearray | Mapping) or not isinstance(ids, Iterable):
        raise SearchTypeError("ids", "an iterable of str", ids)
    return list(dict.fromkeys(check_id("ids", doc_id) for doc_id in ids))


@dataclass(frozen=True, slots=True, eq=False)
class Schema:
    """The fields of the documents and what each may be used for.

    Args:
        searchable: Text fields searched by the full-text string, with their weights (> 0).
        fields: Typed fields: ``{"category": "keyword", "price": "number", "in_stock": "boolean"}``.
            A keyword field holds a str or a list of str; a number an int or float; a boolean a bool.
        filterable: Fields usable in filters; default: every typed field.
        facetable: Typed fields whose value counts (and, for numbers, stats) may be asked for.
        sortable: Typed fields usable in `Sort`; a sortable keyword field holds a single str.
        id_field: The document key holding its unique str id.

    Raises:
        SearchConfigurationError: On a bad weight or type, or a facetable/sortable/filterable field
            that is not in ``fields``.
    """

    searchable: Mapping[str, float]
    fields: Mapping[str, FieldType] = None  # type: ignore[assignment]
    filterable: Collection[str] | None = None
    facetable: Collection[str] = frozenset()
    sortable: Collection[str] = frozenset()
    id_field: str = "id"

    def __post_init__(self) -> None:
        if not isinstance(self.searchable, Mapping):
            raise SearchTypeError("searchable", "a mapping of field to weight", self.searchable)
        if not self.searchable:
            raise SearchConfigurationError("searchable", {}, "declare at least one searchable field")
        searchable: dict[str, float] = {}
        for name, weight in self.searchable.items():
            check_str("searchable", name)
            if check_number(f"searchable[{name!r}]", weight) <= 0:
                raise SearchConfigurationError(f"searchable[{name!r}]", weight, "must be a number > 0")
            searchable[name] = float(weight)
        object.__setattr__(self, "searchable", searchable)
        fields = {} if self.fields is None else self.fields
        if not isinstance(fields, Mapping):
            raise SearchTypeError("fields", "a mapping of field to type", fields)
        for name, kind in fields.items():
            check_str("fields", name)
            if not isinstance(kind, str) or kind not in _TYPES:
                raise SearchConfigurationError(
                    f"fields[{name!r}]", kind, f"must be one of {', '.join(_TYPES)}"
                )
        object.__setattr__(self, "fields", dict(fields))
        typed = frozenset(fields)
        filterable = typed if self.filterable is None else _names("filterable", self.filterable)
        object.__setattr__(self, "filterable", filterable)
        object.__setattr__(self, "facetable", _names("facetable", self.facetable))
        object.__setattr__(self, "sortable", _names("sortable", self.sortable))
        for parameter in ("filterable", "facetable", "sortable"):
            extra = sorted(set(getattr(self, parameter)) - typed)
            if extra:
                raise SearchConfigurationError(parameter, extra, "these fields are not declared in fields")
        check_str("id_field", self.id_field)
        if self.id_field in typed or self.id_field in self.searchable:
            raise SearchConfigurationError("id_field", self.id_field, "the id field cannot also be a field")

    # -- queries -------------------------------------------------------------------------------

    def check_query(self, query: SearchQuery) -> None:
        """Raise `UnknownFieldError` (or a type error) when ``query`` uses a field it may not use."""
        if not isinstance(query, SearchQuery):
            raise SearchTypeError("query", "a SearchQuery", query)
        if query.filter is not None:
            self.check_filter(query.filter)
        for name in query.facets:
            self._require(name, "facet", self.facetable)
        for name in query.stats:
            self._require(name, "stats", self.facetable)
            if self.fields[name] != "number":
                raise SearchConfigurationError("stats", name, "stats are computed over number fields only")
        for sort in query.sort:
            self._require(sort.field, "sort", self.sortable)

    def check_filter(self, item: Filter) -> None:
        """Raise `UnknownFieldError` when ``item`` filters on an undeclared field, or on a type mismatch."""
        check_filter_tree("filter", item)
        self._check_filter(item)

    def _check_filter(self, item: Filter) -> None:
        match item:
            case Term(field=name, value=value):
                self._require(name, "filter", self.filterable)
                self._check_type(name, value, "Term.value")
            case Terms(field=name, values=values):
                self._require(name, "filter", self.filterable)
                for value in values:
                    self._check_type(name, value, "Terms.values")
            case Range(field=name):
                self._require(name, "filter", self.filterable)
                if self.fields[name] != "number":
                    raise SearchConfigurationError("Range.field", name, "ranges apply to number fields only")
            case Exists(field=name):
                self._require(name, "filter", self.filterable)
            case And(filters=items) | Or(filters=items):
                for sub in items:
                    self._check_filter(sub)
            case Not(filter=sub):
                self._check_filter(sub)

    def _require(self, name: str, use: str, allowed: Collection[str] | None) -> None:
        allowed = allowed or frozenset()
        if name not in allowed:
            raise UnknownFieldError(name, use, tuple(sorted(allowed)))

    def _check_type(self, name: str, value: Value, parameter: str) -> None:
        kind = self.fields[name]
        if not _is_type(kind, value):
            raise SearchTypeError(parameter, f"a {kind} for field {name!r}", value)

    # -- documents -----------------------------------------------------------------------------

    def split(self, document: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Validate a document; return its id, searchable texts and typed values (absent when empty).

        The rules are the same for every provider, so a document is refused the same way by each:

        - a mapping whose id field holds a `check_id` id;
        - searchable fields hold a str; keyword fields a str or (unless sortable) a list of str;
          number fields an int within ±(2**53 - 1) or a finite float; boolean fields a bool;
        - everything else is JSON (I-JSON, RFC 7493): objects with str keys, lists (or tuples), str,
          finite numbers, bools and ``None``, nested at most `MAX_DOCUMENT_DEPTH` deep; every str
          (keys too) holds neither NUL nor a lone surrogate.

        Raises:
            InvalidDocumentError: Any rule is broken; the error names the field.
        """
        if not isinstance(document, Mapping):
            raise InvalidDocumentError(None, None, f"must be a mapping, got {type(document).__name__}")
        try:
            doc_id = check_id(self.id_field, document.get(self.id_field))
        except ButtressError as exc:
            raise InvalidDocumentError(None, self.id_field, f"must hold a valid id: {_reason(exc)}") from None
        texts: dict[str, str] = {}
        for name in self.searchable:
            text = document.get(name)
            if text is None:
                continue
            if not isinstance(text, str):
                raise InvalidDocumentError(doc_id, name, f"must be a str, got {type(text).__name__}")
            texts[name] = text
        values: dict[str, Any] = {}
        for name, kind in self.fields.items():
            value = document.get(name)
            if value is None or (isinstance(value, list | tuple) and not value):
                continue
            if isinstance(value, list | tuple) and kind == "keyword" and name not in self.sortable:
                if not all(isinstance(item, str) for item in value):
                    raise InvalidDocumentError(doc_id, name, "must be a str or a list of str")
                values[name] = sorted(set(value))
                continue
            if not _is_type(kind, value):
                shape = "a single str" if kind == "keyword" else f"a {kind}"
                if kind == "number":
                    shape = "an int within ±(2**53 - 1) or a finite float"
                raise InvalidDocumentError(doc_id, name, f"must be {shape}, got {type(value).__name__}")
            values[name] = value
        if not _plain_text(document):
            _check_json(doc_id, document)
        return doc_id, texts, values

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the schema as JSON-ready data."""
        return {
            "searchable": dict(self.searchable),
            "fields": dict(self.fields),
            "filterable": sorted(self.filterable or ()),
            "facetable": sorted(self.facetable),
            "sortable": sorted(self.sortable),
            "id_field": self.id_field,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from `to_dict`'s output.

        Raises:
            SearchTypeError: ``data`` is not a mapping, or one of its values has the wrong type.
            SearchConfigurationError: A key is missing or a value is invalid.
        """
        if not isinstance(data, Mapping):
            raise SearchTypeError("data", "a mapping (Schema.to_dict's output)", data)
        keys = ("searchable", "fields", "filterable", "facetable", "sortable", "id_field")
        missing = [key for key in keys if key not in data]
        if missing:
            raise SearchConfigurationError("data", missing, "is not Schema.to_dict()'s output: keys missing")
        return cls(**{key: data[key] for key in keys})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))


def _is_type(kind: str, value: object) -> bool:
    if kind == "keyword":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return isinstance(value, float) and math.isfinite(value)


def _scalar_problem(value: object) -> str | None:
    """What is wrong with a JSON scalar ("" for nothing), or None when ``value`` is not a scalar."""
    if isinstance(value, str):
        return "" if is_text(value) else "holds NUL or a lone surrogate"
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return "" if -_INT_LIMIT < value < _INT_LIMIT else "holds an int of more than 4000 digits"
    if isinstance(value, float):
        return "" if math.isfinite(value) else "holds a NaN or an infinity"
    return None


def _reason(exc: ButtressError) -> str:
    return str(getattr(exc, "reason", None) or exc)


def _plain_text(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is a dict of ASCII str keys and values without NUL (valid I-JSON as it is).

    The common flat document, accepted without `_check_json`'s walk; anything else takes the walk.
    """
    if type(document) is not dict:
        return False
    for key, value in document.items():
        if type(key) is not str or type(value) is not str or "\x00" in value or "\x00" in key:
            return False
        if not (value.isascii() and key.isascii()):
            return False
    return True


def _check_json(doc_id: str, document: Mapping[str, Any]) -> None:
    """Raise `InvalidDocumentError` unless every value of ``document`` is I-JSON without NUL.

    Walked with a stack, not recursion, so no nesting can exhaust Python's stack.
    """
    stack: list[tuple[object, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        problem = _scalar_problem(value)
        if problem is not None:
            if problem:
                raise InvalidDocumentError(doc_id, path or None, problem)
        elif isinstance(value, Mapping) and (depth == 0 or isinstance(value, dict)):
            if depth >= MAX_DOCUMENT_DEPTH:
                raise InvalidDocumentError(doc_id, path, f"nests deeper than {MAX_DOCUMENT_DEPTH} levels")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidDocumentError(
                        doc_id, path or None, f"has a {type(key).__name__} key; keys must be str"
                    )
                if not is_text(key):
                    raise InvalidDocumentError(
                        doc_id, path or None, "has a key holding NUL or a lone surrogate"
                    )
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list | tuple):
            if depth >= MAX_DOCUMENT_DEPTH:
                raise InvalidDocumentError(doc_id, path, f"nests deeper than {MAX_DOCUMENT_DEPTH} levels")
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
        else:
            raise InvalidDocumentError(
                doc_id, path or None, f"holds a {type(value).__name__}, which JSON cannot store"
            )
