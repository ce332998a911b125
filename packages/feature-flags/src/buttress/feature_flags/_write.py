r"""Writing flag definitions in the Unleash client-API format, and the JSON the backends store.

A `FlagDefinition` is a plain frozen dataclass: nothing checks its fields when it is built by hand.
Every writer here checks them by reading what it wrote back with the parser (`flag_from_dict`), so a
field of the wrong type is a `FlagDefinitionError` naming the flag and the field, never a
``TypeError`` or ``AttributeError`` from deep inside. The stored forms (`flag_to_json`,
`segment_to_json`) also refuse text that a backend cannot keep: PostgreSQL's ``jsonb`` has no NUL
(the ``\u0000`` escape) and no lone surrogate, so neither backend takes them, and a definition
stored in one moves to the other unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from buttress.core import check_text

from ._model import (
    Constraint,
    Dependency,
    FlagDefinition,
    FlagSet,
    Operator,
    Override,
    Payload,
    Segment,
    Strategy,
    Variant,
)
from ._parse import flag_from_dict, segment_from_dict
from .exceptions import FeatureFlagsConfigurationError, FeatureFlagsTypeError, FlagDefinitionError

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_ID",
    "check_key",
    "flag_set_to_dict",
    "flag_to_dict",
    "flag_to_json",
    "normalized",
    "normalized_segment",
    "segment_to_dict",
    "segment_to_json",
]

MAX_SEGMENT_ID = 2**63 - 1
"""The largest segment id a backend stores (PostgreSQL's ``bigint``)."""

MAX_KEY_BYTES = 1000
"""The longest flag key a backend stores, in UTF-8 bytes.

PostgreSQL indexes the key (an index entry holds at most about 2,700 bytes) and sends it as the
payload of ``NOTIFY`` (under 8,000 bytes); Redis keeps the same limit, so a flag moves between them.
"""


def flag_to_dict(flag: FlagDefinition) -> dict[str, Any]:
    """Write a flag as its Unleash-format object, in plain JSON types; `flag_from_dict` reads it back.

    Raises:
        FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
        FlagDefinitionError: One of its fields holds a value of the wrong type (named in the error).
    """
    return _flag_data(normalized(flag))


def normalized(flag: FlagDefinition) -> FlagDefinition:
    """``flag`` as a backend would store it and read it back: every field of its documented type.

    Raises:
        FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
        FlagDefinitionError: A field holds a value that does not read as its type (named in the error,
            with the path the parser reads).
    """
    _require(flag, FlagDefinition, "flag")
    return flag_from_dict(_flag_data(flag))


def _flag_data(flag: FlagDefinition) -> dict[str, Any]:
    data: dict[str, Any] = {"name": flag.key, "enabled": flag.enabled}
    if flag.description is not None:
        data["description"] = flag.description
    data["strategies"] = _items(flag.strategies, Strategy, _strategy_to_dict)
    data["variants"] = _items(flag.variants, Variant, _variant_to_dict)
    if not _empty(flag.dependencies):
        data["dependencies"] = _items(flag.dependencies, Dependency, _dependency_to_dict)
    if flag.default_variant is not None:
        data["defaultVariant"] = flag.default_variant
    if not _empty(flag.metadata):
        data["metadata"] = _plain(flag.metadata)
    return data


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    """Write a segment as its Unleash-format object.

    Raises:
        FeatureFlagsTypeError: ``segment`` is not a `Segment`.
        FlagDefinitionError: One of its fields holds a value of the wrong type.
    """
    return _segment_data(normalized_segment(segment))


def normalized_segment(segment: Segment) -> Segment:
    """``segment`` as a backend would store it and read it back (see `normalized`)."""
    _require(segment, Segment, "segment")
    return segment_from_dict(_segment_data(segment))


def _segment_data(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "constraints": _items(segment.constraints, Constraint, _constraint_to_dict),
    }


def flag_set_to_dict(flag_set: FlagSet) -> dict[str, Any]:
    """Write a flag set in the ``/client/features`` shape; `flag_set_from_dict` reads it back."""
    _require(flag_set, FlagSet, "flag_set")
    data: dict[str, Any] = {
        "features": [flag_to_dict(flag) for flag in flag_set.flags.values()],
        "segments": [segment_to_dict(segment) for segment in flag_set.segments.values()],
    }
    if flag_set.version is not None:
        data["version"] = flag_set.version
    return data


def flag_to_json(flag: FlagDefinition) -> str:
    """The JSON a backend stores for ``flag``, checked so that every backend can keep it.

    Raises:
        FeatureFlagsTypeError: ``flag`` is not a `FlagDefinition`.
        FlagDefinitionError: A field has the wrong type, or text in it holds NUL or a lone surrogate.
    """
    data = flag_to_dict(flag)
    size = len(flag.key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        reason = f"must be at most {MAX_KEY_BYTES} bytes in UTF-8, got {size}"
        raise FlagDefinitionError(_short(flag.key), "name", reason)
    return _storable(_short(flag.key), data)


def segment_to_json(segment: Segment) -> str:
    """The JSON a backend stores for ``segment``, checked like `flag_to_json`; the id fits a ``bigint``.

    Raises:
        FeatureFlagsTypeError: ``segment`` is not a `Segment`.
        FlagDefinitionError: A field is wrong, or the id is past `MAX_SEGMENT_ID`.
    """
    data = segment_to_dict(segment)
    if segment.id > MAX_SEGMENT_ID:
        raise FlagDefinitionError(f"segment:{segment.id}", "id", f"must be at most {MAX_SEGMENT_ID}")
    return _storable(f"segment:{segment.id}", data)


def check_key(key: object, parameter: str = "key") -> str:
    """A flag key a backend can look up: non-empty, no NUL or lone surrogate, `MAX_KEY_BYTES` at most.

    Raises:
        FeatureFlagsConfigurationError: ``key`` is empty, too long, or holds NUL or a lone surrogate.
        FeatureFlagsTypeError: ``key`` is not a str.
    """
    return check_text(
        parameter,
        key,
        max_bytes=MAX_KEY_BYTES,
        error=FeatureFlagsConfigurationError,
        type_error=FeatureFlagsTypeError,
    )


def _storable(owner: str, data: dict[str, Any]) -> str:
    _check_texts(owner, data, "")
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:  # an int past str()'s digit limit: the only value the parser lets through
        raise FlagDefinitionError(
            owner, "<definition>", "holds a number too large to write as JSON"
        ) from None


def _check_texts(owner: str, value: object, path: str) -> None:
    """Refuse NUL and lone surrogates anywhere in a parsed definition (it nests at most `MAX_DEPTH`)."""
    if isinstance(value, str):
        reason = _unstorable(value)
        if reason is not None:
            raise FlagDefinitionError(owner, path or "<definition>", reason)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_texts(owner, key, path or "<definition>")
            _check_texts(owner, item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_texts(owner, item, f"{path}[{index}]")


def _short(key: str) -> str:
    """A flag key as an error names it: a long one is cut, so the message stays readable."""
    return key if len(key) <= 100 else f"{key[:60]}...<{len(key)} characters>"


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL (no backend can store it)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (it holds a lone surrogate, which no backend can store)"
    return None


# Converters: a field of the expected type is written out; anything else is passed on as it is, for
# the parser to name.


def _empty(value: object) -> bool:
    return isinstance(value, tuple | list | Mapping) and not value


def _items[T](value: object, kind: type[T], convert: Callable[[T], dict[str, Any]]) -> object:
    if isinstance(value, tuple | list):
        return [convert(item) if isinstance(item, kind) else item for item in value]
    return value


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | list):
        return list(value)
    return value


def _strategy_to_dict(strategy: Strategy) -> dict[str, Any]:
    return {
        "name": strategy.name,
        "parameters": _plain(strategy.parameters),
        "constraints": _items(strategy.constraints, Constraint, _constraint_to_dict),
        "segments": _plain(strategy.segments),
        "variants": _items(strategy.variants, Variant, _variant_to_dict),
    }


def _constraint_to_dict(constraint: Constraint) -> dict[str, Any]:
    operator = constraint.operator
    data: dict[str, Any] = {
        "contextName": constraint.context_name,
        "operator": operator.value if isinstance(operator, Operator) else operator,
        "values": _plain(constraint.values),
        "inverted": constraint.inverted,
        "caseInsensitive": constraint.case_insensitive,
    }
    if constraint.value is not None:
        data["value"] = constraint.value
    return data


def _variant_to_dict(variant: Variant) -> dict[str, Any]:
    data: dict[str, Any] = {"name": variant.name, "weight": variant.weight}
    if variant.value is not None:
        data["value"] = variant.value
    payload = variant.payload
    if payload is not None:
        data["payload"] = (
            {"type": payload.type, "value": payload.value} if isinstance(payload, Payload) else payload
        )
    if variant.stickiness is not None:
        data["stickiness"] = variant.stickiness
    if not _empty(variant.overrides):
        data["overrides"] = _items(variant.overrides, Override, _override_to_dict)
    return data


def _override_to_dict(override: Override) -> dict[str, Any]:
    return {"contextName": override.context_name, "values": _plain(override.values)}


def _dependency_to_dict(dependency: Dependency) -> dict[str, Any]:
    return {
        "feature": dependency.feature,
        "enabled": dependency.enabled,
        "variants": _plain(dependency.variants),
    }


def _require(value: object, kind: type, name: str) -> None:
    if not isinstance(value, kind):
        raise FeatureFlagsTypeError(name, f"a {kind.__name__}", value)
