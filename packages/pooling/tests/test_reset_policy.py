"""`AsyncpgFactory(reset=...)`: what each reset policy leaves of a session for the next user (PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.pooling import AsyncpgFactory, Pool, PoolConfigurationError, PoolTypeError

ACTIONS = ("begin", "transaction", "commit", "set", "advisory", "listen", "log_listener", "fail")


@dataclass
class Session:
    """What a sequence of actions left on one connection, as PostgreSQL defines it."""

    in_transaction: bool = False
    failed: bool = False
    set_in_transaction: bool = False
    set_in_session: bool = False
    advisory: bool = False
    listened: bool = False
    log_listener: bool = False
    managed: list[Any] = field(default_factory=list)


async def act(connection: asyncpg.Connection, action: str, session: Session) -> None:
    """Do ``action`` where it is valid (and nothing where PostgreSQL would refuse it), keeping the model."""
    if session.failed and action != "commit":
        return  # a failed transaction refuses everything but its end
    if action == "begin" and not session.in_transaction:
        await connection.execute("BEGIN")
        session.in_transaction = True
    elif action == "transaction" and not session.in_transaction and not session.managed:
        # (after a raw COMMIT of asyncpg's transaction object, asyncpg still counts it open: a
        # second one would be a SAVEPOINT outside any transaction, refused by the server)
        transaction = connection.transaction()
        await transaction.start()  # asyncpg's transaction object, left open
        session.managed.append(transaction)
        session.in_transaction = True
    elif action == "commit" and session.in_transaction:
        await connection.execute("ROLLBACK" if session.failed else "COMMIT")
        if not session.failed and session.set_in_transaction:
            session.set_in_session = True
        session.in_transaction = session.failed = session.set_in_transaction = False
        if session.managed:
            return  # asyncpg's object still believes it is open: left for the reset to settle
    elif action == "set":
        await connection.execute("SET statement_timeout = '1234ms'")
        if session.in_transaction:
            session.set_in_transaction = True
        else:
            session.set_in_session = True
    elif action == "advisory":
        await connection.execute("SELECT pg_advisory_lock(515151)")  # session-level: outlives a rollback
        session.advisory = True
    elif action == "listen":
        await connection.add_listener("buttress_reset_policy", lambda *_: None)
        session.listened = True
    elif action == "log_listener":
        connection.add_log_listener(lambda *_: None)
        session.log_listener = True
    elif action == "fail" and session.in_transaction:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await connection.execute("SELECT 1 / 0")
        session.failed = True


async def observe(connection: asyncpg.Connection) -> dict[str, object]:
    seen: Any = connection
    return {
        "in_transaction": connection.is_in_transaction(),
        "statement_timeout": await connection.fetchval("SHOW statement_timeout"),
        "advisory": await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ),
        "channels": await connection.fetchval("SELECT count(*) FROM pg_listening_channels()"),
        "listeners": len(seen._listeners) + len(seen._log_listeners),
    }


CLEAN = {"in_transaction": False, "statement_timeout": "0", "advisory": 0, "channels": 0, "listeners": 0}


def expected(policy: str, session: Session) -> dict[str, object]:
    """The model: "full" leaves a new session; "rollback" ends the transaction and, after
    add_listener, resets fully; otherwise it keeps what was made outside a transaction."""
    if policy == "full" or session.listened:
        return CLEAN
    return CLEAN | {
        "statement_timeout": "1234ms" if session.set_in_session else "0",
        "advisory": 1 if session.advisory else 0,
    }


async def scenario(dsn: str, policy: str, actions: list[str]) -> None:
    factory = AsyncpgFactory(
        dsn, reset=policy, server_settings={"application_name": f"bt-reset-{uuid.uuid4().hex[:8]}"}
    )  # type: ignore[arg-type]
    async with Pool(factory, max_size=1, health_check_interval=None) as pool:
        session = Session()
        async with pool.acquire() as connection:
            first = connection
            for action in actions:
                await act(connection, action, session)
        async with pool.acquire() as connection:
            assert connection is first  # the same session, reset, not a new one
            assert await observe(connection) == expected(policy, session)
            async with connection.transaction():  # asyncpg's own bookkeeping is consistent again
                await connection.execute("SELECT 1")
        assert pool.stats().reset_failures == 0


@pytest.mark.parametrize("policy", ["full", "rollback"])
@settings(max_examples=25, deadline=None)
@given(actions=st.lists(st.sampled_from(ACTIONS), max_size=6))
def test_a_reset_policy_leaves_what_its_documentation_says(
    postgres_dsn: str, policy: str, actions: list[str]
) -> None:
    """Property: after any session, "full" hands the next user a session like new; "rollback" ends
    every transaction (and resets fully after ``add_listener``), keeping only what was made outside one."""
    asyncio.run(scenario(postgres_dsn, policy, actions))


async def test_rollback_costs_no_round_trip_outside_a_transaction(postgres_dsn: str) -> None:
    """A release outside a transaction sends nothing: the server's transaction counter stays put."""
    factory = AsyncpgFactory(postgres_dsn, reset="rollback")
    async with Pool(factory, max_size=1, health_check_interval=None) as pool:
        async with pool.acquire() as connection:
            pid = await connection.fetchval("SELECT pg_backend_pid()")
            await connection.execute("SET application_name = 'bt-reset-count'")
        for _ in range(3):
            async with pool.acquire() as connection:
                pass
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") == pid
            assert await connection.fetchval("SHOW application_name") == "bt-reset-count"  # never reset


async def test_a_callable_runs_after_the_rollback_and_its_failure_destroys_the_connection(
    postgres_dsn: str,
) -> None:
    calls: list[bool] = []

    async def reset(connection: asyncpg.Connection) -> None:
        calls.append(connection.is_in_transaction())
        await connection.execute("RESET ALL")
        if len(calls) == 2:
            raise RuntimeError("this session cannot be cleaned")

    factory = AsyncpgFactory(postgres_dsn, reset=reset)
    assert factory.reset_policy is reset
    async with Pool(factory, max_size=1, health_check_interval=None) as pool:
        async with pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute("SET statement_timeout = '1234ms'")
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW statement_timeout") == "0"
            first = await connection.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") != first  # destroyed, replaced
        assert calls[:2] == [False, False]  # the transaction was over before the callable ran
        assert pool.stats().reset_failures == 1


@pytest.mark.parametrize(
    ("reset", "error"),
    [
        ("partial", PoolConfigurationError),
        ("", PoolConfigurationError),
        (5, PoolTypeError),
        (None, PoolTypeError),
        (AsyncpgFactory, PoolTypeError),
    ],
)
def test_a_policy_that_is_not_one_is_refused(reset: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="reset"):
        AsyncpgFactory("postgresql://app@db/app", reset=reset)  # type: ignore[arg-type]


class Counter:
    """A factory of plain objects whose ``needs_reset`` answers from a list (or raises on None)."""

    def __init__(self, answers: list[bool | None]) -> None:
        self.answers = answers
        self.resets = 0

    async def create(self) -> object:
        return object()

    async def destroy(self, resource: object) -> None:
        return None

    def needs_reset(self, resource: object) -> bool:
        answer = self.answers.pop(0)
        if answer is None:
            raise RuntimeError("cannot tell")
        return answer

    async def reset(self, resource: object) -> None:
        self.resets += 1


async def test_the_pool_resets_only_what_needs_reset_says_and_on_doubt() -> None:
    factory = Counter([False, True, None, False])
    async with Pool(factory, max_size=1, health_check_interval=None) as pool:
        for _ in range(4):
            async with pool.acquire():
                pass
    assert factory.resets == 2  # the True, and the hook that raised
