"""Values to JSON's own types and back, checked against type annotations both ways.

An event's payload and an aggregate's snapshot state are stored as JSON. Writing converts rich values
(UUIDs, datetimes, Decimals, enums, tuples, sets, dataclasses) to JSON types; reading converts them back,
guided by the field's annotation. Both directions check the value against the annotation, so a value
that could not be read back is refused when it is written, and stored data that does not fit its
annotation (``{"amount": "abc"}`` for ``amount: int``) is an `EventSerializationError` naming the field,
never a wrong-typed field or an untyped exception. Messages name types, never values: payloads may hold
personal data.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from uuid import UUID

from .exceptions import EventSerializationError

__all__ = ["Converter", "converter", "field_converters", "from_jsonable", "to_jsonable"]

type Convert = Callable[[Any], Any]


class Mismatch(Exception):  # noqa: N818 - internal signal, never reaches a caller
    """A value does not fit its annotation; ``path`` says where, from the outside in."""

    def __init__(self, expected: str, got: object, *, got_text: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got_text or ("null" if got is None else type(got).__name__)
        self.path: list[str] = []

    def where(self) -> str:
        """The path of the offending value, such as ``amount`` or ``lines[2].price``."""
        text = ""
        for part in self.path:
            text += part if part.startswith("[") or not text else f".{part}"
        return text or "value"

    def describe(self) -> str:
        """Say what was wrong, without the value itself."""
        return f"{self.where()}: expected {self.expected}, got {self.got}"


def _fail(expected: str, got: object) -> NoReturn:
    raise Mismatch(expected, got)


@dataclasses.dataclass(frozen=True, slots=True)
class Converter:
    """How one annotated type is written to JSON types (``dump``) and read back (``load``).

    Both raise `Mismatch` for a value that does not fit the annotation.
    """

    dump: Convert
    load: Convert
    expected: str


# Values of any type (annotation Any, object, a TypeVar): converted by their runtime type -------------


def _key_to_json(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, enum.Enum):
        value = key.value
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    elif isinstance(key, (UUID, Decimal)):
        return _decimal_text(key) if isinstance(key, Decimal) else str(key)
    elif isinstance(key, (datetime, date)):
        return key.isoformat()
    _fail("a str, int, UUID, Decimal, date, datetime or enum mapping key", key)


def _decimal_text(value: Decimal) -> str:
    if value.is_snan():
        _fail("a Decimal that is not a signaling NaN", value)
    return str(value)


def _dump_any(value: object) -> Any:  # noqa: ANN401, PLR0911 - a branch per supported type
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return _dump_any(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_key_to_json(k): _dump_any(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump_any(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_dump_any(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump_any(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    dump = getattr(value, "model_dump", None)
    if dump is not None and callable(dump):
        return _dump_any(dump(mode="json"))
    _fail("a value JSON can hold (str, int, float, bool, None, list, dict, UUID, Decimal, ...)", value)


def _load_any(value: object) -> Any:  # noqa: ANN401 - any JSON value
    return value


_ANY = Converter(_dump_any, _load_any, "any value")


def to_jsonable(value: object) -> Any:  # noqa: ANN401 - JSON types of any shape
    """Turn dataclasses, UUIDs, datetimes, Decimals, enums, tuples and sets into JSON's own types.

    Mapping keys must be str, int, UUID, Decimal, date, datetime or enum members (written as strings).

    Raises:
        EventSerializationError: ``value`` holds something JSON cannot represent faithfully.
    """
    return _run(_ANY.dump, value, "dumps")


def from_jsonable(value: Any, hint: Any) -> Any:  # noqa: ANN401 - any JSON value, any annotation
    """Rebuild a value made by `to_jsonable`, guided by (and checked against) the annotation ``hint``.

    Raises:
        EventSerializationError: ``value`` does not fit ``hint``; the message names where and why.
    """
    return _run(converter(hint).load, value, "loads")


def _run(convert: Convert, value: object, operation: str) -> Any:  # noqa: ANN401
    try:
        return convert(value)
    except Mismatch as exc:
        raise EventSerializationError("value", operation, exc.describe()) from None
    except RecursionError:
        raise EventSerializationError("value", operation, "the value is nested too deeply") from None


# Converters by annotation -------------------------------------------------------------------------


def _scalar(kind: type[Any], expected: str) -> Converter:
    def check(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        _fail(expected, value)

    return Converter(check, check, expected)


def _bool_converter() -> Converter:
    def check(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, bool):
            return value
        _fail("a bool", value)

    return Converter(check, check, "a bool")


def _float_converter() -> Converter:
    def check(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        _fail("a number", value)

    return Converter(check, check, "a number")


def _none_converter() -> Converter:
    def check(value: object) -> None:
        if value is not None:
            _fail("null", value)

    return Converter(check, check, "null")


def _decimal_converter() -> Converter:
    def dump(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, Decimal):
            return _decimal_text(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        _fail("a Decimal or an int", value)

    def load(value: object) -> Decimal:
        if isinstance(value, bool):
            _fail("a decimal number", value)
        try:
            if isinstance(value, (str, int)):
                number = Decimal(value)
            elif isinstance(value, float) and math.isfinite(value):
                number = Decimal(repr(value))  # the JSON text's digits, not the binary float's
            else:
                _fail("a decimal number", value)
        except (InvalidOperation, ValueError):
            _fail("a decimal number", value)
        if number.is_snan():
            _fail("a Decimal that is not a signaling NaN", value)
        return number

    return Converter(dump, load, "a decimal number")


def _uuid_converter() -> Converter:
    def dump(value: object) -> str:
        if isinstance(value, UUID):
            return str(value)
        return str(load(value))

    def load(value: object) -> UUID:
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                pass
        _fail("a UUID", value)

    return Converter(dump, load, "a UUID")


def _datetime_converter() -> Converter:
    def dump(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        _fail("a datetime", value)

    def load(value: object) -> datetime:
        # A datetime is written with its time; a bare date is not one (it would read as midnight).
        if isinstance(value, str) and len(value) > 10:
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        _fail("an ISO 8601 datetime", value)

    return Converter(dump, load, "an ISO 8601 datetime")


def _date_converter() -> Converter:
    def dump(value: object) -> str:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        _fail("a date", value)

    def load(value: object) -> date:
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        _fail("an ISO 8601 date", value)

    return Converter(dump, load, "an ISO 8601 date")


def _enum_converter(cls: type[enum.Enum]) -> Converter:
    expected = f"a {cls.__name__} value"

    def member(value: object) -> enum.Enum:
        if isinstance(value, cls):
            return value
        with contextlib.suppress(Exception):  # any failure to look it up means "not a member"
            return cls(value)
        for candidate in cls:  # values stored in JSON's shape (a tuple value comes back as a list)
            try:
                if _dump_any(candidate.value) == value and type(_dump_any(candidate.value)) is type(value):
                    return candidate
            except Mismatch:
                continue
        _fail(expected, value)

    return Converter(lambda value: _dump_any(member(value).value), member, expected)


def _literal_converter(options: tuple[Any, ...]) -> Converter:
    expected = "one of " + ", ".join(repr(o) for o in options[:8])

    def pick(value: object) -> Any:  # noqa: ANN401
        for option in options:
            if option == value and type(option) is type(value):
                return option
            if isinstance(option, enum.Enum) and _dump_any(option.value) == value:
                return option
        _fail(expected, value)

    return Converter(lambda value: _dump_any(pick(value)), pick, expected)


def _union_converter(options: list[Any]) -> Converter:
    converters = [converter(option) for option in options]
    expected = " or ".join(c.expected for c in converters)

    def attempt(value: object, pick: Callable[[Converter], Convert]) -> Any:  # noqa: ANN401
        for item in converters:
            try:
                return pick(item)(value)
            except Mismatch:
                continue
        _fail(expected, value)

    return Converter(
        lambda value: attempt(value, lambda c: c.dump),
        lambda value: attempt(value, lambda c: c.load),
        expected,
    )


def _each(convert: Convert, values: collections.abc.Iterable[Any]) -> list[Any]:
    out = []
    for index, item in enumerate(values):
        try:
            out.append(convert(item))
        except Mismatch as exc:
            exc.path.insert(0, f"[{index}]")
            raise
    return out


def _sequence_converter(build: Callable[[list[Any]], Any], item: Converter, name: str) -> Converter:
    expected = f"a list ({name})"

    def dump(value: object) -> list[Any]:
        if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(
            value, (collections.abc.Sequence, collections.abc.Set)
        ):
            _fail(expected, value)
        items = _each(item.dump, value)
        if isinstance(value, collections.abc.Set):
            items.sort(key=repr)  # sets have no order; a sorted list gives equal bytes for equal sets
        return items

    def load(value: object) -> Any:  # noqa: ANN401
        if not isinstance(value, list):
            _fail(expected, value)
        try:
            return build(_each(item.load, value))
        except TypeError:  # an unhashable item for a set
            _fail(expected, value)

    return Converter(dump, load, expected)


def _fixed_tuple_converter(items: list[Converter]) -> Converter:
    expected = f"a list of {len(items)} items"

    def convert(value: object, pick: Callable[[Converter], Convert], kinds: tuple[type, ...]) -> list[Any]:
        if not isinstance(value, kinds) or len(value) != len(items):  # type: ignore[arg-type]
            _fail(expected, value)
        out = []
        for index, (conv, item) in enumerate(zip(items, value, strict=True)):  # type: ignore[call-overload]
            try:
                out.append(pick(conv)(item))
            except Mismatch as exc:
                exc.path.insert(0, f"[{index}]")
                raise
        return out

    return Converter(
        lambda value: convert(value, lambda c: c.dump, (list, tuple)),
        lambda value: tuple(convert(value, lambda c: c.load, (list,))),
        expected,
    )


_INT_KEY = re.compile(r"-?(0|[1-9][0-9]{0,4299})")


def _key_converter(hint: Any) -> Convert:  # noqa: ANN401
    """How a JSON object key (always a str) becomes a key of the annotated type."""
    if hint in (str, Any, object) or isinstance(hint, typing.TypeVar):
        return lambda key: key
    if hint is int:

        def load_int(key: str) -> int:
            if _INT_KEY.fullmatch(key):
                return int(key)
            _fail("an int key", key)

        return load_int
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        by_text = {}
        for member in hint:
            value = member.value
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                by_text[str(value)] = member

        def load_member(key: str) -> enum.Enum:
            found = by_text.get(key)
            if found is None:
                _fail(f"a {hint.__name__} key", key)
            return found

        return load_member
    return converter(hint).load


def _mapping_converter(key_hint: Any, item: Converter) -> Converter:  # noqa: ANN401
    load_key = _key_converter(key_hint)
    expected = "an object"

    def dump(value: object) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            _fail(expected, value)
        out = {}
        for key, entry in value.items():
            text = _key_to_json(key)
            try:
                out[text] = item.dump(entry)
            except Mismatch as exc:
                exc.path.insert(0, f"[{text[:40]!r}]")
                raise
        return out

    def load(value: object) -> dict[Any, Any]:
        if not isinstance(value, dict):
            _fail(expected, value)
        out = {}
        for key, entry in value.items():
            if not isinstance(key, str):
                _fail("an object with string keys", key)
            try:
                out[load_key(key)] = item.load(entry)
            except Mismatch as exc:
                exc.path.insert(0, f"[{key[:40]!r}]")
                raise
        return out

    return Converter(dump, load, expected)


def _fields_of(cls: type[Any]) -> list[tuple[str, Converter]]:
    hints = resolve_hints(cls)
    return [(f.name, converter(hints.get(f.name, Any))) for f in dataclasses.fields(cls) if f.init]


def _dataclass_converter(cls: type[Any]) -> Converter:
    expected = f"an object for {cls.__name__}"

    def dump(value: object) -> dict[str, Any]:
        if not isinstance(value, cls):
            _fail(f"a {cls.__name__}", value)
        return dump_fields(field_converters(cls), value)

    def load(value: object) -> Any:  # noqa: ANN401
        if not isinstance(value, dict):
            _fail(expected, value)
        return build(cls, load_fields(field_converters(cls), value))

    return Converter(dump, load, expected)


def dump_fields(fields: list[tuple[str, Converter]], value: object) -> dict[str, Any]:
    """Write the given fields of ``value`` to JSON types, checking each against its annotation."""
    out = {}
    for name, conv in fields:
        try:
            out[name] = conv.dump(getattr(value, name))
        except Mismatch as exc:
            exc.path.insert(0, name)
            raise
    return out


def load_fields(fields: list[tuple[str, Converter]], payload: dict[Any, Any]) -> dict[str, Any]:
    """Read a JSON object's members into field values; a member that is not a field is refused."""
    known = dict(fields)
    out = {}
    for name, value in payload.items():
        conv = known.get(name)
        if conv is None:
            raise Mismatch("only the class's fields", name, got_text=f"the member {str(name)[:40]!r}")
        try:
            out[name] = conv.load(value)
        except Mismatch as exc:
            exc.path.insert(0, name)
            raise
    return out


