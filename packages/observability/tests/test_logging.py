"""configure_logging: JSON and console lines, contextvars, trace correlation, redaction, the stdlib bridge."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from buttress.observability import (
    LEVELS,
    REDACTED,
    LogLevelError,
    ObservabilityConfigurationError,
    ObservabilityTypeError,
    add_trace_context,
    check_level,
    configure_logging,
    traced,
)
from buttress.testing import RecordedSpans


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_merge_context_and_redact(stream: io.StringIO) -> None:
    configure_logging(stream=stream, extra_sensitive_keys=["tax_id"])
    structlog.contextvars.bind_contextvars(request_id="r-1")
    structlog.get_logger("orders").info("placed %s", "o-7", email="ada@example.com", tax_id="123", qty=2)
    [line] = lines(stream)
    assert line["event"] == "placed o-7"
    assert line["request_id"] == "r-1"
    assert (line["email"], line["tax_id"], line["qty"]) == (REDACTED, REDACTED, 2)
    assert line["level"] == "info"
    assert line["logger"] == "orders"
    assert str(line["timestamp"]).endswith("Z")
    assert "trace_id" not in line


def test_trace_and_span_ids_in_w3c_hex(stream: io.StringIO, span_recorder: RecordedSpans) -> None:
    configure_logging(stream=stream)

    @traced
    def work() -> None:
        structlog.get_logger().info("inside")

    work()
    [line] = lines(stream)
    [span] = span_recorder.spans()
    assert line["trace_id"] == f"{span.trace_id:032x}"
    assert line["span_id"] == f"{span.span_id:016x}"
    assert len(str(line["trace_id"])) == 32
    assert len(str(line["span_id"])) == 16


def test_stdlib_records_are_redacted_and_correlated(
    stream: io.StringIO, span_recorder: RecordedSpans
) -> None:
    configure_logging(stream=stream)
    library = logging.getLogger("some.library")

    @traced
    def call() -> None:
        library.warning(
            "connecting to postgresql://app:s3cret@db/x for %s", "bob@example.com", extra={"api_key": "k"}
        )

    call()
    try:
        raise ValueError("card 4111 1111 1111 1111 refused")
    except ValueError:
        library.exception("failed")
    first, second = lines(stream)
    assert first["event"] == f"connecting to postgresql://app:{REDACTED}@db/x for {REDACTED}"
    assert first["api_key"] == REDACTED
    assert first["logger"] == "some.library"
    assert first["level"] == "warning"
    assert first["trace_id"] == f"{span_recorder.spans()[0].trace_id:032x}"
    assert "4111" not in str(second["exception"])
    assert "ValueError" in str(second["exception"])


def test_levels_filter_both_paths(stream: io.StringIO) -> None:
    configure_logging(stream=stream, level="warning")
    structlog.get_logger().info("dropped")
    logging.getLogger("lib").info("dropped too")
    structlog.get_logger().error("kept")
    assert [line["event"] for line in lines(stream)] == ["kept"]


def test_console_format_and_no_redaction(stream: io.StringIO) -> None:
    assert configure_logging(stream=stream, format="console", redact=False) is None
    structlog.get_logger().info("hello", email="ada@example.com")
    text = stream.getvalue()
    assert "hello" in text
    assert "ada@example.com" in text
    assert not text.startswith("{")


def test_configuring_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    configure_logging(stream=stream)
    structlog.get_logger().info("once")
    assert len(lines(stream)) == 1


def test_add_trace_context_outside_a_span_adds_nothing() -> None:
    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}


@given(st.sampled_from(list(LEVELS)), st.sampled_from([str.lower, str.upper, str.title]))
def test_level_names_in_any_case(name: str, case: object) -> None:
    assert check_level(case(name)) == LEVELS[name]  # type: ignore[operator]


@given(st.text(max_size=12).filter(lambda t: t.upper() not in LEVELS))
def test_unknown_level_names_are_typed_errors(name: str) -> None:
    with pytest.raises(LogLevelError):
        check_level(name)


def test_level_validation() -> None:
    assert check_level(30) == 30
    for bad in (15, 0, "WARN", "FATAL"):
        with pytest.raises(LogLevelError):
            check_level(bad)
    with pytest.raises(ObservabilityTypeError):
        check_level(2.0)
    with pytest.raises(ObservabilityTypeError):
        check_level(True)
    with pytest.raises(LogLevelError):
        configure_logging(level="LOUD")
    with pytest.raises(ObservabilityConfigurationError):
        configure_logging(format="xml")  # type: ignore[arg-type]
    assert issubclass(LogLevelError, ValueError)
