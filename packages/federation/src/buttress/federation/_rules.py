"""Subgraph rules beyond FieldSets, each Apollo's rule of the same code.

Root type names, keys of interfaces, ``@interfaceObject``, ``@shareable``, authorization on interfaces,
``@cost`` and ``@listSize``.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    GraphQLArgument,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    get_named_type,
    is_composite_type,
    print_ast,
)

from ._fieldsets import parse_field_set
from ._report import SubgraphError, error_at
from ._spec import FederationSpec
from .exceptions import FieldSetError

__all__ = ["check_root_types", "check_subgraph_rules"]

_ROOTS = (("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription"))


def check_root_types(schema: GraphQLSchema) -> list[SubgraphError]:
    """``ROOT_*_USED``: a root type renamed in the schema definition while its default name is taken."""
    errors: list[SubgraphError] = []
    for kind, default in _ROOTS:
        root = getattr(schema, f"{kind}_type")
        if root is None or root.name == default:
            continue
        existing = schema.type_map.get(default)
        if existing is not None:
            errors.append(
                error_at(
                    f"ROOT_{kind.upper()}_USED",
                    f'The schema has a type named "{default}" but it is not set as the {kind} root type '
                    f'("{root.name}" is instead): this is not supported by federation. If a root type does '
                    "not use its default name, there should be no other type with that default name.",
                    default,
                    existing.ast_node,
                )
            )
    return errors


def check_subgraph_rules(schema: GraphQLSchema, spec: FederationSpec) -> list[SubgraphError]:
    """The Federation 2 rules of this module, in Apollo's order."""
    return _SubgraphRules(schema, spec).check()


def _field_set_key(selection_set: SelectionSetNode) -> tuple[object, ...]:
    """A FieldSet in a form where the order of selections does not matter (as Apollo compares keys)."""
    items: list[tuple[str, object]] = []
    for selection in selection_set.selections:
        child = getattr(selection, "selection_set", None)
        nested = _field_set_key(child) if child is not None else ()
        if isinstance(selection, FieldNode):
            items.append((f"field:{selection.name.value}", nested))
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else ""
            items.append((f"on:{condition}", nested))
    return tuple(sorted(items, key=repr))


def _is_list(graphql_type: GraphQLType) -> bool:
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    return isinstance(inner, GraphQLList)


def _is_int(graphql_type: GraphQLType) -> bool:
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    return isinstance(inner, GraphQLNamedType) and inner.name == "Int"


