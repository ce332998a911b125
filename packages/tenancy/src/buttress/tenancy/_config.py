"""`TenantConfig[S]`: per-tenant settings, typed by the application's model, cached, invalidated on demand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from buttress.core import Clock, SystemClock, check_count, check_seconds

from ._context import check_tenant_id, current_tenant
from .exceptions import (
    InvalidTenantSettingsError,
    TenancyConfigurationError,
    TenancyTypeError,
    TenantNotFoundError,
)

__all__ = ["SettingsModel", "TenantConfig"]

logger = logging.getLogger(__name__)


class SettingsModel[S](Protocol):
    """**Protocol**: a settings model such as a pydantic ``BaseModel`` class.

    Methods:
        model_validate: Builds the settings from stored data, raising ``ValueError`` (pydantic's
            ``ValidationError`` is one) when the data does not fit.
    """

    def model_validate(self, obj: Any, /) -> S:  # noqa: ANN401 - stored data, validated here
        """The settings built from ``obj``; raises ``ValueError`` when it does not fit."""
        ...


class TenantConfig[S]:
    """Per-tenant settings of a type the application defines, loaded once and cached.

    ``load`` fetches a tenant's stored settings (a mapping, or ``None`` for an unknown tenant); the
    model validates them, so every caller gets a typed, checked object. Entries live for ``ttl``
    seconds; `invalidate` drops one tenant's (or all) at once, the hook to call when settings change
    (from an admin endpoint, a LISTEN/NOTIFY or pub/sub handler)::

        class Settings(BaseModel):
            max_users: int = 10
            theme: str = "light"

        config = TenantConfig(Settings, load=fetch_settings, ttl=60.0)
        async with tenant_scope("acme"):
            settings = await config.get()          # Settings for acme, validated
        config.invalidate("acme")                  # the next get() loads again

    Concurrent ``get`` calls for one tenant share one load; a load that an `invalidate` overtook is
    returned to its callers but not cached.

    Args:
        model: The settings model (a pydantic model class, or anything with ``model_validate``).
        load: ``async (tenant_id) -> Mapping | None``.
        ttl: Seconds an entry is kept, or ``None`` to keep it until invalidated.
        max_entries: Tenants cached at most; the oldest entry goes first when full.
        clock: Where time comes from (a `Clock`; the system's by default).

    Raises:
        TenancyTypeError: ``model`` has no ``model_validate``, ``load`` is not callable, or ``clock``
            is not a `Clock`.
        TenancyConfigurationError: ``ttl`` or ``max_entries`` out of range.
    """

    __slots__ = ("_clock", "_entries", "_generation", "_hooks", "_load", "_loads", "_max", "_model", "_ttl")

    def __init__(
        self,
        model: SettingsModel[S],
        load: Callable[[str], Awaitable[Mapping[str, object] | None]],
        *,
        ttl: float | None = 300.0,
        max_entries: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        if not callable(getattr(model, "model_validate", None)):
            raise TenancyTypeError("model", "a settings model (with model_validate)", model)
        if not callable(load):
            raise TenancyTypeError("load", "an async callable", load)
        if clock is not None and not isinstance(clock, Clock):
            raise TenancyTypeError("clock", "a Clock or None", clock)
        self._model = model
        self._load = load
        self._ttl = None if ttl is None else check_seconds("ttl", ttl, error=TenancyConfigurationError)
        self._max = check_count("max_entries", max_entries, minimum=1, error=TenancyConfigurationError)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._entries: dict[str, tuple[S, float]] = {}
        self._loads: dict[str, asyncio.Future[S]] = {}
        self._generation: dict[str, int] = {}
        self._hooks: list[Callable[[str | None], object]] = []

    async def get(self, tenant_id: str | None = None) -> S:
        """The settings of ``tenant_id`` (the current tenant by default).

        Raises:
            NoTenantError: No tenant was given and none is in scope.
            TenantNotFoundError: ``load`` returned ``None``.
            InvalidTenantSettingsError: The stored settings fail the model.
            TenancyConfigurationError: A malformed tenant id.
        """
        tenant = current_tenant() if tenant_id is None else check_tenant_id(tenant_id)
        entry = self._entries.get(tenant)
        if entry is not None and (self._ttl is None or self._clock.monotonic() - entry[1] < self._ttl):
            return entry[0]
        pending = self._loads.get(tenant)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(tenant))
            self._loads[tenant] = pending
            pending.add_done_callback(lambda _: self._loads.pop(tenant, None))
        return await asyncio.shield(pending)

    async def _fetch(self, tenant: str) -> S:
        generation = self._generation.get(tenant, 0)
        raw = await self._load(tenant)
        if raw is None:
            raise TenantNotFoundError(tenant)
        try:
            settings = self._model.model_validate(raw)
        except ValueError as exc:
            # pydantic's message can quote the stored values: keep only where it failed.
            reason = f"the stored settings do not fit {getattr(self._model, '__name__', 'the model')}"
            raise InvalidTenantSettingsError(tenant, reason) from exc
        if self._generation.get(tenant, 0) == generation:
            if len(self._entries) >= self._max and tenant not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[tenant] = (settings, self._clock.monotonic())
        return settings

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget the cached settings of ``tenant_id``, or of every tenant when ``None``.

        A load in flight is not cached when it completes. Callbacks added with `on_invalidate` run
        after, with the same argument.

        Raises:
            TenancyConfigurationError: A malformed tenant id.
        """
        if tenant_id is None:
            self._entries.clear()
            for tenant in self._loads:
                self._generation[tenant] = self._generation.get(tenant, 0) + 1
        else:
            tenant = check_tenant_id(tenant_id)
            self._entries.pop(tenant, None)
            self._generation[tenant] = self._generation.get(tenant, 0) + 1
        for hook in list(self._hooks):
            try:
                hook(tenant_id)
            except Exception:
                logger.exception("an invalidation hook failed")

    def on_invalidate(self, callback: Callable[[str | None], object]) -> None:
        """Call ``callback(tenant_id)`` after each `invalidate` (``None`` for all tenants).

        Use it to pass the invalidation on: to another cache, or to other processes.

        Raises:
            TenancyTypeError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise TenancyTypeError("callback", "a callable", callback)
        self._hooks.append(callback)

    def __len__(self) -> int:
        return len(self._entries)
