"""FieldSets (``@key``, ``@requires``, ``@provides``): parsing them, and the rules they must follow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from graphql import (
    DirectiveNode,
    FieldNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    StringValueNode,
    get_named_type,
    is_composite_type,
    is_interface_type,
    is_leaf_type,
    is_object_type,
    print_ast,
)
from graphql.language import Source, TokenKind
from graphql.language.parser import Parser

from ._report import SubgraphError
from ._report import error_at as _error
from ._spec import FederationSpec
from .exceptions import FederationTypeError, FieldSetError

__all__ = ["FieldSetRules", "parse_field_set"]

type FieldSetDirective = Literal["key", "requires", "provides"]
_FIELD_SET_PREFIX: dict[FieldSetDirective, str] = {
    "key": "KEY",
    "requires": "REQUIRES",
    "provides": "PROVIDES",
}


class _FieldSetAbort(Exception):  # noqa: N818 - internal control flow, never escapes
    def __init__(self, error: SubgraphError) -> None:
        self.error = error


def parse_field_set(fields: str) -> SelectionSetNode:
    """Parse a FieldSet string (``"id organization { id }"``) into a selection set.

    Raises:
        FieldSetError: The string is not a selection set's content (``.reason`` says why, ``.column``
            where).
        FederationTypeError: ``fields`` is not a str.
    """
    if not isinstance(fields, str):
        raise FederationTypeError("fields", "a str", fields)
    source = Source(f"{{{fields}}}")
    try:
        parser = Parser(source, no_location=False)
        parser.expect_token(TokenKind.SOF)
        selection_set = parser.parse_selection_set()
        parser.expect_token(TokenKind.EOF)
    except GraphQLSyntaxError as error:
        raise _field_set_error(fields, error.message, error.positions) from None
    except RecursionError:
        # graphql-core before 3.3 has no nesting limit of its own.
        raise FieldSetError(fields, "Syntax Error: Document is nested too deeply.") from None
    empty = _first_empty(selection_set)
    if empty is not None:
        raise _field_set_error(fields, 'Syntax Error: Expected Name, found "}".', [empty])
    return selection_set


def _field_set_error(fields: str, message: str, positions: object) -> FieldSetError:
    # Positions count the "{" put in front of the field set: position p is column p of ``fields``.
    first = positions[0] if isinstance(positions, list | tuple) and positions else None
    column = min(max(first, 1), len(fields) + 1) if isinstance(first, int) else None
    return FieldSetError(fields, message, column)


def _first_empty(selection_set: SelectionSetNode) -> int | None:
    """Where the first empty ``{ }`` is (the GraphQL grammar wants a selection between braces)."""
    pending = [selection_set]
    while pending:
        current = pending.pop()
        if not current.selections:
            return current.loc.end - 1 if current.loc else 0
        for selection in reversed(current.selections):
            child = getattr(selection, "selection_set", None)
            if child is not None:
                pending.append(child)
    return None


class FieldSetRules:
    """The federation checks of one built schema; each check appends to ``errors``, none stops the rest."""

    def __init__(self, schema: GraphQLSchema, spec: FederationSpec) -> None:
        self.schema = schema
        self.spec = spec
        self.errors: list[SubgraphError] = []
        self.used: set[tuple[str, str]] = set()
        self.aborted = False
        self._external = spec.name("external")

    # -- helpers

    def _types(self) -> Iterator[GraphQLObjectType | GraphQLInterfaceType]:
        for named in self.schema.type_map.values():
            if named.name.startswith("__"):
                continue
            # Upgrading a Federation 1 schema drops @key, @requires and @provides on interfaces.
            if isinstance(named, GraphQLObjectType) or (
                isinstance(named, GraphQLInterfaceType) and self.spec.is_v2
            ):
                yield named

    def _applications(self, nodes: Iterable[object], name: str) -> Iterator[DirectiveNode]:
        for node in nodes:
            for directive in getattr(node, "directives", None) or ():
                if directive.name.value == name:
                    yield directive

    def _type_nodes(self, named: GraphQLNamedType) -> list[object]:
        return [n for n in (named.ast_node, *named.extension_ast_nodes) if n is not None]

    def is_external(self, parent: GraphQLObjectType | GraphQLInterfaceType, field_name: str) -> bool:
        graphql_field = parent.fields.get(field_name)
        if graphql_field is None:
            return False
        if graphql_field.ast_node is not None and any(
            d.name.value == self._external for d in graphql_field.ast_node.directives or ()
        ):
            return True
        # A type-level @external makes the fields declared in that definition external.
        for node in self._type_nodes(parent):
            if any(d.name.value == self._external for d in getattr(node, "directives", None) or ()):
                declared = {f.name.value for f in getattr(node, "fields", None) or ()}
                if field_name in declared:
                    return True
        return False

    # -- the checks, in the order the report lists them

    def check(self) -> list[SubgraphError]:
        key, requires, provides = (
            self.spec.name("key"),
            self.spec.name("requires"),
            self.spec.name("provides"),
        )
        for named in self._types():
            for directive in self._applications(self._type_nodes(named), key):
                self._check_key(named, directive)
        for named in self._types():
            for graphql_field_name, graphql_field in named.fields.items():
                nodes = [graphql_field.ast_node] if graphql_field.ast_node else []
                for directive in self._applications(nodes, requires):
                    self._check_requires(named, graphql_field_name, directive)
        try:
            for named in self._types():
                for graphql_field_name, graphql_field in named.fields.items():
                    nodes = [graphql_field.ast_node] if graphql_field.ast_node else []
                    for directive in self._applications(nodes, provides):
                        self._check_provides(named, graphql_field_name, graphql_field, directive)
        except _FieldSetAbort as fatal:
            # A @provides that cannot have a target (on a scalar, or on an @external field) leaves
            # "which fields are used" undefined, so the later checks would only add noise.
            self.errors.append(fatal.error)
            self.aborted = True
            return self.errors
        if self.spec.is_v2:
            self._check_external_on_interfaces()
            self._check_external_used()
        return self.errors

    def _check_key(self, named: GraphQLObjectType | GraphQLInterfaceType, directive: DirectiveNode) -> None:
        if isinstance(named, GraphQLInterfaceType) and self.spec.version < (2, 3):
            self.errors.append(
                _error(
                    "KEY_UNSUPPORTED_ON_INTERFACE",
                    f'Cannot use @{directive.name.value} on interface "{named.name}": '
                    f"@{directive.name.value} is not yet supported on interfaces",
                    named.name,
                    directive,
                )
            )
        self._field_set("key", named, named.name, "type", directive)

    def _check_requires(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, field_name: str, directive: DirectiveNode
    ) -> None:
        coordinate = f"{parent.name}.{field_name}"
        if isinstance(parent, GraphQLInterfaceType):
            self.errors.append(
                _error(
                    "REQUIRES_UNSUPPORTED_ON_INTERFACE",
                    f'Cannot use @{directive.name.value} on field "{coordinate}" of parent type '
                    f'"{parent.name}": '
                    f"@{directive.name.value} is not yet supported within interfaces",
                    coordinate,
                    directive,
                )
            )
        self._field_set("requires", parent, coordinate, "field", directive)

    def _check_provides(
        self,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        field_name: str,
        graphql_field: GraphQLField,
        directive: DirectiveNode,
    ) -> None:
        coordinate = f"{parent.name}.{field_name}"
        if isinstance(parent, GraphQLInterfaceType):
            self.errors.append(
                _error(
                    "PROVIDES_UNSUPPORTED_ON_INTERFACE",
                    f'Cannot use @{directive.name.value} on field "{coordinate}" of parent type '
                    f'"{parent.name}": '
                    f"@{directive.name.value} is not yet supported within interfaces",
                    coordinate,
                    directive,
                )
            )
        if self.is_external(parent, field_name):
            raise _FieldSetAbort(
                _error(
                    "EXTERNAL_COLLISION_WITH_ANOTHER_DIRECTIVE",
                    f'Cannot have both @{directive.name.value} and @{self._external} on field "{coordinate}"',
                    coordinate,
                    directive,
                )
            )
        target = get_named_type(graphql_field.type)
        if not is_composite_type(target):
            raise _FieldSetAbort(
                _error(
                    "PROVIDES_ON_NON_OBJECT_FIELD",
                    f'Invalid @{directive.name.value} directive on field "{coordinate}": field has type '
                    f'"{graphql_field.type}" which is not a Composite Type',
                    coordinate,
                    directive,
                )
            )
        assert isinstance(target, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)  # noqa: S101
        self._field_set("provides", target, coordinate, "field", directive)

    def _field_set(
        self,
        kind: FieldSetDirective,
        target: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType,
        coordinate: str,
        where: str,
        directive: DirectiveNode,
    ) -> None:
        prefix = _FIELD_SET_PREFIX[kind]
        described = f'On {where} "{coordinate}", for {print_ast(directive)}'
        value = next((a.value for a in directive.arguments or () if a.name.value == "fields"), None)
        if not isinstance(value, StringValueNode):
            self.errors.append(
                _error(
                    f"{prefix}_INVALID_FIELDS_TYPE",
                    f'{described}: Invalid value for argument "fields": must be a string.',
                    coordinate,
                    directive,
                )
            )
            return
        try:
            selection_set = parse_field_set(value.value)
        except FieldSetError as error:
            self.errors.append(
                _error(f"{prefix}_INVALID_FIELDS", f"{described}: {error.reason}", coordinate, directive)
            )
            return
        problems: list[SubgraphError] = []
        try:
            self._resolve(kind, selection_set, target, described, coordinate, directive)
        except _FieldSetAbort as abort:
            self.errors.append(abort.error)
            return
        self._collect_used(selection_set, target)
        self._walk(kind, selection_set, target, False, described, coordinate, directive, problems)
        self.errors.extend(problems)

    def _fields_of(
        self, named: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
    ) -> dict[str, GraphQLField]:
        return {} if isinstance(named, GraphQLUnionType) else named.fields

    def _resolve(  # noqa: PLR0917 - private recursion carrying the directive's context
        self,
        kind: FieldSetDirective,
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType,
        described: str,
        coordinate: str,
        directive: DirectiveNode,
    ) -> None:
        """Check the shape of a field set (fields exist, sub-selections fit); the first fault aborts it."""
        prefix = _FIELD_SET_PREFIX[kind]

        def abort(code: str, message: str) -> _FieldSetAbort:
            return _FieldSetAbort(_error(code, f"{described}: {message}", coordinate, directive))

        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if not isinstance(condition, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                    raise abort(f"{prefix}_INVALID_FIELDS", f'Unknown type "{selection.type_condition}".')
                self._resolve(kind, selection.selection_set, condition, described, coordinate, directive)
                continue
            if not isinstance(selection, FieldNode):
                raise abort(f"{prefix}_INVALID_FIELDS", "Fragment spreads are not allowed in a field set.")
            name = selection.name.value
            graphql_field = self._fields_of(parent).get(name)
            if graphql_field is None:
                hint = (
                    "the field should either be added to this subgraph or, if it should not be resolved by "
                    "this subgraph, you need to add it to this subgraph with @external"
                    if kind == "key"
                    else "if the field is defined in another subgraph, you need to add it to this subgraph "
                    "with @external"
                )
                raise abort(
                    f"{prefix}_INVALID_FIELDS",
                    f'Cannot query field "{name}" on type "{parent.name}" ({hint}).',
                )
            field_type = get_named_type(graphql_field.type)
            if kind == "key" and isinstance(field_type, GraphQLInterfaceType | GraphQLUnionType):
                what = "Interface" if isinstance(field_type, GraphQLInterfaceType) else "Union"
                raise _FieldSetAbort(
                    _error(
                        "KEY_FIELDS_SELECT_INVALID_TYPE",
                        f'{described}: field "{parent.name}.{name}" is a {what} type which is '
                        "not allowed in @key",
                        coordinate,
                        directive,
                    )
                )
            if selection.alias is not None:
                raise abort(
                    f"{prefix}_INVALID_FIELDS",
                    f'Cannot use alias "{selection.alias.value}" in "{selection.alias.value}: '
                    f'{name}": aliases '
                    f"are not currently supported in @{directive.name.value}",
                )
            if is_leaf_type(field_type) and selection.selection_set is not None:
                raise abort(
                    f"{prefix}_INVALID_FIELDS",
                    f'Field "{parent.name}.{name}" of type "{graphql_field.type}" has no '
                    "subfields: it cannot "
                    "have a selection set.",
                )
            if not is_leaf_type(field_type) and selection.selection_set is None:
                raise abort(
                    f"{prefix}_INVALID_FIELDS",
                    f'Field "{parent.name}.{name}" of type "{graphql_field.type}" must have a '
                    "selection of subfields.",
                )
            if selection.selection_set is not None:
                assert isinstance(field_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)  # noqa: S101
                self._resolve(kind, selection.selection_set, field_type, described, coordinate, directive)

    def _walk(  # noqa: PLR0917 - private recursion carrying the directive's context
        self,
        kind: FieldSetDirective,
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType,
        external_in_parents: bool,
        described: str,
        coordinate: str,
        directive: DirectiveNode,
        problems: list[SubgraphError],
    ) -> None:
        """Rules of a well-formed field set; every fault is collected."""
        prefix = _FIELD_SET_PREFIX[kind]
        for selection in selection_set.selections:
            if selection.directives:
                found = ", ".join(print_ast(d) for d in selection.directives)
                problems.append(
                    _error(
                        f"{prefix}_DIRECTIVE_IN_FIELDS_ARG",
                        f"{described}: cannot have directive applications in the "
                        f"@{directive.name.value}(fields:) "
                        f"argument but found {found}.",
                        coordinate,
                        directive,
                    )
                )
            if isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                assert isinstance(condition, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)  # noqa: S101
                self._walk(
                    kind,
                    selection.selection_set,
                    condition,
                    external_in_parents,
                    described,
                    coordinate,
                    directive,
                    problems,
                )
                continue
            assert isinstance(selection, FieldNode)  # noqa: S101 - _resolve rejected anything else
            assert not isinstance(parent, GraphQLUnionType)  # noqa: S101
            name = selection.name.value
            graphql_field = parent.fields[name]
            field_coordinate = f"{parent.name}.{name}"
            external = self.is_external(parent, name)
            if kind != "requires" and graphql_field.args:
                problems.append(
                    _error(
                        f"{prefix}_FIELDS_HAS_ARGS",
                        f"{described}: field {field_coordinate} cannot be included because it has arguments "
                        f"(fields with argument are not allowed in @{directive.name.value})",
                        coordinate,
                        directive,
                    )
                )
            must_be_external = selection.selection_set is None and kind != "key" and not external_in_parents
            if must_be_external and not external and self.spec.is_v2:
                problems.append(
                    _error(
                        f"{prefix}_FIELDS_MISSING_EXTERNAL",
                        f'{described}: field "{field_coordinate}" should not be part of a '
                        f"@{directive.name.value} "
                        f"since it is already provided by this subgraph (it is not marked @{self._external})",
                        coordinate,
                        directive,
                    )
                )
            if selection.selection_set is not None:
                child = get_named_type(graphql_field.type)
                assert isinstance(child, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)  # noqa: S101
                nested_external = external_in_parents or external
                if not nested_external and isinstance(parent, GraphQLInterfaceType):
                    nested_external = any(
                        self.is_external(impl, name) for impl in self.schema.get_possible_types(parent)
                    )
                self._walk(
                    kind,
                    selection.selection_set,
                    child,
                    nested_external,
                    described,
                    coordinate,
                    directive,
                    problems,
                )

    def _collect_used(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType,
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if isinstance(condition, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                    self._collect_used(selection.selection_set, condition)
                continue
            if not isinstance(selection, FieldNode) or isinstance(parent, GraphQLUnionType):
                continue
            name = selection.name.value
            graphql_field = parent.fields.get(name)
            if graphql_field is None:
                continue
            self.used.add((parent.name, name))
            if isinstance(parent, GraphQLInterfaceType):
                for implementation in self.schema.get_possible_types(parent):
                    if name in implementation.fields:
                        self.used.add((implementation.name, name))
            child = get_named_type(graphql_field.type)
            if selection.selection_set is not None and isinstance(
                child, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
            ):
                self._collect_used(selection.selection_set, child)

    def _check_external_on_interfaces(self) -> None:
        for named in self._types():
            if not is_interface_type(named):
                continue
            for name, graphql_field in named.fields.items():
                node = graphql_field.ast_node
                if node is not None and any(d.name.value == self._external for d in node.directives or ()):
                    coordinate = f"{named.name}.{name}"
                    self.errors.append(
                        _error(
                            "EXTERNAL_ON_INTERFACE",
                            f'Interface type field "{coordinate}" is marked @{self._external} but '
                            f"@{self._external} is not allowed on interface fields (it is nonsensical).",
                            coordinate,
                            node,
                        )
                    )

    def _check_external_used(self) -> None:
        for named in self._types():
            if not is_object_type(named) and not is_interface_type(named):
                continue
            interface_fields: set[str] = set()
            for interface in getattr(named, "interfaces", ()):
                interface_fields.update(interface.fields)
            for name, graphql_field in named.fields.items():
                if not self.is_external(named, name):
                    continue
                if (named.name, name) in self.used or name in interface_fields:
                    continue
                coordinate = f"{named.name}.{name}"
                self.errors.append(
                    _error(
                        "EXTERNAL_UNUSED",
                        f'Field "{coordinate}" is marked @{self._external} but is not used in any federation '
                        "directive (@key, @provides, @requires) or to satisfy an interface; the "
                        "field declaration "
                        "has no use and should be removed (or the field should not be @external).",
                        coordinate,
                        graphql_field.ast_node,
                    )
                )
