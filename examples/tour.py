"""A tour of the buttress suite: each package's section runs on embedded defaults.

    uv run examples/tour.py

Set ``BUTTRESS_REDIS_URL`` and/or ``BUTTRESS_POSTGRES_DSN`` and the sections that have a Redis or
PostgreSQL backend run against those servers as well. Every package adds its section as a module
under ``examples/sections/``; name one or more to run only those (``uv run examples/tour.py
buttress-caching``). The sections, in order:

    buttress-core, buttress-caching, buttress-pooling, buttress-csp, buttress-fingerprint,
    buttress-idempotency, buttress-event-sourcing, buttress-feature-flags, buttress-fuzzing,
    buttress-webhooks, buttress-search, buttress-notifications, buttress-federation, buttress-cqrs,
    buttress-health, buttress-persistence, buttress-tenancy, buttress-auth, buttress-observability
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from sections import SECTIONS, Tour


async def main(argv: Sequence[str]) -> int:
    wanted = set(argv) or set(SECTIONS)
    unknown = wanted - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
        return 2
    tour = Tour(os.environ.get("BUTTRESS_REDIS_URL"), os.environ.get("BUTTRESS_POSTGRES_DSN"))
    for name, section in SECTIONS.items():
        if name in wanted:
            print(f"== {name}")
            await section(tour)
    print(f"tour finished: {len(wanted)} section(s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
