"""``_service`` and ``_entities`` for a graphql-core schema, with batched entity resolution."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    GraphQLAbstractType,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SelectionSetNode,
    StringValueNode,
    extend_schema,
    parse,
)

from ._fieldsets import parse_field_set
from ._metrics import ENTITIES, RESOLVER_CALLS
from ._validate import build_subgraph
from .exceptions import (
    EntityResolutionError,
    FederationConfigurationError,
    FederationTypeError,
    FederationValidationError,
    FieldSetError,
    RepresentationError,
)

__all__ = [
    "BatchEntityResolver",
    "EntityKey",
    "Representation",
    "build_federated_schema",
    "entity_keys",
    "federate",
]

type Representation = Mapping[str, Any]
"""One element of ``_entities(representations:)``: ``__typename`` plus the key fields."""

type FieldResolver = Callable[..., Any]

type Info = GraphQLResolveInfo[Any]
"""graphql-core's resolve info (its context type is the application's)."""


class BatchEntityResolver[T](Protocol):
    """**Protocol**: resolves every representation of one entity type in one call.

    ``_entities`` groups the representations of a request by ``__typename`` and calls each type's
    resolver once with all of them, so a resolver can answer with one query (``WHERE id = ANY($1)``).
    """

    async def __call__(
        self, representations: Sequence[Representation], info: Info, /
    ) -> Sequence[T | BaseException | None]:
        """Resolve ``representations`` (already checked to carry a key of the type).

        Args:
            representations: The representations of this type, in request order.
            info: The ``_entities`` field's resolve info (``info.context`` is the request's context).

        Returns:
            One result per representation, in the same order: the entity (a mapping, or an object
            whose class is named like the type or that has a ``__typename`` attribute), ``None`` when
            it does not exist, or an exception that becomes that entity's GraphQL error.
        """
        ...


@dataclass(frozen=True, slots=True)
class EntityKey:
    """One ``@key`` of an entity type.

    Attributes:
        fields: The key's FieldSet as written (``"id"``, ``"sku package { id }"``).
        selection_set: It parsed.
        resolvable: ``False`` for ``@key(..., resolvable: false)`` (a reference-only key).
    """

    fields: str
    selection_set: SelectionSetNode
    resolvable: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.fields, str):
            raise FederationTypeError("fields", "a str", self.fields)
        if not isinstance(self.selection_set, SelectionSetNode):
            raise FederationTypeError(
                "selection_set", "a SelectionSetNode (parse_field_set(fields))", self.selection_set
            )
        if not isinstance(self.resolvable, bool):
            raise FederationTypeError("resolvable", "a bool", self.resolvable)

    def missing(self, representation: Representation) -> list[str]:
        """The key fields (dotted paths) that ``representation`` lacks."""
        return _missing(self.selection_set, representation, "")


def _missing(selection_set: SelectionSetNode, value: object, prefix: str) -> list[str]:
    missing: list[str] = []
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            missing.extend(_missing(selection.selection_set, value, prefix))
            continue
        if not isinstance(selection, FieldNode):
            continue
        name = selection.name.value
        path = f"{prefix}{name}"
        if not isinstance(value, Mapping) or name not in value:
            missing.append(path)
            continue
        child = value[name]
        if selection.selection_set is not None and child is not None:
            items = child if isinstance(child, list) else [child]
            for item in items:
                missing.extend(_missing(selection.selection_set, item, f"{path}."))
    return missing


def _directive_args(directive: DirectiveNode) -> tuple[str | None, bool]:
    fields: str | None = None
    resolvable = True
    for argument in directive.arguments or ():
        if argument.name.value == "fields" and isinstance(argument.value, StringValueNode):
            fields = argument.value.value
        elif argument.name.value == "resolvable" and isinstance(argument.value, BooleanValueNode):
            resolvable = argument.value.value
    return fields, resolvable


def entity_keys(schema: GraphQLSchema, *, key_directive: str = "key") -> dict[str, tuple[EntityKey, ...]]:
    """The ``@key``s of every object type of a schema, by type name.

    Args:
        schema: A graphql-core schema whose types keep their SDL (``build_schema``,
            `validate_subgraph` and ariadne keep it), or one built by strawberry (its ``@key``s are
            read from strawberry's type definitions).
        key_directive: The name the schema uses for ``@key`` (``"federation__key"``, or an import's
            ``as:`` name).

    Raises:
        FederationConfigurationError: A ``@key(fields:)`` is not a field set.
        FederationTypeError: ``schema`` is not a graphql-core schema, or ``key_directive`` not a
            str.
    """
    _check_schema(schema)
    if not isinstance(key_directive, str):
        raise FederationTypeError("key_directive", "a str", key_directive)
    keys: dict[str, tuple[EntityKey, ...]] = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        found = [
            _entity_key(named.name, key_directive, fields, resolvable)
            for fields, resolvable in _declared_keys(named, key_directive)
        ]
        if found:
            keys[named.name] = tuple(found)
    return keys


def _entity_key(typename: str, key_directive: str, fields: str, resolvable: bool) -> EntityKey:
    try:
        return EntityKey(fields, parse_field_set(fields), resolvable)
    except FieldSetError as error:
        raise FederationConfigurationError(
            "schema",
            fields,
            f'@{key_directive}(fields:) on type "{typename}" is not a valid field set: {error.reason}',
        ) from error


def _declared_keys(named: GraphQLObjectType, key_directive: str) -> list[tuple[str, bool]]:
    """The ``(fields, resolvable)`` of a type's keys: from its SDL, or from strawberry's definition."""
    declared: list[tuple[str, bool]] = []
    for node in (named.ast_node, *named.extension_ast_nodes):
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value == key_directive:
                fields, resolvable = _directive_args(directive)
                if fields is not None:
                    declared.append((fields, resolvable))
    if declared or named.ast_node is not None:
        return declared
    # A schema built by strawberry has no SDL nodes: its @key directives are objects of its own
    # definition (strawberry.federation.schema_directives.Key), read here without importing strawberry.
    definition = (named.extensions or {}).get("strawberry-definition")
    for directive in getattr(definition, "directives", None) or ():
        fields = getattr(directive, "fields", None)
        if type(directive).__name__ == "Key" and isinstance(fields, str):
            resolvable = getattr(directive, "resolvable", True)
            declared.append((fields, resolvable if isinstance(resolvable, bool) else True))
    return declared


def _sdl_keys(sdl: str, key_directive: str) -> dict[str, tuple[EntityKey, ...]]:
    """The ``@key``s written in an SDL text, by type name (for a schema whose types lost theirs)."""
    try:
        document = parse(sdl)
    except GraphQLError as error:
        raise FederationConfigurationError(
            "sdl", None, f"does not parse: {error.message}", show_value=False
        ) from error
    found: dict[str, list[EntityKey]] = {}
    for definition in document.definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != key_directive:
                continue
            fields, resolvable = _directive_args(directive)
            if fields is not None:
                name = definition.name.value
                found.setdefault(name, []).append(_entity_key(name, key_directive, fields, resolvable))
    return {name: tuple(keys) for name, keys in found.items()}


class _Entities:
    """The ``_entities`` resolver: check every representation, then one resolver call per type."""

    def __init__(
        self, keys: Mapping[str, tuple[EntityKey, ...]], resolvers: Mapping[str, BatchEntityResolver[Any]]
    ) -> None:
        self.keys = keys
        self.resolvers = resolvers
        # Objects (not mappings) whose class is not named like their type: id -> type name, dropped
        # when the object is collected, so `resolve_type` knows what `_entities` resolved them as.
        self._typenames: dict[int, str] = {}

    def check(self, index: int, representation: object) -> str:
        if not isinstance(representation, Mapping):
            raise RepresentationError(
                f"representation {index} must be an object with __typename and key fields, "
                f"got {type(representation).__name__}",
                index=index,
            )
        typename = representation.get("__typename")
        if not isinstance(typename, str) or not typename:
            raise RepresentationError(
                f'representation {index} has no "__typename"; every representation names its entity type',
                index=index,
            )
        keys = self.keys.get(typename)
        if keys is None:
            raise RepresentationError(
                f'representation {index} has __typename "{typename}", which is not an entity type of this '
                f"subgraph (entity types: {', '.join(sorted(self.keys)) or 'none'})",
                index=index,
                typename=typename,
            )
        resolvable = [key for key in keys if key.resolvable]
        if not resolvable:
            raise RepresentationError(
                f'representation {index} of type "{typename}": every @key of the type is resolvable: false, '
                "so this subgraph does not resolve it",
                index=index,
                typename=typename,
            )
        shortfalls = [(key, key.missing(representation)) for key in resolvable]
        if any(not missing for _, missing in shortfalls):
            return typename
        key, missing = min(shortfalls, key=lambda pair: len(pair[1]))
        raise RepresentationError(
            f'representation {index} of type "{typename}" is missing key field(s) '
            f'{", ".join(missing)} of @key(fields: "{key.fields}")',
            index=index,
            typename=typename,
            missing=missing,
        )

    async def __call__(self, _root: object, info: Info, representations: Sequence[object]) -> list[Any]:
        results: list[Any] = [None] * len(representations)
        groups: dict[str, list[int]] = {}
        for index, representation in enumerate(representations):
            try:
                typename = self.check(index, representation)
            except RepresentationError as error:
                results[index] = error
                continue
            groups.setdefault(typename, []).append(index)
        await asyncio.gather(
            *(
                self._resolve(typename, indexes, representations, info, results)
                for typename, indexes in groups.items()
            )
        )
        errors = sum(isinstance(result, BaseException) for result in results)
        if errors:
            ENTITIES.add(errors, {"federation.outcome": "error"})
        if len(results) - errors:
            ENTITIES.add(len(results) - errors, {"federation.outcome": "resolved"})
        return results

    async def _resolve(
        self,
        typename: str,
        indexes: list[int],
        representations: Sequence[object],
        info: Info,
        results: list[Any],
    ) -> None:
        resolver = self.resolvers.get(typename)
        if resolver is None:
            error: BaseException = EntityResolutionError(
                f'no entity resolver is registered for type "{typename}"; pass one in entity_resolvers',
                typename=typename,
            )
            for index in indexes:
                results[index] = error
            return
        batch = [representations[index] for index in indexes]
        RESOLVER_CALLS.add(1)
        try:
            returned = resolver(batch, info)  # type: ignore[arg-type]
            values = await returned if inspect.isawaitable(returned) else returned
        except Exception as raised:  # noqa: BLE001 - becomes the GraphQL error of each of these entities
            for index in indexes:
                results[index] = raised
            return
        if not isinstance(values, Sequence) or isinstance(values, str | bytes) or len(values) != len(batch):
            got = len(values) if isinstance(values, Sequence) else type(values).__name__
            error = EntityResolutionError(
                f'entity resolver for "{typename}" returned {got} results for {len(batch)} representations; '
                "it must return one per representation, in order",
                typename=typename,
            )
            for index in indexes:
                results[index] = error
            return
        for index, value in zip(indexes, values, strict=True):
            results[index] = self._tag(value, typename)

    def _tag(self, value: object, typename: str) -> object:
        if value is None or isinstance(value, BaseException):
            return value
        if isinstance(value, Mapping) or _is_record(value):
            tagged = dict(value.items())  # type: ignore[attr-defined]
            tagged["__typename"] = typename
            return tagged
        if type(value).__name__ != typename:
            key = id(value)
            try:
                weakref.finalize(value, self._typenames.pop, key, None)
            except TypeError:
                return value  # not weak-referenceable: resolve_type falls back to is_type_of
            self._typenames[key] = typename
        return value

    def resolve_type(self, value: object, info: Info, abstract: GraphQLAbstractType) -> str | None:
        """The entity type of one ``_entities`` result (graphql-core's ``resolve_type`` for ``_Entity``)."""
        if isinstance(value, Mapping):
            typename = value.get("__typename")
            return typename if isinstance(typename, str) else None
        known = self._typenames.get(id(value))
        if known is not None:
            return known
        name = type(value).__name__
        if name in info.schema.type_map:
            return name
        for candidate in info.schema.get_possible_types(abstract):
            if candidate.is_type_of is not None and candidate.is_type_of(value, info) is True:
                return str(candidate.name)
        return None


def _is_record(value: object) -> bool:
    # Database rows (asyncpg's Record) read like mappings without registering as one.
    return callable(getattr(value, "items", None)) and callable(getattr(value, "keys", None))


def _check_schema(schema: object) -> None:
    if not isinstance(schema, GraphQLSchema):
        raise FederationTypeError("schema", "a graphql-core GraphQLSchema", schema)


def _check_resolvers[R](parameter: str, resolvers: Mapping[str, R] | None) -> dict[str, R]:
    """A copy of a name -> resolver mapping, each name a str and each resolver callable."""
    if resolvers is None:
        return {}
    if not isinstance(resolvers, Mapping):
        raise FederationTypeError(parameter, "a mapping of names to resolvers, or None", resolvers)
    checked = dict(resolvers.items())
    for name, resolver in checked.items():
        if not isinstance(name, str):
            raise FederationTypeError(f"{parameter} keys", "str", name)
        if not callable(resolver):
            raise FederationConfigurationError(parameter, name, "the resolver is not callable")
    return checked


def _key_directive_name(schema: GraphQLSchema) -> str:
    names = [d.name for d in schema.directives if d.name == "key" or d.name.endswith("__key")]
    return names[0] if names else "key"


def _schema_keys(schema: GraphQLSchema, sdl: str | None, key_name: str) -> dict[str, tuple[EntityKey, ...]]:
    keys = entity_keys(schema, key_directive=key_name)
    if sdl is not None:  # types whose schema lost their @key (a schema printed, then rebuilt)
        for name, sdl_keys in _sdl_keys(sdl, key_name).items():
            if name not in keys and isinstance(schema.type_map.get(name), GraphQLObjectType):
                keys[name] = sdl_keys
    return keys


def federate(
    schema: GraphQLSchema,
    entity_resolvers: Mapping[str, BatchEntityResolver[Any]] | None = None,
    *,
    sdl: str | None = None,
    key_directive: str | None = None,
) -> GraphQLSchema:
    """Add ``_service``, ``_entities``, ``_Any`` and ``_Entity`` to a graphql-core schema.

    The schema's own resolvers are kept (``extend_schema`` copies them), so this works on a schema you
    already wired, from `build_schema`, ariadne or strawberry (``strawberry_schema._schema``), or any
    graphql-core code.

    Args:
        schema: A graphql-core schema. Its entity types are the object types with a ``@key``: in
            their SDL, in strawberry's definition of them (``strawberry.federation.type(keys=...)``),
            or, for types that have neither, in ``sdl``.
        entity_resolvers: Entity type name -> its `BatchEntityResolver`.
        sdl: What ``_service { sdl }`` answers (the subgraph's SDL). When omitted, a ``_service``
            that already has a resolver (strawberry's federation schema) keeps it; otherwise it
            answers the schema printed.
        key_directive: The schema's name for ``@key`` (found among its directives when omitted).

    Returns:
        A new schema, the one passed in unchanged; except that a schema which already has every
        federation part (``_service``, ``_entities``, ``_Any``, ``_Entity``: `validate_subgraph`'s
        schemas do) is returned itself, with the resolvers set on it.

    Raises:
        FederationConfigurationError: A resolver names a type that is not an entity, ``sdl`` does not
            parse, or the schema has no query type while a type of another kind is named
            ``Query``. A schema with no query type gets one
            (``type Query { _service _entities }``), as Apollo gives an entity-only subgraph.
    """
    _check_schema(schema)
    resolvers = _check_resolvers("entity_resolvers", entity_resolvers)
    if sdl is not None and not isinstance(sdl, str):
        raise FederationTypeError("sdl", "a str or None", sdl)
    if key_directive is not None and not isinstance(key_directive, str):
        raise FederationTypeError("key_directive", "a str or None", key_directive)
    keys = _schema_keys(schema, sdl, key_directive or _key_directive_name(schema))
    unknown = sorted(set(resolvers) - set(keys))
    if unknown:
        raise FederationConfigurationError(
            "entity_resolvers",
            unknown,
            f"{', '.join(unknown)}: "
            f"{'is not an entity type' if len(unknown) == 1 else 'are not entity types'} "
            f"(types with @key: {', '.join(sorted(keys)) or 'none'})",
        )
    query = schema.query_type
    if (query is None and "Query" in schema.type_map) or not isinstance(query, GraphQLObjectType | None):
        raise FederationConfigurationError(
            "schema",
            None,
            'has no query type, and its type "Query" is not one: _service and _entities need a query root',
            show_value=False,
        )
    # A schema whose _service already answers (strawberry's federation schema prints its own SDL,
    # directives included) keeps its resolver when no SDL is given.
    existing_service = query.fields.get("_service") if query is not None else None
    keep_service = sdl is None and existing_service is not None and existing_service.resolve is not None
    if sdl is None and not keep_service:
        from graphql import print_schema  # noqa: PLC0415 - only when no SDL is given

        sdl = print_schema(schema)
    # SDL printed by a federation library may already define these; add only what is missing.
    wanted = {"_Any": "scalar _Any", "_Service": "type _Service { sdl: String }"}
    fields = {"_service": "_service: _Service!"}
    if keys:
        wanted["_Entity"] = f"union _Entity = {' | '.join(sorted(keys))}"
        fields["_entities"] = "_entities(representations: [_Any!]!): [_Entity]!"
    extension = [sdl_text for name, sdl_text in wanted.items() if name not in schema.type_map]
    if query is None:  # an entity-only subgraph: Query holds just the federation fields, as in Apollo
        extension += [f"type Query {{ {' '.join(fields.values())} }}", "extend schema { query: Query }"]
    else:
        missing_fields = [text for name, text in fields.items() if name not in query.fields]
        if missing_fields:
            extension.append(f"extend type {query.name} {{ {' '.join(missing_fields)} }}")
    extended = extend_schema(schema, parse("\n".join(extension))) if extension else schema
    root = extended.query_type
    assert root is not None  # noqa: S101 - extend_schema keeps the query type
    if not keep_service:
        service = {"sdl": sdl}
        root.fields["_service"].resolve = lambda _root, _info: service
    if keys:
        entities = _Entities(keys, resolvers)
        root.fields["_entities"].resolve = entities
        entity_union = extended.type_map["_Entity"]
        assert isinstance(entity_union, GraphQLUnionType)  # noqa: S101
        entity_union.resolve_type = entities.resolve_type
    return extended


def build_federated_schema(
    sdl: str,
    entity_resolvers: Mapping[str, BatchEntityResolver[Any]] | None = None,
    *,
    resolvers: Mapping[str, FieldResolver] | None = None,
) -> GraphQLSchema:
    """Validate a subgraph's SDL and build its executable graphql-core schema.

    Args:
        sdl: The subgraph's SDL (Federation 2 with ``@link``, or Federation 1).
        entity_resolvers: Entity type name -> its `BatchEntityResolver`.
        resolvers: Field resolvers by coordinate (``{"Query.me": resolve_me}``), sync or async.

    Returns:
        The schema with ``_service`` and ``_entities``; execute it with ``graphql.graphql``.

    Raises:
        FederationValidationError: The SDL fails subgraph validation (every error is listed).
        FederationConfigurationError: A resolver names an unknown type or field, or is not callable.
        FederationTypeError: An argument has the wrong type.
    """
    field_resolvers = _check_resolvers("resolvers", resolvers)
    built = build_subgraph(sdl)
    if built.errors or built.schema is None:
        raise FederationValidationError(built.errors)
    schema = federate(built.schema, entity_resolvers, sdl=sdl, key_directive=built.spec.name("key"))
    for coordinate, resolve in field_resolvers.items():
        type_name, _, field_name = coordinate.partition(".")
        named = schema.type_map.get(type_name)
        if not isinstance(named, GraphQLObjectType) or field_name not in named.fields:
            raise FederationConfigurationError("resolvers", coordinate, "is not a field of an object type")
        named.fields[field_name].resolve = resolve
    return schema