def build(cls: type[Any], values: dict[str, Any]) -> Any:  # noqa: ANN401
    """Call ``cls(**values)``; a refusal (a missing field, a failing ``__post_init__``) is a `Mismatch`."""
    try:
        return cls(**values)
    except Mismatch:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the class refuses with, the data does not fit
        raise Mismatch(
            f"the fields of {cls.__name__}", values, got_text=f"values it refused ({type(exc).__name__})"
        ) from None


def _named_tuple_converter(cls: type[Any]) -> Converter:
    hints = resolve_hints(cls)
    items = _fixed_tuple_converter([converter(hints.get(name, Any)) for name in cls._fields])
    expected = f"a list for {cls.__name__}"

    def dump(value: object) -> Any:  # noqa: ANN401
        if not isinstance(value, cls):
            _fail(f"a {cls.__name__}", value)
        return items.dump(value)

    def load(value: object) -> Any:  # noqa: ANN401
        try:
            return cls(*items.load(value))
        except Mismatch:
            raise
        except Exception:  # noqa: BLE001 - the class refused the items
            _fail(expected, value)

    return Converter(dump, load, expected)


def _pydantic_converter(cls: type[Any]) -> Converter:
    expected = f"an object for {cls.__name__}"

    def dump(value: object) -> Any:  # noqa: ANN401
        if not isinstance(value, cls):
            _fail(f"a {cls.__name__}", value)
        return _dump_any(value.model_dump(mode="json"))

    def load(value: object) -> Any:  # noqa: ANN401
        try:
            return cls.model_validate(value)
        except Exception:  # noqa: BLE001 - pydantic's ValidationError, or the model's own refusal
            _fail(expected, value)

    return Converter(dump, load, expected)


