"""`through_failover`: kill the primary serving a key mid-run and keep calling until a replica serves it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ._servers import RedisClusterServer, RedisServer
from .exceptions import TestingConfigurationError, TestingTypeError

__all__ = ["Failover", "through_failover"]

_PAUSE = 0.05


@dataclass(frozen=True, slots=True)
class Failover[T]:
    """What `through_failover` saw: the operation's result once it succeeded, and each failure before.

    Attributes:
        value: What the operation returned once it succeeded.
        victim: The primary that was killed.
        failures: The errors the operation raised before it succeeded (each one of ``unavailable``),
            oldest first; empty when the client's own retries carried it through.
    """

    value: T
    victim: RedisServer
    failures: tuple[BaseException, ...] = field(default=())


async def through_failover[T](
    cluster: RedisClusterServer,
    key: str,
    operation: Callable[[], Awaitable[T]],
    *,
    unavailable: type[BaseException] | tuple[type[BaseException], ...],
    timeout: float = 30.0,
) -> Failover[T]:
    """Kill the primary serving ``key``, then call ``operation`` until it succeeds.

    First every replica catches up (`RedisClusterServer.wait_for_replicas`), so whatever was written
    before the call is on the replica that takes over: a test then asserts that none of it is lost.
    The primary is killed (SIGKILL, as a crash) and ``operation`` is called again and again; each
    failure must be an ``unavailable`` error (any other propagates: an untyped error reached the
    caller) until one call succeeds, which the cluster's failover should allow within seconds.

    Args:
        cluster: A running cluster with replicas (``redis_failover_cluster``).
        key: The key whose primary dies, as the backend writes it (prefix included).
        operation: Makes one call on the backend under test.
        unavailable: The error (or errors) the backend promises for an outage.
        timeout: Seconds to keep trying after the kill, above zero.

    Returns:
        The value, the killed primary and the failures seen on the way.

    Raises:
        TestingTypeError: ``cluster`` is not a `RedisClusterServer`, ``key`` not a str, ``operation``
            not callable, or ``unavailable`` not an exception type or a tuple of them.
        TestingConfigurationError: ``timeout`` is not a number of seconds above zero.
        AssertionError: ``operation`` still failed after ``timeout`` seconds.
    """
    _check(cluster, key, operation, unavailable, timeout)
    cluster.wait_for_replicas()
    victim = cluster.primary_for(key)
    victim.kill()
    failures: list[BaseException] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await operation()
        except unavailable as exc:
            failures.append(exc)
            if time.monotonic() > deadline:
                raise AssertionError(f"still failing {timeout} s after the primary died: {exc!r}") from exc
            await asyncio.sleep(_PAUSE)
        else:
            return Failover(value, victim, tuple(failures))


def _check(cluster: object, key: object, operation: object, unavailable: object, timeout: object) -> None:
    if not isinstance(cluster, RedisClusterServer):
        raise TestingTypeError("cluster", "a RedisClusterServer", cluster)
    if not isinstance(key, str):
        raise TestingTypeError("key", "a str", key)
    if not callable(operation):
        raise TestingTypeError("operation", "a callable returning an awaitable", operation)
    kinds = unavailable if isinstance(unavailable, tuple) else (unavailable,)
    if not kinds or not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds):
        raise TestingTypeError("unavailable", "an exception type or a tuple of them", unavailable)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TestingTypeError("timeout", "a number of seconds", timeout)
    if not 0 < timeout <= 3600:  # NaN fails too
        raise TestingConfigurationError("timeout", timeout, "must be above 0 and at most 3600 seconds")
