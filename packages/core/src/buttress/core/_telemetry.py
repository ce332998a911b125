"""OpenTelemetry metrics (and spans) for every package, bound on first use and free when the API is absent.

A package makes one `Telemetry` for its instruments and records through them::

    from buttress.core import Telemetry

    _telemetry = Telemetry("buttress.caching")
    _hits = _telemetry.counter("buttress.cache.hits", unit="{hit}", description="Cache hits.")

    _hits.add(1, {"cache.name": name})

Nothing is imported or created until the first measurement: then, when ``opentelemetry-api`` can be
imported, the instrument is created on the global meter provider's meter for the package (the API's
proxy meter, so an SDK the application installs later still receives it); when it cannot, the
instrument turns into a no-op for good. Libraries never install an SDK: the application does.

That first measurement pays the one-time cost (importing the API, about 13 modules, and making the
meter and the instrument: some 15 ms of CPU). A package moves it to start-up by calling
``_telemetry.bind()`` where the application already waits (a backend's ``connect``, say): the meter
and every instrument declared so far are made at once, and a later measurement imports nothing.

Spans work the same way: ``with _telemetry.span("send CreateOrder", {"cqrs.kind": "command"}):`` runs
the block in a span of the package's tracer, which records an exception that leaves the block; without
the API it is a shared no-op context manager.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final, Literal

from ._checks import check_text
from .exceptions import ArgumentTypeError, ConfigurationError

__all__ = ["Attributes", "Counter", "Histogram", "Observation", "Telemetry", "UpDownCounter"]

type Attributes = Mapping[str, str | bool | int | float]
"""Attributes of one measurement: OpenTelemetry's primitive attribute values."""

type Observation = tuple[float, Attributes]
"""One value an observable instrument reports at collection time, with its attributes."""

# OpenTelemetry's instrument-name syntax (the API refuses others with a warning and drops them).
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]{0,254}")
_UNSET: Final = object()
_NO_SPAN: Final[AbstractContextManager[None]] = nullcontext()


def _meter(scope: str, version: str | None) -> Any:  # noqa: ANN401 - the API's Meter, when importable
    """The API's meter for ``scope``, or ``None`` when opentelemetry-api is not installed."""
    try:
        from opentelemetry import metrics  # noqa: PLC0415 - optional, imported on first measurement
    except ImportError:
        return None
    return metrics.get_meter(scope, version or "")


def _tracer(scope: str, version: str | None) -> tuple[Any, Any]:
    """The API's tracer for ``scope`` and its ``trace`` module, or ``None`` for both without the API."""
    try:
        from opentelemetry import trace  # noqa: PLC0415 - optional, imported on first span
    except ImportError:
        return None, None
    # A provider named by the environment is loaded on first use: spans are always made then.
    named = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))
    return trace.get_tracer(scope, version or ""), (None if named else trace)


def _no_provider(trace: Any) -> bool:  # noqa: ANN401 - the API's trace module
    """Whether no tracer provider is installed yet, so every span would be a no-op one.

    The API's proxy tracer makes non-recording spans until a provider is set, at the cost of a few
    microseconds each; the provider is read from the API's module global on every call (a reading
    that fails, in an API version without it, counts as installed, so spans are made).
    """
    return trace is not None and getattr(trace, "_TRACER_PROVIDER", True) is None


class _Instrument:
    """Shared laziness: the real instrument is made on the first measurement.

    A measurement then costs one attribute check and no call while no SDK is installed, and goes to the
    SDK's instrument directly (not through the API's proxy) once there is one.
    """

    __slots__ = ("_description", "_name", "_proxy", "_target", "_telemetry", "_unit")

    _kind: str = ""

    def __init__(self, telemetry: Telemetry, name: str, unit: str, description: str) -> None:
        self._telemetry = telemetry
        self._name = name
        self._unit = unit
        self._description = description
        # Where measurements go: `_Unbound` until the first one, then the SDK's instrument or None.
        self._target: Any = _Unbound(self)
        # When `_target` is None: the API's proxy, whose `_real_instrument` is the SDK's instrument
        # once the application sets a meter provider (None until then; always None without the API).
        self._proxy: Any = _NO_SDK

    @property
    def name(self) -> str:
        """The instrument's name, such as ``buttress.cache.hits``."""
        return self._name

    def _bind(self) -> None:
        self._target = None
        meter = self._telemetry.meter()
        if meter is None:
            return
        create = getattr(meter, f"create_{self._kind}")
        instrument = create(self._name, unit=self._unit, description=self._description)
        if hasattr(instrument, "_real_instrument"):
            # The API's proxy (no provider was set when the meter was made): read what it forwards to,
            # and skip its call. Were the attribute renamed, measurements would go through the proxy.
            self._proxy = instrument
        else:
            self._target = instrument