class _SubgraphRules:
    def __init__(self, schema: GraphQLSchema, spec: FederationSpec) -> None:
        self.schema = schema
        self.spec = spec
        self.errors: list[SubgraphError] = []

    def name(self, directive: str) -> str | None:
        """The schema's name for a federation directive, or ``None`` when its version has none."""
        return self.spec.directives.get(directive)

    # -- walking the schema's directive applications

    def _types(self) -> Iterator[GraphQLNamedType]:
        for named in self.schema.type_map.values():
            if not named.name.startswith("__"):
                yield named

    @staticmethod
    def _type_applications(named: GraphQLNamedType, name: str) -> Iterator[tuple[object, DirectiveNode]]:
        for node in (named.ast_node, *named.extension_ast_nodes):
            for directive in getattr(node, "directives", None) or ():
                if directive.name.value == name:
                    yield node, directive

    @staticmethod
    def _field_applications(graphql_field: GraphQLField, name: str) -> list[DirectiveNode]:
        node = graphql_field.ast_node
        return [d for d in (node.directives if node else None) or () if d.name.value == name]

    def _fields(self) -> Iterator[tuple[GraphQLNamedType, str, GraphQLField]]:
        for named in self._types():
            if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
                for field_name, graphql_field in named.fields.items():
                    yield named, field_name, graphql_field

    def _is_entity(self, named: GraphQLNamedType) -> bool:
        key = self.name("key")
        return key is not None and any(True for _ in self._type_applications(named, key))

    @staticmethod
    def _argument(directive: DirectiveNode, name: str) -> ValueNode | None:
        return next((a.value for a in directive.arguments or () if a.name.value == name), None)

    def _strings(self, directive: DirectiveNode, name: str) -> list[str]:
        value = self._argument(directive, name)
        items = value.values if isinstance(value, ListValueNode) else (value,) if value else ()
        return [item.value for item in items if isinstance(item, StringValueNode)]

    # -- the rules

    def check(self) -> list[SubgraphError]:
        self._interface_keys_on_implementations()
        self._interface_objects_are_entities()
        self._shareable()
        self._cost_and_list_size()
        self._authorization_on_interfaces()
        return self.errors

    def _keys_of(self, named: GraphQLNamedType) -> Iterator[tuple[DirectiveNode, tuple[object, ...], bool]]:
        key = self.name("key")
        if key is None:
            return
        for _, directive in self._type_applications(named, key):
            fields = next((a.value for a in directive.arguments or () if a.name.value == "fields"), None)
            if not isinstance(fields, StringValueNode):
                continue
            resolvable = next(
                (a.value for a in directive.arguments or () if a.name.value == "resolvable"), None
            )
            try:
                parsed = _field_set_key(parse_field_set(fields.value))
            except FieldSetError:
                continue  # KEY_INVALID_FIELDS already says so
            yield directive, parsed, not (isinstance(resolvable, BooleanValueNode) and not resolvable.value)

    def _interface_keys_on_implementations(self) -> None:
        for named in self._types():
            if not isinstance(named, GraphQLInterfaceType):
                continue
            implementations = self.schema.get_possible_types(named)
            for directive, fields, resolvable in self._keys_of(named):
                missing: list[str] = []
                not_resolvable: list[str] = []
                for implementation in implementations:
                    match = next((r for _, f, r in self._keys_of(implementation) if f == fields), None)
                    if match is None:
                        missing.append(implementation.name)
                    elif resolvable and not match:
                        not_resolvable.append(implementation.name)
                if missing:
                    problem = f"is missing on implementation {_listed(missing)}."
                elif not_resolvable:
                    problem = (
                        "should be resolvable on all implementation types, but is declared with argument "
                        f'"@key(resolvable:)" set to false in {_listed(not_resolvable)}.'
                    )
                else:
                    continue
                self.errors.append(
                    error_at(
                        "INTERFACE_KEY_NOT_ON_IMPLEMENTATION",
                        f'Key {print_ast(directive)} on interface type "{named.name}" {problem}',
                        named.name,
                        directive,
                    )
                )

    def _interface_objects_are_entities(self) -> None:
        name = self.name("interfaceObject")
        if name is None:
            return
        for named in self._types():
            for _, directive in self._type_applications(named, name):
                if not self._is_entity(named):
                    self.errors.append(
                        error_at(
                            "INTERFACE_OBJECT_USAGE_ERROR",
                            f"The @{name} directive can only be applied to entity types but type "
                            f'"{named.name}" has no @{self.name("key")} in this subgraph.',
                            named.name,
                            directive,
                        )
                    )

    def _shareable(self) -> None:
        name = self.name("shareable")
        if name is None:
            return
        for named in self._types():
            if not isinstance(named, GraphQLObjectType):
                continue
            for node in (named.ast_node, *named.extension_ast_nodes):
                found = [d for d in getattr(node, "directives", None) or () if d.name.value == name]
                if len(found) > 1:
                    self._duplicate_shareable(
                        f'the same type declaration of "{named.name}"', named.name, found
                    )
            for field_name, graphql_field in named.fields.items():
                found = self._field_applications(graphql_field, name)
                if len(found) > 1:
                    coordinate = f"{named.name}.{field_name}"
                    self._duplicate_shareable(f'field "{coordinate}"', coordinate, found)
        for parent, field_name, graphql_field in self._fields():
            if isinstance(parent, GraphQLObjectType):
                continue
            for directive in self._field_applications(graphql_field, name):
                coordinate = f"{parent.name}.{field_name}"
                self.errors.append(
                    error_at(
                        "INVALID_SHAREABLE_USAGE",
                        f'Invalid use of @{name} on field "{coordinate}": only object type fields can be '
                        f"marked with @{name}",
                        coordinate,
                        directive,
                    )
                )

    def _duplicate_shareable(self, what: str, coordinate: str, found: list[DirectiveNode]) -> None:
        name = found[0].name.value
        self.errors.append(
            error_at(
                "INVALID_SHAREABLE_USAGE",
                f"Invalid duplicate application of @{name} on {what}: @{name} is only repeatable on types "
                "so it can be used simultaneously on a type definition and its extensions, but it should "
                "not be duplicated on the same definition/extension declaration",
                coordinate,
                found[1],
            )
        )

    def _cost_and_list_size(self) -> None:
        cost, list_size = self.name("cost"), self.name("listSize")
        for parent, field_name, graphql_field in self._fields():
            coordinate = f"{parent.name}.{field_name}"
            if cost is not None and isinstance(parent, GraphQLInterfaceType):
                for directive in self._field_applications(graphql_field, cost):
                    self.errors.append(
                        error_at(
                            "COST_APPLIED_TO_INTERFACE_FIELD",
                            f'@{cost} cannot be applied to interface "{coordinate}"',
                            coordinate,
                            directive,
                        )
                    )
            if list_size is not None:
                for directive in self._field_applications(graphql_field, list_size):
                    self._check_list_size(coordinate, graphql_field, directive)

    def _check_list_size(
        self, coordinate: str, graphql_field: GraphQLField, directive: DirectiveNode
    ) -> None:
        sized_fields = self._strings(directive, "sizedFields")
        slicing = self._strings(directive, "slicingArguments")
        assumed_node = self._argument(directive, "assumedSize")
        # Literals were checked against the definition: an Int here has at most 21 digits.
        assumed = int(assumed_node.value) if isinstance(assumed_node, IntValueNode) else None

        def report(code: str, message: str) -> None:
            self.errors.append(error_at(code, message, coordinate, directive))

        if not sized_fields and not _is_list(graphql_field.type):
            report("LIST_SIZE_APPLIED_TO_NON_LIST", f'"{coordinate}" is not a list')
        if assumed is not None and assumed < 0:
            report("LIST_SIZE_INVALID_ASSUMED_SIZE", f'Assumed size of "{coordinate}" cannot be negative')
        for argument_name in slicing:
            argument: GraphQLArgument | None = graphql_field.args.get(argument_name)
            if argument is None:
                report(
                    "LIST_SIZE_INVALID_SLICING_ARGUMENT",
                    f'Slicing argument "{argument_name}" is not an argument of "{coordinate}"',
                )
            elif not _is_int(argument.type):
                report(
                    "LIST_SIZE_INVALID_SLICING_ARGUMENT",
                    f'Slicing argument "{coordinate}({argument_name}:)" must be Int or Int!',
                )
        if not sized_fields:
            return
        target = get_named_type(graphql_field.type)
        if not is_composite_type(target):
            report(
                "LIST_SIZE_INVALID_SIZED_FIELD",
                f'Sized fields cannot be used because "{graphql_field.type}" is not a composite type',
            )
            return
        target_fields = getattr(target, "fields", {})
        for sized_name in sized_fields:
            sized = target_fields.get(sized_name)
            if sized is None:
                report(
                    "LIST_SIZE_INVALID_SIZED_FIELD",
                    f'Sized field "{sized_name}" is not a field on type "{target.name}"',
                )
            elif not _is_list(sized.type):
                report(
                    "LIST_SIZE_APPLIED_TO_NON_LIST", f'Sized field "{target.name}.{sized_name}" is not a list'
                )

    def _authorization_on_interfaces(self) -> None:
        interface_object = self.name("interfaceObject")
        for directive_name in ("authenticated", "requiresScopes", "policy"):
            name = self.name(directive_name)
            if name is None:
                continue
            for named in self._types():
                is_interface_object = interface_object is not None and any(
                    True for _ in self._type_applications(named, interface_object)
                )
                if isinstance(named, GraphQLInterfaceType) or is_interface_object:
                    kind = "interface" if isinstance(named, GraphQLInterfaceType) else "interface object"
                    for _, directive in self._type_applications(named, name):
                        self._authorization_error(name, kind, named.name, directive)
                if isinstance(named, GraphQLInterfaceType):
                    for field_name, graphql_field in named.fields.items():
                        for directive in self._field_applications(graphql_field, name):
                            self._authorization_error(name, "field", f"{named.name}.{field_name}", directive)

    def _authorization_error(self, name: str, kind: str, coordinate: str, directive: DirectiveNode) -> None:
        self.errors.append(
            error_at(
                "AUTH_REQUIREMENTS_APPLIED_ON_INTERFACE",
                f'Invalid use of @{name} on {kind} "{coordinate}": @{name} cannot be applied on interfaces, '
                "interface fields and interface objects",
                coordinate,
                directive,
            )
        )


def _listed(names: list[str]) -> str:
    quoted = [f'"{name}"' for name in names]
    if len(quoted) == 1:
        return f"type {quoted[0]}"
    return f"types {', '.join(quoted[:-1])} and {quoted[-1]}"
