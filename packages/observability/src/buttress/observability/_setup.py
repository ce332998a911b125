"""`setup_telemetry`: the application's one call that installs OpenTelemetry's SDK providers.

OpenTelemetry's global tracer and meter providers can be set once per process. `setup_telemetry`
sets both under one lock: the first call builds them, a later call with the same settings returns
the same `TelemetrySetup` (idempotent, from any thread), and a call with other settings raises
`TelemetryAlreadySetError` instead of leaving half the process on each. `shutdown` flushes what the
exporters still hold and releases the setup.

It needs the ``sdk`` extra; a library that only makes spans and metrics needs opentelemetry-api alone.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import metrics, trace

from buttress.core import check_seconds, check_text

from .exceptions import (
    MissingExtraError,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    TelemetryAlreadySetError,
)

__all__ = ["TelemetrySetup", "current_setup", "setup_telemetry", "shutdown"]

_MAX_NAME: Final = 255


@dataclass(frozen=True, slots=True, eq=False)
class TelemetrySetup:
    """What `setup_telemetry` installed: the SDK's providers and the settings they were made with.

    Attributes:
        service_name: The ``service.name`` resource attribute.
        version: The ``service.version`` resource attribute.
        tracer_provider: The SDK's tracer provider, now the process's global one.
        meter_provider: The SDK's meter provider, now the process's global one.
        resource_attributes: Every attribute of the resource the providers report with.
    """

    service_name: str
    version: str
    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    resource_attributes: Mapping[str, str | bool | int | float]
    _key: tuple[object, ...] = field(repr=False)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Flush and shut down both providers (see the module's `shutdown`)."""
        return shutdown(timeout, setup=self)


_lock = threading.Lock()
# The one setup of this process: OpenTelemetry's providers are process globals themselves.
_current: list[TelemetrySetup] = []


def current_setup() -> TelemetrySetup | None:
    """The setup `setup_telemetry` made and `shutdown` has not yet released, or ``None``."""
    with _lock:
        return _current[0] if _current else None


