"""The package's OpenTelemetry instruments (see the suite's telemetry page)."""

from __future__ import annotations

from buttress.core import Telemetry

TELEMETRY = Telemetry("buttress.federation")

VALIDATIONS = TELEMETRY.counter(
    "buttress.federation.subgraph.validations",
    unit="{validation}",
    description="Subgraph schemas checked, by outcome (valid, invalid).",
)
OPERATIONS = TELEMETRY.counter(
    "buttress.federation.operations",
    unit="{operation}",
    description="Operations given to execute_with_limits, by outcome (executed, rejected, invalid).",
)
OPERATION_COST = TELEMETRY.histogram(
    "buttress.federation.operation.cost",
    unit="{point}",
    description="The computed cost of each operation checked against limits.",
)
LIMIT_REJECTIONS = TELEMETRY.counter(
    "buttress.federation.cost_limit.rejections",
    unit="{operation}",
    description="Operations refused before execution, by the measure over its limit (cost, depth, aliases).",
)
ENTITIES = TELEMETRY.counter(
    "buttress.federation.entities",
    unit="{entity}",
    description="Representations answered by _entities, by outcome (resolved, error).",
)
RESOLVER_CALLS = TELEMETRY.counter(
    "buttress.federation.entity_resolver.calls",
    unit="{call}",
    description="Calls of the entity resolvers (one per entity type per _entities request).",
)
BATCHES = TELEMETRY.counter(
    "buttress.federation.dataloader.batches",
    unit="{batch}",
    description="Batch function calls made by DataLoaders.",
)
BATCH_SIZE = TELEMETRY.histogram(
    "buttress.federation.dataloader.batch.size",
    unit="{key}",
    description="Keys per DataLoader batch.",
)
