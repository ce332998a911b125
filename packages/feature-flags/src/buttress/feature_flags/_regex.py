r"""``REGEX`` constraints: Unleash's (Rust) regular-expression dialect, run by Python's ``re`` safely.

Unleash's engine builds patterns with Rust's ``regex`` crate: no look-around, no back-references,
``$`` only at the very end, ``[[:alpha:]]`` classes, ``\\x{..}`` escapes, flags that apply from where
they are written, and matching in linear time whatever the input. ``compile_regex`` translates a
pattern of that dialect into Python's and returns a matcher, or ``None`` when the pattern cannot be
run the way the engine runs it (the constraint then never matches, as one whose pattern does not
build):

- a pattern Rust refuses (look-around, back-references, unbalanced syntax) or Python cannot read
  the same way (Rust's nested classes and set operations ``&&``, ``--``, ``~~``);
- a pattern whose running time ``re`` could not bound: a repeated group that itself repeats or
  alternates (``(a+)+``, ``(a|a)*``), the shapes of catastrophic backtracking. Rust's engine runs
  them in linear time; here they are refused, so no context can stall an evaluation.

Python's warnings about such patterns (``FutureWarning: Possible nested set``) are never printed:
the pattern is refused instead.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

__all__ = ["compile_regex"]

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS = frozenset("imsxUR")
_MAX_PATTERN = 10_000
_ESCAPES = {"a": "\\x07", "f": "\\x0c", "t": "\\t", "n": "\\n", "r": "\\r", "v": "\\x0b"}
_CLASS_ESCAPES = frozenset("dDsSwW")


class _RefusedError(Exception):
    """The pattern cannot be run as the engine runs it (internal)."""


def compile_regex(pattern: str, *, case_insensitive: bool) -> Callable[[str], bool] | None:
    r"""A function telling whether a text holds a match of Rust-dialect ``pattern``, or ``None``.

    Examples:
        >>> matches = compile_regex("^[[:alpha:]]+$", case_insensitive=False)
        >>> matches("abc"), matches("abc\\n")
        (True, False)
        >>> compile_regex("(a+)+$", case_insensitive=False) is None
        True
    """
    if len(pattern) > _MAX_PATTERN:
        return None
    try:
        translated = _Translator(pattern).translate()
    except _RefusedError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            compiled = re.compile(translated, re.IGNORECASE if case_insensitive else 0)
        except (re.error, Warning, RecursionError, OverflowError, ValueError):
            return None
    search = compiled.search

    def matches(text: str) -> bool:
        return search(text) is not None

    return matches


class _Frame:
    """An open group: its opening text, where its body starts, and what it holds so far."""

    __slots__ = ("alternates", "body", "implicit", "opening", "repeats")

    def __init__(self, opening: str, body: int, *, implicit: bool = False) -> None:
        self.opening = opening
        self.body = body  # index in the pattern where the group's body starts
        self.implicit = implicit  # a bare `(?flags)`: open until its enclosing group closes
        self.repeats = False
        self.alternates = False


_COUNTED = re.compile(r"\{[ \t\n]*(\d+)[ \t\n]*(,[ \t\n]*(\d*)[ \t\n]*)?\}")
_PLAIN = re.compile(r"[^\\\[\](){}|*+?.^$]+")


class _Translator:
    """Rust-dialect pattern → Python pattern, refusing what would not mean the same or not be bounded."""

    __slots__ = ("last", "multiline", "out", "pattern", "pos", "stack")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.out: list[str] = []
        self.multiline = False
        self.stack: list[_Frame] = [_Frame("", 0)]
        # What a quantifier would repeat: None (nothing), "atom", or a closed group's (repeats, unsafe).
        self.last: str | tuple[bool, bool] | None = None

    def translate(self) -> str:
        pattern = self.pattern
        while self.pos < len(pattern):
            char = pattern[self.pos]
            if char == "\\":
                self.escape()
            elif char == "[":
                self.emit(self.char_class(), "atom")
            elif char == "(":
                self.open_group()
            elif char == ")":
                self.pos += 1
                self.close_implicit()
                if len(self.stack) == 1:
                    raise _RefusedError
                self.close()
            elif char == "|":
                self.pos += 1
                self.alternate()
            elif char in "*+?{":
                self.quantifier()
            elif char == "$":
                self.pos += 1
                self.emit("$" if self.multiline else "\\Z", None)
            elif char == "^":
                self.pos += 1
                self.emit("^", None)
            else:
                self.pos += 1
                self.emit(char if char == "." else re.escape(char), "atom")
        self.close_implicit()
        if len(self.stack) != 1:
            raise _RefusedError
        return "".join(self.out)

    def emit(self, text: str, last: str | None) -> None:
        self.out.append(text)
        self.last = last

    def escape(self) -> None:
        pattern = self.pattern
        if self.pos + 1 >= len(pattern):
            raise _RefusedError
        char = pattern[self.pos + 1]
        self.pos += 2
        if char in _CLASS_ESCAPES:
            self.emit("\\" + char, "atom")
        elif char in "AbBz":
            self.emit("\\Z" if char == "z" else "\\" + char, None)
        elif char in _ESCAPES:
            self.emit(_ESCAPES[char], "atom")
        elif char in "xuU":
            self.emit(re.escape(chr(self.hex_escape(char))), "atom")
        elif char.isascii() and not char.isalnum() and char not in "<>":
            self.emit(re.escape(char), "atom")
        else:
            raise _RefusedError  # back-references, \p{..} classes, \< \> and unknown escapes

    def hex_escape(self, kind: str) -> int:
        pattern = self.pattern
        if pattern.startswith("{", self.pos):
            end = pattern.find("}", self.pos)
            digits = pattern[self.pos + 1 : end] if end > 0 else ""
            self.pos = end + 1
        else:
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = pattern[self.pos : self.pos + width]
            self.pos += width
        if not digits or len(digits) > 8 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise _RefusedError
        value = int(digits, 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise _RefusedError
        return value

    def char_class(self) -> str:  # noqa: PLR0912 - one branch per class item
        pattern = self.pattern
        self.pos += 1
        parts = ["["]
        if pattern.startswith("^", self.pos):
            parts.append("^")
            self.pos += 1
        if pattern.startswith("]", self.pos):
            parts.append("\\]")
            self.pos += 1
        while self.pos < len(pattern):
            char = pattern[self.pos]
            if char == "]":
                self.pos += 1
                if len(parts) == 1 or parts[-1] == "^":
                    raise _RefusedError
                return "".join(parts) + "]"
            if pattern.startswith("[:", self.pos):
                end = pattern.find(":]", self.pos + 2)
                body = _POSIX_CLASSES.get(pattern[self.pos + 2 : end]) if end > 0 else None
                if body is None:
                    raise _RefusedError  # negated and unknown POSIX classes
                parts.append(body)
                self.pos = end + 2
                continue
            if char == "[" or pattern.startswith(("&&", "--", "~~"), self.pos):
                raise _RefusedError  # nested classes and set operations read differently in Python
            if char == "\\":
                if self.pos + 1 >= len(pattern):
                    raise _RefusedError
                escaped = pattern[self.pos + 1]
                self.pos += 2
                if escaped in _CLASS_ESCAPES:
                    parts.append("\\" + escaped)
                elif escaped in _ESCAPES:
                    parts.append(_ESCAPES[escaped])
                elif escaped in "xuU":
                    parts.append(_class_char(chr(self.hex_escape(escaped))))
                elif escaped.isascii() and not escaped.isalnum() and escaped not in "<>":
                    parts.append(_class_char(escaped))
                else:
                    raise _RefusedError
                continue
            parts.append(char if char == "-" else _class_char(char))
            self.pos += 1
        raise _RefusedError  # an unclosed class

    def open_group(self) -> None:
        pattern = self.pattern
        self.pos += 1
        if not pattern.startswith("?", self.pos):
            self.push("(?:")
            return
        self.pos += 1
        if pattern.startswith(("P<", "<"), self.pos):
            if pattern.startswith(("<=", "<!"), self.pos):
                raise _RefusedError  # look-behind
            self.pos += 2 if pattern.startswith("P<", self.pos) else 1
            end = pattern.find(">", self.pos)
            name = pattern[self.pos : end] if end > 0 else ""
            if not name or not all(c.isalnum() or c in "_[]." for c in name) or name[0].isdigit():
                raise _RefusedError
            self.pos = end + 1
            self.push("(?:")
            return
        end = self.pos
        while end < len(pattern) and pattern[end] not in ":)":
            end += 1
        if end >= len(pattern):
            raise _RefusedError
        python_flags = self.flags(pattern[self.pos : end])
        self.pos = end + 1
        opening = f"(?{python_flags}:" if python_flags else "(?:"
        # A bare `(?flags)` applies to the rest of its group: Python wants it scoped, so it opens one.
        self.push(opening, implicit=pattern[end] == ")")

    def flags(self, text: str) -> str:
        on, _, off = text.partition("-")
        if not text or text.endswith("-") or "-" in off or any(c not in _FLAGS for c in on + off):
            raise _RefusedError
        if "x" in on + off or len(set(on + off)) != len(on + off):
            raise _RefusedError  # Rust's verbose mode differs from Python's; repeated flags are errors
        if "m" in on:
            self.multiline = True
        keep_on = "".join(c for c in on if c in "ims")
        keep_off = "".join(c for c in off if c in "ims")
        return keep_on + (f"-{keep_off}" if keep_off else "")

    def push(self, opening: str, *, implicit: bool = False) -> None:
        self.out.append(opening)
        self.stack.append(_Frame(opening, self.pos, implicit=implicit))
        self.last = None

    def close(self) -> None:
        frame = self.stack.pop()
        self.out.append(")")
        body = self.pattern[frame.body : self.pos - 1]
        unsafe = frame.repeats or (frame.alternates and not _distinct_literals(body))
        self.last = (frame.repeats, unsafe)
        if frame.repeats:
            self.stack[-1].repeats = True
        if frame.implicit:
            self.stack[-1].alternates = self.stack[-1].alternates or frame.alternates

    def close_implicit(self) -> None:
        while self.stack[-1].implicit:
            self.close()

    def alternate(self) -> None:
        reopen = []
        while self.stack[-1].implicit:
            reopen.append(self.stack[-1].opening)
            self.close()
        self.stack[-1].alternates = True
        self.emit("|", None)
        for opening in reversed(reopen):
            self.push(opening, implicit=True)

    def quantifier(self) -> None:
        pattern = self.pattern
        char = pattern[self.pos]
        if char == "{":
            match = _COUNTED.match(pattern, self.pos)
            if match is None:
                raise _RefusedError
            low, comma, high = int(match.group(1)), match.group(2), match.group(3)
            if low > 1000 or (high and (int(high) > 1000 or int(high) < low)):
                raise _RefusedError  # Rust's size limit refuses very large counted repetitions
            text = f"{{{low},{high}}}" if comma else f"{{{low}}}"
            self.pos = match.end()
            repeats = bool(comma and not high) or low > 1 or bool(high and int(high) > 1)
        else:
            text = char
            self.pos += 1
            repeats = char in "*+"
        if pattern.startswith("?", self.pos):
            self.pos += 1  # lazy or greedy: the same yes/no answer
        last = self.last
        if last is None:
            raise _RefusedError  # nothing to repeat (or a repeated assertion)
        if isinstance(last, tuple) and repeats and last[1]:
            raise _RefusedError  # a repeated group that repeats or alternates: unbounded backtracking
        if repeats:
            self.stack[-1].repeats = True
        self.emit(text, None)


def _distinct_literals(body: str) -> bool:
    """Whether ``body`` is literal alternatives that start with distinct characters (no ambiguity)."""
    branches = body.split("|")
    if any(not branch or _PLAIN.fullmatch(branch) is None for branch in branches):
        return False
    firsts = [branch[0].casefold() for branch in branches]
    return len(set(firsts)) == len(firsts)


def _class_char(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char
