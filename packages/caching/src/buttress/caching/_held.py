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

from typing import Any, Final, Literal, cast

from .exceptions import CachingConfigurationError

__all__ = ["COPY", "DECODE", "SHARE", "L1Values", "check_l1_values", "copy_tree", "plan"]

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


def plan(value: object) -> str:
    """`SHARE` for an immutable value, `COPY` for a tree `copy_tree` copies faithfully, else `DECODE`."""
    if value.__class__ in _ATOMS:
        return SHARE
    kind = _walk(value, 0, set())
    return DECODE if kind is None else kind


def _walk(value: object, depth: int, seen: set[int]) -> str | None:  # noqa: PLR0911 - one return per kind
    """`SHARE` (immutable), `COPY` (a copyable tree) or ``None`` (neither) for ``value``."""
    kind = value.__class__
    if kind in _ATOMS:
        return SHARE
    if depth >= _MAX_DEPTH:
        return None
    if kind is tuple or kind is frozenset:
        return _walk_fixed(value, kind is frozenset, depth, seen)
    if kind is not dict and kind is not list and kind is not set:
        return None
    if id(value) in seen:  # one container in two places (pickle keeps aliases): a copy would split it
        return None
    seen.add(id(value))
    if kind is dict:
        mapping: dict[Any, Any] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if _walk(key, depth + 1, seen) is not SHARE or _walk(item, depth + 1, seen) is None:
                return None
        return COPY
    members: Any = value
    # A set's members are kept as they are (a copy of a set is shallow): immutable ones only.
    for item in members:
        inner = _walk(item, depth + 1, seen)
        if inner is None or (kind is set and inner is not SHARE):
            return None
    return COPY


def _walk_fixed(value: Any, frozen: bool, depth: int, seen: set[int]) -> str | None:  # noqa: ANN401 - a tuple or frozenset
    """`_walk` of a tuple (`COPY` when it holds a mutable tree) or a frozenset (immutable members only)."""
    result = SHARE
    for item in value:
        inner = _walk(item, depth + 1, seen)
        if inner is None or (frozen and inner is not SHARE):
            return None
        if inner is COPY:
            result = COPY
    return result


def copy_tree[V](value: V) -> V:
    """A copy of a value `plan` called `COPY`: new containers all the way down, immutables shared."""
    return _copy(value)  # type: ignore[no-any-return]


def _copy(value: Any) -> Any:  # noqa: ANN401 - any tree plan() accepted
    kind = value.__class__
    if kind is dict:
        return {k: v if v.__class__ in _ATOMS else _copy(v) for k, v in value.items()}
    if kind is list:
        return [v if v.__class__ in _ATOMS else _copy(v) for v in value]
    if kind is tuple:
        return tuple([v if v.__class__ in _ATOMS else _copy(v) for v in value])
    if kind is set:
        return set(value)
    return value  # an atom, or a frozenset of immutables
