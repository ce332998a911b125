"""Cache keys for `cached`, built from the arguments' values, never from their ``repr``.

The encoding is a text form of each value, tagged with its type, in which every value ends where a
reader of the text can tell without looking further (strings carry their length). So distinct values
give distinct texts, and the same value gives the same text in every process (nothing depends on
``hash``, ``id`` or insertion order):

=================================  ============================================================
value                              encoded as
=================================  ============================================================
``None``, ``True``, ``False``      ``N``, ``T``, ``F``
``int``                            ``i`` and its decimal digits (``i-12``); beyond 600 digits
                                   ``I`` and hexadecimal digits
``float``                          ``f`` and `float.hex` (``f0x1.8p+1``; ``-0.0`` and ``0.0``
                                   differ; every NaN is ``fnan``)
``complex``                        ``c(`` real ``,`` imaginary ``)``, each part as a float
``str``                            ``s``, its length in code points, ``:``, the text
``bytes``, ``bytearray``           ``b`` / ``B`` and the bytes in hexadecimal
``tuple``, ``list``                ``(...)`` / ``[...]``, items separated by ``,``
``dict``                           ``{key:value,...}``, the pairs sorted by their encoding, so
                                   insertion order does not matter
``set``, ``frozenset``             ``<...>`` / ``@9:frozenset<...>``, items sorted by encoding
anything else supported            ``@``, the length of a type id, ``:``, the type id, then a
                                   payload: ``@4:uuid`` + a str of its 32 hex digits,
                                   ``@8:datetime(iso,fold,tz)``, ``@4:date``, ``@4:time(...)``,
                                   ``@9:timedelta(days,seconds,microseconds)``, ``@7:decimal``
                                   + ``str(d)``, ``@8:fraction(n,d)``, ``@N:path:<class>`` + str,
                                   ``@N:enum:<class>`` + the member's value,
                                   ``@N:dataclass:<class>(field=value,...)`` (every field, also
                                   ``repr=False`` and ``compare=False`` ones),
                                   ``@N:namedtuple:<class>(...)``,
                                   ``@N:pydantic:<class>(field=value,...)`` (fields, extra fields
                                   and private attributes; only if the application imported pydantic)
=================================  ============================================================

``<class>`` is ``module.qualname``. Time zones are encoded by identity: a fixed `datetime.timezone`
by offset and name, a `zoneinfo.ZoneInfo` by its key; other ``tzinfo`` classes cannot be encoded.
Types are matched exactly, so a subclass of a builtin (other than an enum or a named tuple) is
refused rather than mistaken for its base. A value that cannot be encoded faithfully (an unsupported
type, a container nested deeper than 64 levels or containing itself) raises `CachingTypeError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import sys
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction
from pathlib import PurePath
from typing import Any

from .exceptions import CachingTypeError

# Arguments whose encoding is longer than this (or holds characters that are not printable) are
# replaced by their SHA-256, so keys stay short, printable and valid UTF-8 for every backend.
MAX_ARGS_CHARS = 200
_MAX_DEPTH = 64
# Below 600 digits, str(int) works whatever sys.set_int_max_str_digits says (its floor is 640).
_DECIMAL_LIMIT = 10**600
# Keys remembered per cached function of one argument (see `positional_key`).
_MEMO_SIZE = 256

_SUPPORTED = (
    "None, bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset, UUID, "
    "datetime, date, time, timedelta, Decimal, Fraction, pathlib paths, enums, dataclasses, named "
    "tuples or pydantic models of those"
)


class _Unencodable(Exception):  # noqa: N818 - internal signal, turned into CachingTypeError at the top
    """A value deep inside an argument cannot be encoded; carries where it was."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.path: list[str] = []


type _Encode = Callable[[Any, int], str]


def encode(value: object, depth: int = 0) -> str:
    """The type-tagged text of ``value``; raises `_Unencodable` for what cannot be encoded."""
    encoder = _BY_TYPE.get(value.__class__)
    if encoder is not None:
        return encoder(value, depth)
    return _encode_other(value, depth)


def encode_arguments(names: Iterable[str], values: Iterable[object]) -> str:
    """``name=value,...`` for the arguments, finished by `finish`: the part of a key after the namespace."""
    parts = []
    for name, value in zip(names, values):  # noqa: B905 - equal lengths by construction; strict costs
        # str and int inlined (as `_str` and `_int` encode them): the hot path of a @cached hit.
        cls = value.__class__
        if cls is str:
            parts.append(f"{name}=s{len(value)}:{value}")  # type: ignore[arg-type]
        elif cls is int and -_DECIMAL_LIMIT < value < _DECIMAL_LIMIT:  # type: ignore[operator]
            parts.append(f"{name}=i{value}")
        else:
            parts.append(f"{name}={encode_argument(name, value)}")
    joined = ",".join(parts)
    if len(joined) <= MAX_ARGS_CHARS and joined.isprintable():
        return joined
    return finish(joined)


