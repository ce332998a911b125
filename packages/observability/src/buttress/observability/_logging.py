"""Logging: one structlog configuration for the application and the libraries it uses.

`configure_logging` routes structlog's loggers and the standard library's through one handler, so a
third-party library's ``logging`` records get the same processors as the application's own lines:
the context bound with ``structlog.contextvars`` (a request id), the current span's ``trace_id`` and
``span_id`` in their W3C hex forms, and the PII redaction. Lines are JSON (for machines) or
structlog's console format (for people).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Final, Literal, TextIO

import structlog
from opentelemetry import trace

from ._redact import DEFAULT_SENSITIVE_KEYS, Redactor
from .exceptions import LogLevelError, ObservabilityConfigurationError, ObservabilityTypeError

__all__ = ["LEVELS", "add_trace_context", "check_level", "configure_logging"]

LEVELS: Final = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
"""The level names `check_level` accepts, with their numbers."""

_HANDLER_NAME: Final = "buttress.observability"


def check_level(level: object) -> int:
    """The number of a log level given by name (any case) or by number.

    Raises:
        LogLevelError: A name or number that is not one of `LEVELS` (``WARN`` and ``FATAL`` included:
            say ``WARNING`` and ``CRITICAL``).
        ObservabilityTypeError: Neither a str nor an int.
    """
    if isinstance(level, str):
        number = LEVELS.get(level.upper())
        if number is None:
            raise LogLevelError("level", level[:40], f"must be one of {', '.join(LEVELS)}")
        return number
    if isinstance(level, int) and not isinstance(level, bool):
        if level not in LEVELS.values():
            raise LogLevelError("level", level, "must be 10, 20, 30, 40 or 50")
        return level
    raise ObservabilityTypeError("level", "a level name or number", level)


def add_trace_context(
    logger: object, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: add the current span's ``trace_id`` (32 hex) and ``span_id`` (16 hex).

    Nothing is added outside a span (or when the span context is invalid), so lines are correlated
    with the trace a backend shows for the same request.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def configure_logging(
    *,
    level: str | int = "INFO",
    format: Literal["json", "console"] = "json",
    redact: bool = True,
    sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
    extra_sensitive_keys: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor | None:
    """Configure structlog and the standard library's logging to write through the same processors.

    The root logger gets one handler (replacing one this function installed before, and leaving
    others alone) at ``level``; structlog's loggers become standard-library loggers, so both reach it.

    Args:
        level: The root level: a name of `LEVELS` or its number.
        format: ``"json"`` (one JSON object per line) or ``"console"`` (colourless, aligned).
        redact: Add the PII `Redactor` (keys by name, values by pattern).
        sensitive_keys: The key names redacted whole.
        extra_sensitive_keys: More key names, added to ``sensitive_keys``.
        stream: Where lines go; standard error by default.

    Returns:
        The redactor in use (call its ``redact`` on values you log another way), or ``None``.

    Raises:
        LogLevelError: An unknown level.
        ObservabilityConfigurationError: An unknown format, or a bad key name.
        ObservabilityTypeError: An argument of the wrong type.
    """
    number = check_level(level)
    if format not in ("json", "console"):
        raise ObservabilityConfigurationError("format", format, "must be 'json' or 'console'")
    if redact is not True and redact is not False:
        raise ObservabilityTypeError("redact", "a bool", redact)
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise ObservabilityTypeError("stream", "a text stream or None", stream)
    redactor = Redactor(sensitive_keys, extra_keys=extra_sensitive_keys) if redact else None
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if redactor is not None:
        shared.append(redactor)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: a later configure_logging (another level, another key list) reaches every logger
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(number)
    return redactor
