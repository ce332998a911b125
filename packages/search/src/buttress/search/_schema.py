"""`Schema`: which fields are searched (with weights), filtered, faceted and sorted on."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._query import And, Exists, Filter, Not, Or, Range, SearchQuery, Term, Terms, Value
from .exceptions import InvalidDocumentError, SearchConfigurationError, SearchTypeError, UnknownFieldError

__all__ = ["FieldType", "Schema"]

type FieldType = Literal["keyword", "number", "boolean"]
"""The type of a filterable field: ``keyword`` (a str or a list of str), ``number`` or ``boolean``."""

_TYPES = ("keyword", "number", "boolean")


def _names(parameter: str, value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise SearchTypeError(parameter, "a collection of field names", value)
    names = frozenset(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise SearchConfigurationError(parameter, name, "field names must be non-empty str")
    return names


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

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per argument
        if not isinstance(self.searchable, Mapping):
            raise SearchTypeError("searchable", "a mapping of field to weight", self.searchable)
        if not self.searchable:
            raise SearchConfigurationError("searchable", {}, "declare at least one searchable field")
        for name, weight in self.searchable.items():
            if not isinstance(name, str) or not name:
                raise SearchConfigurationError("searchable", name, "field names must be non-empty str")
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise SearchTypeError(f"searchable[{name!r}]", "a number", weight)
            if not math.isfinite(weight) or weight <= 0:
                raise SearchConfigurationError(f"searchable[{name!r}]", weight, "must be a finite number > 0")
        object.__setattr__(self, "searchable", {name: float(w) for name, w in self.searchable.items()})
        fields = {} if self.fields is None else self.fields
        if not isinstance(fields, Mapping):
            raise SearchTypeError("fields", "a mapping of field to type", fields)
        for name, kind in fields.items():
            if not isinstance(name, str) or not name:
                raise SearchConfigurationError("fields", name, "field names must be non-empty str")
            if kind not in _TYPES:
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
        if not isinstance(self.id_field, str) or not self.id_field:
            raise SearchConfigurationError("id_field", self.id_field, "must be a non-empty str")
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
                    self.check_filter(sub)
            case Not(filter=sub):
                self.check_filter(sub)

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
        """Validate a document; return its id, searchable texts and typed values (absent when empty)."""
        if not isinstance(document, dict) and not isinstance(document, Mapping):
            raise SearchTypeError("document", "a mapping", document)
        doc_id = document.get(self.id_field)
        if not isinstance(doc_id, str) or not doc_id:
            raise InvalidDocumentError(None, self.id_field, "must hold a non-empty str id")
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
            if value is None or value == []:
                continue
            if isinstance(value, list | tuple) and kind == "keyword" and name not in self.sortable:
                if not all(isinstance(item, str) for item in value):
                    raise InvalidDocumentError(doc_id, name, "must be a str or a list of str")
                values[name] = sorted(set(value))
                continue
            if not _is_type(kind, value):
                shape = "a single str" if kind == "keyword" else f"a {kind}"
                raise InvalidDocumentError(doc_id, name, f"must be {shape}, got {type(value).__name__}")
            values[name] = value
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
        """Rebuild a schema from `to_dict`'s output."""
        return cls(
            searchable=data["searchable"],
            fields=data["fields"],
            filterable=frozenset(data["filterable"]),
            facetable=frozenset(data["facetable"]),
            sortable=frozenset(data["sortable"]),
            id_field=data["id_field"],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))


def _is_type(kind: str, value: object) -> bool:
    if kind == "keyword":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