def positional_key(head: str, names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], str]:
    """A function of the positional arguments (one per name) returning ``head`` + `encode_arguments`.

    Built once per cached function. With one parameter, a str or an int argument (the common
    calls) is encoded in one formatted string, its length and printability tested as
    `encode_arguments` tests them; every other case, and every function of more parameters, goes
    through `encode_arguments` itself, so the keys are the same text.
    """
    if len(names) != 1:

        def build(args: tuple[Any, ...]) -> str:
            return head + encode_arguments(names, args)

        return build
    label = f"{names[0]}="
    if not label.isprintable():  # never for an identifier, but encode_arguments would hash it
        return lambda args: head + encode_arguments(names, args)
    # An int strictly between -bound and bound has at most `room` digits, so its part (label, "i",
    # a sign, the digits) is within MAX_ARGS_CHARS; and it is printable. Such a str is any str
    # whose part fits and that is printable itself, since the label is.
    room = MAX_ARGS_CHARS - len(label) - 2
    bound = 10**room if room > 0 else 0
    int_prefix = f"{head}{label}i"
    str_prefix = f"{head}{label}s"
    longest = len(head) + MAX_ARGS_CHARS

    # The keys of the latest arguments, by value (exact int and str only, so 1, True and 1.0 stay
    # apart): a hot argument's key is one dict lookup, and a str that the L1 lookup has hashed
    # before. Emptied when full, so it holds at most _MEMO_SIZE keys per function.
    memo: dict[object, str] = {}

    def build_one(args: tuple[Any, ...]) -> str:
        value = args[0]
        cls = value.__class__
        if cls is int:
            key = memo.get(value)
            if key is not None:
                return key
            if -bound < value < bound:
                return _remember(memo, value, f"{int_prefix}{value}")
        elif cls is str:
            key = memo.get(value)
            if key is not None:
                return key
            key = f"{str_prefix}{len(value)}:{value}"
            if len(key) <= longest and value.isprintable():
                return _remember(memo, value, key)
        return head + encode_arguments(names, args)

    return build_one


def _remember(memo: dict[object, str], value: object, key: str) -> str:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[value] = key
    return key


def encode_argument(name: str, value: object) -> str:
    """The text of one argument, or `CachingTypeError` naming the argument and where inside it."""
    try:
        return encode(value)
    except _Unencodable as exc:
        raise _type_error(name, exc) from None


def finish(joined: str) -> str:
    """``joined`` as it goes into a key: itself if short and printable, else ``sha256:`` and its digest."""
    if len(joined) <= MAX_ARGS_CHARS and joined.isprintable():
        return joined
    return "sha256:" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def _type_error(name: str, exc: _Unencodable) -> CachingTypeError:
    return CachingTypeError(
        name + "".join(reversed(exc.path)),
        "a value the key builder can encode",
        exc.value,
        reason=f"{exc.reason}; supported are {_SUPPORTED}. Pass key=... to cached() for other arguments",
    )


# --- scalars ----------------------------------------------------------------------------------------


def _none(value: None, depth: int) -> str:
    return "N"


def _bool(value: bool, depth: int) -> str:
    return "T" if value else "F"


def _int(value: int, depth: int) -> str:
    if -_DECIMAL_LIMIT < value < _DECIMAL_LIMIT:
        return f"i{value}"
    return f"I{value:x}"


def _float(value: float, depth: int) -> str:
    if value != value:  # noqa: PLR0124 - NaN: one encoding for every NaN, whatever its sign or payload
        return "fnan"
    return "f" + value.hex()


def _complex(value: complex, depth: int) -> str:
    return f"c({_float(value.real, depth)},{_float(value.imag, depth)})"


def _str(value: str, depth: int) -> str:
    return f"s{len(value)}:{value}"


def _bytes(value: bytes, depth: int) -> str:
    return "b" + value.hex()


def _bytearray(value: bytearray, depth: int) -> str:
    return "B" + value.hex()


def _typed(type_id: str, payload: str) -> str:
    return f"@{len(type_id)}:{type_id}{payload}"


