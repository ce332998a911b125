"""Running a block with OpenTelemetry's set-once global providers unset, then putting them back.

The API lets a process set its global tracer and meter providers once; code that installs them
(an application's telemetry setup) can then be tested only once per process. Inside
`isolated_opentelemetry` the globals are as in a fresh process, and on the way out the session's
providers (`span_recorder`'s, `metric_reader`'s) are back::

    def test_setup_installs_the_providers() -> None:
        with isolated_opentelemetry():
            setup = setup_telemetry("orders", "1.0")
            assert trace.get_tracer_provider() is setup.tracer_provider

Proxies handed out inside the block (``trace.get_tracer`` before a provider was set) stay bound to
what was set inside it. It needs opentelemetry-api (the ``telemetry`` extra brings it).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .exceptions import MissingExtraError

__all__ = ["isolated_opentelemetry"]

_lock = threading.Lock()

_TRACE_NAMES = ("_TRACER_PROVIDER", "_TRACER_PROVIDER_SET_ONCE")
_METRIC_NAMES = ("_METER_PROVIDER", "_METER_PROVIDER_SET_ONCE", "_PROXY_METER_PROVIDER")


@contextmanager
def isolated_opentelemetry() -> Iterator[None]:
    """Unset OpenTelemetry's global tracer and meter providers for the block; restore them after.

    Raises:
        MissingExtraError: opentelemetry-api is not installed (the ``telemetry`` extra).
    """
    try:
        trace = importlib.import_module("opentelemetry.trace")
        metrics = importlib.import_module("opentelemetry.metrics._internal")
        once = importlib.import_module("opentelemetry.util._once")
    except ImportError as exc:
        raise MissingExtraError("isolated_opentelemetry", "telemetry") from exc
    with _lock:
        saved_trace = {name: getattr(trace, name) for name in _TRACE_NAMES}
        saved_metrics = {name: getattr(metrics, name) for name in _METRIC_NAMES}
        fresh = {
            trace: {"_TRACER_PROVIDER": None, "_TRACER_PROVIDER_SET_ONCE": once.Once()},
            metrics: {
                "_METER_PROVIDER": None,
                "_METER_PROVIDER_SET_ONCE": once.Once(),
                "_PROXY_METER_PROVIDER": metrics._ProxyMeterProvider(),
            },
        }
        for module, values in fresh.items():
            for name, value in values.items():
                setattr(module, name, value)
    try:
        yield
    finally:
        with _lock:
            for name, value in saved_trace.items():
                setattr(trace, name, value)
            for name, value in saved_metrics.items():
                setattr(metrics, name, value)
