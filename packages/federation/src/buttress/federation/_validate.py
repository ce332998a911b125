"""Subgraph validation: graphql-core builds the schema, then every federation rule is checked.

The schema is built the way Apollo builds a subgraph: the federation definitions its ``@link`` names are
added, an ``extend type`` with no base definition is taken as the definition, and the federation
operations (``_Any``, ``_Service``, ``_Entity``, ``Query._service`` and ``Query._entities``) are added
before GraphQL validation, so a subgraph with no ``Query`` of its own (an entity-only subgraph) has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    DefinitionNode,
    DirectiveDefinitionNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationType,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    build_ast_schema,
    parse,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from ._fieldsets import FieldSetRules, parse_field_set
from ._links import read_links
from ._literals import check_directive_arguments
from ._metrics import VALIDATIONS
from ._report import SubgraphError, from_graphql
from ._rules import check_root_types, check_subgraph_rules
from ._spec import FEDERATION_V1, FederationSpec, definitions_sdl
from .exceptions import FederationTypeError, FederationValidationError

__all__ = [
    "BuiltSubgraph",
    "SubgraphError",
    "build_subgraph",
    "check_subgraph",
    "parse_field_set",
    "validate_subgraph",
]


@dataclass(frozen=True)
class BuiltSubgraph:
    """A subgraph schema that was built, with what validation found.

    Attributes:
        schema: The graphql-core schema, federation definitions and operations included (``None``
            when the SDL is not a buildable GraphQL schema; ``errors`` then says why).
        spec: The federation version and element names the SDL uses.
        document: The parsed SDL as written (before definitions were added).
        errors: Every problem found.
    """

    schema: GraphQLSchema | None
    spec: FederationSpec
    document: DocumentNode | None
    errors: tuple[SubgraphError, ...] = field(default=())


# --- building ----------------------------------------------------------------------------------------


def _defined_names(document: DocumentNode) -> set[str]:
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            names.add(f"@{definition.name.value}")
        elif isinstance(definition, TypeDefinitionNode):
            names.add(definition.name.value)
    return names


def _promote_orphan_extensions(document: DocumentNode) -> DocumentNode:
    """Turn the first extension of a type that is never defined into its definition (as federation does)."""
    defined = _defined_names(document)
    promoted: list[DefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, ObjectTypeExtensionNode | InterfaceTypeExtensionNode):
            name = definition.name.value
            if name not in defined:
                defined.add(name)
                cls = (
                    ObjectTypeDefinitionNode
                    if isinstance(definition, ObjectTypeExtensionNode)
                    else InterfaceTypeDefinitionNode
                )
                promoted.append(
                    cls(
                        name=definition.name,
                        interfaces=definition.interfaces,
                        directives=definition.directives,
                        fields=definition.fields,
                        loc=definition.loc,
                        description=None,
                    )
                )
                continue
        promoted.append(definition)
    return DocumentNode(definitions=tuple(promoted), loc=document.loc)


def _query_root(document: DocumentNode) -> tuple[str, bool]:
    """The query root's name, and whether a schema definition leaves it out (so it must be added)."""
    has_definition = False
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            has_definition = has_definition or isinstance(definition, SchemaDefinitionNode)
            for operation in definition.operation_types or ():
                if operation.operation == OperationType.QUERY:
                    return operation.type.name.value, False
    return "Query", has_definition


@dataclass
class _Survey:
    """What the SDL defines, as the federation operations need it."""

    kinds: dict[str, type] = field(default_factory=dict)  # type name -> its definition node's class
    fields: dict[str, set[str]] = field(default_factory=dict)  # type name -> field names, extensions too
    entities: list[str] = field(default_factory=list)  # object types with a @key, in SDL order


def _survey(document: DocumentNode, key: str) -> _Survey:
    survey = _Survey()
    for definition in document.definitions:
        if not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            continue
        name = definition.name.value
        if isinstance(definition, TypeDefinitionNode):
            survey.kinds.setdefault(name, type(definition))
        declared = getattr(definition, "fields", None) or ()
        survey.fields.setdefault(name, set()).update(f.name.value for f in declared)
        is_object = isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode)
        has_key = any(d.name.value == key for d in definition.directives or ())
        if is_object and has_key and name not in survey.entities:
            survey.entities.append(name)
    survey.entities = [n for n in survey.entities if survey.kinds.get(n) is ObjectTypeDefinitionNode]
    return survey


