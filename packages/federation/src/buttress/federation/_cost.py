"""Static cost analysis (IBM GraphQL cost spec: ``@cost``, ``@listSize``) with depth and alias limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    execute,
    get_named_type,
    is_composite_type,
    parse,
    validate,
    validate_schema,
)
from graphql.error import GraphQLSyntaxError

from ._links import GRAPHQL_NAME
from ._metrics import LIMIT_REJECTIONS, OPERATION_COST, OPERATIONS
from .exceptions import (
    CostLimitExceededError,
    FederationConfigurationError,
    FederationTypeError,
)

__all__ = ["CostLimits", "CostReport", "analyze_cost", "enforce_cost_limits", "execute_with_limits"]

type _Composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
type _Sized = tuple[frozenset[str], int] | None

_MAX_NESTING = 128
"""Fields, inline fragments and fragment spreads nested deeper than this are refused, not recursed into."""
_HUGE_DIGITS = 100
_HUGE: int = 10**100
"""Where costs, sizes and integer literals saturate: past every limit, and printable (``str()`` refuses
ints of 4,300 digits and more)."""


@dataclass(frozen=True)
class CostLimits:
    """Limits an operation must stay within, and the weights of the cost model.

    Weights follow the IBM GraphQL cost specification: a field returning an object, interface or
    union costs ``object_cost``, a scalar or enum field ``scalar_cost``, a root mutation field
    ``mutation_cost``; ``@cost(weight:)`` on the field (or on its type, or on an argument that is
    given) overrides or adds. A list field multiplies the cost of its selection by its size: the
    largest ``@listSize(slicingArguments:)`` argument given, else ``@listSize(assumedSize:)``, else
    ``default_list_size``; ``sizedFields`` moves that size to the named child fields (connections).

    Attributes:
        max_cost: The highest allowed cost, or ``None`` for no cost limit.
        max_depth: The deepest allowed field nesting (the root's fields are depth 1), or ``None``.
        max_aliases: The most aliased fields allowed after fragments are expanded, or ``None``.
        default_list_size: Assumed size of a list with no ``@listSize`` and no slicing argument.
        object_cost: Cost of a field whose type is an object, interface or union.
        scalar_cost: Cost of a field whose type is a scalar or enum.
        mutation_cost: Cost of a root mutation field.
        cost_directive: The schema's name for ``@cost``.
        list_size_directive: The schema's name for ``@listSize``.
        max_tokens: The most lexical tokens an operation's text may have before it is parsed (Apollo
            Router's default is 15,000 too), or ``None``; bounds the work a huge document can cause.
    """

    max_cost: int | None = 1000
    max_depth: int | None = 15
    max_aliases: int | None = 30
    default_list_size: int = 10
    object_cost: int = 1
    scalar_cost: int = 0
    mutation_cost: int = 10
    cost_directive: str = "cost"
    list_size_directive: str = "listSize"
    max_tokens: int | None = 15_000

    def __post_init__(self) -> None:
        for name in ("max_cost", "max_depth", "max_aliases", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise FederationConfigurationError(name, value, "must be a non-negative int or None")
        for name in ("default_list_size", "object_cost", "scalar_cost", "mutation_cost"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise FederationConfigurationError(name, value, "must be a non-negative int")
        for name in ("cost_directive", "list_size_directive"):
            value = getattr(self, name)
            if not isinstance(value, str) or not GRAPHQL_NAME.match(value):
                raise FederationConfigurationError(name, value, "must be a GraphQL name (letters, digits, _)")


@dataclass(frozen=True, slots=True)
class CostReport:
    """What static analysis found for one operation.

    Attributes:
        cost: The operation's cost, fragments expanded (an upper bound of the work it asks for).
        depth: Its deepest field nesting.
        aliases: How many aliased fields it has, counted once per place each fragment is spread.
    """

    cost: int
    depth: int
    aliases: int


@dataclass(slots=True)
class _Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0

    def add(self, other: _Measure, times: int = 1) -> None:
        self.cost += other.cost * times
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases


@dataclass
class _Analysis:
    schema: GraphQLSchema
    limits: CostLimits
    variables: Mapping[str, Any]
    fragments: dict[str, FragmentDefinitionNode]
    memo: dict[tuple[str, _Sized], _Measure] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    level: int = 0

    def directive_args(self, node: object, name: str) -> dict[str, ValueNode] | None:
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value == name:
                return {a.name.value: a.value for a in directive.arguments or ()}
        return None

    def int_of(self, value: ValueNode | None) -> int | None:
        if isinstance(value, IntValueNode):
            digits = value.value.lstrip("-")
            if len(digits) > _HUGE_DIGITS:
                return -_HUGE if value.value.startswith("-") else _HUGE
            return int(value.value)
        if isinstance(value, VariableNode):
            given = self.variables.get(value.name.value)
            if not isinstance(given, int) or isinstance(given, bool):
                return None
            return max(min(given, _HUGE), -_HUGE)
        return None

    def strings_of(self, value: ValueNode | None) -> list[str]:
        if isinstance(value, ListValueNode):
            return [v.value for v in value.values if isinstance(v, StringValueNode)]
        if isinstance(value, StringValueNode):
            return [value.value]
        return []

    def weight(self, node: object) -> int | None:
        args = self.directive_args(node, self.limits.cost_directive)
        return None if args is None else self.int_of(args.get("weight"))

    def selection_set(
        self, selection_set: SelectionSetNode, parent: _Composite, sized: _Sized, root: bool
    ) -> _Measure:
        self.level += 1
        try:
            return self._selection_set(selection_set, parent, sized, root)
        finally:
            self.level -= 1

    def _selection_set(
        self, selection_set: SelectionSetNode, parent: _Composite, sized: _Sized, root: bool
    ) -> _Measure:
        if self.level > _MAX_NESTING:
            raise FederationConfigurationError(
                "document",
                None,
                f"the operation nests fields and fragments more than {_MAX_NESTING} levels deep",
                show_value=False,
            )
        total = _Measure()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total.add(self.field(selection, parent, sized, root))
            elif isinstance(selection, InlineFragmentNode):
                condition = parent
                if selection.type_condition is not None:
                    found = self.schema.get_type(selection.type_condition.name.value)
                    if isinstance(found, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                        condition = found
                total.add(self.selection_set(selection.selection_set, condition, sized, root))
            elif isinstance(selection, FragmentSpreadNode):
                total.add(self.spread(selection.name.value, sized, root))
        return total

    def spread(self, name: str, sized: _Sized, root: bool) -> _Measure:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.stack:
            return _Measure()  # unknown or cyclic spreads are validation errors; never loop on them
        key = (name, sized)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        condition = self.schema.get_type(fragment.type_condition.name.value)
        if not isinstance(condition, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            return _Measure()
        self.stack.append(name)
        try:
            measure = self.selection_set(fragment.selection_set, condition, sized, root)
        finally:
            self.stack.pop()
        self.memo[key] = measure
        return measure

    def field(self, node: FieldNode, parent: _Composite, sized: _Sized, root: bool) -> _Measure:
        aliases = 1 if node.alias is not None else 0
        name = node.name.value
        definition: GraphQLField | None = None
        if not isinstance(parent, GraphQLUnionType):
            definition = parent.fields.get(name)
        if definition is None:  # __typename and introspection fields; unknown fields fail validation
            return _Measure(0, 1, aliases)
        named = get_named_type(definition.type)
        cost = self.base_cost(definition, named, root, parent)
        cost += self.argument_cost(node, definition)
        size = self.list_size(node, definition, sized)
        child = _Measure()
        child_sized: _Sized = None
        if node.selection_set is not None and is_composite_type(named):
            list_size_args = self.directive_args(definition.ast_node, self.limits.list_size_directive)
            sized_fields = self.strings_of(list_size_args.get("sizedFields")) if list_size_args else []
            if sized_fields:
                child_sized = (frozenset(sized_fields), self.slice_size(node, definition))
            assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)  # noqa: S101
            child = self.selection_set(node.selection_set, named, child_sized, False)
        # Saturated: a cost past 10**100 is over every limit, and stays a number str() can print.
        total = min(cost + min(size, _HUGE) * child.cost, _HUGE)
        return _Measure(total, 1 + child.depth, aliases + child.aliases)

    def base_cost(
        self, definition: GraphQLField, named: GraphQLNamedType, root: bool, parent: _Composite
    ) -> int:
        own = self.weight(definition.ast_node)
        if own is not None:
            return own
        by_type = self.weight(named.ast_node)
        if by_type is not None:
            return by_type
        if root and parent is self.schema.mutation_type:
            return self.limits.mutation_cost
        return self.limits.object_cost if is_composite_type(named) else self.limits.scalar_cost

    def argument_cost(self, node: FieldNode, definition: GraphQLField) -> int:
        given = {a.name.value for a in node.arguments or ()}
        total = 0
        for arg_name, argument in definition.args.items():
            if arg_name in given:
                total += self.weight(argument.ast_node) or 0
        return total

    def slice_size(self, node: FieldNode, definition: GraphQLField) -> int:
        args = self.directive_args(definition.ast_node, self.limits.list_size_directive) or {}
        slicing = self.strings_of(args.get("slicingArguments"))
        given = {a.name.value: a.value for a in node.arguments or ()}
        sizes = [self.int_of(given.get(name)) for name in slicing]
        # An argument left out falls back to its default value, as execution would.
        for name in slicing:
            if name not in given and name in definition.args:
                argument = definition.args[name]
                default = argument.default_value
                if isinstance(default, int) and not isinstance(default, bool):
                    sizes.append(default)
                elif argument.ast_node is not None:  # schemas built from SDL keep it on the node
                    sizes.append(self.int_of(argument.ast_node.default_value))
        known = [s for s in sizes if s is not None]
        if known:
            return max(*known, 0)
        assumed = self.int_of(args.get("assumedSize"))
        return assumed if assumed is not None else self.limits.default_list_size

    def list_size(self, node: FieldNode, definition: GraphQLField, sized: _Sized) -> int:
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLList):
            return 1
        if sized is not None and node.name.value in sized[0]:
            return sized[1]
        args = self.directive_args(definition.ast_node, self.limits.list_size_directive)
        if args is not None and self.strings_of(args.get("sizedFields")):
            return 1  # the size belongs to the sized child fields, not to this one
        return self.slice_size(node, definition)


def _check_schema(schema: object) -> None:
    if not isinstance(schema, GraphQLSchema):
        raise FederationTypeError("schema", "a graphql-core GraphQLSchema", schema)
    errors = validate_schema(schema)  # graphql-core caches the answer on the schema
    if errors:
        raise FederationConfigurationError(
            "schema", None, f"is not a valid GraphQL schema: {errors[0].message}", show_value=False
        )


def _check_limits(limits: object, *, optional: bool) -> CostLimits | None:
    if limits is None and optional:
        return None
    if not isinstance(limits, CostLimits):
        raise FederationTypeError("limits", "a CostLimits", limits)
    return limits


def _check_request(document: object, variables: object, operation_name: object, *, parsed_ok: bool) -> None:
    if not isinstance(document, str) and not (parsed_ok and isinstance(document, DocumentNode)):
        expected = "a str or a parsed DocumentNode" if parsed_ok else "a str"
        raise FederationTypeError("document" if parsed_ok else "source", expected, document)
    if variables is not None and not isinstance(variables, Mapping):
        raise FederationTypeError("variables", "a mapping of variable names to values", variables)
    if operation_name is not None and not isinstance(operation_name, str):
        raise FederationTypeError("operation_name", "a str or None", operation_name)


def _parse(source: str, limits: CostLimits) -> DocumentNode:
    try:
        return parse(source, max_tokens=limits.max_tokens)
    except GraphQLSyntaxError as error:
        raise FederationConfigurationError(
            "document", None, f"the operation does not parse: {error.message}", show_value=False
        ) from error
    except RecursionError:  # graphql-core before 3.3 has no nesting limit of its own
        raise FederationConfigurationError(
            "document", None, "the operation is nested too deeply to parse", show_value=False
        ) from None


def _request_document(
    schema: GraphQLSchema,
    source: object,
    variable_values: object,
    operation_name: object,
    limits: CostLimits,
) -> DocumentNode | ExecutionResult:
    """The client's operation parsed and validated, or the result that tells the client why not."""
    try:
        _check_request(source, variable_values, operation_name, parsed_ok=False)
    except FederationTypeError as error:
        return ExecutionResult(None, [GraphQLError(str(error), original_error=error)])
    assert isinstance(source, str)  # noqa: S101 - checked just above
    try:
        document = parse(source, max_tokens=limits.max_tokens)
    except GraphQLSyntaxError as error:
        return ExecutionResult(None, [error])
    except RecursionError:  # graphql-core before 3.3 has no nesting limit of its own
        return ExecutionResult(None, [GraphQLError("Syntax Error: Document is nested too deeply.")])
    errors = validate(schema, document)
    return ExecutionResult(None, errors) if errors else document


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        for operation in operations:
            if operation.name is not None and operation.name.value == operation_name:
                return operation
        raise FederationConfigurationError(
            "operation_name", operation_name, "the document has no such operation"
        )
    if len(operations) != 1:
        raise FederationConfigurationError(
            "operation_name",
            None,
            f"the document has {len(operations)} operations; pass operation_name to pick one",
        )
    return operations[0]


def analyze_cost(
    schema: GraphQLSchema,
    document: DocumentNode | str,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    limits: CostLimits | None = None,
) -> CostReport:
    """Compute an operation's cost, depth and alias count without executing it.

    Fragments (named and inline) are expanded wherever they are spread, so a fragment spread ten
    times counts ten times; each fragment is measured once and the measure reused, so a document that
    amplifies through nested fragments is counted exactly in time linear in its size.

    Args:
        schema: The schema the operation runs against (``@cost`` / ``@listSize`` are read from its SDL).
        document: The operation, parsed or as text.
        variables: Variable values (slicing arguments given as variables use them).
        operation_name: Which operation, when the document has several.
        limits: The weights to use (the limits themselves are not applied here).

    Raises:
        FederationConfigurationError: The document does not parse (or has more than
            ``limits.max_tokens`` tokens), nests more than 128 levels, or names no such operation.
        FederationTypeError: An argument has the wrong type.
    """
    _check_schema(schema)
    limits = _check_limits(limits, optional=True) or CostLimits()
    _check_request(document, variables, operation_name, parsed_ok=True)
    if isinstance(document, str):
        document = _parse(document, limits)
    operation = _operation(document, operation_name)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root_type = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root_type is None:
        raise FederationConfigurationError(
            "document", None, f"the schema has no {operation.operation.value} type", show_value=False
        )
    analysis = _Analysis(schema, limits, variables or {}, fragments)
    measure = analysis.selection_set(operation.selection_set, root_type, None, True)
    return CostReport(measure.cost, measure.depth, measure.aliases)


def enforce_cost_limits(
    schema: GraphQLSchema,
    document: DocumentNode | str,
    limits: CostLimits,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> CostReport:
    """Analyze an operation and reject it if it is over a limit; call before executing it.

    Returns:
        The report, when every limit holds.

    Raises:
        CostLimitExceededError: Naming the measure (cost, depth or aliases), its value and the limit.
        FederationConfigurationError: As `analyze_cost`.
        FederationTypeError: An argument has the wrong type.
    """
    _check_limits(limits, optional=False)
    report = analyze_cost(schema, document, variables=variables, operation_name=operation_name, limits=limits)
    OPERATION_COST.record(report.cost)
    for measure, value, limit in (
        ("cost", report.cost, limits.max_cost),
        ("depth", report.depth, limits.max_depth),
        ("aliases", report.aliases, limits.max_aliases),
    ):
        if limit is not None and value > limit:
            LIMIT_REJECTIONS.add(1, {"federation.limit": measure})
            raise CostLimitExceededError(measure, value, limit)
    return report


async def execute_with_limits(
    schema: GraphQLSchema,
    source: str,
    limits: CostLimits,
    *,
    variable_values: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    context_value: object = None,
    root_value: object = None,
) -> ExecutionResult:
    """Parse, validate, check the limits, then execute: an operation over a limit never runs.

    A rejected operation gets an `ExecutionResult` with one error whose ``extensions`` hold
    ``code`` (``"COST_LIMIT_EXCEEDED"``), ``measure``, ``value`` and ``limit``. What a client sends
    (``source``, ``variable_values``, ``operation_name``) never raises: text that is not a string,
    does not parse, has more than ``limits.max_tokens`` tokens or nests too deeply is an
    `ExecutionResult` with a GraphQL error, as every invalid operation is.

    Raises:
        FederationTypeError: ``schema`` or ``limits`` has the wrong type (the server's set-up,
            not the client's request).
        FederationConfigurationError: ``schema`` is not a valid GraphQL schema.
    """
    _check_schema(schema)
    _check_limits(limits, optional=False)
    document = _request_document(schema, source, variable_values, operation_name, limits)
    if isinstance(document, ExecutionResult):
        OPERATIONS.add(1, {"federation.outcome": "invalid"})
        return document
    try:
        enforce_cost_limits(
            schema, document, limits, variables=variable_values, operation_name=operation_name
        )
    except CostLimitExceededError as error:
        extensions = {
            "code": "COST_LIMIT_EXCEEDED",
            "measure": error.measure,
            "value": error.value,
            "limit": error.limit,
        }
        OPERATIONS.add(1, {"federation.outcome": "rejected"})
        return ExecutionResult(None, [GraphQLError(str(error), original_error=error, extensions=extensions)])
    except FederationConfigurationError as error:
        OPERATIONS.add(1, {"federation.outcome": "invalid"})
        return ExecutionResult(None, [GraphQLError(str(error), original_error=error)])
    OPERATIONS.add(1, {"federation.outcome": "executed"})
    result = execute(
        schema,
        document,
        root_value=root_value,
        context_value=context_value,
        variable_values=dict(variable_values) if variable_values is not None else None,
        operation_name=operation_name,
    )
    if isinstance(result, ExecutionResult):
        return result
    return await result
