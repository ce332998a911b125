"""The tour's sections, one module per package, in the order the tour runs them.

Each module has ``run(tour)``, and ``EMBEDDED`` / ``REAL``: lines it prints on embedded defaults and
with ``BUTTRESS_REDIS_URL`` / ``BUTTRESS_POSTGRES_DSN`` set, which ``examples/test_tour.py`` checks.
A new package adds its module here.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    auth,
    caching,
    core,
    cqrs,
    csp,
    event_sourcing,
    feature_flags,
    federation,
    fingerprint,
    fuzzing,
    health,
    idempotency,
    notifications,
    observability,
    persistence,
    pooling,
    search,
    tenancy,
    webhooks,
)
from ._tour import Section, Tour

__all__ = ["MODULES", "SECTIONS", "Section", "Tour"]

MODULES: dict[str, ModuleType] = {
    "buttress-core": core,
    "buttress-caching": caching,
    "buttress-pooling": pooling,
    "buttress-csp": csp,
    "buttress-fingerprint": fingerprint,
    "buttress-idempotency": idempotency,
    "buttress-event-sourcing": event_sourcing,
    "buttress-feature-flags": feature_flags,
    "buttress-fuzzing": fuzzing,
    "buttress-webhooks": webhooks,
    "buttress-search": search,
    "buttress-notifications": notifications,
    "buttress-federation": federation,
    "buttress-cqrs": cqrs,
    "buttress-health": health,
    "buttress-persistence": persistence,
    "buttress-tenancy": tenancy,
    "buttress-auth": auth,
    "buttress-observability": observability,
}
SECTIONS: dict[str, Section] = {name: module.run for name, module in MODULES.items()}