def _subclass_converter(cls: type[Any], base: type[Any]) -> Converter:
    """A subclass of str, int or float (``class Email(str)``): stored as the base, rebuilt as ``cls``."""
    expected = f"a {cls.__name__}"

    def dump(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, cls):
            return base(value)
        _fail(expected, value)

    def load(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, base) and not isinstance(value, bool):
            with contextlib.suppress(Exception):  # the class refused the value
                return cls(value)
        _fail(expected, value)

    return Converter(dump, load, expected)


def _instance_converter(cls: type[Any]) -> Converter:
    """Any other class: written by the value's runtime type, read back only if JSON gives that type."""
    expected = f"a {cls.__name__}"

    def dump(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, cls):
            return _dump_any(value)
        _fail(expected, value)

    def load(value: object) -> Any:  # noqa: ANN401
        if isinstance(value, cls):
            return value
        _fail(expected, value)

    return Converter(dump, load, expected)


_SEQUENCES: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    tuple: tuple,
    set: set,
    frozenset: frozenset,
    collections.abc.Sequence: tuple,
    collections.abc.MutableSequence: list,
    collections.abc.Collection: tuple,
    collections.abc.Iterable: tuple,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
}
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def converter(hint: Any) -> Converter:  # noqa: ANN401
    """Return the `Converter` for an annotation (cached for hashable annotations)."""
    try:
        hash(hint)
    except TypeError:  # an unhashable annotation: nothing this module knows how to check
        return _ANY
    return _cached(hint)