class _NoSDK:
    """The `_Instrument._proxy` of an instrument that has no SDK behind it for good (no API)."""

    __slots__ = ()
    _real_instrument: Final = None


_NO_SDK: Final = _NoSDK()


class _Unbound:
    """An instrument's target before its first measurement: binds the instrument and passes it on."""

    __slots__ = ("_owner",)

    def __init__(self, owner: _Instrument) -> None:
        self._owner = owner

    def add(self, amount: int | float, attributes: Attributes | None) -> None:
        self._owner._bind()
        self._owner.add(amount, attributes)  # type: ignore[attr-defined]

    def record(self, value: int | float, attributes: Attributes | None) -> None:
        self._owner._bind()
        self._owner.record(value, attributes)  # type: ignore[attr-defined]


class Counter(_Instrument):
    """A monotonic sum (requests served, errors raised). Made by `Telemetry.counter`."""

    __slots__ = ()
    _kind = "counter"

    def add(self, amount: int | float = 1, attributes: Attributes | None = None) -> None:
        """Add ``amount`` (at least 0) with ``attributes``."""
        if (target := self._target) is None and (target := self._proxy._real_instrument) is None:
            return
        target.add(amount, attributes)


class UpDownCounter(_Instrument):
    """A sum that goes both ways (items in flight). Made by `Telemetry.up_down_counter`."""

    __slots__ = ()
    _kind = "up_down_counter"

    def add(self, amount: int | float, attributes: Attributes | None = None) -> None:
        """Add ``amount`` (negative to subtract) with ``attributes``."""
        if (target := self._target) is None and (target := self._proxy._real_instrument) is None:
            return
        target.add(amount, attributes)


class Histogram(_Instrument):
    """A distribution of measurements (durations, sizes). Made by `Telemetry.histogram`."""

    __slots__ = ()
    _kind = "histogram"

    def record(self, value: int | float, attributes: Attributes | None = None) -> None:
        """Record ``value`` with ``attributes``."""
        if (target := self._target) is None and (target := self._proxy._real_instrument) is None:
            return
        target.record(value, attributes)


type ObservableKind = Literal["gauge", "counter", "up_down_counter"]


