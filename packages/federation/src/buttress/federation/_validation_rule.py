"""The cost limits as a graphql-core validation rule, for servers that validate and execute themselves."""

from __future__ import annotations

from graphql import GraphQLError, OperationDefinitionNode, ValidationRule

from ._cost import CostLimits, _check_limits, enforce_cost_limits
from .exceptions import CostLimitExceededError, FederationConfigurationError

__all__ = ["cost_limits_rule"]


def cost_limits_rule(limits: CostLimits) -> type[ValidationRule]:
    """A graphql-core validation rule that refuses every operation over ``limits``.

    Give it to a server's validation step, so its own view enforces the limits: ariadne's
    ``GraphQL(schema, validation_rules=[rule])``, strawberry's
    ``extensions=[AddValidationRules([rule])]``, or graphql-core's ``validate(..., rules=)``. An
    operation over a limit gets one error per measure refused, with the ``extensions`` of
    `execute_with_limits` (``code`` ``"COST_LIMIT_EXCEEDED"``, ``measure``, ``value``, ``limit``),
    and never runs.

    A validation rule does not see the request's variables: a ``@listSize`` slicing argument given
    as a variable counts as if it were absent (the field's ``assumedSize``, else the default list
    size). Use `execute_with_limits` where variables must count.

    Args:
        limits: The limits and weights.

    Raises:
        FederationTypeError: ``limits`` is not a `CostLimits`.
    """
    _check_limits(limits, optional=False)
    checked = limits

    class CostLimitsRule(ValidationRule):
        """Refuses operations over the limits, one error per operation."""

        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            document = self.context.document
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1 and node.name is None:
                return  # graphql-core's own rules refuse an anonymous operation among several
            name = node.name.value if node.name is not None else None
            try:
                enforce_cost_limits(self.context.schema, document, checked, operation_name=name)
            except CostLimitExceededError as error:
                extensions = {
                    "code": "COST_LIMIT_EXCEEDED",
                    "measure": error.measure,
                    "value": error.value,
                    "limit": error.limit,
                }
                self.report_error(GraphQLError(str(error), node, original_error=error, extensions=extensions))
            except FederationConfigurationError as error:
                self.report_error(GraphQLError(str(error), node, original_error=error))

    return CostLimitsRule
