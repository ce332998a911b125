"""The tour's buttress-feature-flags section."""

from __future__ import annotations

import asyncio
import uuid

from buttress.feature_flags import (
    Context,
    FlagClient,
    FlagManager,
    MemoryFlagSource,
    PostgresAuditSink,
    PostgresFlagSource,
    RedisFlagSource,
    flag_from_dict,
)

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = ("an unknown flag -> 'fallback', ERROR/FLAG_NOT_FOUND",)
REAL: tuple[str, ...] = (
    "Redis pub/sub reached the client at once: True",
    "PostgreSQL audit trail of tour-checkout: ['create', 'disable']",
)


async def run(tour: Tour) -> None:
    rollout = flag_from_dict(
        {
            "name": "tour-checkout",
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "30"},
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
                }
            ],
        }
    )
    users = [Context(user_id=str(n), properties={"plan": "pro"}) for n in range(1000)]
    async with FlagClient(MemoryFlagSource([rollout])) as flags:
        await flags.start()  # the first load, then the background refresher
        on = sum(flags.is_enabled("tour-checkout", user) for user in users)
        tour.say(f"a 30% rollout is on for {on} of 1000 pro users, the same ones on every machine")
        details = flags.evaluate("missing-flag", "fallback")
        tour.say(f"an unknown flag -> {details.value!r}, {details.reason}/{details.error_code}")
    if tour.redis_url is not None:
        source = RedisFlagSource.from_url(tour.redis_url, prefix=f"tour:{uuid.uuid4().hex[:8]}:")
        async with FlagClient(source, refresh_interval=60) as flags:
            await flags.start()
            await asyncio.sleep(0.1)  # let the refresher subscribe
            await source.put(rollout)
            for _ in range(100):  # pub/sub delivers the change: no waiting for the 60 s poll
                if "tour-checkout" in (flags.snapshot or ()):
                    break
                await asyncio.sleep(0.01)
            tour.say(
                f"Redis pub/sub reached the client at once: {flags.is_enabled('tour-checkout', users[3])}"
            )
        await source.delete("tour-checkout")
        await source.aclose()
    if tour.postgres_dsn is not None:
        table = f"tour_flags_{uuid.uuid4().hex[:8]}"
        pg_source = await PostgresFlagSource.connect(tour.postgres_dsn, table=table, max_size=4)
        audit = await PostgresAuditSink.connect(tour.postgres_dsn, table=f"{table}_audit", max_size=2)
        manager = FlagManager(pg_source, audit)
        await manager.create(rollout, actor="tour")
        await manager.disable("tour-checkout", actor="tour")
        history = [event.action.value for event in await manager.history("tour-checkout")]
        tour.say(f"PostgreSQL audit trail of tour-checkout: {history}")
        await pg_source.drop_schema()
        await audit.drop_schema()
        await pg_source.aclose()
        await audit.aclose()