@functools.lru_cache(maxsize=4096)
def _cached(hint: Any) -> Converter:  # noqa: ANN401
    return _make(hint)


_SIMPLE: dict[Any, Callable[[], Converter]] = {
    str: lambda: _scalar(str, "a str"),
    int: lambda: _scalar(int, "an int"),
    float: _float_converter,
    bool: _bool_converter,
    type(None): _none_converter,
    None: _none_converter,
    Decimal: _decimal_converter,
    UUID: _uuid_converter,
    datetime: _datetime_converter,
    date: _date_converter,
}


def _make(hint: Any) -> Converter:  # noqa: ANN401, PLR0911, PLR0912 - one branch per kind of annotation
    if hint is Any or hint is object or isinstance(hint, (typing.TypeVar, typing.ParamSpec)):
        return _ANY
    if isinstance(hint, typing.TypeAliasType):
        return converter(hint.__value__)
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return converter(supertype)
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple()
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return converter(args[0])
    if origin is typing.Literal:
        return _literal_converter(args)
    if origin in (types.UnionType, typing.Union):
        return _union_converter(list(args))
    if isinstance(origin, typing.TypeAliasType):
        return converter(origin.__value__)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return _fixed_tuple_converter([converter(a) for a in args])
    if hint in _SEQUENCES or origin in _SEQUENCES:
        kind = origin if origin in _SEQUENCES else hint
        item = converter(args[0]) if args else _ANY
        return _sequence_converter(_SEQUENCES[kind], item, getattr(kind, "__name__", "items"))
    if hint in _MAPPINGS or origin in _MAPPINGS:
        key, value = (args[0], args[1]) if len(args) == 2 else (Any, Any)
        return _mapping_converter(key, converter(value))
    if not isinstance(hint, type):
        return _ANY  # an annotation this module does not know (a string, a Protocol alias): unchecked
    if issubclass(hint, enum.Enum):
        return _enum_converter(hint)
    if dataclasses.is_dataclass(hint):
        return _dataclass_converter(hint)
    if issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return _named_tuple_converter(hint)
    if hasattr(hint, "model_validate") and hasattr(hint, "model_dump"):
        return _pydantic_converter(hint)
    for base in (str, int, float):
        if issubclass(hint, base) and hint is not bool:
            return _subclass_converter(hint, base)
    return _instance_converter(hint)


_FIELDS: dict[type[Any], list[tuple[str, Converter]]] = {}


def field_converters(cls: type[Any]) -> list[tuple[str, Converter]]:
    """The converters of a dataclass's ``__init__`` fields, in order (computed once per class)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = _fields_of(cls)
    return found


def resolve_hints(cls: type[Any]) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``; an annotation that cannot be resolved is a `Mismatch`."""
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # noqa: BLE001 - NameError for a forward reference, TypeError, ...
        raise Mismatch(
            f"resolvable annotations on {cls.__name__}", cls, got_text=f"{type(exc).__name__}: {exc}"
        ) from None
