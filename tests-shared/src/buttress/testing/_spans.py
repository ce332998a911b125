"""Reading back the OpenTelemetry spans a test produced, through the SDK's in-memory exporter.

Like the meter provider, the API's global tracer provider can be set once per process, so the first
use installs an SDK `TracerProvider` that exports every finished span to an in-memory exporter; each
test then gets a `RecordedSpans` holding the spans finished *since the test started*::

    async def test_a_send_is_traced(span_recorder: RecordedSpans) -> None:
        await bus.send(CreateOrder(...))
        assert [span.name for span in span_recorder.spans()] == ["send CreateOrder"]

It needs the ``telemetry`` extra (``buttress-testing[telemetry]``, which brings ``opentelemetry-sdk``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import MissingExtraError, TestingConfigurationError, TestingTypeError

__all__ = ["RecordedSpans", "SpanRecord", "install_span_exporter"]

type AttributeValue = str | bool | int | float


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span, as the SDK exported it.

    Attributes:
        name: The span's name.
        attributes: Its attributes.
        error: Whether its status is error.
        exceptions: The type names of the exceptions recorded on it, in order.
        span_id: Its id.
        parent_id: Its parent's id, or ``None`` for a root span.
        status: Its status code: ``"UNSET"``, ``"OK"`` or ``"ERROR"``.
        kind: Its kind: ``"INTERNAL"``, ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"`` or ``"CONSUMER"``.
        trace_id: Its trace's id.
    """

    name: str
    attributes: Mapping[str, AttributeValue]
    error: bool
    exceptions: tuple[str, ...]
    span_id: int
    parent_id: int | None
    status: str = "UNSET"
    kind: str = "INTERNAL"
    trace_id: int = 0


_EXPORTER: Any = None


def install_span_exporter() -> Any:  # noqa: ANN401 - the SDK's InMemorySpanExporter
    """Install (once) the session's SDK tracer provider with an in-memory exporter, and return it.

    Raises:
        MissingExtraError: opentelemetry-sdk is not installed (the ``telemetry`` extra).
        TestingConfigurationError: The process's global tracer provider was already set to something
            else (it can be set only once).
    """
    global _EXPORTER  # noqa: PLW0603 - the API's global provider can be set once per process
    if _EXPORTER is not None:
        return _EXPORTER
    try:
        trace = importlib.import_module("opentelemetry.trace")
        sdk = importlib.import_module("opentelemetry.sdk.trace")
        export = importlib.import_module("opentelemetry.sdk.trace.export")
        memory = importlib.import_module("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    except ImportError as exc:
        raise MissingExtraError("the span_recorder fixture", "telemetry") from exc
    exporter = memory.InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        raise TestingConfigurationError(
            "span_recorder",
            type(trace.get_tracer_provider()).__name__,
            "the global tracer provider was set before the fixture could install its exporter",
        )
    _EXPORTER = exporter
    return exporter


def _record(span: Any) -> SpanRecord:  # noqa: ANN401 - the SDK's ReadableSpan
    events = [event for event in span.events if event.name == "exception"]
    exceptions = tuple(str((event.attributes or {}).get("exception.type", "")) for event in events)
    parent = span.parent.span_id if span.parent is not None else None
    return SpanRecord(
        name=span.name,
        attributes=dict(span.attributes or {}),
        error=span.status.status_code.name == "ERROR",
        exceptions=exceptions,
        span_id=span.context.span_id,
        parent_id=parent,
        status=span.status.status_code.name,
        kind=span.kind.name,
        trace_id=span.context.trace_id,
    )


class RecordedSpans:
    """The spans finished since this object was made (the ``span_recorder`` fixture's value).

    Args:
        exporter: The SDK exporter; `install_span_exporter` by default.

    Raises:
        TestingTypeError: ``exporter`` is not a span exporter.
    """

    def __init__(self, exporter: Any = None) -> None:  # noqa: ANN401 - the SDK's exporter
        if exporter is not None and not callable(getattr(exporter, "get_finished_spans", None)):
            raise TestingTypeError(
                "exporter", "an SDK span exporter (with get_finished_spans) or None", exporter
            )
        self._exporter = install_span_exporter() if exporter is None else exporter
        self._start = len(self._exporter.get_finished_spans())

    def spans(self, name: str | None = None) -> list[SpanRecord]:
        """The spans finished since the start, in the order they finished; only ``name``'s if given.

        Raises:
            TestingTypeError: ``name`` is neither a str nor ``None``.
        """
        if name is not None and not isinstance(name, str):
            raise TestingTypeError("name", "a str or None", name)
        found = [_record(span) for span in self._exporter.get_finished_spans()[self._start :]]
        return [span for span in found if name is None or span.name == name]
