"""buttress-health: liveness, readiness and startup probes in health+json, and graceful shutdown.

Register checks, each with a timeout, a criticality and its groups; mount the probes; let the
coordinator take the service down the way Kubernetes expects::

    from buttress.health import (
        DiskSpaceCheck, HealthApp, HealthRegistry, InFlightMiddleware, PostgresCheck, ShutdownCoordinator,
    )

    registry = HealthRegistry()
    registry.add("postgresql:responseTime", PostgresCheck(pool), timeout=2.0)
    registry.add("disk:utilization", DiskSpaceCheck("/var/lib/app"), critical=False)
    probes = HealthApp(registry)  # mount at /health: /health/live, /health/ready, /health/startup

    shutdown = ShutdownCoordinator(registry, drain_delay=5, grace=20)
    app = InFlightMiddleware(app, shutdown, exempt=("/health",))

`PostgresCheck` needs the ``postgres`` extra, `SQLAlchemyCheck` ``sqlalchemy``, `RedisCheck`
``redis`` and `HTTPCheck` ``http``; they are imported on first use, so the rest works with none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from buttress.core import lazy_exports

from ._format import CONTENT_TYPE, ServiceInfo, parse_status, render_health
from ._local import (
    BacklogCheck,
    BacklogSource,
    BreakerCheck,
    BreakerSource,
    DiskSpaceCheck,
    PoolCheck,
    PoolStatsSource,
)
from ._probes import HealthApp, WSGIHealthApp
from ._registry import DEFAULT_TIMEOUT, GROUPS, FunctionCheck, HealthCheck, HealthRegistry, StatusChange
from ._shutdown import InFlightMiddleware, ShutdownCoordinator, ShutdownReport, ShutdownState
from ._status import CheckReport, CheckResult, HealthReport, Status, aggregate
from ._version import __version__
from .exceptions import (
    HealthConfigurationError,
    HealthError,
    HealthResponseError,
    HealthTypeError,
    HealthUnavailableError,
    MissingExtraError,
    RegistryClosedError,
)

if TYPE_CHECKING:
    from ._http import HTTPCheck
    from ._postgres import PostgresCheck
    from ._redis import RedisCheck
    from ._sqlalchemy import SQLAlchemyCheck

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_TIMEOUT",
    "GROUPS",
    "BacklogCheck",
    "BacklogSource",
    "BreakerCheck",
    "BreakerSource",
    "CheckReport",
    "CheckResult",
    "DiskSpaceCheck",
    "FunctionCheck",
    "HTTPCheck",
    "HealthApp",
    "HealthCheck",
    "HealthConfigurationError",
    "HealthError",
    "HealthRegistry",
    "HealthReport",
    "HealthResponseError",
    "HealthTypeError",
    "HealthUnavailableError",
    "InFlightMiddleware",
    "MissingExtraError",
    "PoolCheck",
    "PoolStatsSource",
    "PostgresCheck",
    "RedisCheck",
    "RegistryClosedError",
    "SQLAlchemyCheck",
    "ServiceInfo",
    "ShutdownCoordinator",
    "ShutdownReport",
    "ShutdownState",
    "Status",
    "StatusChange",
    "WSGIHealthApp",
    "__version__",
    "aggregate",
    "parse_status",
    "render_health",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "HTTPCheck": "_http",
        "PostgresCheck": "_postgres",
        "RedisCheck": "_redis",
        "SQLAlchemyCheck": "_sqlalchemy",
    },
)
