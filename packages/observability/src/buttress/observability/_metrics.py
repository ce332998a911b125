"""The package's own instruments, through core's `Telemetry` (bound lazily; free without an SDK).

The HTTP middleware's ``http.server.request.duration`` is not here: its name, unit and buckets are
the semantic conventions', and it is made on the middleware's meter provider (see ``_http``).
"""

from __future__ import annotations

from typing import Final

from buttress.core import Telemetry

from ._version import __version__

__all__ = ["AUDIT_ENTRIES", "REQUEST_IDS", "TELEMETRY"]

TELEMETRY: Final = Telemetry("buttress.observability", __version__)

AUDIT_ENTRIES: Final = TELEMETRY.counter(
    "buttress.observability.audit.entries",
    unit="{entry}",
    description="Audit entries appended, by sink (memory, postgresql).",
)
REQUEST_IDS: Final = TELEMETRY.counter(
    "buttress.observability.request_ids",
    unit="{request}",
    description="Requests given a request id, by source: accepted (a safe incoming X-Request-ID), "
    "generated (none was sent) or replaced (an unsafe one was sent).",
)
