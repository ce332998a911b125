"""GraphQL Federation for graphql-core.

Subgraph validation with Apollo Federation's error codes (every error, not the first), ``_service`` and
batched ``_entities`` for any graphql-core schema, a generic asyncio `DataLoader`, and static cost
limits (IBM ``@cost`` / ``@listSize``, depth, aliases) that see through fragments.
"""

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._dataloader import BatchLoadFn, DataLoader
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

if TYPE_CHECKING:
    from ._cost import (
        CostLimits,
        CostReport,
        analyze_cost,
        enforce_cost_limits,
        execute_with_limits,
    )
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

# graphql-core is most of the package's import time: the names that need it load on first use, so
# importing the package (or only its errors and DataLoader) does not load it.
__getattr__ = lazy_exports(
    __name__,
    {
        "CostLimits": "_cost",
        "CostReport": "_cost",
        "analyze_cost": "_cost",
        "enforce_cost_limits": "_cost",
        "execute_with_limits": "_cost",
        "SubgraphError": "_report",
        "BatchEntityResolver": "_runtime",
        "EntityKey": "_runtime",
        "Representation": "_runtime",
        "build_federated_schema": "_runtime",
        "entity_keys": "_runtime",
        "federate": "_runtime",
        "BuiltSubgraph": "_validate",
        "build_subgraph": "_validate",
        "check_subgraph": "_validate",
        "parse_field_set": "_validate",
        "validate_subgraph": "_validate",
        "cost_limits_rule": "_validation_rule",
    },
)