def _class_id(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _uuid(value: uuid.UUID, depth: int) -> str:
    return _typed("uuid", _str(value.hex, depth))


def _tz(value: dt.tzinfo | None, depth: int) -> str:
    if value is None:
        return "N"
    if value.__class__ is dt.timezone:
        offset = value.utcoffset(None)
        return _typed("timezone", f"({_timedelta(offset, depth)},{_str(value.tzname(None), depth)})")
    if value.__class__ is zoneinfo.ZoneInfo and isinstance(value.key, str):
        return _typed("zoneinfo", _str(value.key, depth))
    raise _Unencodable(value, f"a time zone of type {type(value).__name__} has no stable identity")


def _datetime(value: dt.datetime, depth: int) -> str:
    parts = f"({_str(value.isoformat(), depth)},i{value.fold},{_tz(value.tzinfo, depth)})"
    return _typed("datetime", parts)


def _date(value: dt.date, depth: int) -> str:
    return _typed("date", _str(value.isoformat(), depth))


def _time(value: dt.time, depth: int) -> str:
    return _typed("time", f"({_str(value.isoformat(), depth)},i{value.fold},{_tz(value.tzinfo, depth)})")


def _timedelta(value: dt.timedelta, depth: int) -> str:
    return _typed("timedelta", f"(i{value.days},i{value.seconds},i{value.microseconds})")


def _decimal(value: Decimal, depth: int) -> str:
    # str keeps what equality forgets but arithmetic sees: the exponent (1.0 vs 1.00), -0, NaN payloads.
    return _typed("decimal", _str(str(value), depth))


def _fraction(value: Fraction, depth: int) -> str:
    return _typed("fraction", f"({_int(value.numerator, depth)},{_int(value.denominator, depth)})")


# --- containers ---------------------------------------------------------------------------------------


def _deeper(value: object, depth: int) -> int:
    if depth >= _MAX_DEPTH:
        raise _Unencodable(value, f"it is nested deeper than {_MAX_DEPTH} levels, or contains itself")
    return depth + 1


def _items(values: Any, depth: int, open_: str, close: str) -> str:  # noqa: ANN401 - any iterable
    inner = _deeper(values, depth)
    parts = []
    for index, item in enumerate(values):
        try:
            parts.append(encode(item, inner))
        except _Unencodable as exc:
            exc.path.append(f"[{index}]")
            raise
    return open_ + ",".join(parts) + close


def _tuple(value: tuple[object, ...], depth: int) -> str:
    return _items(value, depth, "(", ")")


def _list(value: list[object], depth: int) -> str:
    return _items(value, depth, "[", "]")


def _sorted_items(values: Any, depth: int) -> str:  # noqa: ANN401 - any iterable
    inner = _deeper(values, depth)
    try:
        # A set: NaNs are never equal, so one set may hold several; they encode alike and count once.
        return ",".join(sorted({encode(item, inner) for item in values}))
    except _Unencodable as exc:
        exc.path.append("{...}")
        raise


def _set(value: set[object], depth: int) -> str:
    return f"<{_sorted_items(value, depth)}>"


def _frozenset(value: frozenset[object], depth: int) -> str:
    return _typed("frozenset", f"<{_sorted_items(value, depth)}>")


def _dict(value: dict[object, object], depth: int) -> str:
    inner = _deeper(value, depth)
    pairs = []
    for key, item in value.items():
        try:
            pairs.append(f"{encode(key, inner)}:{encode(item, inner)}")
        except _Unencodable as exc:
            exc.path.append(f"[{key!r:.40}]")
            raise
    return "{" + ",".join(sorted(set(pairs))) + "}"


def _fields(type_id: str, value: object, names: list[str], depth: int) -> str:
    inner = _deeper(value, depth)
    parts = []
    for name in names:
        try:
            field_value = getattr(value, name)
        except AttributeError:
            raise _Unencodable(value, f"its field {name!r} is not set") from None
        try:
            parts.append(f"{name}={encode(field_value, inner)}")
        except _Unencodable as exc:
            exc.path.append(f".{name}")
            raise
    return _typed(type_id, "(" + ",".join(parts) + ")")


# --- everything matched by more than its exact type ---------------------------------------------------


def _encode_other(value: object, depth: int) -> str:
    cls = value.__class__
    if isinstance(value, enum.Enum):
        try:
            return _typed(f"enum:{_class_id(cls)}", encode(value.value, _deeper(value, depth)))
        except _Unencodable as exc:
            exc.path.append(".value")
            raise
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        return _fields(f"dataclass:{_class_id(cls)}", value, names, depth)
    if isinstance(value, tuple) and isinstance(getattr(cls, "_fields", None), tuple):
        if getattr(value, "__dict__", None):
            raise _Unencodable(
                value, f"the named tuple {cls.__qualname__} holds attributes besides its fields"
            )
        return _typed(f"namedtuple:{_class_id(cls)}", _tuple(tuple(value), depth))
    if isinstance(value, PurePath):
        return _typed(f"path:{_class_id(cls)}", _str(str(value), depth))
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return _pydantic(value, depth)
    raise _Unencodable(value, f"{cls.__module__}.{cls.__qualname__} is not a supported type")


def _pydantic(value: Any, depth: int) -> str:  # noqa: ANN401 - a pydantic model, typed without importing it
    cls = value.__class__
    fields = _fields(f"pydantic:{_class_id(cls)}", value, list(cls.model_fields), depth)
    extra = value.__pydantic_extra__
    private = value.__pydantic_private__
    if not extra and not private:
        return fields
    inner = _deeper(value, depth)
    try:
        more = f"({_dict(dict(extra or {}), inner)},{_dict(dict(private or {}), inner)})"
    except _Unencodable as exc:
        exc.path.append(".<extra or private attribute>")
        raise
    return fields + more


_BY_TYPE: dict[type, _Encode] = {
    type(None): _none,
    bool: _bool,
    int: _int,
    float: _float,
    complex: _complex,
    str: _str,
    bytes: _bytes,
    bytearray: _bytearray,
    tuple: _tuple,
    list: _list,
    dict: _dict,
    set: _set,
    frozenset: _frozenset,
    uuid.UUID: _uuid,
    dt.datetime: _datetime,
    dt.date: _date,
    dt.time: _time,
    dt.timedelta: _timedelta,
    Decimal: _decimal,
    Fraction: _fraction,
}
