"""`FlagClient`: an atomically swapped snapshot, refreshed in the background, evaluated synchronously."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import enum
import logging
import random
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import cast

from buttress.core import AsyncResource, Attributes, BackgroundTask, Clock, SystemClock, check_seconds

from ._engine import CompiledFlag, Outcome, Snapshot, compile_flag_set
from ._metrics import (
    CHANGES,
    EVALUATION_ERRORS,
    EVALUATIONS,
    REFRESH_DURATION,
    REFRESHES,
    SOURCE_FAILURES,
)
from ._model import (
    DISABLED_VARIANT,
    EMPTY_CONTEXT,
    Context,
    ErrorCode,
    EvaluationDetails,
    FlagSet,
    Reason,
    VariantResult,
    refuse_member,
)
from ._sources import MAX_WAIT, FlagSource, WatchableFlagSource
from ._sticky import ON_WITHOUT_VARIANT, StickyAssignmentStore
from .exceptions import ClientClosedError, FeatureFlagsConfigurationError, FeatureFlagsTypeError

__all__ = ["ClientStatus", "FlagClient"]

logger = logging.getLogger(__name__)

_NO_METADATA: Mapping[str, str | int | float | bool] = MappingProxyType({})
_REASONS = {
    "static": Reason.STATIC,
    "targeting": Reason.TARGETING_MATCH,
    "split": Reason.SPLIT,
    "default": Reason.DEFAULT,
    "disabled": Reason.DISABLED,
}


class ClientStatus(enum.StrEnum):
    """Where a `FlagClient` stands (OpenFeature's provider states)."""

    NOT_READY = "NOT_READY"
    """No snapshot yet: nothing was loaded so far."""
    READY = "READY"
    """Serving a fresh snapshot."""
    STALE = "STALE"
    """Serving the last good snapshot, older than ``stale_after``, because the source keeps failing."""
    ERROR = "ERROR"
    """No snapshot and the last load failed."""
    FATAL = "FATAL"
    """Closed: it will never load again."""

    @classmethod
    def _missing_(cls, value: object) -> ClientStatus:
        refuse_member(cls, value)


type StatusListener = Callable[[ClientStatus, Snapshot | None], None]

_UNKNOWN_FLAG: Attributes = MappingProxyType({"feature_flag.result.reason": Reason.ERROR.value.lower()})
_ERROR_TYPES: Mapping[ErrorCode, Attributes] = MappingProxyType(
    {code: MappingProxyType({"error.type": code.value.lower()}) for code in ErrorCode}
)


class FlagClient(AsyncResource):
    """Evaluates flags from an in-memory snapshot that a background task keeps fresh.

    Evaluation (`is_enabled`, `get_variant`, `evaluate`) is synchronous, does no I/O and never
    raises: it reads the current `Snapshot`, which the refresher replaces with one assignment after
    loading and compiling the whole flag set, so an evaluation never sees a half-updated set. When the
    source fails, the last good snapshot keeps serving; once it is older than ``stale_after`` results
    carry ``Reason.STALE`` and the status is ``STALE``, until a load succeeds again.

    Args:
        source: Where flags come from. A `WatchableFlagSource` wakes the refresher on changes.
        refresh_interval: Seconds between reloads (and the longest a lost notification delays a change).
        stale_after: Seconds since the last good load after which a failing source makes results
            STALE; three refresh intervals by default.
        clock: Time for staleness and for ``DATE_*`` constraints.
        sticky_store: Remembers what each ``user_id`` was served, so it keeps it when a rollout shrinks.
        bootstrap: A flag set to serve before (or instead of) the first load: the client is READY at once.
        rng: Randomness for contexts with no id under ``random`` or ``default`` stickiness.

    `start` loads the flags once and starts the background refresher; `aclose` (or leaving
    ``async with``) stops it. Entering ``async with`` does nothing else, so a client is started
    explicitly, as an Unleash or OpenFeature client is initialized.

    Examples:
        >>> source = MemoryFlagSource([FlagDefinition("new-checkout")])
        >>> async with FlagClient(source) as client:  # doctest: +SKIP
        ...     await client.start()
        ...     client.is_enabled("new-checkout", Context(user_id="42"))
        True
    """

    def __init__(
        self,
        source: FlagSource,
        *,
        refresh_interval: float = 30.0,
        stale_after: float | None = None,
        clock: Clock | None = None,
        sticky_store: StickyAssignmentStore | None = None,
        bootstrap: FlagSet | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not callable(getattr(source, "load", None)):
            raise FeatureFlagsTypeError("source", "an object with an async load() method", source)
        _positive("refresh_interval", refresh_interval)
        if stale_after is not None:
            _positive("stale_after", stale_after)
        if bootstrap is not None and not isinstance(bootstrap, FlagSet):
            raise FeatureFlagsTypeError("bootstrap", "a FlagSet", bootstrap)
        if clock is not None and not (
            callable(getattr(clock, "now", None)) and callable(getattr(clock, "monotonic", None))
        ):
            raise FeatureFlagsTypeError("clock", "a Clock (now() and monotonic())", clock)
        if sticky_store is not None and not (
            callable(getattr(sticky_store, "get", None)) and callable(getattr(sticky_store, "set", None))
        ):
            raise FeatureFlagsTypeError(
                "sticky_store", "a StickyAssignmentStore (get() and set())", sticky_store
            )
        if rng is not None and not isinstance(rng, random.Random):
            raise FeatureFlagsTypeError("rng", "a random.Random", rng)
        super().__init__()
        self.source = source
        self.refresh_interval = float(refresh_interval)
        self.stale_after = float(stale_after) if stale_after is not None else 3 * self.refresh_interval
        self.clock: Clock = clock or SystemClock()
        self._sticky = sticky_store
        self._rng = rng
        self._snapshot: Snapshot | None = None
        self._stale = False
        self._last_success: float | None = None
        self._last_error: BaseException | None = None
        self._refresher = BackgroundTask("buttress-feature-flags-refresher", self._run, logger=logger)
        self._source_attributes: Attributes = {"feature_flag.source": type(source).__name__}
        self._listeners: list[StatusListener] = []
        self._status = ClientStatus.NOT_READY
        self._refresh_lock = asyncio.Lock()
        if bootstrap is not None:
            self._install(bootstrap)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load once (a failure is logged, not raised) and start the background refresher.

        Calling it again does nothing.

        Raises:
            ClientClosedError: The client was closed.
        """
        if self.closed:
            raise ClientClosedError
        if self._refresher.running:
            return
        await self.refresh()
        if not self.closed:
            self._refresher.start()

    async def _aclose(self) -> None:
        """Stop the refresher. Evaluations keep answering from the last snapshot; refreshes raise."""
        await self._refresher.aclose()
        self._set_status(ClientStatus.FATAL)

    async def refresh(self) -> bool:
        """Load the flag set now and swap it in; return whether the load succeeded.

        A failure keeps the current snapshot, is logged and recorded in `last_error`.

        Raises:
            ClientClosedError: The client was closed.
        """
        if self.closed:
            raise ClientClosedError
        async with self._refresh_lock:
            started = time.perf_counter()
            try:
                flag_set = await self.source.load()
                if not isinstance(flag_set, FlagSet):
                    raise TypeError(f"load() returned {type(flag_set).__name__}, not a FlagSet")  # noqa: TRY301
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the source keeps the last good set
                self._failed(exc)
                self._measure_refresh("failure", started)
                SOURCE_FAILURES.add(1, self._failure_attributes("load", exc))
                return False
            self._install(flag_set)
            self._measure_refresh("success", started)
            return True

    def _measure_refresh(self, outcome: str, started: float) -> None:
        attributes = {**self._source_attributes, "outcome": outcome}
        REFRESHES.add(1, attributes)
        REFRESH_DURATION.record(time.perf_counter() - started, attributes)

    def _failure_attributes(self, operation: str, exc: BaseException) -> Attributes:
        return {**self._source_attributes, "operation": operation, "error.type": type(exc).__name__}

    def _install(self, flag_set: FlagSet) -> None:
        self._snapshot = compile_flag_set(
            flag_set, now=self.clock.now, rng=self._rng, previous=self._snapshot
        )
        self._last_success = self.clock.monotonic()
        self._last_error = None
        self._stale = False
        self._set_status(ClientStatus.READY, changed=True)

    def _failed(self, exc: Exception) -> None:
        self._last_error = exc
        logger.warning("flag source %r failed to load: %s", type(self.source).__name__, exc)
        if self._snapshot is None:
            self._set_status(ClientStatus.ERROR)
            return
        assert self._last_success is not None  # noqa: S101 - set with every snapshot
        self._stale = self.clock.monotonic() - self._last_success >= self.stale_after
        if self._stale:
            self._set_status(ClientStatus.STALE)

    async def _run(self) -> None:
        watch = isinstance(self.source, WatchableFlagSource)
        while True:
            if watch:
                try:
                    changed = await cast("WatchableFlagSource", self.source).wait_for_change(
                        min(self.refresh_interval, MAX_WAIT)
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a broken notification channel: fall back to polling
                    SOURCE_FAILURES.add(1, self._failure_attributes("watch", exc))
                    logger.debug("change notifications failed (%s); polling instead", exc)
                    await asyncio.sleep(self.refresh_interval)
                else:
                    if changed:
                        CHANGES.add(1, self._source_attributes)
            else:
                await asyncio.sleep(self.refresh_interval)
            await self.refresh()

    # -- status ------------------------------------------------------------------------------------

    @property
    def status(self) -> ClientStatus:
        """The client's status (see `ClientStatus`)."""
        return self._status

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot evaluations read now, or ``None`` before the first load."""
        return self._snapshot

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed load, cleared by a successful one."""
        return self._last_error

    def add_listener(self, listener: StatusListener) -> None:
        """Call ``listener(status, snapshot)`` after every status change and every new snapshot."""
        if not callable(listener):
            raise FeatureFlagsTypeError("listener", "callable", listener)
        self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with contextlib.suppress(ValueError, TypeError):
            self._listeners.remove(listener)

    def _set_status(self, status: ClientStatus, *, changed: bool = False) -> None:
        if status is self._status and not changed:
            return
        self._status = status
        for listener in tuple(self._listeners):
            try:
                listener(status, self._snapshot)
            except Exception:
                logger.exception("flag client listener %r failed", listener)

    # -- evaluation --------------------------------------------------------------------------------

    def is_enabled(self, key: str, context: Context | None = None, *, default: bool = False) -> bool:
        """Whether flag ``key`` is on for ``context``.

        ``default`` is returned when the flag is unknown or nothing is loaded yet.
        """
        snapshot = self._snapshot
        if snapshot is None:
            self._count_error(None, self._not_ready())
            return default
        flag = snapshot.get(key)
        if flag is None:
            self._count_error(None, ErrorCode.FLAG_NOT_FOUND)
            return default
        ctx = context if context is not None else EMPTY_CONTEXT
        if not _is_context(ctx):
            self._count_error(flag, ErrorCode.INVALID_CONTEXT)
            return default  # evaluation never raises: a context of another kind matches nothing
        if self._sticky is not None:
            outcome, reason = self._sticky_outcome(snapshot, flag, ctx)
            self._count(flag, self._current(reason), None)
            return outcome.on
        on = snapshot._is_on(flag, ctx)
        # is_enabled reads the rule of all strategies at once, not which one matched: a flag whose
        # strategies all let everyone through is STATIC, any other that is on TARGETING_MATCH.
        if not flag.enabled:
            reason = Reason.DISABLED
        elif not on:
            reason = Reason.DEFAULT
        else:
            reason = Reason.STATIC if flag.static else Reason.TARGETING_MATCH
        self._count(flag, self._current(reason), None)
        return on

    def get_variant(self, key: str, context: Context | None = None) -> VariantResult:  # noqa: PLR0911
        """Unleash's ``getVariant``: the variant for ``context``, or the ``disabled`` variant."""
        snapshot = self._snapshot
        if snapshot is None:
            self._count_error(None, self._not_ready())
            return DISABLED_VARIANT
        flag = snapshot.get(key)
        if flag is None:
            self._count_error(None, ErrorCode.FLAG_NOT_FOUND)
            return DISABLED_VARIANT
        ctx = context if context is not None else EMPTY_CONTEXT
        if not _is_context(ctx):
            self._count_error(flag, ErrorCode.INVALID_CONTEXT)
            return DISABLED_VARIANT
        if self._sticky is None:
            result, decided = snapshot._variant_outcome(flag, ctx)
            reason = self._current(_REASONS[decided.matched])
            self._count(flag, reason, result.name if result.enabled else None)
            return _own_copy(result)
        outcome, reason = self._sticky_outcome(snapshot, flag, ctx)
        reason = self._current(reason)
        if not outcome.on:
            self._count(flag, reason, None)
            return DISABLED_VARIANT
        if outcome.choice is None:
            self._count(flag, reason, None)
            return VariantResult(name="disabled", enabled=False, feature_enabled=True)
        self._count(flag, reason, outcome.choice.variant.name)
        return _own_copy(outcome.choice.result)

    def evaluate[T](self, key: str, default: T, context: Context | None = None) -> EvaluationDetails[T]:
        """Evaluate flag ``key`` to a value of ``default``'s type, with OpenFeature-style details.

        Never raises. An unknown flag gives ``default`` with ``Reason.ERROR`` and
        ``ErrorCode.FLAG_NOT_FOUND``; a value of another type than ``default`` gives ``default`` with
        ``ErrorCode.TYPE_MISMATCH``; a disabled flag gives ``default`` with ``Reason.DISABLED``.
        ``default=None`` accepts a value of any type.
        """
        snapshot = self._snapshot
        if snapshot is None:
            code = self._not_ready()
            self._count_error(None, code)
            return EvaluationDetails(key, default, None, Reason.ERROR, code, "no flags are loaded yet")
        flag = snapshot.get(key)
        if flag is None:
            self._count_error(None, ErrorCode.FLAG_NOT_FOUND)
            shown = repr(key) if isinstance(key, str) else f"of type {type(key).__name__}"
            return EvaluationDetails(
                key, default, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND, f"flag {shown} does not exist"
            )
        details = self._evaluate(snapshot, flag, key, default, context)
        if details.error_code is not None:
            self._count_error(flag, details.error_code)
        else:
            self._count(flag, details.reason, details.variant)
        return details

    def _evaluate_converted[T, R](
        self, key: str, default: T, context: Context, convert: Callable[[EvaluationDetails[T]], R]
    ) -> R:
        """``convert(self.evaluate(key, default, context))``, the conversion kept beside cached details.

        For `FlagProvider`: the details the client caches per outcome are converted once, so an
        evaluation through OpenFeature allocates no more than one through `evaluate`. ``convert`` must
        give the same result for the same details, and that result is shared: it must not be changed.
        """
        snapshot = self._snapshot
        flag = None
        if snapshot is not None:
            # A compiled flag straight from the snapshot's table; `get` checks the key and compiles.
            flag = (snapshot._compiled.get(key) if type(key) is str else None) or snapshot.get(key)
        if (
            snapshot is None
            or flag is None
            or self._sticky is not None
            or self._stale
            or type(context) is not Context
        ):
            return convert(self.evaluate(key, default, context))
        outcome = snapshot._decide(flag, context)
        kind = type(default)
        converted = outcome.converted.get(kind)
        if converted is not None:
            EVALUATIONS.add(1, converted[1])
            return converted[0]  # type: ignore[return-value]  # what `convert` gave: an R
        cached = outcome.cache.get(kind)
        from_flag = cached is not None
        if cached is not None:
            details = cast("EvaluationDetails[T]", cached)
        else:
            details, from_flag = self._resolve(flag, outcome, _REASONS[outcome.matched], default)
        if details.error_code is not None:
            self._count_error(flag, details.error_code)
            return convert(details)
        attributes = self._labels(flag, details.reason, details.variant)
        EVALUATIONS.add(1, attributes)
        result = convert(details)
        if from_flag:
            outcome.cache[kind] = details
            outcome.converted[kind] = (result, attributes)
        return result

    def _evaluate[T](
        self, snapshot: Snapshot, flag: CompiledFlag, key: str, default: T, context: Context | None
    ) -> EvaluationDetails[T]:
        ctx = context if context is not None else EMPTY_CONTEXT
        if not _is_context(ctx):
            message = f"the context must be a Context, got {type(ctx).__name__}"
            return EvaluationDetails(key, default, None, Reason.ERROR, ErrorCode.INVALID_CONTEXT, message)
        if self._sticky is not None:
            outcome, reason = self._sticky_outcome(snapshot, flag, ctx)
            return self._details(flag, outcome, reason, default)
        outcome = snapshot._decide(flag, ctx)
        if self._stale:
            return self._details(flag, outcome, _REASONS[outcome.matched], default, stale=True)
        # Details that do not depend on the default's value are built once per outcome and type.
        cached = outcome.cache.get(type(default))
        if cached is not None:
            return cast("EvaluationDetails[T]", cached)
        details, from_flag = self._resolve(flag, outcome, _REASONS[outcome.matched], default)
        if from_flag:
            outcome.cache[type(default)] = details
        return details

    # -- metrics -----------------------------------------------------------------------------------

    def _not_ready(self) -> ErrorCode:
        return ErrorCode.PROVIDER_FATAL if self.closed else ErrorCode.PROVIDER_NOT_READY

    def _current(self, reason: Reason) -> Reason:
        """``reason``, or STALE while the last good snapshot is past ``stale_after``."""
        return Reason.STALE if self._stale and reason is not Reason.DISABLED else reason

    @staticmethod
    def _count(flag: CompiledFlag, reason: Reason, variant: str | None) -> None:
        EVALUATIONS.add(1, FlagClient._labels(flag, reason, variant))

    @staticmethod
    def _labels(flag: CompiledFlag, reason: Reason, variant: str | None) -> Attributes:
        # The attributes are built once per flag, reason and variant: all bounded by the definitions.
        attributes = flag.labels.get((reason, variant))
        if attributes is None:
            labels = {"feature_flag.key": flag.key, "feature_flag.result.reason": reason.value.lower()}
            if variant is not None:
                labels["feature_flag.result.variant"] = variant
            attributes = flag.labels[(reason, variant)] = labels
        return attributes

    def _count_invalid_context(self, key: str) -> None:
        """Count an evaluation whose context could not even be built (by `FlagProvider`)."""
        snapshot = self._snapshot
        self._count_error(None if snapshot is None else snapshot.get(key), ErrorCode.INVALID_CONTEXT)

    @classmethod
    def _count_error(cls, flag: CompiledFlag | None, code: ErrorCode) -> None:
        if flag is None:  # an unknown key: never recorded, a caller could make up any number of them
            EVALUATIONS.add(1, _UNKNOWN_FLAG)
            EVALUATION_ERRORS.add(1, _ERROR_TYPES[code])
            return
        cls._count(flag, Reason.ERROR, None)
        attributes = flag.labels.get((code, None))
        if attributes is None:
            labels = {"error.type": code.value.lower(), "feature_flag.key": flag.key}
            attributes = flag.labels[(code, None)] = labels
        EVALUATION_ERRORS.add(1, attributes)

    def _details[T](
        self, flag: CompiledFlag, outcome: Outcome, reason: Reason, default: T, *, stale: bool = False
    ) -> EvaluationDetails[T]:
        return self._resolve(flag, outcome, reason, default, stale=stale)[0]

    def _resolve[T](
        self, flag: CompiledFlag, outcome: Outcome, reason: Reason, default: T, *, stale: bool = False
    ) -> tuple[EvaluationDetails[T], bool]:
        """The details, and whether they hold the flag's value (not the caller's default)."""
        key, metadata = flag.key, flag.metadata
        if reason is Reason.DISABLED:
            return EvaluationDetails(key, default, None, reason, flag_metadata=metadata), False
        choice = outcome.choice
        variant = None if choice is None else choice.variant.name
        value: object
        if choice is not None and choice.value is not None:
            value = choice.value
        elif outcome.on:
            value = True
        elif isinstance(default, bool):
            value = False
        else:
            return EvaluationDetails(key, default, None, Reason.DEFAULT, flag_metadata=metadata), False
        typed = _coerce(value, default)
        if typed is _MISMATCH:
            message = f"flag {key!r} holds a {type(value).__name__}, not a {type(default).__name__}"
            details = EvaluationDetails(
                key, default, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH, message, flag_metadata=metadata
            )
            return details, False
        if stale:
            reason = Reason.STALE
        if isinstance(typed, dict | list):
            # A JSON object or array is handed out as a copy, never cached: changing it leaves the flag be.
            fresh = cast("T", copy.deepcopy(typed))
            return EvaluationDetails(key, fresh, variant, reason, flag_metadata=metadata), False
        return EvaluationDetails(key, cast("T", typed), variant, reason, flag_metadata=metadata), True

    def _sticky_outcome(
        self, snapshot: Snapshot, flag: CompiledFlag, context: Context
    ) -> tuple[Outcome, Reason]:
        store = self._sticky
        subject = context.user_id
        if store is None or subject is None or not flag.enabled:
            outcome = snapshot._decide(flag, context)
            return outcome, _REASONS[outcome.matched]
        remembered = store.get(flag.key, subject)
        if remembered is not None:
            if remembered == ON_WITHOUT_VARIANT:
                return Outcome(on=True, choice=None, matched="sticky"), Reason.CACHED
            choice = flag.choices.get(remembered)
            if choice is not None:
                return Outcome(on=True, choice=choice, matched="sticky"), Reason.CACHED
        outcome = snapshot._decide(flag, context)
        if outcome.on:
            store.set(
                flag.key,
                subject,
                ON_WITHOUT_VARIANT if outcome.choice is None else outcome.choice.variant.name,
            )
        return outcome, _REASONS[outcome.matched]


class _Mismatch:
    pass


_MISMATCH = _Mismatch()


def _coerce(value: object, default: object) -> object:  # noqa: PLR0911 - one return per JSON type
    if default is None:
        return value
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _MISMATCH
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _MISMATCH
    if isinstance(default, str):
        return value if isinstance(value, str) else _MISMATCH
    if isinstance(default, Mapping):
        return value if isinstance(value, Mapping) else _MISMATCH
    if isinstance(default, list | tuple):
        return value if isinstance(value, list | tuple) else _MISMATCH
    return value if isinstance(value, type(default)) else _MISMATCH


def _is_context(value: object) -> bool:
    """Whether ``value`` is a `Context` (callers typed it so; evaluation checks, since it never raises)."""
    return isinstance(value, Context)


def _positive(name: str, value: object) -> None:
    # Bounded (100 years): float(10**400) would be an OverflowError, and inf a timer that never fires.
    check_seconds(name, value, error=FeatureFlagsConfigurationError)


def _own_copy(result: VariantResult) -> VariantResult:
    """``result`` with a JSON object or array value copied, so the caller may change it freely."""
    if isinstance(result.value, dict | list):
        return dataclasses.replace(result, value=copy.deepcopy(result.value))
    return result
