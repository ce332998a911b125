"""GraphQL Federation for graphql-core.

Subgraph validation with Apollo Federation's error codes (every error, not the first), ``_service`` and
batched ``_entities`` for any graphql-core schema, a generic asyncio `DataLoader`, and static cost
limits (IBM ``@cost`` / ``@listSize``, depth, aliases) that see through fragments.
"""

from ._cost import CostLimits, CostReport, analyze_cost, enforce_cost_limits, execute_with_limits
from ._dataloader import BatchLoadFn, DataLoader
from ._report import SubgraphError
from ._runtime import (
    BatchEntityResolver,
    EntityKey,
    Representation,
    build_federated_schema,
    entity_keys,
    federate,
)
from ._validate import (
    BuiltSubgraph,
    build_subgraph,
    check_subgraph,
    parse_field_set,
    validate_subgraph,
)
from ._validation_rule import cost_limits_rule
from .exceptions import (
    CostLimitExceededError,
    DataLoaderError,
    EntityResolutionError,
    FederationConfigurationError,
    FederationError,
    FederationTypeError,
    FederationValidationError,
    FieldSetError,
    RepresentationError,
)

__all__ = [
    "BatchEntityResolver",
    "BatchLoadFn",
    "BuiltSubgraph",
    "CostLimitExceededError",
    "CostLimits",
    "CostReport",
    "DataLoader",
    "DataLoaderError",
    "EntityKey",
    "EntityResolutionError",
    "FederationConfigurationError",
    "FederationError",
    "FederationTypeError",
    "FederationValidationError",
    "FieldSetError",
    "Representation",
    "RepresentationError",
    "SubgraphError",
    "analyze_cost",
    "build_federated_schema",
    "build_subgraph",
    "check_subgraph",
    "cost_limits_rule",
    "enforce_cost_limits",
    "entity_keys",
    "execute_with_limits",
    "federate",
    "parse_field_set",
    "validate_subgraph",
]
