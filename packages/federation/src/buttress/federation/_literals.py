"""Directive arguments written in SDL must fit their declared types (graphql-core leaves SDL unchecked).

graphql-core validates an operation's argument values but not those of directives applied in SDL:
``@deprecated(reason: 5)`` then fails deep inside ``build_ast_schema``, and ``@key(resolvable: "no")``
is accepted. Apollo reports both as ``INVALID_GRAPHQL``; so does this check, with Apollo's leniency
(an ``Int`` literal of any size, any literal for a custom scalar).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from graphql import (
    BooleanValueNode,
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    EnumValueNode,
    FloatValueNode,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    TypeNode,
    ValueNode,
    parse,
    print_ast,
    specified_directives,
)
from graphql.language import ast

from ._report import SubgraphError, error_at

__all__ = ["check_directive_arguments"]

_BUILT_IN_SCALARS = frozenset({"Int", "Float", "String", "Boolean", "ID"})
_JS_EXPONENT_FROM = 1e21
_MAX_DEPTH = 100  # deeper literals are refused rather than recursed into

_BUILT_IN_DIRECTIVES = parse(
    "\n".join(
        f"directive @{d.name}({', '.join(f'{n}: {a.type}' for n, a in d.args.items())}) on FIELD"
        if d.args
        else f"directive @{d.name} on FIELD"
        for d in specified_directives
    ),
    no_location=True,
)


class _Types:
    """The enum values and input fields the document declares, by type name."""

    def __init__(self, document: DocumentNode) -> None:
        self.enums: dict[str, set[str]] = {}
        self.inputs: dict[str, dict[str, InputValueDefinitionNode]] = {}
        built_in = _BUILT_IN_DIRECTIVES.definitions
        self.directives: dict[str, DirectiveDefinitionNode] = {
            d.name.value: d for d in built_in if isinstance(d, DirectiveDefinitionNode)
        }
        for definition in document.definitions:
            if isinstance(definition, EnumTypeDefinitionNode | EnumTypeExtensionNode):
                self.enums.setdefault(definition.name.value, set()).update(
                    v.name.value for v in definition.values or ()
                )
            elif isinstance(definition, InputObjectTypeDefinitionNode | InputObjectTypeExtensionNode):
                self.inputs.setdefault(definition.name.value, {}).update(
                    {f.name.value: f for f in definition.fields or ()}
                )
            elif isinstance(definition, DirectiveDefinitionNode):
                self.directives[definition.name.value] = definition

    def fits(self, value: ValueNode, type_node: TypeNode, depth: int = 0) -> bool:
        """Whether a literal is valid for a type, as Apollo judges it (``isValidValue``).

        Apollo reads SDL literals as JSON-like values first, so an enum literal is a string, a float
        literal with an integral value is an integer, and ``null`` passes everywhere; a missing input
        field is left to the required-argument rules.
        """
        if depth > _MAX_DEPTH or isinstance(value, NullValueNode):
            return depth <= _MAX_DEPTH
        if isinstance(type_node, NonNullTypeNode):
            return self.fits(value, type_node.type, depth + 1)
        if isinstance(type_node, ListTypeNode):
            items = value.values if isinstance(value, ListValueNode) else (value,)
            return all(self.fits(item, type_node.type, depth + 1) for item in items)
        assert isinstance(type_node, NamedTypeNode)  # noqa: S101 - the three kinds of type reference
        name = type_node.name.value
        if name in self.inputs:
            return self._fits_input(value, self.inputs[name], depth)
        return self._fits_leaf(value, name)

    def _fits_leaf(self, value: ValueNode, name: str) -> bool:
        if name not in _BUILT_IN_SCALARS and name not in self.enums:
            return True  # a custom scalar (FieldSet, link__Import, _Any) takes any literal
        if isinstance(value, BooleanValueNode):
            return name == "Boolean"
        if isinstance(value, IntValueNode | FloatValueNode):
            return _fits_number(float(value.value), name)
        if isinstance(value, StringValueNode | EnumValueNode):
            if name in self.enums:
                return value.value in self.enums[name]
            return name not in {"Boolean", "Int", "Float"}
        return False

    def _fits_input(self, value: ValueNode, fields: dict[str, InputValueDefinitionNode], depth: int) -> bool:
        if not isinstance(value, ObjectValueNode):
            return False
        given = {f.name.value: f.value for f in value.fields}
        if set(given) - set(fields):
            return False
        return all(
            self.fits(given[name], definition.type, depth + 1)
            for name, definition in fields.items()
            if name in given
        )


def _fits_number(number: float, name: str) -> bool:
    if not math.isfinite(number):
        return False
    if name in {"Int", "ID"}:
        # JavaScript prints numbers from 1e21 on with an exponent, which is not an integer.
        return number.is_integer() and abs(number) < _JS_EXPONENT_FROM
    return name == "Float"


def _applications(node: Node) -> Iterator[tuple[DirectiveNode, str]]:
    """Every directive applied in a definition, with the coordinate of the element it is applied to."""
    name = getattr(getattr(node, "name", None), "value", None)
    owner = "schema" if name is None else name
    for directive in getattr(node, "directives", None) or ():
        yield directive, owner
    for child_list in ("fields", "values", "arguments"):
        for child in getattr(node, child_list, None) or ():
            if isinstance(child, ast.ArgumentNode | ConstDirectiveNode):
                continue
            child_name = getattr(getattr(child, "name", None), "value", "")
            for directive in getattr(child, "directives", None) or ():
                yield directive, f"{owner}.{child_name}"
            for argument in getattr(child, "arguments", None) or ():
                for directive in argument.directives or ():
                    yield directive, f"{owner}.{child_name}({argument.name.value}:)"


def check_directive_arguments(document: DocumentNode) -> list[SubgraphError]:
    """``INVALID_GRAPHQL`` for each directive argument whose literal does not fit its declared type."""
    types = _Types(document)
    errors: list[SubgraphError] = []
    for definition in document.definitions:
        if isinstance(definition, DirectiveDefinitionNode):
            continue
        for directive, coordinate in _applications(definition):
            declared = types.directives.get(directive.name.value)
            if declared is None:
                continue  # an unknown directive: graphql-core reports it
            arguments = {a.name.value: a for a in declared.arguments or ()}
            for argument in directive.arguments or ():
                definition_of = arguments.get(argument.name.value)
                if definition_of is None or types.fits(argument.value, definition_of.type):
                    continue
                errors.append(
                    error_at(
                        "INVALID_GRAPHQL",
                        f'Invalid value for "@{directive.name.value}({argument.name.value}:)" of type '
                        f'"{print_ast(definition_of.type)}" in application of "@{directive.name.value}" to '
                        f'"{coordinate}".',
                        coordinate,
                        argument,
                    )
                )
    return errors
