"""The evaluation engine: a `FlagSet` compiled into an immutable `Snapshot` that evaluates without I/O."""

from __future__ import annotations

import ipaddress
import json
import random
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from mmh3 import hash as _murmur3

from ._constraints import Check, Getter, compile_constraint, field_getter
from ._hashing import VARIANT_SEED
from ._model import (
    DISABLED_VARIANT,
    Context,
    Dependency,
    FlagDefinition,
    FlagSet,
    JsonValue,
    Payload,
    Segment,
    Strategy,
    Variant,
    VariantResult,
)

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

    __slots__ = ("outcomes", "result", "value", "variant")

    def __init__(self, variant: Variant, result: VariantResult, value: JsonValue) -> None:
        self.variant = variant
        self.result = result
        self.value = value
        self.outcomes = {
            kind: Outcome(on=True, choice=self, matched=kind) for kind in ("static", "targeting", "split")
        }


class _VariantPicker:
    """Picks a variant from weighted variants: overrides first, then the stickiness hash."""

    __slots__ = (
        "_choices",
        "_cumulative",
        "_default_sticky",
        "_get",
        "_overrides",
        "_prefix",
        "_rng",
        "_total",
    )

    def __init__(
        self, variants: tuple[Variant, ...], group_id: str, stickiness: str | None, rng: Random
    ) -> None:
        weighted = [variant for variant in variants if variant.weight > 0]
        self._total = sum(variant.weight for variant in weighted)
        self._prefix = f"{group_id}:"
        self._rng = rng
        choices = {variant.name: _choice(variant) for variant in variants}
        self._choices = tuple(choices[variant.name] for variant in weighted)
        cumulative: list[int] = []
        running = 0
        for variant in weighted:
            running += variant.weight
            cumulative.append(running)
        self._cumulative = tuple(cumulative)
        self._overrides = tuple(
            (field_getter(override.context_name), frozenset(override.values), choices[variant.name])
            for variant in variants
            for override in variant.overrides
        )
        self._default_sticky = stickiness in (None, "default")
        self._get: Getter | None = None if self._default_sticky else field_getter(stickiness or "")

    @property
    def empty(self) -> bool:
        return self._total <= 0

    def pick(self, context: Context) -> tuple[_Choice, bool] | None:
        """Return the chosen variant and whether the hash chose it (a split), or ``None``."""
        for get, values, choice in self._overrides:
            if get(context) in values:
                return choice, False
        if self._total <= 0:
            return None
        if len(self._choices) == 1:
            return self._choices[0], False
        if self._default_sticky:
            identifier = context.user_id or context.session_id or context.remote_address
        else:
            identifier = self._get(context) if self._get is not None else None
        if identifier is None:
            target = self._rng(1, self._total)
        else:
            target = _murmur3(self._prefix + identifier, VARIANT_SEED, False) % self._total + 1
        for index, bound in enumerate(self._cumulative):
            if bound >= target:
                return self._choices[index], True
        return self._choices[-1], True  # unreachable: the last bound is the total


def _choice(variant: Variant) -> _Choice:
    value = variant.value if variant.value is not None else payload_value(variant.payload)
    result = VariantResult(
        name=variant.name, enabled=True, feature_enabled=True, payload=variant.payload, value=value
    )
    return _Choice(variant, result, value)