def _federation_operations(document: DocumentNode, spec: FederationSpec) -> list[str]:
    """SDL of the federation operations Apollo adds to every subgraph, minus what the SDL defines.

    ``_Entity`` is the union of the object types with a ``@key``; the query root (``Query``, or the
    type the schema definition names) gets ``_service`` and, when there are entities, ``_entities``.
    """
    survey = _survey(document, spec.name("key"))
    added = [
        sdl
        for name, sdl in (
            ("_Any", "scalar _Any"),
            ("_Service", "type _Service { sdl: String }"),
            ("_Entity", f"union _Entity = {' | '.join(survey.entities)}" if survey.entities else ""),
        )
        if sdl and name not in survey.kinds
    ]
    root, root_missing_from_schema = _query_root(document)
    wanted = {"_service": "_service: _Service!"}
    if survey.entities:
        wanted["_entities"] = "_entities(representations: [_Any!]!): [_Entity]!"
    if root not in survey.kinds:
        if root != "Query":
            return added  # a query root the schema definition names but the SDL never defines
        added.append(f"type {root} {{ {' '.join(wanted.values())} }}")
    elif survey.kinds[root] is ObjectTypeDefinitionNode:
        missing = [text for name, text in wanted.items() if name not in survey.fields.get(root, set())]
        if missing:
            added.append(f"extend type {root} {{ {' '.join(missing)} }}")
    if root_missing_from_schema:
        added.append(f"extend schema {{ query: {root} }}")
    return added


def _augment(document: DocumentNode, spec: FederationSpec) -> DocumentNode:
    base = _promote_orphan_extensions(document)
    extra = [definitions_sdl(spec, _defined_names(document)), *_federation_operations(base, spec)]
    text = "\n".join(part for part in extra if part)
    if not text:
        return base
    injected = parse(text, no_location=True)
    return DocumentNode(definitions=(*base.definitions, *injected.definitions), loc=base.loc)


def _check_sdl(sdl: object) -> str:
    if not isinstance(sdl, str):
        raise FederationTypeError("sdl", "a str", sdl)
    return sdl


def _parse(sdl: str) -> DocumentNode | SubgraphError:
    try:
        return parse(sdl)
    except GraphQLSyntaxError as error:
        return from_graphql(error)
    except RecursionError:  # graphql-core before 3.3 has no nesting limit of its own
        return SubgraphError("INVALID_GRAPHQL", "Syntax Error: Document is nested too deeply.")


def _build(augmented: DocumentNode) -> GraphQLSchema | list[SubgraphError]:
    """graphql-core's schema, or every GraphQL error that keeps it from being one."""
    errors = [from_graphql(e) for e in validate_sdl(augmented)] or check_directive_arguments(augmented)
    if errors:
        return errors
    try:
        return build_ast_schema(augmented, assume_valid_sdl=True)
    except GraphQLError as error:  # what graphql-core checks only while building
        return [from_graphql(error)]


def build_subgraph(sdl: str) -> BuiltSubgraph:
    """Parse and build a subgraph schema, then check every federation rule.

    Returns:
        The built schema (or ``None`` when the SDL does not build) with every error found.

    Raises:
        FederationTypeError: ``sdl`` is not a str.
    """
    built = _build_subgraph(_check_sdl(sdl))
    VALIDATIONS.add(1, {"federation.outcome": "invalid" if built.errors else "valid"})
    return built


def _build_subgraph(sdl: str) -> BuiltSubgraph:
    document = _parse(sdl)
    if isinstance(document, SubgraphError):
        return BuiltSubgraph(None, FEDERATION_V1, None, (document,))
    spec, errors = read_links(document)
    if errors:
        # A broken @link leaves the schema's federation names unknown: nothing further can be trusted.
        return BuiltSubgraph(None, spec, document, tuple(errors))
    schema = _build(_augment(document, spec))
    if isinstance(schema, list):
        return BuiltSubgraph(None, spec, document, tuple(schema))
    schema_errors = validate_schema(schema)
    if schema_errors:
        return BuiltSubgraph(schema, spec, document, tuple(from_graphql(e) for e in schema_errors))
    errors.extend(check_root_types(schema))
    rules = FieldSetRules(schema, spec)
    errors.extend(rules.check())
    if not rules.aborted and spec.is_v2:
        errors.extend(check_subgraph_rules(schema, spec))
    return BuiltSubgraph(schema, spec, document, tuple(errors))


def check_subgraph(sdl: str) -> list[SubgraphError]:
    """Every error in a subgraph schema (an empty list when it is valid).

    Args:
        sdl: The subgraph's SDL, Federation 2 (``@link`` to the federation spec) or 1 (no ``@link``).

    Raises:
        FederationTypeError: ``sdl`` is not a str.
    """
    return list(build_subgraph(sdl).errors)


def validate_subgraph(sdl: str) -> GraphQLSchema:
    """Validate a subgraph schema and return it built by graphql-core.

    Args:
        sdl: The subgraph's SDL, Federation 2 (``@link`` to the federation spec) or 1 (no ``@link``).

    Returns:
        The graphql-core schema with the federation definitions the SDL uses and the federation
        operations (``_service``, ``_entities``; resolve them with `federate`).

    Raises:
        FederationValidationError: With every error found (``.errors``), not only the first.
        FederationTypeError: ``sdl`` is not a str.
    """
    built = build_subgraph(sdl)
    if built.errors or built.schema is None:
        raise FederationValidationError(built.errors)
    return built.schema
