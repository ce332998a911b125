"""Reading a request by the short road: where the headers to read are, found once per list of names.

`from_scope`, `from_environ` and `from_headers` (the functions in ``_components``) are the definition
of what a request's components are. A `Reader` gives the same components for the common request,
each header once under a name that is an HTTP token, by a shorter road: one pass over the header
names, whose joined text finds a plan (kept in the `Memo`) of where the headers to read are, then
only those values taken. Any other request gets ``None`` here and takes the long road.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, NamedTuple

from ._components import Component, environ_header
from ._encoding import Entry
from ._memo import COOKIE_HEADER, ENVIRON, MISSING, NAMES, Memo

__all__ = ["HEADER_VALUES", "EnvironPlan", "NamesPlan", "Read", "Reader", "cookie_names"]

_VALUE_OF: Final = itemgetter(1)  # of a (name, value) pair
_HINT: Final = "sec-ch-ua"  # what the name of every client hint about the user agent starts with
HEADER_VALUES: Final = (
    Component.USER_AGENT,
    Component.ACCEPT,
    Component.ACCEPT_LANGUAGE,
    Component.ACCEPT_ENCODING,
)
"""The components that are one header's value each."""
# The characters of HTTP header names (RFC 9110 tokens) in lower case, and the comma that joins them.
_TOKEN_BYTES: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz,"
# What str.strip() strips from latin-1 text and bytes.strip() does not.
_LATIN1_ONLY_SPACE: Final = b"\x1c\x1d\x1e\x1f\x85\xa0"


class NamesPlan(NamedTuple):
    """What to read from a request with a given list of header names (see `Reader.names_plan`)."""

    kind: type
    """The type of the names and values: bytes or str."""
    size: int
    """How many names."""
    positions: tuple[int, ...]
    """Where the headers read are: those of ``headers``, then those of ``hints``."""
    pick: Callable[[Sequence[Any]], tuple[Any, ...]]
    """Takes the pairs read from the list of pairs: those of ``headers``, then those of ``hints``."""
    headers: tuple[Component, ...]
    """The components of `HEADER_VALUES` used and present."""
    hints: tuple[str, ...]
    """The names of the client hints present, sorted, if client hints are used."""
    cookie: int | None
    """Where the cookie header is, if present and cookie names are used."""
    order: Entry | None
    """The `Component.HEADER_ORDER` component, if used."""


class EnvironPlan(NamedTuple):
    """Which keys of a WSGI environ with given keys are headers (see `Reader.environ_plan`)."""

    size: int
    """How many keys."""
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """Takes the value of every header."""
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """Takes the values ``headers`` says to read."""
    cookie: str | None
    """The cookie header's key, if present and cookie names are used."""
    content: tuple[str, ...]
    """``CONTENT_TYPE`` and ``CONTENT_LENGTH``, if present: they count only when not empty."""
    read: tuple[str, ...]
    """The keys that are headers, in environ order."""
    names: tuple[str, ...]
    """Their header names."""
    order: str
    """The names joined by commas."""
    headers: NamesPlan
    """What to read from those headers."""


type Read = tuple[NamesPlan, tuple[Any, ...], bytes | str | None, bytes | str]
"""A request read by the short road: its plan, the values the plan reads (those of ``headers``, then
those of ``hints``), the cookie header if read, and the header names joined by commas."""