class _CompiledStrategy:
    __slots__ = ("checks", "static", "variants")

    def __init__(self, checks: tuple[Check, ...], variants: _VariantPicker | None, *, static: bool) -> None:
        self.checks = checks
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
        "metadata",
        "off_outcome",
        "plain_on",
        "static",
        "strategies",
        "variants",
    )

    def __init__(
        self,
        definition: FlagDefinition,
        strategies: tuple[_CompiledStrategy, ...],
        variants: _VariantPicker,
    ) -> None:
        self.definition = definition
        self.key = definition.key
        self.enabled = definition.enabled
        self.strategies = strategies
        self.variants = variants
        self.dependencies = definition.dependencies
        self.static = not strategies
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
    """

    __slots__ = ("cache", "choice", "matched", "on")

    def __init__(self, *, on: bool, choice: _Choice | None, matched: str) -> None:
        self.on = on
        self.choice = choice
        self.matched = matched
        self.cache: dict[type, object] = {}


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

    __slots__ = ("_compiled", "_now", "_rng", "flag_set", "loaded_at")

    def __init__(
        self,
        flag_set: FlagSet,
        loaded_at: datetime,
        *,
        now: Callable[[], datetime],
        rng: Random,
        compiled: dict[str, CompiledFlag] | None = None,
    ) -> None:
        self.flag_set = flag_set
        self.loaded_at = loaded_at
        self._now = now
        self._rng = rng
        self._compiled: dict[str, CompiledFlag] = compiled if compiled is not None else {}

    def __len__(self) -> int:
        return len(self.flag_set.flags)

    def __contains__(self, key: object) -> bool:
        return key in self.flag_set.flags

    def get(self, key: str) -> CompiledFlag | None:
        """The compiled flag, or ``None``."""
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        definition = self.flag_set.flags.get(key)
        if definition is None:
            return None
        compiled = _compile_flag(definition, self.flag_set.segments, self._now, self._rng)
        # Two threads may compile the same flag at once; both results are equal, the last one stays.
        self._compiled[key] = compiled
        return compiled

    def compiled_keys(self) -> frozenset[str]:
        """The keys of the flags compiled so far (the ones evaluated, or compiled eagerly)."""
        return frozenset(self._compiled)

    def keys(self) -> frozenset[str]:
        """Every flag key in the snapshot."""
        return frozenset(self.flag_set.flags)

    def is_on(self, flag: CompiledFlag, context: Context) -> tuple[bool, _CompiledStrategy | None]:
        """Whether ``flag`` is on for ``context``, and the strategy that turned it on."""
        if not flag.enabled:
            return False, None
        if flag.dependencies and not self._dependencies_hold(flag, context):
            return False, None
        if flag.static:
            return True, None
        for strategy in flag.strategies:
            for check in strategy.checks:
                if not check(context):
                    break
            else:
                return True, strategy
        return False, None

    def _dependencies_hold(self, flag: CompiledFlag, context: Context) -> bool:
        return all(self._dependency_holds(dependency, context) for dependency in flag.dependencies)

    def _dependency_holds(self, dependency: Dependency, context: Context) -> bool:
        parent = self.get(dependency.feature)
        # Only one level of dependencies is allowed: a parent with parents (or a cycle) fails.
        if parent is None or parent.dependencies:
            return False
        outcome = self.decide(parent, context)
        if not dependency.enabled:
            return not outcome.on
        if not outcome.on:
            return False
        if not dependency.variants:
            return True
        name = outcome.choice.variant.name if outcome.choice is not None else "disabled"
        return name in dependency.variants

    def decide(self, flag: CompiledFlag, context: Context) -> Outcome:
        """Decide whether the flag is on and which variant it serves."""
        on, strategy = self.is_on(flag, context)
        if not on:
            return flag.off_outcome
        picked = None
        if strategy is not None and strategy.variants is not None and not strategy.variants.empty:
            picked = strategy.variants.pick(context)
        kind = "static" if strategy is None or strategy.static else "targeting"
        if picked is None and flag.default_choice is not None:
            return flag.default_choice.outcomes[kind]
        if picked is None:
            picked = flag.variants.pick(context)
        if picked is None:
            return flag.plain_on[kind]
        choice, split = picked
        return choice.outcomes["split" if split else kind]

    def variant(self, flag: CompiledFlag | None, context: Context) -> VariantResult:
        """Unleash's ``getVariant``: the variant, or the ``disabled`` variant."""
        if flag is None:
            return DISABLED_VARIANT
        outcome = self.decide(flag, context)
        if not outcome.on:
            return DISABLED_VARIANT
        if outcome.choice is None:
            return _ENABLED_WITHOUT_VARIANT
        return outcome.choice.result


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
        rng: The randomness of ``random`` stickiness (a context with no id); a fresh ``random.Random``
            by default. Pass a seeded one to pin it in tests.
        previous: The snapshot this one replaces, built with the same ``now`` and ``rng``. The flags it
            had compiled (the hot set) are compiled here too, or reused as they are when their
            definition and segments did not change; the rest compile on first evaluation. A reload
            thus costs work in proportion to the flags in use, and leaves their objects warm.
        eager: Compile every flag now.
    """
    randint = previous._rng if previous is not None and rng is None else (rng or random.Random()).randint  # noqa: S311
    compiled: dict[str, CompiledFlag] = {}
    hot = flag_set.flags.keys() if eager else (previous.compiled_keys() if previous is not None else ())
    for key in hot:
        flag = flag_set.flags.get(key)
        if flag is None:
            continue
        reused = _reusable(previous, flag, flag_set.segments)
        compiled[key] = reused if reused is not None else _compile_flag(flag, flag_set.segments, now, randint)
    return Snapshot(flag_set, loaded_at or now(), now=now, rng=randint, compiled=compiled)


def _reusable(
    previous: Snapshot | None, flag: FlagDefinition, segments: Mapping[int, Segment]
) -> CompiledFlag | None:
    if previous is None:
        return None
    old = previous._compiled.get(flag.key)
    if old is None or old.definition != flag:
        return None
    old_segments = previous.flag_set.segments
    for strategy in flag.strategies:
        for segment_id in strategy.segments:
            if old_segments.get(segment_id) != segments.get(segment_id):
                return None
    return old


def _compile_flag(
    flag: FlagDefinition, segments: Mapping[int, Segment], now: Callable[[], datetime], rng: Random
) -> CompiledFlag:
    stickiness = flag.variants[0].stickiness if flag.variants else None
    variants = _VariantPicker(flag.variants, flag.key, stickiness, rng)
    strategies = tuple(_compile_strategy(flag, strategy, segments, now, rng) for strategy in flag.strategies)
    return CompiledFlag(flag, strategies, variants)


def _compile_strategy(
    flag: FlagDefinition,
    strategy: Strategy,
    segments: Mapping[int, Segment],
    now: Callable[[], datetime],
    rng: Random,
) -> _CompiledStrategy:
    checks: list[Check] = []
    for segment_id in strategy.segments:
        segment = segments.get(segment_id)
        if segment is None:
            checks.append(_never)  # a strategy naming a missing segment never matches
            continue
        checks.extend(compile_constraint(constraint, now) for constraint in segment.constraints)
    checks.extend(compile_constraint(constraint, now) for constraint in strategy.constraints)
    activation = _activation(flag, strategy, rng)
    if activation is not None:
        checks.append(activation)
    variants = None
    if strategy.variants:
        group_id = strategy.parameters.get("groupId") or flag.key
        sticky = strategy.variants[0].stickiness or strategy.parameters.get("stickiness")
        variants = _VariantPicker(strategy.variants, group_id, sticky, rng)
    static = strategy.name == "default" and not checks
    return _CompiledStrategy(tuple(checks), variants, static=static)


def _never(_context: Context) -> bool:
    return False


def _percent(parameters: Mapping[str, str], name: str) -> int:
    try:
        return round(float(parameters.get(name, "0")))
    except ValueError:
        return 0


def _activation(flag: FlagDefinition, strategy: Strategy, rng: Random) -> Check | None:  # noqa: PLR0911
    """The strategy's own test, or ``None`` for ``default`` (always on)."""
    name = strategy.name
    parameters = strategy.parameters
    if name == "default":
        return None
    if name == "flexibleRollout":
        return rollout_check(
            _percent(parameters, "rollout"),
            parameters.get("groupId") or flag.key,
            parameters.get("stickiness") or "default",
            rng,
        )
    if name == "gradualRolloutUserId":
        return rollout_check(_percent(parameters, "percentage"), parameters.get("groupId", ""), "userId", rng)
    if name == "gradualRolloutSessionId":
        return rollout_check(
            _percent(parameters, "percentage"), parameters.get("groupId", ""), "sessionId", rng
        )
    if name == "gradualRolloutRandom":
        return rollout_check(_percent(parameters, "percentage"), "", "random", rng)
    if name == "userWithId":
        users = frozenset(item.strip() for item in parameters.get("userIds", "").split(","))
        return lambda context: context.user_id in users
    if name == "remoteAddress":
        return _remote_address(parameters.get("IPs", ""))
    if name == "applicationHostname":
        hosts = frozenset(item.strip().lower() for item in parameters.get("hostNames", "").split(","))
        local = socket.gethostname().lower() in hosts
        return lambda _context: local
    return _never  # a strategy this version does not implement is off, as in every Unleash SDK


def rollout_check(rollout: int, group_id: str, stickiness: str, rng: Random) -> Check:
    """Compile a percentage rollout: on when the context's bucket in ``group_id`` is ``<= rollout``."""
    if rollout <= 0:
        return _never
    prefix = f"{group_id}:"
    if stickiness == "random":
        return lambda _context: rng(1, 100) <= rollout
    if stickiness == "default":

        def default_sticky(context: Context) -> bool:
            identifier = context.user_id or context.session_id
            if identifier is None:
                return rng(1, 100) <= rollout
            return _murmur3(prefix + identifier, 0, False) % 100 + 1 <= rollout

        return default_sticky
    get = field_getter(stickiness)

    def custom_sticky(context: Context) -> bool:
        identifier = get(context)
        return identifier is not None and _murmur3(prefix + identifier, 0, False) % 100 + 1 <= rollout

    return custom_sticky


def _remote_address(text: str) -> Check:
    exact: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        exact.add(item)
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue

    def check(context: Context) -> bool:
        address = context.remote_address
        if address is None:
            return False
        if address in exact:
            return True
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    return check
