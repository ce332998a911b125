"""What a `TieredCache` keeps of a decoded value next to its L1 copy, and how it hands it out.

The L1 holds serialized bytes, as the L2 does. Decoding them on every hit is most of a hit's cost,
so the first hit of an L1 copy decodes once and remembers the value on the entry object (so it
lives and dies with that copy), in the form the cache's ``l1_values`` setting allows:

- ``"copy"`` (the default): every caller gets objects of its own. An immutable value (``str``,
  ``bytes``, ``int``, ``float``, ``complex``, ``bool``, ``None``, and tuples and frozensets of
  those) is handed out as it is; a tree of dicts, lists, sets and tuples over such values as a
  fresh copy, built without the serializer (a few times cheaper than decoding); anything else
  (an object, an alias of one container in two places) is decoded from the bytes on every hit.
- ``"shared"``: the decoded value itself, the same object for every caller.
- ``"bytes"``: nothing is kept; every hit decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal, cast

from .exceptions import CachingConfigurationError

__all__ = ["COPY", "DECODE", "SHARE", "Copier", "L1Values", "check_l1_values", "plan"]

type L1Values = Literal["copy", "shared", "bytes"]
L1_VALUES: Final = ("copy", "shared", "bytes")

# How a kept value is handed out (the second item of an entry's ``_decoded``).
SHARE: Final = "share"
COPY: Final = "copy"
DECODE: Final = "decode"

# Exact types only: a subclass may carry mutable attributes.
_ATOMS: Final = frozenset({str, bytes, int, float, complex, bool, type(None)})

# Deeper trees are decoded on every hit: the copy recurses, and so does this check.
_MAX_DEPTH = 64


def check_l1_values(value: object) -> L1Values:
    """Return ``value`` if it is one of ``"copy"``, ``"shared"``, ``"bytes"``."""
    if value.__class__ is not str or value not in L1_VALUES:
        raise CachingConfigurationError("l1_values", value, 'must be "copy", "shared" or "bytes"')
    return cast("L1Values", value)


type Copier = Callable[[Any], Any]


def plan(value: object) -> tuple[str, Copier | None]:
    """How to hand ``value`` out: `SHARE` (immutable), `COPY` with its copier, or `DECODE`.

    A copier is built once per kept value, for its very shape (which keys and positions hold
    containers): a copy is then ``dict.copy``/``list.copy`` of each container and nothing for the
    immutable leaves, a few times cheaper than decoding. Only trees qualify: a container found twice
    (pickle keeps aliases, and cycles) or nested deeper than 64 is decoded on every hit instead.
    """
    if value.__class__ in _ATOMS:
        return SHARE, None
    try:
        copier = _copier(value, 0, set())
    except _NotATreeError:
        return DECODE, None
    return (SHARE, None) if copier is None else (COPY, copier)


class _NotATreeError(Exception):
    """A value no copier can copy faithfully."""


def _copier(value: object, depth: int, seen: set[int]) -> Copier | None:
    """A function copying ``value`` (of this exact shape), or ``None`` when it is immutable."""
    kind = value.__class__
    if kind in _ATOMS:
        return None
    if depth >= _MAX_DEPTH:
        raise _NotATreeError
    if kind is tuple:
        return _tuple_copier(value, depth, seen)  # type: ignore[arg-type]
    if kind is frozenset:
        # A frozenset of mutable trees cannot be rebuilt member by member.
        _immutable_members(value, depth, seen)
        return None
    if (kind is not dict and kind is not list and kind is not set) or id(value) in seen:
        raise _NotATreeError
    seen.add(id(value))
    if kind is set:
        _immutable_members(value, depth, seen)  # a set's copy is shallow: immutable members only
        return set.copy
    if kind is dict:
        mapping: dict[Any, Any] = value  # type: ignore[assignment]
        _immutable_members(mapping, depth, seen)
        inner = [(key, sub) for key, item in mapping.items() if (sub := _copier(item, depth + 1, seen))]
        return dict.copy if not inner else _fix_up(dict.copy, tuple(inner))
    sequence: list[Any] = value  # type: ignore[assignment]
    inner = [(i, sub) for i, item in enumerate(sequence) if (sub := _copier(item, depth + 1, seen))]
    return list.copy if not inner else _fix_up(list.copy, tuple(inner))


def _immutable_members(members: Any, depth: int, seen: set[int]) -> None:  # noqa: ANN401 - a set, frozenset or dict
    """Raise `_NotATreeError` unless every member (every key, for a dict) is immutable."""
    for member in members:
        if _copier(member, depth + 1, seen) is not None:
            raise _NotATreeError


def _fix_up(shallow: Copier, inner: tuple[tuple[Any, Copier], ...]) -> Copier:
    """Copy a container shallowly, then replace the containers inside it (at ``inner``) by copies."""
    if len(inner) == 1:  # one container inside (a record with one list): no loop per copy
        ((place, only),) = inner

        def copy_one(value: Any) -> Any:  # noqa: ANN401 - a dict or list
            result = shallow(value)
            result[place] = only(result[place])
            return result

        return copy_one

    def copy(value: Any) -> Any:  # noqa: ANN401 - a dict or list
        result = shallow(value)
        for where, sub in inner:
            result[where] = sub(result[where])
        return result

    return copy


def _tuple_copier(value: tuple[Any, ...], depth: int, seen: set[int]) -> Copier | None:
    subs = [_copier(item, depth + 1, seen) for item in value]
    if not any(subs):
        return None  # immutable all the way down: shared
    plan = tuple(subs)

    def copy(value: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple([item if sub is None else sub(item) for item, sub in zip(value, plan, strict=True)])

    return copy
