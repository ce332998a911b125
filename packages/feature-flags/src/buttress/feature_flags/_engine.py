"""The evaluation engine: a `FlagSet` compiled into an immutable `Snapshot` that evaluates without I/O.

Answers follow Unleash's reference engine (yggdrasil) case by case: the strategies compile through
the same rule language (`_rules`), ``is_enabled`` reads the rule of all strategies at once while a
variant comes from the first strategy whose own rule matches, variants are picked by the same hash
and stickiness, and a dependency is judged the way yggdrasil judges it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from types import MappingProxyType

from mmh3 import hash as _murmur3

from buttress.core import Attributes

from ._hashing import VARIANT_SEED
from ._model import (
    DISABLED_VARIANT,
    Context,
    FlagDefinition,
    FlagSet,
    JsonValue,
    Payload,
    Segment,
    Variant,
    VariantResult,
)
from ._render import KNOWN_STRATEGIES, RuleError, render_flag, render_strategy
from ._rules import Check, compile_rule, local_hostname
from ._write import normalized, normalized_segment
from .exceptions import FeatureFlagsError, FeatureFlagsTypeError

__all__ = ["CompiledFlag", "Outcome", "Snapshot", "compile_flag_set"]

type Random = Callable[[int, int], int]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def payload_value(payload: Payload | None) -> JsonValue:
    """The typed value of an Unleash payload: ``number`` → int/float, ``json`` → parsed, else the text."""
    if payload is None:
        return None
    if payload.type == "number":
        try:
            number = float(payload.value)
        except ValueError:
            return payload.value
        return int(number) if number.is_integer() and "." not in payload.value else number
    if payload.type == "json":
        try:
            parsed: JsonValue = json.loads(payload.value)
        except ValueError:
            return payload.value
        return parsed
    return payload.value


class _Choice:
    """A variant with everything an evaluation returns for it, computed once per snapshot."""

    __slots__ = ("outcomes", "result", "result_feature_off", "value", "variant")

    def __init__(self, variant: Variant, result: VariantResult, value: JsonValue) -> None:
        self.variant = variant
        self.result = result
        # Unleash reports `feature_enabled` from its own isEnabled, which may disagree with the rule
        # that picked the variant (a random rollout draws again): the variant with it off, ready.
        self.result_feature_off = VariantResult(
            name=result.name, enabled=True, feature_enabled=False, payload=result.payload, value=result.value
        )
        self.value = value
        self.outcomes = {
            kind: Outcome(on=True, choice=self, matched=kind) for kind in ("static", "targeting", "split")
        }


class _Panic:
    """The engine panics here (variants whose weights sum to 0): the evaluation reports "off"."""


_PANIC = _Panic()
_SEED_FIELDS = {
    "userId": "user_id",
    "sessionId": "session_id",
    "environment": "environment",
    "appName": "app_name",
    "remoteAddress": "remote_address",
}


class _VariantPicker:
    """Picks a variant as Unleash does: overrides first, then the stickiness hash over the weights."""

    __slots__ = (
        "_choices",
        "_cumulative",
        "_get",
        "_overrides",
        "_prefix",
        "_rng",
        "_split",
        "_total",
        "empty",
    )

    def __init__(
        self,
        variants: tuple[Variant, ...],
        group_id: str,
        stickiness: str | None,
        rng: Random,
        *,
        overrides: bool,
    ) -> None:
        self._total = sum(variant.weight for variant in variants)
        self._prefix = f"{group_id}:"
        self._rng = rng
        choices = {variant.name: _choice(variant) for variant in variants}
        self._choices = tuple(choices[variant.name] for variant in variants)
        self.empty = not self._choices  # `pick` gives None: the engine need not call it
        cumulative: list[int] = []
        running = 0
        for variant in variants:
            running += variant.weight
            cumulative.append(running)
        self._cumulative = tuple(cumulative)
        self._split = sum(1 for variant in variants if variant.weight > 0) > 1
        self._overrides = tuple(
            (_override_getter(override.context_name), frozenset(override.values), choices[variant.name])
            for variant in (variants if overrides else ())
            for override in variant.overrides
        )
        self._get = _seed_getter(stickiness)

    def pick(self, context: Context) -> tuple[_Choice, bool] | _Panic | None:
        """The chosen variant and whether the hash chose among several; ``None`` without variants."""
        if not self._choices:
            return None
        for get, values, choice in self._overrides:
            if get(context) in values:
                return choice, False
        total = self._total
        if total <= 0:
            return _PANIC
        seed = self._get(context)
        if seed is None:
            target = self._rng(1, total)
        else:
            target = _murmur3(self._prefix + seed, VARIANT_SEED, False) % total + 1
        for index, bound in enumerate(self._cumulative):
            if bound >= target:
                return self._choices[index], self._split
        return self._choices[-1], self._split  # unreachable: the last bound is the total


def _seed_getter(stickiness: str | None) -> Callable[[Context], str | None]:
    if stickiness is None or stickiness == "default":
        return lambda context: context.user_id if context.user_id is not None else context.session_id
    attribute = _SEED_FIELDS.get(stickiness)
    if attribute is not None:
        getter: Callable[[Context], str | None] = attrgetter(attribute)
        return getter
    return lambda context: context.properties.get(stickiness)


def _override_getter(name: str) -> Callable[[Context], str | None]:
    if name == "currentTime":
        return Context.current_time_text
    return _seed_getter(name) if name != "default" else (lambda context: context.properties.get(name))


def _choice(variant: Variant) -> _Choice:
    value = variant.value if variant.value is not None else payload_value(variant.payload)
    result = VariantResult(
        name=variant.name, enabled=True, feature_enabled=True, payload=variant.payload, value=value
    )
    return _Choice(variant, result, value)


class _CompiledStrategy:
    __slots__ = ("rule", "static", "variants")

    def __init__(self, rule: Check, variants: _VariantPicker | None, *, static: bool) -> None:
        self.rule = rule
        self.variants = variants
        self.static = static


class CompiledFlag:
    """One flag, compiled for evaluation. Internal: reached through `Snapshot`."""

    __slots__ = (
        "choices",
        "default_choice",
        "definition",
        "dependencies",
        "enabled",
        "key",
        "labels",
        "metadata",
        "off_outcome",
        "panic_outcome",
        "plain_on",
        "rule",
        "static",
        "strategies",
        "variants",
    )

    def __init__(
        self,
        definition: FlagDefinition,
        rule: Check,
        strategies: tuple[_CompiledStrategy, ...] | None,
        variants: _VariantPicker,
    ) -> None:
        self.definition = definition
        self.key = definition.key
        self.enabled = definition.enabled
        self.rule = rule  # every strategy at once: what `is_enabled` answers
        self.strategies = strategies  # one rule each, for variants; None when one does not compile
        # On for everyone its switch lets through: no strategy, or only unconstrained "default" ones.
        self.static = strategies is not None and all(strategy.static for strategy in strategies)
        # Metric attributes, by (reason, variant): built once per outcome, bounded by the definition.
        self.labels: dict[tuple[str, str | None], Mapping[str, str]] = {}
        self.variants = variants
        self.dependencies = definition.dependencies
        self.metadata = definition.metadata
        self.default_choice: _Choice | None = None
        self.plain_on = {
            kind: Outcome(on=True, choice=None, matched=kind) for kind in ("static", "targeting")
        }
        every = [*definition.variants, *(v for s in definition.strategies for v in s.variants)]
        self.choices: Mapping[str, _Choice] = MappingProxyType({v.name: _choice(v) for v in every})
        if definition.default_variant is not None:
            for variant in definition.variants:
                if variant.name == definition.default_variant:
                    self.default_choice = _choice(variant)
        self.off_outcome = (
            Outcome(on=False, choice=self.default_choice, matched="default") if self.enabled else _DISABLED
        )
        # Weights that sum to 0 make Unleash's engine fail the evaluation: "off", and no variant.
        self.panic_outcome = Outcome(on=False, choice=self.default_choice, matched="default")


class Outcome:
    """What the engine decided for one flag and context; shared, never changed once built.

    Outcomes are built once per compiled flag, so deciding allocates nothing, and each keeps the
    evaluation details it produced per default type (``cache``), which are immutable and context-free.

    Attributes:
        on: Whether the flag is on for the context.
        choice: The variant served, if any.
        matched: ``"static"`` (on, no rules), ``"targeting"`` (a rule matched), ``"split"`` (a variant
            picked by hash), ``"default"`` (no rule matched), ``"disabled"`` or ``"sticky"``.
        cache: Evaluation details already built from this outcome, by the type of the default.
        converted: The same details as another API hands them out (`FlagProvider`'s OpenFeature
            resolution details), with the metric attributes of their evaluation, by the type of the
            default.
    """

    __slots__ = ("cache", "choice", "converted", "matched", "on")

    def __init__(self, *, on: bool, choice: _Choice | None, matched: str) -> None:
        self.on = on
        self.choice = choice
        self.matched = matched
        self.cache: dict[type, object] = {}
        self.converted: dict[type, tuple[object, Attributes]] = {}


_DISABLED = Outcome(on=False, choice=None, matched="disabled")


class Snapshot:
    """An immutable flag set, compiled for evaluation; every evaluation of a client reads one snapshot.

    Built by `FlagClient` from what a `FlagSource` loads and swapped in with one assignment, so an
    evaluation sees either the old flags or the new ones, never a mix. Flags are compiled once: the
    ones evaluated before (the hot set) while the snapshot is built, reusing the previous compiled
    object when their definition did not change; the others on their first evaluation. Either way the
    definitions never change, so the snapshot's answers do not either.

    Attributes:
        flag_set: The definitions it was compiled from.
        loaded_at: When it was loaded (the client's clock).
    """

    __slots__ = ("_compiled", "_hostname", "_now", "_rng", "flag_set", "loaded_at")

    def __init__(
        self,
        flag_set: FlagSet,
        loaded_at: datetime,
        *,
        now: Callable[[], datetime],
        rng: Random,
        compiled: dict[str, CompiledFlag] | None = None,
        hostname: str | None = None,
    ) -> None:
        self.flag_set = flag_set
        self.loaded_at = loaded_at
        self._now = now
        self._rng = rng
        self._hostname = hostname
        self._compiled: dict[str, CompiledFlag] = compiled if compiled is not None else {}

    def __len__(self) -> int:
        return len(self.flag_set.flags)

    def __contains__(self, key: object) -> bool:
        return key in self.flag_set.flags

    def get(self, key: str) -> CompiledFlag | None:
        """The compiled flag, or ``None`` (also for a key that is not a str)."""
        if not _is_text(key):
            return None
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        definition = self.flag_set.flags.get(key)
        if definition is None:
            return None
        compiled = _compile_flag(definition, self.flag_set.segments, self._now, self._rng, self._hostname)
        # Two threads may compile the same flag at once; both results are equal, the last one stays.
        self._compiled[key] = compiled
        return compiled

    def compiled_keys(self) -> frozenset[str]:
        """The keys of the flags compiled so far (the ones evaluated, or compiled eagerly)."""
        return frozenset(self._compiled)

    def keys(self) -> frozenset[str]:
        """Every flag key in the snapshot."""
        return frozenset(self.flag_set.flags)

    def is_on(self, flag: CompiledFlag, context: Context) -> bool:
        """Unleash's ``isEnabled``: the kill switch, the dependencies, then the rule of all strategies.

        Raises:
            FeatureFlagsTypeError: ``flag`` is not what `get` returns, or ``context`` not a `Context`.
        """
        _check_arguments(flag, context)
        return self._is_on(flag, context)

    def decide(self, flag: CompiledFlag, context: Context) -> Outcome:
        """Decide whether the flag is on and which variant it serves (Unleash's ``getVariant``).

        Raises:
            FeatureFlagsTypeError: ``flag`` is not what `get` returns, or ``context`` not a `Context`.
        """
        _check_arguments(flag, context)
        return self._decide(flag, context)

    def variant(self, flag: CompiledFlag | None, context: Context) -> VariantResult:
        """Unleash's ``getVariant``: the variant, or the ``disabled`` variant.

        As in Unleash, ``feature_enabled`` is the flag's ``isEnabled`` for the context, asked apart
        from the variant (the two differ only where a random rollout draws twice, or where the rule of
        all strategies and the strategies' own rules do).

        Raises:
            FeatureFlagsTypeError: ``flag`` is neither ``None`` nor what `get` returns, or ``context``
                not a `Context`.
        """
        if flag is None:
            return DISABLED_VARIANT
        _check_arguments(flag, context)
        return self._variant(flag, context)

    # The client calls these directly: its flags come from `get` and its contexts are checked.

    def _is_on(self, flag: CompiledFlag, context: Context) -> bool:
        if not flag.enabled:
            return False
        if flag.dependencies and not self._dependencies_hold(flag, context):
            return False
        return flag.rule(context, flag.key)

    def _dependencies_hold(self, flag: CompiledFlag, context: Context) -> bool:
        # As yggdrasil: the parent is evaluated under the child's name (a rollout without a groupId
        # hashes with it), and its variant is the one it would pick whether or not it is on.
        for dependency in flag.dependencies:
            parent = self.get(dependency.feature)
            if parent is None or parent.dependencies:  # one level only: a parent with parents fails
                return False
            parent_on = parent.enabled and parent.rule(context, flag.key)
            variant = self._variant_of(parent, context, flag.key)
            if variant is _PANIC:
                return False
            if dependency.variants and variant is not None and variant not in dependency.variants:
                return False
            if parent_on is not dependency.enabled:
                return False
        return True

    def _variant_of(self, flag: CompiledFlag, context: Context, toggle: str) -> str | _Panic | None:
        strategy = _first_match(flag, context, toggle)
        if strategy is not None and strategy.variants is not None:
            picked = strategy.variants.pick(context)
        else:
            picked = flag.variants.pick(context)
        if picked is None or isinstance(picked, _Panic):
            return picked
        return picked[0].variant.name

    def _decide(self, flag: CompiledFlag, context: Context) -> Outcome:  # noqa: PLR0911 - one per outcome
        if not flag.enabled:
            return _DISABLED
        if flag.dependencies and not self._dependencies_hold(flag, context):
            return flag.off_outcome
        strategy = None
        for candidate in flag.strategies or ():  # `_first_match`, inline: this runs on every evaluation
            if candidate.rule(context, flag.key):
                strategy = candidate
                break
        if strategy is None and (flag.strategies or not flag.rule(context, flag.key)):
            return flag.off_outcome
        kind = "static" if strategy is None or strategy.static else "targeting"
        picked: tuple[_Choice, bool] | _Panic | None = None
        if strategy is not None and strategy.variants is not None:
            picked = strategy.variants.pick(context)
        elif flag.default_choice is not None:
            return flag.default_choice.outcomes[kind]
        elif flag.variants.empty:
            return flag.plain_on[kind]
        else:
            picked = flag.variants.pick(context)
        if picked is None:
            return flag.plain_on[kind]
        if isinstance(picked, _Panic):
            return flag.panic_outcome
        choice, split = picked
        return choice.outcomes["split" if split else kind]

    def _variant(self, flag: CompiledFlag, context: Context) -> VariantResult:
        return self._variant_outcome(flag, context)[0]

    def _variant_outcome(self, flag: CompiledFlag, context: Context) -> tuple[VariantResult, Outcome]:
        """The variant, and the outcome of the strategies that picked it (for the client's metrics)."""
        outcome = self._decide(flag, context)
        if outcome is flag.panic_outcome:
            return DISABLED_VARIANT, outcome
        feature_enabled = self._is_on(flag, context)
        if not outcome.on or outcome.choice is None:
            return (_ENABLED_WITHOUT_VARIANT if feature_enabled else DISABLED_VARIANT), outcome
        return (outcome.choice.result if feature_enabled else outcome.choice.result_feature_off), outcome


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _check_arguments(flag: object, context: object) -> None:
    if not isinstance(flag, CompiledFlag):
        raise FeatureFlagsTypeError("flag", "a compiled flag from Snapshot.get()", flag)
    if not isinstance(context, Context):
        raise FeatureFlagsTypeError("context", "a Context", context)


def _first_match(flag: CompiledFlag, context: Context, toggle: str) -> _CompiledStrategy | None:
    for strategy in flag.strategies or ():
        if strategy.rule(context, toggle):
            return strategy
    return None


_ENABLED_WITHOUT_VARIANT = VariantResult(name="disabled", enabled=False, feature_enabled=True)


def compile_flag_set(
    flag_set: FlagSet,
    *,
    loaded_at: datetime | None = None,
    now: Callable[[], datetime] = _utc_now,
    rng: random.Random | None = None,
    previous: Snapshot | None = None,
    eager: bool = False,
) -> Snapshot:
    """Build a `Snapshot` of ``flag_set``.

    Args:
        flag_set: The definitions.
        loaded_at: When they were loaded; now by default.
        now: The clock ``DATE_*`` constraints read when the context has no ``current_time``.
        rng: The randomness of ``random`` stickiness (and of a context with no id under ``default``
            stickiness); a fresh ``random.Random`` by default. Pass a seeded one to pin it in tests.
        previous: The snapshot this one replaces, built with the same ``now`` and ``rng``. The flags it
            had compiled (the hot set) are compiled here too, or reused as they are when their
            definition and segments did not change; the rest compile on first evaluation. A reload
            thus costs work in proportion to the flags in use, and leaves their objects warm.
        eager: Compile every flag now.
    """
    _check_compile_arguments(flag_set, loaded_at, now, rng, previous)
    if eager is not True and eager is not False:  # NotImplemented in `if` is a DeprecationWarning
        raise FeatureFlagsTypeError("eager", "a bool", eager)
    randint = previous._rng if previous is not None and rng is None else (rng or random.Random()).randint  # noqa: S311
    hostname = previous._hostname if previous is not None else local_hostname()
    compiled: dict[str, CompiledFlag] = {}
    hot = flag_set.flags.keys() if eager else (previous.compiled_keys() if previous is not None else ())
    for key in hot:
        flag = flag_set.flags.get(key)
        if flag is None:
            continue
        reused = _reusable(previous, key, flag, flag_set.segments)
        compiled[key] = (
            reused if reused is not None else _compile_flag(flag, flag_set.segments, now, randint, hostname)
        )
    return Snapshot(flag_set, loaded_at or now(), now=now, rng=randint, compiled=compiled, hostname=hostname)


def _check_compile_arguments(
    flag_set: object, loaded_at: object, now: object, rng: object, previous: object
) -> None:
    if not isinstance(flag_set, FlagSet):
        raise FeatureFlagsTypeError("flag_set", "a FlagSet", flag_set)
    if loaded_at is not None and not isinstance(loaded_at, datetime):
        raise FeatureFlagsTypeError("loaded_at", "a datetime", loaded_at)
    if not callable(now):
        raise FeatureFlagsTypeError("now", "a function returning a datetime", now)
    if rng is not None and not isinstance(rng, random.Random):
        raise FeatureFlagsTypeError("rng", "a random.Random", rng)
    if previous is not None and not isinstance(previous, Snapshot):
        raise FeatureFlagsTypeError("previous", "a Snapshot", previous)


def _reusable(
    previous: Snapshot | None, key: str, flag: FlagDefinition, segments: Mapping[int, Segment]
) -> CompiledFlag | None:
    if previous is None:
        return None
    old = previous._compiled.get(key)
    if old is None or old.definition != flag:  # a compiled definition is well-formed: so is ``flag``
        return None
    old_segments = previous.flag_set.segments
    for strategy in flag.strategies:
        for segment_id in strategy.segments:
            if old_segments.get(segment_id) != segments.get(segment_id):
                return None
    return old


def _never(_context: Context, _toggle: str) -> bool:
    return False


def _compile_flag(
    flag: FlagDefinition,
    segments: Mapping[int, Segment],
    now: Callable[[], datetime],
    rng: Random,
    hostname: str | None,
) -> CompiledFlag:
    try:
        # A definition built by hand may hold fields of the wrong type; evaluation must not raise on
        # them. Read as a backend would read it back, it is well-formed (and unchanged if it was).
        flag = normalized(flag)
    except FeatureFlagsError:
        return _malformed(flag, rng)
    segments = _well_formed_segments(flag, segments)
    stickiness = flag.variants[0].stickiness if flag.variants else None
    variants = _VariantPicker(flag.variants, flag.key, stickiness, rng, overrides=True)
    try:
        rule = compile_rule(render_flag(flag.strategies, segments), now=now, rng=rng, hostname=hostname)
    except RuleError:
        rule = _never  # as in Unleash: a flag whose rule does not compile is off for everyone
    strategies: tuple[_CompiledStrategy, ...] | None
    try:
        strategies = _compile_strategies(flag, segments, now, rng, hostname)
    except RuleError:
        strategies = None
    return CompiledFlag(flag, rule, strategies, variants)


def _malformed(flag: object, rng: Random) -> CompiledFlag:
    """A flag whose definition cannot be read: off for everyone, like one whose rule does not compile."""
    key = getattr(flag, "key", None)
    key = key if isinstance(key, str) else "?"
    return CompiledFlag(FlagDefinition(key), _never, None, _VariantPicker((), key, None, rng, overrides=True))


def _well_formed_segments(flag: FlagDefinition, segments: Mapping[int, Segment]) -> Mapping[int, Segment]:
    """The segments ``flag`` refers to that can be read; a malformed one counts as missing (never matches)."""
    usable: dict[int, Segment] = {}
    for strategy in flag.strategies:
        for segment_id in strategy.segments:
            segment = segments.get(segment_id)
            if segment is None or segment_id in usable:
                continue
            try:
                usable[segment_id] = normalized_segment(segment)
            except FeatureFlagsError:
                continue
    return usable


def _compile_strategies(
    flag: FlagDefinition,
    segments: Mapping[int, Segment],
    now: Callable[[], datetime],
    rng: Random,
    hostname: str | None,
) -> tuple[_CompiledStrategy, ...]:
    compiled = []
    custom = 0
    for strategy in flag.strategies:
        if strategy.name not in KNOWN_STRATEGIES:
            custom += 1
        text = render_strategy(strategy, segments, custom)
        rule = compile_rule(text, now=now, rng=rng, hostname=hostname)
        picker = None
        if strategy.variants:
            parameters = strategy.parameters
            picker = _VariantPicker(
                strategy.variants,
                parameters.get("groupId", flag.key),
                parameters.get("stickiness", "default"),
                rng,
                overrides=False,
            )
        static = strategy.name == "default" and not strategy.constraints and not strategy.segments
        compiled.append(_CompiledStrategy(rule, picker, static=static))
    return tuple(compiled)
