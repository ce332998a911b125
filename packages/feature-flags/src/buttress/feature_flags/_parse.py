"""Reading flag definitions in the Unleash client-API format (plus typed variant values).

`_write` writes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ._model import (
    Constraint,
    Dependency,
    FlagDefinition,
    FlagSet,
    JsonValue,
    Operator,
    Override,
    Payload,
    Segment,
    Strategy,
    Variant,
)
from .exceptions import FlagDefinitionError, FlagDocumentError

__all__ = [
    "MAX_DEPTH",
    "flag_from_dict",
    "flag_set_from_dict",
    "load_json",
    "segment_from_dict",
]

MAX_DEPTH = 64
"""How deeply a variant's JSON ``value`` may nest: deeper (or self-referencing) values are refused."""


def load_json(raw: str | bytes, backend: str, address: str) -> object:
    """Parse a stored JSON document, or raise `FlagDocumentError` naming the source and what is wrong.

    ``json.loads`` raises ``ValueError`` for malformed text, ``UnicodeDecodeError`` for bytes that are
    not UTF-8 and ``RecursionError`` for documents nested past Python's limit; all three are reported
    the same typed way.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise FlagDocumentError(backend, address, "not valid JSON: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise FlagDocumentError(
            backend, address, f"not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None
    except ValueError as exc:
        raise FlagDocumentError(backend, address, f"not valid JSON: {exc}") from None


_OPERATORS = {operator.value: operator for operator in Operator if operator is not Operator.UNKNOWN}


class _Reader:
    """Reads one flag's fields, raising `FlagDefinitionError` naming the flag and the field."""

    __slots__ = ("flag",)

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def fail(self, path: str, reason: str) -> FlagDefinitionError:
        return FlagDefinitionError(self.flag, path, reason)

    def mapping(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be an object, got {type(value).__name__}")
        return value

    def sequence(self, value: object, path: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):  # a JSON array (not text, bytes, a range, ...)
            raise self.fail(path, f"must be a list, got {type(value).__name__}")
        return value

    def text(self, value: object, path: str, *, empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, got {type(value).__name__}")
        if not empty and not value:
            raise self.fail(path, "must not be empty")
        return value

    def scalar_text(self, value: object, path: str) -> str:
        # Unleash servers send parameters and values as strings; numbers written by hand are accepted.
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
            try:
                return str(value)
            except ValueError:  # an int past str()'s digit limit
                raise self.fail(path, "is a number too large to write as text") from None
        return self.text(value, path, empty=True)

    def key(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"has a key that is not a string ({type(value).__name__})")
        return value

    def boolean(self, value: object, path: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {type(value).__name__}")
        return value

    def integer(self, value: object, path: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {type(value).__name__}")
        if value < minimum:
            raise self.fail(path, f"must be at least {minimum}, got {value}")
        return value


def flag_from_dict(data: object, *, segments: Mapping[int, Segment] | None = None) -> FlagDefinition:
    """Read one flag from its Unleash-format object.

    Besides Unleash's fields a variant may carry ``value`` (any JSON value, the typed value an
    OpenFeature evaluation returns), and a flag may carry ``defaultVariant`` and ``metadata``.

    Args:
        data: The flag's object (``name``, ``enabled``, ``strategies``, ``variants``, ...).
        segments: Known segments; when given, a strategy referring to an unknown segment is rejected.

    Raises:
        FlagDefinitionError: A field is missing or malformed; the error names the flag and the field.
    """
    if not isinstance(data, Mapping):
        raise FlagDefinitionError("?", "<flag>", f"must be an object, got {type(data).__name__}")
    raw_name = data.get("name", data.get("key"))
    if not isinstance(raw_name, str) or not raw_name:
        raise FlagDefinitionError("?", "name", "must be a non-empty string")
    reader = _Reader(raw_name)
    strategies = tuple(
        _strategy(reader, item, f"strategies[{index}]", segments)
        for index, item in enumerate(reader.sequence(data.get("strategies"), "strategies"))
    )
    variants = _variants(reader, data.get("variants"), "variants")
    dependencies = tuple(
        _dependency(reader, item, f"dependencies[{index}]")
        for index, item in enumerate(reader.sequence(data.get("dependencies"), "dependencies"))
    )
    default_variant = data.get("defaultVariant")
    if default_variant is not None:
        default_variant = reader.text(default_variant, "defaultVariant")
        if default_variant not in {variant.name for variant in variants}:
            raise reader.fail(
                "defaultVariant", f"names {default_variant!r}, which is not one of the variants"
            )
    description = data.get("description")
    if description is not None:
        description = reader.text(description, "description", empty=True)
    return FlagDefinition(
        key=raw_name,
        enabled=reader.boolean(data.get("enabled"), "enabled", True),
        strategies=strategies,
        variants=variants,
        dependencies=dependencies,
        default_variant=default_variant,
        description=description,
        metadata=_metadata(reader, data.get("metadata")),
    )


def _metadata(reader: _Reader, value: object) -> Mapping[str, str | int | float | bool]:
    if value is None:
        return MappingProxyType({})
    items = reader.mapping(value, "metadata")
    result: dict[str, str | int | float | bool] = {}
    for name, item in items.items():
        key = reader.key(name, "metadata")
        if not isinstance(item, str | int | float | bool):
            raise reader.fail(f"metadata.{key}", "must be a string, number or boolean")
        if isinstance(item, float) and not math.isfinite(item):  # no JSON (nor jsonb) carries it
            raise reader.fail(f"metadata.{key}", "must be a finite number")
        result[key] = item
    return MappingProxyType(result)


def _strategy(reader: _Reader, value: object, path: str, segments: Mapping[int, Segment] | None) -> Strategy:
    data = reader.mapping(value, path)
    name = reader.text(data.get("name"), f"{path}.name")
    raw_parameters = data.get("parameters")
    parameters: dict[str, str] = {}
    if raw_parameters is not None:
        for key, item in reader.mapping(raw_parameters, f"{path}.parameters").items():
            if item is None:
                continue
            parameter = reader.key(key, f"{path}.parameters")
            parameters[parameter] = reader.scalar_text(item, f"{path}.parameters.{parameter}")
    segment_ids = tuple(
        reader.integer(item, f"{path}.segments[{index}]")
        for index, item in enumerate(reader.sequence(data.get("segments"), f"{path}.segments"))
    )
    if segments is not None:
        for index, segment_id in enumerate(segment_ids):
            if segment_id not in segments:
                raise reader.fail(
                    f"{path}.segments[{index}]", f"refers to segment {segment_id}, which does not exist"
                )
    return Strategy(
        name=name,
        parameters=MappingProxyType(parameters),
        constraints=_constraints(reader, data.get("constraints"), f"{path}.constraints"),
        segments=segment_ids,
        variants=_variants(reader, data.get("variants"), f"{path}.variants"),
    )


def _constraints(reader: _Reader, value: object, path: str) -> tuple[Constraint, ...]:
    return tuple(
        _constraint(reader, item, f"{path}[{index}]")
        for index, item in enumerate(reader.sequence(value, path))
    )


def _constraint(reader: _Reader, value: object, path: str) -> Constraint:
    data = reader.mapping(value, path)
    raw_operator = reader.text(data.get("operator"), f"{path}.operator")
    operator = _OPERATORS.get(raw_operator, Operator.UNKNOWN)
    values = tuple(
        reader.scalar_text(item, f"{path}.values[{index}]")
        for index, item in enumerate(reader.sequence(data.get("values"), f"{path}.values"))
    )
    single = data.get("value")
    return Constraint(
        context_name=reader.text(data.get("contextName"), f"{path}.contextName", empty=True),
        operator=operator,
        values=values,
        value=None if single is None else reader.scalar_text(single, f"{path}.value"),
        inverted=reader.boolean(data.get("inverted"), f"{path}.inverted", False),
        case_insensitive=reader.boolean(data.get("caseInsensitive"), f"{path}.caseInsensitive", False),
    )


def _variants(reader: _Reader, value: object, path: str) -> tuple[Variant, ...]:
    variants = tuple(
        _variant(reader, item, f"{path}[{index}]") for index, item in enumerate(reader.sequence(value, path))
    )
    seen: set[str] = set()
    for index, variant in enumerate(variants):
        if variant.name in seen:
            raise reader.fail(f"{path}[{index}].name", f"repeats the variant name {variant.name!r}")
        seen.add(variant.name)
    return variants


def _variant(reader: _Reader, value: object, path: str) -> Variant:
    data = reader.mapping(value, path)
    payload = None
    raw_payload = data.get("payload")
    if raw_payload is not None:
        payload_data = reader.mapping(raw_payload, f"{path}.payload")
        payload = Payload(
            type=reader.text(payload_data.get("type"), f"{path}.payload.type"),
            value=reader.scalar_text(payload_data.get("value"), f"{path}.payload.value"),
        )
    stickiness = data.get("stickiness")
    overrides = tuple(
        _override(reader, item, f"{path}.overrides[{index}]")
        for index, item in enumerate(reader.sequence(data.get("overrides"), f"{path}.overrides"))
    )
    return Variant(
        name=reader.text(data.get("name"), f"{path}.name"),
        weight=reader.integer(data.get("weight", 1), f"{path}.weight"),
        value=_json(reader, data.get("value"), f"{path}.value"),
        payload=payload,
        stickiness=None if stickiness is None else reader.text(stickiness, f"{path}.stickiness", empty=True),
        overrides=overrides,
    )


def _json(reader: _Reader, value: object, path: str, depth: int = 0) -> JsonValue:
    if depth > MAX_DEPTH:
        raise reader.fail(path, f"nests deeper than {MAX_DEPTH} levels (or refers to itself)")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise reader.fail(path, "must be a finite number")
        return value
    if isinstance(value, Mapping):
        return {
            reader.key(key, path): _json(reader, item, f"{path}.{key}", depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json(reader, item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    raise reader.fail(path, f"must be a JSON value, got {type(value).__name__}")


def _override(reader: _Reader, value: object, path: str) -> Override:
    data = reader.mapping(value, path)
    return Override(
        context_name=reader.text(data.get("contextName"), f"{path}.contextName", empty=True),
        values=tuple(
            reader.scalar_text(item, f"{path}.values[{index}]")
            for index, item in enumerate(reader.sequence(data.get("values"), f"{path}.values"))
        ),
    )


def _dependency(reader: _Reader, value: object, path: str) -> Dependency:
    data = reader.mapping(value, path)
    return Dependency(
        feature=reader.text(data.get("feature"), f"{path}.feature"),
        enabled=reader.boolean(data.get("enabled"), f"{path}.enabled", True),
        variants=tuple(
            reader.text(item, f"{path}.variants[{index}]")
            for index, item in enumerate(reader.sequence(data.get("variants"), f"{path}.variants"))
        ),
    )


def _label(value: object) -> str:
    """``value`` as short text for a message or a version: never an error, whatever it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or (isinstance(value, int) and abs(value) < 10**18):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return f"<{type(value).__name__}>"


def segment_from_dict(data: object) -> Segment:
    """Read one segment (``id``, ``name``, ``constraints``).

    Raises:
        FlagDefinitionError: A field is malformed; ``flag`` is ``"segment:<id>"``.
    """
    if not isinstance(data, Mapping):
        raise FlagDefinitionError("segment:?", "<segment>", f"must be an object, got {type(data).__name__}")
    raw_id = data.get("id")
    reader = _Reader(f"segment:{_label(raw_id)}")
    segment_id = reader.integer(raw_id, "id")
    name = data.get("name")
    return Segment(
        id=segment_id,
        name="" if name is None else reader.text(name, "name", empty=True),
        constraints=_constraints(reader, data.get("constraints"), "constraints"),
    )


def flag_set_from_dict(data: object) -> FlagSet:
    """Read a whole flag set: Unleash's ``/client/features`` answer, or its delta-API events.

    ``{"version": ..., "features": [...], "segments": [...]}`` is read as is. ``{"events": [...]}``
    is replayed in order: ``hydration`` replaces everything, ``feature-updated`` /
    ``feature-removed`` and ``segment-updated`` / ``segment-removed`` change one item.

    Raises:
        FlagDefinitionError: Any flag or segment is malformed, or two flags share a key.
    """
    if not isinstance(data, Mapping):
        raise FlagDefinitionError("?", "<flag set>", f"must be an object, got {type(data).__name__}")
    if "events" in data:
        return _replay(data["events"])
    reader = _Reader("?")
    segments = _segments(reader.sequence(data.get("segments"), "segments"))
    flags: dict[str, FlagDefinition] = {}
    for index, item in enumerate(reader.sequence(data.get("features", data.get("flags")), "features")):
        flag = flag_from_dict(item)
        if flag.key in flags:
            raise FlagDefinitionError(flag.key, f"features[{index}].name", "repeats a key already defined")
        flags[flag.key] = flag
    version = data.get("version")
    return FlagSet(
        flags=MappingProxyType(flags),
        segments=MappingProxyType(segments),
        version=None if version is None else _label(version),
    )


def _segments(items: Sequence[Any]) -> dict[int, Segment]:
    segments: dict[int, Segment] = {}
    for item in items:
        segment = segment_from_dict(item)
        segments[segment.id] = segment
    return segments


def _replay(events: object) -> FlagSet:
    reader = _Reader("?")
    flags: dict[str, FlagDefinition] = {}
    segments: dict[int, Segment] = {}
    for index, raw in enumerate(reader.sequence(events, "events")):
        event = reader.mapping(raw, f"events[{index}]")
        kind = event.get("type")
        if kind == "hydration":
            segments = _segments(reader.sequence(event.get("segments"), f"events[{index}].segments"))
            flags = {}
            for item in reader.sequence(event.get("features"), f"events[{index}].features"):
                flag = flag_from_dict(item)
                flags[flag.key] = flag
        elif kind == "feature-updated":
            flag = flag_from_dict(event.get("feature"))
            flags[flag.key] = flag
        elif kind == "feature-removed":
            flags.pop(reader.text(event.get("featureName"), f"events[{index}].featureName"), None)
        elif kind == "segment-updated":
            segment = segment_from_dict(event.get("segment"))
            segments[segment.id] = segment
        elif kind == "segment-removed":
            segments.pop(reader.integer(event.get("segmentId"), f"events[{index}].segmentId"), None)
        else:
            raise reader.fail(f"events[{index}].type", f"is not a known event type: {kind!r}")
    return FlagSet(flags=MappingProxyType(flags), segments=MappingProxyType(segments))