class Telemetry:
    """The OpenTelemetry instruments of one package, bound lazily (or at once by `bind`).

    Args:
        scope: The instrumentation scope: the package's import name, such as ``"buttress.caching"``.
        version: The package's version, reported with the scope.

    Raises:
        ConfigurationError: ``scope`` is not a ``buttress.`` module name.
        ArgumentTypeError: ``version`` is not a str or ``None``.
    """

    def __init__(self, scope: str, version: str | None = None) -> None:
        check_text("scope", scope)
        if not re.fullmatch(r"buttress\.[a-z_][a-z0-9_]*", scope):
            raise ConfigurationError("scope", scope, "must be a buttress package's import name")
        if version is not None and not isinstance(version, str):
            raise ArgumentTypeError("version", "a str or None", version)
        self.scope = scope
        self.version = version
        self._meter: Any = _UNSET
        self._tracer: Any = _UNSET
        self._trace: Any = None
        self._names: set[str] = set()
        self._instruments: list[_Instrument] = []
        self._bound = False

    def bind(self, *, spans: bool = False) -> bool:
        """Make the meter and every instrument declared so far now, instead of on first use.

        The one-time cost of the first measurement (importing ``opentelemetry-api`` and making the
        meter and the instruments) is paid here, at start-up, and no later measurement imports
        anything; instruments declared after this call are bound as they are declared. Measurements
        still go to the API's proxy until the application installs an SDK, and reach the SDK from
        then on, as with lazy binding. Calling it again does nothing; nothing calls it for you
        unless the package does (its backends' ``connect``, say). Without the API it only settles
        that every instrument is a no-op for good.

        Args:
            spans: Make the package's tracer as well (for a package that opens spans; it imports
                the API's ``trace`` module, a few more modules).

        Returns:
            Whether ``opentelemetry-api`` was found (``False``: every instrument is a no-op).

        Raises:
            ArgumentTypeError: ``spans`` is not a bool.
        """
        if not isinstance(spans, bool):
            raise ArgumentTypeError("spans", "a bool", spans)
        if not self._bound:
            self.meter()
            for instrument in self._instruments:
                if isinstance(instrument._target, _Unbound):
                    instrument._bind()
            self._bound = True
        if spans:
            self.tracer()  # made once, like the meter
        return self._meter is not None

    def _adopt[I: _Instrument](self, instrument: I) -> I:
        """Keep ``instrument`` for `bind`, or bind it at once when `bind` was called already."""
        self._instruments.append(instrument)
        if self._bound:
            instrument._bind()
        return instrument

    def meter(self) -> Any:  # noqa: ANN401 - the API's Meter, or None without opentelemetry-api
        """The API's meter for this scope (made on first call), or ``None`` without the API."""
        if self._meter is _UNSET:
            self._meter = _meter(self.scope, self.version)
        return self._meter

    def tracer(self) -> Any:  # noqa: ANN401 - the API's Tracer, or None without opentelemetry-api
        """The API's tracer for this scope (made on first call), or ``None`` without the API.

        It is the API's proxy tracer, so spans reach a tracer provider the application installs later.
        """
        if self._tracer is _UNSET:
            self._tracer, self._trace = _tracer(self.scope, self.version)
        return self._tracer

    def span(self, name: str, attributes: Attributes | None = None) -> AbstractContextManager[object]:
        """A context manager that runs its block in a span named ``name``.

        Without the API, or before the application installs a tracer provider, it is a shared no-op
        (the API would only make a non-recording span, at a cost of microseconds).

        The span is the current span inside the block, so spans opened there are its children; an
        exception that leaves the block is recorded on it and sets its status to error.

        Args:
            name: The span's name: low-cardinality, such as ``"send CreateOrder"``.
            attributes: The span's attributes (never keys, ids or user data).

        Raises:
            ArgumentTypeError: ``name`` is not a str.
        """
        if not isinstance(name, str):
            raise ArgumentTypeError("name", "a str", name)
        tracer = self._tracer
        if tracer is _UNSET:
            tracer = self.tracer()
        if tracer is None or _no_provider(self._trace):
            return _NO_SPAN
        span: AbstractContextManager[object] = tracer.start_as_current_span(
            name, attributes=attributes, record_exception=True, set_status_on_exception=True
        )
        return span

    def _claim(self, name: str, unit: str, description: str) -> None:
        check_text("name", name)
        if not _NAME.fullmatch(name) or not name.startswith("buttress."):
            raise ConfigurationError(
                "name", name, "must follow OpenTelemetry's syntax and start with 'buttress.'"
            )
        check_text("unit", unit, allow_empty=True, max_bytes=63)
        check_text("description", description, allow_empty=True)
        if name in self._names:
            raise ConfigurationError("name", name, "is already an instrument of this scope")
        self._names.add(name)

    def counter(self, name: str, *, unit: str = "1", description: str = "") -> Counter:
        """A monotonic counter named ``name`` (``buttress.<area>.<what>``)."""
        self._claim(name, unit, description)
        return self._adopt(Counter(self, name, unit, description))

    def up_down_counter(self, name: str, *, unit: str = "1", description: str = "") -> UpDownCounter:
        """A counter that can go down."""
        self._claim(name, unit, description)
        return self._adopt(UpDownCounter(self, name, unit, description))

    def histogram(self, name: str, *, unit: str = "s", description: str = "") -> Histogram:
        """A histogram; durations in seconds (``unit="s"``), as OpenTelemetry's conventions ask."""
        self._claim(name, unit, description)
        return self._adopt(Histogram(self, name, unit, description))

    def observe(
        self,
        name: str,
        callback: Callable[[], Iterable[Observation]],
        *,
        kind: ObservableKind = "gauge",
        unit: str = "1",
        description: str = "",
    ) -> None:
        """Report ``callback()``'s values at each collection (pool sizes, cumulative totals).

        Nothing runs on a hot path: the callback is called by the SDK's reader when it collects.
        Unlike the other instruments, this one is registered at once (when the API is importable).

        Args:
            name: The instrument's name.
            callback: Returns ``(value, attributes)`` pairs, one per thing observed.
            kind: ``"gauge"`` (a current value), ``"counter"`` (a monotonic total) or
                ``"up_down_counter"`` (a total that can go down).
            unit: The unit, UCUM style (``"s"``, ``"By"``, ``"{connection}"``).
            description: What it measures.

        Raises:
            ConfigurationError: A bad name, unit, description or kind.
            ArgumentTypeError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise ArgumentTypeError("callback", "a callable", callback)
        if kind not in ("gauge", "counter", "up_down_counter"):
            raise ConfigurationError("kind", kind, "must be 'gauge', 'counter' or 'up_down_counter'")
        self._claim(name, unit, description)
        meter = self.meter()
        if meter is None:
            return
        from opentelemetry.metrics import Observation as OtelObservation  # noqa: PLC0415

        def collect(_options: object) -> list[Any]:
            return [OtelObservation(value, dict(attributes)) for value, attributes in callback()]

        create = getattr(meter, f"create_observable_{kind}")
        create(name, callbacks=[collect], unit=unit, description=description)
