"""The tour's buttress-pooling section."""

from __future__ import annotations

import asyncio

from buttress.pooling import AsyncpgFactory, Pool, PoolConfig, PoolConfigurationError

from ._tour import Tour

#: Lines the section prints on embedded defaults (no server set), and with the real servers set.
EMBEDDED: tuple[str, ...] = (
    "never more than max_size=4",
    "made and entered: 0 resources (no I/O until needed)",
    "after close: 0 left",
)
REAL: tuple[str, ...] = ("AsyncpgFactory: PostgreSQL",)


class Worker:
    """Any resource: here a stand-in for an expensive client."""

    def __init__(self, number: int) -> None:
        self.number = number


class WorkerFactory:
    def __init__(self) -> None:
        self.made = 0

    async def create(self) -> Worker:
        self.made += 1
        await asyncio.sleep(0.01)  # connecting takes a while
        return Worker(self.made)

    async def destroy(self, resource: Worker) -> None:
        return None


async def run(tour: Tour) -> None:
    factory = WorkerFactory()
    config = PoolConfig(min_size=2, max_size=4, health_check_interval=None)
    async with Pool(factory, config=config) as pool:
        tour.say(f"made and entered: {pool.stats().total} resources (no I/O until needed)")
        await pool.open()  # optional warm-up; the first acquire would start the pool anyway
        tour.say(f"opened with min_size=2: {pool.stats().idle} idle")

        async def job(n: int) -> int:
            async with pool.acquire(timeout=5) as worker:
                await asyncio.sleep(0.005)
                return worker.number

        used = await asyncio.gather(*(job(n) for n in range(100)))
        stats = pool.stats()
        tour.say(f"100 jobs on {len(set(used))} workers; made {factory.made}, never more than max_size=4")
        tour.say(
            f"idle + in_use + creating + destroying + unhealthy = {stats.total} (checked on every change)"
        )
        try:
            PoolConfig(min_size=5, max_size=2)
        except PoolConfigurationError as exc:
            tour.say(f"bad sizes are refused: {exc}")
    tour.say(f"after close: {pool.stats().total} left, {pool.stats().destroyed} destroyed")

    if tour.postgres_dsn is None:
        tour.say("AsyncpgFactory: set BUTTRESS_POSTGRES_DSN to run it")
        return
    async with (
        Pool(AsyncpgFactory(tour.postgres_dsn), min_size=1, max_size=3, health_check_interval=None) as pg,
        pg.acquire() as connection,
    ):
        version = await connection.fetchval("SHOW server_version")
        tour.say(f"AsyncpgFactory: PostgreSQL {version} through the pool")
