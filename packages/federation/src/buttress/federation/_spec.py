"""Federation directive and type definitions, per version, and the names a schema gives them."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "FEDERATION_V1",
    "LATEST_VERSION",
    "FederationSpec",
    "definitions_sdl",
    "elements_for",
]

LATEST_VERSION = (2, 14)

_ALL_LOCATIONS = (
    "FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE"
    " | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)

# name -> (minimum version, definition template). Templates name types through {FieldSet}, {Scope},
# {Policy}, {ContextFieldValue} and the directive itself through {name}.
_DIRECTIVES: dict[str, tuple[tuple[int, int], str]] = {
    "key": (
        (2, 0),
        "directive @{name}(fields: {FieldSet}!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE",
    ),
    "requires": ((2, 0), "directive @{name}(fields: {FieldSet}!) on FIELD_DEFINITION"),
    "provides": ((2, 0), "directive @{name}(fields: {FieldSet}!) on FIELD_DEFINITION"),
    "external": ((2, 0), "directive @{name}(reason: String) on OBJECT | FIELD_DEFINITION"),
    "tag": ((2, 0), "directive @{name}(name: String!) repeatable on " + _ALL_LOCATIONS + " | SCHEMA"),
    "extends": ((2, 0), "directive @{name} on OBJECT | INTERFACE"),
    "shareable": ((2, 0), "directive @{name} repeatable on OBJECT | FIELD_DEFINITION"),
    "inaccessible": ((2, 0), "directive @{name} on " + _ALL_LOCATIONS),
    "override": ((2, 0), "directive @{name}(from: String!, label: String) on FIELD_DEFINITION"),
    "composeDirective": ((2, 1), "directive @{name}(name: String!) repeatable on SCHEMA"),
    "interfaceObject": ((2, 3), "directive @{name} on OBJECT"),
    "authenticated": ((2, 5), "directive @{name} on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM"),
    "requiresScopes": (
        (2, 5),
        "directive @{name}(scopes: [[{Scope}!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM",
    ),
    "policy": (
        (2, 6),
        "directive @{name}(policies: [[{Policy}!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE "
        "| SCALAR | ENUM",
    ),
    "context": ((2, 8), "directive @{name}(name: String!) repeatable on INTERFACE | OBJECT | UNION"),
    "fromContext": ((2, 8), "directive @{name}(field: {ContextFieldValue}) on ARGUMENT_DEFINITION"),
    "cost": (
        (2, 9),
        "directive @{name}(weight: Int!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION"
        " | INPUT_FIELD_DEFINITION | OBJECT | SCALAR",
    ),
    "listSize": (
        (2, 9),
        "directive @{name}(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!],"
        " requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION",
    ),
    "cacheTag": ((2, 12), "directive @{name}(format: String!) repeatable on OBJECT | FIELD_DEFINITION"),
}
_TYPES: dict[str, tuple[int, int]] = {
    "FieldSet": (2, 0),
    "Scope": (2, 5),
    "Policy": (2, 6),
    "ContextFieldValue": (2, 8),
}

_V1_SDL = (
    """
scalar _FieldSet
directive @key(fields: _FieldSet!) repeatable on OBJECT | INTERFACE
directive @requires(fields: _FieldSet!) on FIELD_DEFINITION
directive @provides(fields: _FieldSet!) on FIELD_DEFINITION
directive @external on OBJECT | FIELD_DEFINITION
directive @extends on OBJECT | INTERFACE
directive @tag(name: String!) repeatable on """
    + _ALL_LOCATIONS
)

_LINK_SDL = """
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
"""


@dataclass(frozen=True)
class FederationSpec:
    """How one schema speaks federation: its version and the names it gives each element.

    Attributes:
        version: ``(1, 0)`` for a schema without a federation ``@link``, else the linked version.
        directives: Federation directive name (``"key"``) -> the name used in this schema.
        types: Federation type name (``"FieldSet"``) -> the name used in this schema.
        links: Whether the schema uses ``@link`` (its definition is then injected).
    """

    version: tuple[int, int]
    directives: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    links: bool = False

    @property
    def is_v2(self) -> bool:
        """Whether this is a Federation 2 schema."""
        return self.version >= (2, 0)

    def name(self, directive: str) -> str:
        """The schema's name for a federation directive (``"key"`` -> ``"key"`` or ``"federation__key"``)."""
        return self.directives.get(directive, directive)


FEDERATION_V1 = FederationSpec(
    version=(1, 0),
    directives={d: d for d in ("key", "requires", "provides", "external", "extends", "tag")},
    types={"FieldSet": "_FieldSet"},
)


def elements_for(version: tuple[int, int]) -> tuple[set[str], set[str]]:
    """The directive names and type names a federation version defines."""
    directives = {name for name, (since, _) in _DIRECTIVES.items() if version >= since}
    types = {name for name, since in _TYPES.items() if version >= since}
    return directives, types


def definitions_sdl(spec: FederationSpec, defined: set[str]) -> str:
    """SDL defining every federation element of ``spec`` that the schema does not define itself.

    Args:
        spec: The schema's federation version and names.
        defined: Names of directives (``"@key"``) and types (``"FieldSet"``) the schema defines.
    """
    parts: list[str] = []
    if not spec.is_v2:
        if "_FieldSet" not in defined:
            parts.append("scalar _FieldSet")
        parts.extend(
            line for line in _V1_SDL.strip().splitlines()[1:] if line.split("(")[0].split()[1] not in defined
        )
    else:
        directive_names, type_names = elements_for(spec.version)
        types = {t: spec.types[t] for t in type_names}
        parts.extend(f"scalar {name}" for name in types.values() if name not in defined)
        for directive in sorted(directive_names):
            schema_name = spec.directives[directive]
            if f"@{schema_name}" in defined:
                continue
            template = _DIRECTIVES[directive][1]
            parts.append(template.format(name=schema_name, **types))
    if spec.links and "@link" not in defined:
        parts.extend(
            line
            for line in _LINK_SDL.strip().splitlines()
            if line.split("(")[0].split()[1].lstrip("@") not in {d.lstrip("@") for d in defined}
        )
    return "\n".join(parts)