def _check_attributes(attributes: object) -> dict[str, str | bool | int | float]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ObservabilityTypeError(
            "resource_attributes", "a mapping of str to str/bool/int/float", attributes
        )
    checked: dict[str, str | bool | int | float] = {}
    for key, value in attributes.items():
        check_text(
            "resource_attributes key",
            key,
            max_bytes=_MAX_NAME,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
        if isinstance(value, str):
            check_text(
                f"resource_attributes[{key!r}]",
                value,
                allow_empty=True,
                max_bytes=4096,
                error=ObservabilityConfigurationError,
            )
        elif not isinstance(value, bool | int | float):
            raise ObservabilityTypeError(f"resource_attributes[{key!r}]", "a str, bool, int or float", value)
        checked[key] = value
    return checked


def _check_sequence(name: str, values: object, method: str) -> tuple[Any, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        raise ObservabilityTypeError(name, "a sequence", values)
    for value in values:
        if not callable(getattr(value, method, None)):
            raise ObservabilityTypeError(name, f"a sequence of objects with {method}()", value)
    return tuple(values)


def _check_endpoint(endpoint: object) -> str | None:
    if endpoint is None:
        return None
    text = check_text(
        "otlp_endpoint", endpoint, error=ObservabilityConfigurationError, type_error=ObservabilityTypeError
    )
    if not text.startswith(("http://", "https://")):
        raise ObservabilityConfigurationError(
            "otlp_endpoint", text, "must be an http:// or https:// URL (OTLP over HTTP)", show_value=False
        )
    return text.rstrip("/")


def _sdk() -> tuple[Any, Any, Any, Any]:
    try:
        from opentelemetry.sdk import metrics as sdk_metrics  # noqa: PLC0415 - the sdk extra
        from opentelemetry.sdk import resources  # noqa: PLC0415
        from opentelemetry.sdk import trace as sdk_trace  # noqa: PLC0415
        from opentelemetry.sdk.trace import export  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("setup_telemetry", "sdk") from exc
    return sdk_trace, export, sdk_metrics, resources


def _otlp(endpoint: str, interval: float) -> tuple[Any, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415 - sdk extra
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtraError("setup_telemetry(otlp_endpoint=...)", "sdk") from exc
    spans = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), export_interval_millis=interval * 1000
    )
    return spans, reader


def _globals_unset() -> bool:
    """Whether nobody has set OpenTelemetry's global providers yet (the API hands out proxies until then)."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    return isinstance(tracer_provider, trace.ProxyTracerProvider) and type(meter_provider).__name__ == (
        "_ProxyMeterProvider"
    )


def setup_telemetry(
    service_name: str,
    version: str,
    *,
    environment: str | None = None,
    resource_attributes: Mapping[str, str | bool | int | float] | None = None,
    otlp_endpoint: str | None = None,
    span_exporters: Sequence[Any] = (),
    metric_readers: Sequence[Any] = (),
    export_interval: float = 60.0,
) -> TelemetrySetup:
    """Install the SDK's tracer and meter providers as the process's global ones, once.

    Idempotent and thread-safe: a second call with the same settings (the same exporter objects)
    returns the first call's `TelemetrySetup` and changes nothing, whichever thread makes it.

    Args:
        service_name: ``service.name``, such as ``"orders-api"``.
        version: ``service.version``, such as ``"1.4.2"``.
        environment: ``deployment.environment.name`` (``"production"``), if given.
        resource_attributes: More resource attributes (``{"service.namespace": "shop"}``).
        otlp_endpoint: An OTLP/HTTP collector's base URL (``"http://collector:4318"``): spans go to
            ``/v1/traces`` through a batch processor, metrics to ``/v1/metrics`` every
            ``export_interval`` seconds. ``None`` sets up the providers without OTLP export.
        span_exporters: More SDK span exporters, each behind a batch span processor.
        metric_readers: More SDK metric readers (a Prometheus reader, an in-memory reader in tests).
        export_interval: Seconds between two OTLP metric exports.

    Returns:
        The setup, whose providers are the process's global ones until `shutdown`.

    Raises:
        ObservabilityConfigurationError: An empty or over-long name, a bad endpoint or interval.
        ObservabilityTypeError: An argument of the wrong type.
        TelemetryAlreadySetError: The process is already set up with other settings, or its
            providers were set by other code.
        MissingExtraError: The ``sdk`` extra is not installed.
    """
    for name, value in (("service_name", service_name), ("version", version)):
        check_text(
            name,
            value,
            max_bytes=_MAX_NAME,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
    if environment is not None:
        check_text(
            "environment",
            environment,
            max_bytes=_MAX_NAME,
            error=ObservabilityConfigurationError,
            type_error=ObservabilityTypeError,
        )
    extra = _check_attributes(resource_attributes)
    endpoint = _check_endpoint(otlp_endpoint)
    exporters = _check_sequence("span_exporters", span_exporters, "export")
    readers = _check_sequence("metric_readers", metric_readers, "collect")
    interval = check_seconds("export_interval", export_interval, error=ObservabilityConfigurationError)
    attributes: dict[str, str | bool | int | float] = {
        **extra,
        "service.name": service_name,
        "service.version": version,
    }
    if environment is not None:
        attributes["deployment.environment.name"] = environment
    key = (
        tuple(sorted(attributes.items())),
        endpoint,
        tuple(map(id, exporters)),
        tuple(map(id, readers)),
        interval,
    )
    with _lock:
        if _current:
            if _current[0]._key == key:
                return _current[0]
            raise TelemetryAlreadySetError(
                "setup_telemetry",
                service_name,
                f"telemetry is already set up for {_current[0].service_name!r} with other settings; "
                "call shutdown() first",
            )
        sdk_trace, export, sdk_metrics, resources = _sdk()
        if not _globals_unset():
            raise TelemetryAlreadySetError(
                "setup_telemetry",
                service_name,
                "OpenTelemetry's global providers were already set by other code (they can be set once)",
            )
        resource = resources.Resource.create(attributes)
        all_readers = list(readers)
        all_exporters = list(exporters)
        if endpoint is not None:
            spans, reader = _otlp(endpoint, interval)
            all_exporters.append(spans)
            all_readers.append(reader)
        tracer_provider = sdk_trace.TracerProvider(resource=resource)
        for exporter in all_exporters:
            tracer_provider.add_span_processor(export.BatchSpanProcessor(exporter))
        meter_provider = sdk_metrics.MeterProvider(resource=resource, metric_readers=all_readers)
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        setup = TelemetrySetup(
            service_name=service_name,
            version=version,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            resource_attributes=dict(resource.attributes),
            _key=key,
        )
        _current.append(setup)
        return setup


def shutdown(timeout: float = 30.0, *, setup: TelemetrySetup | None = None) -> bool:
    """Flush every exporter and shut the providers down; a no-op when nothing is set up.

    After it, `setup_telemetry` may run again only in a process whose global providers are not set
    (OpenTelemetry's globals cannot be replaced): in practice, shutdown is the application's last act.

    Args:
        timeout: Seconds to wait for the exporters to send what they hold.
        setup: The setup to shut down; the current one by default (another one is left alone).

    Returns:
        Whether everything was flushed in time.

    Raises:
        ObservabilityConfigurationError: ``timeout`` is not a positive number of seconds.
        ObservabilityTypeError: ``setup`` is not a `TelemetrySetup`.
    """
    seconds = check_seconds("timeout", timeout, error=ObservabilityConfigurationError)
    if setup is not None and not isinstance(setup, TelemetrySetup):
        raise ObservabilityTypeError("setup", "a TelemetrySetup or None", setup)
    with _lock:
        if not _current or (setup is not None and setup is not _current[0]):
            return True
        done = _current.pop()
    tracer_provider: Any = done.tracer_provider
    meter_provider: Any = done.meter_provider
    flushed = bool(tracer_provider.force_flush(int(seconds * 1000)))
    tracer_provider.shutdown()
    meter_provider.shutdown(timeout_millis=seconds * 1000)
    return flushed
