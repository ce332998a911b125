"""`PoolConfig`: a pool's settings, frozen and checked once, when they are made."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

from buttress.core import check_count, check_seconds, check_text

from .exceptions import PoolConfigurationError, PoolTypeError

__all__ = ["MAX_SIZE", "Order", "PoolConfig", "PoolSettings"]

MAX_SIZE: Final = 100_000
"""The largest ``max_size`` (and ``min_size``) a pool accepts: more is a misconfiguration, not a pool."""

type Order = Literal["lifo", "fifo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    """How a `Pool` behaves. Every field is checked when the config is made.

    ``Pool(factory, min_size=2, max_size=10)`` builds one from its keyword arguments;
    ``Pool(factory, config=config)`` shares one between pools (keywords given beside it override its
    fields). ``dataclasses.replace(config, max_size=20)`` makes a checked copy.

    Attributes:
        min_size: Resources kept ready, even when idle.
        max_size: The most resources that exist at once, in every state together; at most
            `MAX_SIZE` (100,000).
        timeout: Default seconds an ``acquire`` waits before `PoolTimeoutError`.
        max_waiting: The most callers waiting at once; beyond it ``acquire`` raises
            `PoolExhaustedError` at once. ``None``: unbounded.
        max_lifetime: Seconds after creation a resource is retired. ``None``: no limit.
        lifetime_jitter: Each lifetime is shortened by a random fraction up to this (0 to 0.5), so
            resources made together do not all expire together.
        max_idle: Seconds an idle resource beyond ``min_size`` is kept. ``None``: no limit.
        health_check_interval: Seconds between health passes. ``None``: no health loop (call
            `Pool.run_health_check` yourself).
        check_on_acquire: Check every idle resource (with the factory's ``check``) before handing it
            out, replacing it if it fails: a dead connection never reaches a caller, at the price of
            one check per acquire.
        order: ``"lifo"`` hands out the most recently returned resource (fewer warm resources, the
            rest can idle out); ``"fifo"`` rotates through all of them.
        backoff_initial: First delay before retrying a failed creation, in seconds.
        backoff_max: The longest delay between creation attempts.
        name: Names the pool in logs, errors and metrics (up to 200 bytes).

    Every duration is a finite number of seconds above zero and at most 100 years
    (`buttress.core.MAX_SECONDS`).

    Raises:
        PoolConfigurationError: A field is out of range, or not a number, str or ``None`` where
            one is expected; ``.parameter`` names it.
        PoolTypeError: ``check_on_acquire`` is not a bool.
    """

    min_size: int = 0
    max_size: int = 10
    timeout: float = 30.0
    max_waiting: int | None = None
    max_lifetime: float | None = 3600.0
    lifetime_jitter: float = 0.05
    max_idle: float | None = 600.0
    health_check_interval: float | None = 30.0
    check_on_acquire: bool = False
    order: Order = "lifo"
    backoff_initial: float = 0.1
    backoff_max: float = 10.0
    name: str = "pool"

    def __post_init__(self) -> None:
        checked: dict[str, object] = {}
        checked["min_size"], checked["max_size"] = check_sizes(self.min_size, self.max_size)
        checked["timeout"] = check_pool_seconds("timeout", self.timeout)
        if self.max_waiting is not None:
            check_count("max_waiting", self.max_waiting, error=PoolConfigurationError)
        for optional in ("max_lifetime", "max_idle", "health_check_interval"):
            value = getattr(self, optional)
            checked[optional] = None if value is None else check_pool_seconds(optional, value)
        checked["lifetime_jitter"] = _fraction("lifetime_jitter", self.lifetime_jitter)
        check_flag("check_on_acquire", self.check_on_acquire)
        if not isinstance(self.order, str) or self.order not in ("lifo", "fifo"):
            raise PoolConfigurationError("order", self.order, "must be 'lifo' or 'fifo'")
        checked["backoff_initial"] = check_pool_seconds("backoff_initial", self.backoff_initial)
        checked["backoff_max"] = check_pool_seconds("backoff_max", self.backoff_max)
        check_text("name", self.name, max_bytes=200, error=PoolConfigurationError)
        for field, value in checked.items():  # ints given for seconds are kept as floats
            object.__setattr__(self, field, value)


class PoolSettings(TypedDict, total=False):
    """The fields of `PoolConfig`, as keyword arguments of `Pool` (each overrides ``config``)."""

    min_size: int
    max_size: int
    timeout: float
    max_waiting: int | None
    max_lifetime: float | None
    lifetime_jitter: float
    max_idle: float | None
    health_check_interval: float | None
    check_on_acquire: bool
    order: Order
    backoff_initial: float
    backoff_max: float
    name: str


def make_config(config: object, settings: dict[str, object]) -> PoolConfig:
    """``config`` (or the defaults) with ``settings`` applied, every field checked."""
    if config is not None and not isinstance(config, PoolConfig):
        raise PoolTypeError("config", "a PoolConfig or None", config)
    fields = PoolConfig.__dataclass_fields__
    for name in settings:
        if name not in fields:
            known = ", ".join(fields)
            raise PoolConfigurationError(name, None, f"is not a pool setting; use {known}", show_value=False)
    base = config if config is not None else PoolConfig()
    return dataclasses.replace(base, **settings) if settings else base  # type: ignore[arg-type]


def check_pool_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number of seconds (above zero unless ``allow_zero``), or `PoolConfigurationError`."""
    return check_seconds(name, value, allow_zero=allow_zero, error=PoolConfigurationError)


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is a bool, else `PoolTypeError`."""
    if not isinstance(value, bool):
        raise PoolTypeError(name, "a bool", value)
    return value


def check_sizes(min_size: object, max_size: object) -> tuple[int, int]:
    """Both sizes checked: 0 <= min_size <= max_size, 1 <= max_size <= MAX_SIZE."""
    low = check_count("min_size", min_size, maximum=MAX_SIZE, error=PoolConfigurationError)
    high = check_count("max_size", max_size, minimum=1, maximum=MAX_SIZE, error=PoolConfigurationError)
    if high < low:
        raise PoolConfigurationError("max_size", max_size, f"must be at least min_size ({low})")
    return low, high


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 0.5:
        raise PoolConfigurationError(name, value, "must be a fraction from 0 to 0.5")
    return float(value)