def _picker(positions: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function taking the items at ``positions`` (indexes or keys) from its argument, as a tuple."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        (position,) = positions
        return lambda items: (items[position],)
    return lambda _: ()


def cookie_names(value: bytes | str) -> bytes | str:
    """The sorted, distinct names in a cookie header, joined by commas (as `Components` has them)."""
    if isinstance(value, bytes):
        raw = {crumb.split(b"=", 1)[0].strip() for crumb in value.split(b";")}
        raw.discard(b"")
        joined = b",".join(sorted(raw))
        if len(joined.translate(None, _LATIN1_ONLY_SPACE)) == len(joined):
            return joined
        value = value.decode("latin-1")  # a name with space that only the text's strip() sees
    names = {crumb.split("=", 1)[0].strip() for crumb in value.split(";")}
    names.discard("")
    return ",".join(sorted(names))


class Reader:
    """Reads the components a `Fingerprinter` uses from a request, by the short road.

    Args:
        used: The components the fingerprinter uses.
        memo: Where plans and cookie names are kept.
        order_entry: Makes the `Component.HEADER_ORDER` entry of the lower-cased names joined by
            commas; kept in each plan.
    """

    __slots__ = ("_headers", "_memo", "_order_entry", "_uses_cookies", "_uses_hints")

    def __init__(self, used: Iterable[Component], memo: Memo, order_entry: Callable[[bytes], Entry]) -> None:
        used = frozenset(used)
        self._memo = memo
        self._headers: Final = tuple(c for c in HEADER_VALUES if c in used)
        self._uses_hints: Final = Component.CLIENT_HINTS in used
        self._uses_cookies: Final = Component.COOKIE_NAMES in used
        self._order_entry = order_entry if Component.HEADER_ORDER in used else None

    def pairs(self, pairs: list[Any]) -> Read | None:
        """Read a non-empty list of header pairs, or ``None`` where the short road does not apply."""
        first = pairs[0]
        if (first.__class__ is not tuple and first.__class__ is not list) or len(first) != 2:
            return None
        kind = first[1].__class__
        try:
            names = [name for name, value in pairs if value.__class__ is kind]
            if len(names) != len(pairs):  # values of more than one type
                return None
            if kind is bytes:
                order: Any = b",".join(names)  # and every name bytes too
            elif kind is str:
                order = ",".join(names)
            else:
                return None
        except (TypeError, ValueError):  # not pairs, or names of another type
            return None
        plan: NamesPlan | None = self._memo.get((NAMES, order), MISSING)
        if plan is MISSING:
            plan = self.names_plan(order)
            self._memo.keep((NAMES, order), plan)
        if plan is None or plan.size != len(pairs):
            return None
        cookie = None if plan.cookie is None else pairs[plan.cookie][1]
        return plan, tuple(map(_VALUE_OF, plan.pick(pairs))), cookie, order

    def environ(self, environ: Mapping[str, object]) -> Read | None:
        """Read a WSGI environ, or ``None`` where the short road does not apply."""
        try:
            keys = "\n".join(environ)
        except TypeError:  # a key that is not a str: the long road skips it
            return None
        plan: EnvironPlan | None = self._memo.get((ENVIRON, keys), MISSING)
        if plan is MISSING:
            plan = self.environ_plan(keys, len(environ))
            self._memo.keep((ENVIRON, keys), plan)
        if plan is None or plan.size != len(environ):
            return None
        try:
            "".join(plan.values(environ))
        except TypeError:  # a value that is not a str: the long road skips it
            return None
        if plan.content and not all(environ[key] for key in plan.content):  # an empty CONTENT_* is no header
            read = zip(plan.read, plan.names, strict=True)
            pairs = [(name, environ[key]) for key, name in read if environ[key] or key[0] == "H"]
            return self.pairs(pairs) if pairs else None
        cookie: Any = None if plan.cookie is None else environ[plan.cookie]
        return plan.headers, plan.pick(environ), cookie, plan.order

    def cookies(self, kind: type, cookie: bytes | str) -> bytes | str:
        """The cookie names of a cookie header, as `cookie_names` has them."""
        # Cookie names are remembered by the header's length and hash(), never by the header,
        # which holds credentials. Two headers alike in both are taken to name the same cookies:
        # for distinct headers the chance is about 2**-64, and no worse than sending those names.
        seen = (COOKIE_HEADER, kind, len(cookie), hash(cookie))
        names: bytes | str | None = self._memo.get(seen)
        if names is None:
            names = cookie_names(cookie)
            self._memo.keep(seen, names)
        return names

    def environ_plan(self, keys: str, size: int) -> EnvironPlan | None:
        """Which keys of an environ whose keys, joined by newlines, are ``keys`` are headers."""
        split = keys.split("\n")
        if len(split) != size:  # a key holding a newline
            return None
        read = [key for key in split if environ_header(key) is not None]
        names = [environ_header(key) or "" for key in read]
        order = ",".join(names)
        headers = self.names_plan(order) if names else None
        if headers is None or headers.size != len(names):
            return None
        return EnvironPlan(
            size=size,
            values=_picker(read),
            pick=_picker([read[i] for i in headers.positions]),
            cookie=None if headers.cookie is None else read[headers.cookie],
            content=tuple(key for key in read if key[0] != "H"),
            read=tuple(read),
            names=tuple(names),
            order=order,
            headers=headers,
        )

    def names_plan(self, order: bytes | str) -> NamesPlan | None:
        """What to read from requests whose header names, joined by commas, are ``order``.

        None unless each name is an HTTP token (so that no name holds a comma or whitespace) and
        no name comes twice in any case: such requests take the long road.
        """
        if isinstance(order, str):
            if not order.isascii():
                return None
            raw = order.encode("ascii")
        else:
            raw = order
        lowered = raw.lower()
        if lowered.translate(None, _TOKEN_BYTES):
            return None
        text = lowered.decode("ascii")
        names = text.split(",")
        at = dict(zip(names, range(len(names)), strict=True))
        if len(at) != len(names):
            return None
        headers = tuple(filter(at.__contains__, self._headers))  # a Component is its name
        hints: tuple[str, ...] = ()
        if self._uses_hints and _HINT in text:
            hints = tuple(sorted([_HINT + n.partition(",")[0] for n in ("," + text).split("," + _HINT)[1:]]))
        positions = (*map(at.__getitem__, headers), *map(at.__getitem__, hints))
        return NamesPlan(
            bytes if isinstance(order, bytes) else str,
            len(names),
            positions,
            _picker(positions),
            headers,
            hints,
            at.get("cookie") if self._uses_cookies else None,
            self._order_entry(lowered) if lowered and self._order_entry is not None else None,
        )
