r"""Strategies compiled the way Unleash's reference engine compiles them, so every answer matches it.

Yggdrasil, the engine inside every current Unleash SDK, does not evaluate a flag's strategies
directly: it writes them out in a small rule language (``(true and (user_id in ["7"]))``, one
strategy per ``or``), parses that text with a PEG grammar and evaluates the parse. The corners of
that route are part of Unleash's behaviour: an operand is pasted into the rule as it is, so a
``NUM_*`` operand that looks like a date compares as a date; an operand the grammar cannot read, an
unknown operator or a missing segment turns the whole flag off; ``or`` binds tighter than ``and``.

This module does the same in three steps: `render_flag` / `render_strategy` write the rule text
exactly as Unleash does, `compile_rule` parses it with the same grammar (a hand-written PEG parser:
ordered choice, ``" "`` and ``"\\t"`` skipped between tokens, none inside atomic tokens) and builds
closures that read a `Context`. A rule that does not parse, or whose operands do not convert,
raises `RuleError`: the caller turns the flag off, as the engine does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter

from mmh3 import hash as _murmur3

from ._model import Context
from ._regex import compile_regex
from ._render import RuleError
from ._values import (
    F64_EPSILON,
    Instant,
    compare_versions,
    parse_f64,
    parse_instant,
    parse_ip,
    parse_network,
    parse_usize,
    parse_version,
)

__all__ = ["Check", "Resolver", "compile_rule", "context_resolver", "local_hostname"]

type Check = Callable[[Context, str], bool]
"""A compiled rule: given a context and the name of the flag being evaluated, whether it holds."""
type Resolver = Callable[[Context], str | None]
type Random = Callable[[int, int], int]
type Clock = Callable[[], datetime]

# -- reading the rule text (Unleash's `strategy_grammar.pest`) -----------------------------------------


class _NoMatchError(Exception):
    """The grammar does not match here; the parser backtracks (internal)."""


_FAIL = _NoMatchError()
_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEMVER_CHARS = _ALNUM | {"-"}
_ORDINALS = (("<=", "le"), (">=", "ge"), ("<", "lt"), ("==", "eq"), (">", "gt"))
_STRING_OPS = (
    ("starts_with_any_ignore_case", str.startswith, True),
    ("ends_with_any_ignore_case", str.endswith, True),
    ("contains_any_ignore_case", lambda text, item: item in text, True),
    ("starts_with_any", str.startswith, False),
    ("ends_with_any", str.endswith, False),
    ("contains_any", lambda text, item: item in text, False),
)


_USER_ID: Resolver = attrgetter("user_id")
_SESSION_ID: Resolver = attrgetter("session_id")
_FIELD_GETTERS: tuple[tuple[str, Resolver], ...] = (
    ("user_id", _USER_ID),
    ("session_id", _SESSION_ID),
    ("remote_address", attrgetter("remote_address")),
    ("app_name", attrgetter("app_name")),
    ("environment", attrgetter("environment")),
)


def _always(_context: Context, _toggle: str) -> bool:
    return True


def _never(_context: Context, _toggle: str) -> bool:
    return False


def _now_text(now: Clock) -> str:
    return now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def context_resolver(name: str, now: Clock) -> Resolver:
    """A function reading the context field ``name`` (an Unleash name or a property) as text."""
    attribute = {
        "userId": "user_id",
        "sessionId": "session_id",
        "environment": "environment",
        "appName": "app_name",
        "remoteAddress": "remote_address",
    }.get(name)
    if attribute is not None:
        getter: Resolver = attrgetter(attribute)
        return getter
    if name == "currentTime":
        return lambda context: context.current_time_text() or _now_text(now)

    def read_property(context: Context) -> str | None:
        return context.properties.get(name)

    return read_property


class _Parser:
    """A PEG parser for one rule, building closures as it goes (see the module docstring)."""

    __slots__ = ("hostname", "now", "pos", "rng", "text")

    def __init__(self, text: str, now: Clock, rng: Random, hostname: str | None) -> None:
        self.text = text
        self.pos = 0
        self.now = now
        self.rng = rng
        self.hostname = hostname

    # primitives

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        self.pos = pos

    def literal(self, word: str) -> bool:
        if self.text.startswith(word, self.pos):
            self.pos += len(word)
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.literal(word):
            raise _FAIL

    def attempt[T](self, parse: Callable[[], T]) -> T | None:
        """Run one alternative; on failure put the position back and return ``None``."""
        start = self.pos
        try:
            return parse()
        except _NoMatchError:
            self.pos = start
            return None

    # rule = SOI expr EOI

    def rule(self) -> Check:
        self.skip()
        check = self.expr()
        self.skip()
        if self.pos != len(self.text):
            raise _FAIL
        return check

    def expr(self) -> Check:
        # pest's Pratt parser here: `and` is declared before `or`, so `or` binds tighter.
        terms = [self.term()]
        operators: list[str] = []
        while True:
            start = self.pos
            try:
                self.skip()
                if self.literal("and"):
                    operator = "and"
                elif self.literal("or"):
                    operator = "or"
                else:
                    raise _FAIL
                self.skip()
                terms.append(self.term())
            except _NoMatchError:
                self.pos = start
                break
            operators.append(operator)
        return _combine(terms, operators)

    def term(self) -> Check:
        check = self.attempt(self.constraint)
        if check is not None:
            return check
        self.expect("(")
        self.skip()
        inner = self.expr()
        self.skip()
        self.expect(")")
        return inner

    def constraint(self) -> Check:
        inversions = 0
        while True:
            start = self.pos
            if inversions:
                self.skip()
            if not self.literal("!"):
                self.pos = start
                break
            inversions += 1
        if inversions:
            self.skip()
        if inversions > 1:
            raise RuleError("more than one '!'")  # the engine cannot compile it either
        for alternative in (
            self.rollout,
            self.ip,
            self.hostname_rule,
            self.ordinal_date,
            self.ordinal_semver,
            self.ordinal_number,
            self.boolean,
            self.string_fragment,
            self.regex,
            self.list_rule,
            self.external,
        ):
            check = self.attempt(alternative)
            if check is not None:
                return _invert(check) if inversions else check
        raise _FAIL

    # tokens

    def string(self) -> str:
        text, pos = self.text, self.pos
        if pos >= len(text) or text[pos] != '"':
            raise _FAIL
        pos += 1
        start = pos
        while pos < len(text):
            if text.startswith('\\"', pos):
                pos += 2
            elif text[pos] == '"':
                break
            else:
                pos += 1
        else:
            raise _FAIL
        self.pos = pos + 1
        return text[start:pos].replace('\\"', '"')

    def string_list(self) -> list[str]:
        self.expect("[")
        self.skip()
        items = [self.string()]
        while True:
            start = self.pos
            self.skip()
            if not self.literal(","):
                self.pos = start
                break
            self.skip()
            item = self.attempt(self.string)
            if item is None:
                self.pos = start
                break
            items.append(item)
        self.skip()
        self.expect("]")
        return items

    def digits(self, *, minimum: int = 1) -> str:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] in _DIGITS:
            pos += 1
        if pos - start < minimum:
            raise _FAIL
        self.pos = pos
        return text[start:pos]

    def exact_digits(self, count: int) -> None:
        text, pos = self.text, self.pos
        if pos + count > len(text) or any(char not in _DIGITS for char in text[pos : pos + count]):
            raise _FAIL
        self.pos = pos + count

    def atomic_int(self) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] in "+-":
            self.pos += 1
        self.digits()
        return True

    def number(self) -> str:  # num = @{ int ~ ("." ~ ASCII_DIGIT*)? ~ (^"e" ~ int)? }
        start = self.pos
        self.atomic_int()
        if self.literal("."):
            self.digits(minimum=0)
        mark = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in "eE":
            self.pos += 1
            if self.attempt(self.atomic_int) is None:
                self.pos = mark
        return self.text[start : self.pos]

    def semver(self) -> str:
        start = self.pos
        self.digits()
        self.expect(".")
        self.digits()
        self.expect(".")
        self.digits()
        for mark in "-+":
            if self.text.startswith(mark, self.pos):
                before = self.pos
                self.pos += 1
                if self.attempt(self.semver_fragment) is None:
                    self.pos = before
        return self.text[start : self.pos]

    def semver_fragment(self) -> bool:
        self.semver_word()
        while True:
            start = self.pos
            if not self.literal(".") or self.attempt(self.semver_word) is None:
                self.pos = start
                return True

    def semver_word(self) -> bool:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] in _SEMVER_CHARS:
            pos += 1
        if pos == start:
            raise _FAIL
        self.pos = pos
        return True

    def date(self) -> str:
        start = self.pos
        for count, separator in ((4, "-"), (2, "-"), (2, "T"), (2, ":"), (2, ":"), (2, "")):
            self.exact_digits(count)
            if separator:
                self.expect(separator)
        mark = self.pos
        if self.literal("."):
            try:
                self.exact_digits(3)
            except _NoMatchError:
                self.pos = mark
        if not self.literal("Z"):
            if self.pos >= len(self.text) or self.text[self.pos] not in "+-":
                raise _FAIL
            self.pos += 1
            self.exact_digits(2)
            self.expect(":")
            self.exact_digits(2)
        return self.text[start : self.pos]

    def ordinal(self) -> str:
        self.skip()
        for symbol, name in _ORDINALS:
            if self.literal(symbol):
                self.skip()
                return name
        raise _FAIL

    # context values

    def context_value(self) -> Resolver:
        return self.context_source()[1]

    def context_source(self) -> tuple[str | None, Resolver]:
        """A context value: the name of the property it reads (``None`` for any other), and its reader."""
        if self.literal("random"):
            return None, self.random_value()
        for word, getter in _FIELD_GETTERS:
            if self.literal(word):
                return None, getter
        if self.literal("current_time"):
            now = self.now
            return None, lambda context: context.current_time_text() or _now_text(now)
        self.expect("context[")
        self.skip()
        name = self.string()
        self.skip()
        self.expect("]")

        def read_property(context: Context) -> str | None:
            return context.properties.get(name)

        return name, read_property

    def random_value(self) -> Resolver:
        # `random[N]` draws from 1..N-1 (`random` alone: 1..99), as text, like the engine.
        upper = 100
        start = self.pos
        if self.literal("["):
            try:
                self.skip()
                digits_start = self.pos
                if self.pos < len(self.text) and self.text[self.pos] in "+-":
                    self.pos += 1
                    self.skip()
                self.digits()
                while True:
                    mark = self.pos
                    self.skip()
                    if self.attempt(self.digits) is None:
                        self.pos = mark
                        break
                written = self.text[digits_start : self.pos]
                self.skip()
                self.expect("]")
            except _NoMatchError:
                self.pos = start
            else:
                value = parse_usize(written)
                upper = 100 if value is None else value
        if upper <= 1:
            raise RuleError("empty random range")
        rng, high = self.rng, upper - 1
        return lambda _context: str(rng(1, high))

    def stickiness(self) -> list[Resolver]:
        self.skip()
        self.expect("sticky on ")
        self.skip()
        resolvers = [self.context_value()]
        while True:
            start = self.pos
            self.skip()
            if not self.literal("|"):
                self.pos = start
                break
            self.skip()
            resolver = self.attempt(self.context_value)
            if resolver is None:
                self.pos = start
                break
            resolvers.append(resolver)
        return resolvers

    # constraints

    def rollout(self) -> Check:
        if self.literal("100"):
            written = "100"
        else:
            first = self.text[self.pos : self.pos + 1]
            if first not in _DIGITS or not first:
                raise _FAIL
            self.pos += 1
            mark = self.pos
            self.skip()
            second = self.text[self.pos : self.pos + 1]
            if second and second in _DIGITS:
                self.pos += 1
                written = first + second
            else:
                self.pos = mark
                written = first
        self.skip()
        self.expect("%")
        percent = int(written)
        resolvers = self.attempt(self.stickiness) or []
        group: str | None = None
        start = self.pos
        try:
            self.skip()
            self.expect("with group_id of")
            self.skip()
            group = self.string()
        except _NoMatchError:
            self.pos = start
        return _rollout_check(percent, resolvers, group)

    def ip(self) -> Check:
        get = self.context_value()
        self.skip()
        self.expect("in_cidr")
        self.skip()
        networks = [network for item in self.string_list() if (network := parse_network(item)) is not None]

        def check(context: Context, _toggle: str) -> bool:
            text = get(context)
            if text is None:
                return False
            address = parse_ip(text)
            return address is not None and any(address in network for network in networks)

        return check

    def hostname_rule(self) -> Check:
        self.expect("hostname")
        self.skip()
        self.expect("in")
        self.skip()
        hosts = {item.lower() for item in self.string_list()}
        local = self.hostname
        if local is not None and local.lower() in hosts:
            return _always
        return _never

    def ordinal_date(self) -> Check:
        return self._ordinal(self.date, parse_instant, _cmp, "not a date-time")

    def ordinal_semver(self) -> Check:
        return self._ordinal(self.semver, parse_version, compare_versions, "not a semantic version")

    def _ordinal[T](
        self,
        operand_text: Callable[[], str],
        parse: Callable[[str], T | None],
        compare: Callable[[T, T], int],
        refused: str,
    ) -> Check:
        """A comparison of a context value with an operand; both parsed alike, an unparsable value false."""
        get = self.context_value()
        order = self.ordinal()
        operand = parse(operand_text())
        if operand is None:
            raise RuleError(refused)
        test = _ORDER_TESTS[order]

        def check(context: Context, _toggle: str) -> bool:
            text = get(context)
            if text is None:
                return False
            value = parse(text)
            return value is not None and test(compare(value, operand))

        return check

    def ordinal_number(self) -> Check:
        get = self.context_value()
        order = self.ordinal()
        operand = parse_f64(self.number())
        if operand is None:
            raise RuleError("not a number")
        return _number_check(get, order, operand)

    def boolean(self) -> Check:
        if self.literal("true"):
            return _always
        self.expect("false")
        return _never

    def string_fragment(self) -> Check:
        get = self.context_value()
        self.skip()
        found = next((item for item in _STRING_OPS if self.literal(item[0])), None)
        if found is None:
            raise _FAIL
        _, test, ignore_case = found
        self.skip()
        items = self.string_list()
        if ignore_case:
            items = [item.lower() for item in items]

        def check(context: Context, _toggle: str) -> bool:
            text = get(context)
            if text is None:
                return False
            if ignore_case:
                text = text.lower()
            return any(test(text, item) for item in items)

        return check

    def regex(self) -> Check:
        get = self.context_value()
        self.skip()
        if self.literal("matches_regex_ignoring_case"):
            ignore_case = True
        else:
            self.expect("matches_regex")
            ignore_case = False
        self.skip()
        matcher = compile_regex(self.string(), case_insensitive=ignore_case)
        if matcher is None:
            return _never  # a pattern the engine cannot build never matches (inversion still applies)

        def check(context: Context, _toggle: str) -> bool:
            text = get(context)
            return text is not None and matcher(text)

        return check

    def list_rule(self) -> Check:
        name, get = self.context_source()
        self.skip()
        if self.literal("in"):
            negate = False
        else:
            self.expect("not_in")
            negate = True
        self.skip()
        numbers = self.attempt(self.numeric_list)
        if numbers is not None:
            return _numeric_membership(get, numbers, negate=negate)
        items = self.attempt(self.string_list)
        if items is not None:
            if name is not None:
                return _property_membership(name, frozenset(items), negate=negate)
            return _membership(get, frozenset(items), negate=negate)
        self.expect("[]")
        return _always if negate else _never

    def numeric_list(self) -> list[float]:
        self.expect("[")
        self.skip()
        items = [self.number()]
        while True:
            start = self.pos
            self.skip()
            if not self.literal(","):
                self.pos = start
                break
            self.skip()
            item = self.attempt(self.number)
            if item is None:
                self.pos = start
                break
            items.append(item)
        self.skip()
        self.expect("]")
        values = [parse_f64(item) for item in items]
        if any(value is None for value in values):
            raise RuleError("not a number")
        return [value for value in values if value is not None]

    def external(self) -> Check:
        self.expect("external_value[")
        self.skip()
        self.string()
        self.skip()
        self.expect("]")
        return _never  # custom strategies have no implementation here


def _invert(check: Check) -> Check:
    return lambda context, toggle: not check(context, toggle)


def _combine(terms: list[Check], operators: list[str]) -> Check:
    # Split on `and` (the loosest operator), then each piece is an `or` chain.
    groups: list[list[Check]] = [[terms[0]]]
    for operator, term in zip(operators, terms[1:], strict=True):
        if operator == "and":
            groups.append([term])
        else:
            groups[-1].append(term)
    alternatives = [group[0] if len(group) == 1 else _any(tuple(group)) for group in groups]
    if len(alternatives) == 1:
        return alternatives[0]
    if len(alternatives) == 2:  # the usual shape (a constraint and a rollout): no loop, no generator
        first, second = alternatives
        return lambda context, toggle: first(context, toggle) and second(context, toggle)
    every = tuple(alternatives)

    def every_holds(context: Context, toggle: str) -> bool:
        for check in every:  # noqa: SIM110 - a loop, not a generator: it runs on every evaluation
            if not check(context, toggle):
                return False
        return True

    return every_holds


def _any(checks: tuple[Check, ...]) -> Check:
    if len(checks) == 2:
        first, second = checks
        return lambda context, toggle: first(context, toggle) or second(context, toggle)

    def one_holds(context: Context, toggle: str) -> bool:
        for check in checks:  # noqa: SIM110 - a loop, not a generator: it runs on every evaluation
            if check(context, toggle):
                return True
        return False

    return one_holds


def _cmp(left: Instant, right: Instant) -> int:
    return (left > right) - (left < right)


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "le": lambda order: order <= 0,
    "ge": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "eq": lambda order: order == 0,
    "gt": lambda order: order > 0,
}


def _number_check(get: Resolver, order: str, operand: float) -> Check:
    compare: Callable[[float], bool] = {
        "le": lambda value: value <= operand,
        "ge": lambda value: value >= operand,
        "lt": lambda value: value < operand,
        "eq": lambda value: abs(value - operand) < F64_EPSILON,
        "gt": lambda value: value > operand,
    }[order]

    def check(context: Context, _toggle: str) -> bool:
        text = get(context)
        if text is None:
            return False
        value = parse_f64(text)
        return value is not None and compare(value)

    return check


def _membership(get: Resolver, values: frozenset[str], *, negate: bool) -> Check:
    if negate:

        def not_in(context: Context, _toggle: str) -> bool:
            value = get(context)
            return value is None or value not in values

        return not_in

    def is_in(context: Context, _toggle: str) -> bool:
        return get(context) in values

    return is_in


def _property_membership(name: str, values: frozenset[str], *, negate: bool) -> Check:
    """`_membership` of a property, read in place (a constraint on a property is the usual one)."""
    if negate:

        def property_not_in(context: Context, _toggle: str) -> bool:
            value = context.properties.get(name)
            return value is None or value not in values

        return property_not_in

    def property_in(context: Context, _toggle: str) -> bool:
        return context.properties.get(name) in values

    return property_in


def _numeric_membership(get: Resolver, values: list[float], *, negate: bool) -> Check:
    def check(context: Context, _toggle: str) -> bool:
        text = get(context)
        if text is None:
            return False
        value = parse_f64(text)
        if value is None:
            return False
        return (value in values) is not negate

    return check


def _rollout_check(percent: int, resolvers: list[Resolver], group: str | None) -> Check:
    if group is None:

        def check_in_toggle(context: Context, toggle: str) -> bool:
            for resolve in resolvers:
                identifier = resolve(context)
                if identifier is not None:
                    break
            else:
                return False
            return _murmur3(f"{toggle}:{identifier}", 0, False) % 100 + 1 <= percent

        return check_in_toggle
    # With a groupId (the usual case) the key's prefix is built once, not on every evaluation.
    prefix = f"{group}:"
    if len(resolvers) == 3 and resolvers[0] is _USER_ID and resolvers[1] is _SESSION_ID:
        draw = resolvers[2]

        def check_default(context: Context, _toggle: str) -> bool:
            # `default` stickiness (user_id | session_id | random), the usual one, read in place.
            identifier = context.user_id
            if identifier is None:
                identifier = context.session_id
                if identifier is None:
                    identifier = draw(context)
                    if identifier is None:
                        return False
            return _murmur3(prefix + identifier, 0, False) % 100 + 1 <= percent

        return check_default
    if len(resolvers) == 1:
        (resolve_one,) = resolvers

        def check_one(context: Context, _toggle: str) -> bool:
            identifier = resolve_one(context)
            if identifier is None:
                return False
            return _murmur3(prefix + identifier, 0, False) % 100 + 1 <= percent

        return check_one

    def check(context: Context, _toggle: str) -> bool:
        for resolve in resolvers:
            identifier = resolve(context)
            if identifier is not None:
                return _murmur3(prefix + identifier, 0, False) % 100 + 1 <= percent
        return False

    return check


def compile_rule(text: str, *, now: Clock, rng: Random, hostname: str | None = None) -> Check:
    """Parse and compile rule ``text``.

    Args:
        text: The rule, as `render_flag` or `render_strategy` writes it.
        now: The clock ``current_time`` reads when the context has no current time.
        rng: ``rng(low, high)``, an int from ``low`` to ``high`` inclusive, for ``random``.
        hostname: The host's name for ``applicationHostname``; ``None`` when unknown.

    Raises:
        RuleError: The text does not parse, or an operand does not convert.
    """
    parser = _Parser(text, now, rng, hostname)
    try:
        return parser.rule()
    except _NoMatchError:
        raise RuleError("the rule does not parse") from None


def local_hostname() -> str | None:
    """This host's name, or ``None`` when the system will not tell."""
    try:
        return socket.gethostname()
    except OSError:
        return None
