"""A differential test against UnleashClient (the official Python SDK, on the yggdrasil engine).

`generate` builds random flag sets in the Unleash client-API format, with the corners where engines
part ways: numbers Python reads and Rust does not (``" 21"``, ``"1_000"``) and the other way round
(``"inf"``), date-times without an offset, semantic versions with leading zeros or a ``v``,
operands that do not parse, unknown operators and strategies, quotes and backslashes pasted into
the rule language, empty ids, stickiness on missing fields, zero weights, overrides, segments
(missing ones too) and dependencies. `compare` evaluates every flag for every context with both
engines, ``isEnabled`` and ``getVariant``, and counts agreements.

UnleashClient is bootstrapped from memory: it never contacts a server (no URL is ever opened, no
registration, no metrics). Randomness (``random`` stickiness, a context without an id) cannot be
pinned in UnleashClient, so when buttress draws a random number for an evaluation, the comparison
asks whether UnleashClient's answer is one buttress gives for some draw.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from buttress.feature_flags import Context, FlagClient, MemoryFlagSource, VariantResult, flag_set_from_dict

STRATEGIES = (
    "default",
    "flexibleRollout",
    "userWithId",
    "gradualRolloutUserId",
    "gradualRolloutSessionId",
    "gradualRolloutRandom",
    "remoteAddress",
    "applicationHostname",
    "notAStrategyHere",
)
OPERATORS = (
    "IN",
    "NOT_IN",
    "STR_CONTAINS",
    "STR_STARTS_WITH",
    "STR_ENDS_WITH",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
    "REGEX",
    "IN_CIDR",
    "NOT_AN_OPERATOR",
)
FIELDS = (
    "userId",
    "sessionId",
    "remoteAddress",
    "environment",
    "appName",
    "currentTime",
    "plan",
    "version",
    "age",
    "tenant",
    "email",
    "when",
)
NUMBERS = (
    "21", " 21", "21 ", "1_000", "1000", "inf", "-inf", "Infinity", "nan", "NaN", "1e400", "1e3", ".5",
    "5.", "+5", "-0", "0", "0x10", "3.14", "3.140", "abc", "", "1.2.3", "2.0", "1.e2", "-21",
)  # fmt: skip
VERSIONS = (
    "1.2.3", "1.2.3-beta.1", "1.2.3-beta.2", "1.2.3-beta.11", "1.2.3-alpha", "1.2.3-rc.01", "2.0.0",
    "v1.2.3", "01.2.3", "1.2", "1.2.3+build.7", "1.2.3-beta+exp", "10.0.0", "1.2.3-", "1.2.3.4", "0.0.0",
)  # fmt: skip
DATES = (
    "2001-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2001-01-01T00:00:00.000+02:00", "2001-01-01",
    "2001-01-01T00:00:00", "garbage", "2001-01-01 00:00:00Z", "2001-01-01T00:00:00.123456Z",
    "2001-01-01t00:00:00z", "2050-06-15T12:00:00+05:30", "2050-06-15T12:00:00+0530", "2001-02-30T00:00:00Z",
    "2016-12-31T23:59:60Z", "2001-1-1T0:0:0Z", "2001-01-01T00:00:00 UTC", "+2001-01-01T00:00:00Z",
)  # fmt: skip
TEXTS = (
    "pro", "PRO", "Pro", "free", "enterprise", 'a"b', "é", "É", "ß", "", "x\\", "foo bar", "Foo", "ǅ",
    "İstanbul", "ΣΑΣ", "a\\\"b", " pro", "pro ",
)  # fmt: skip
PATTERNS = (
    "^pro$", "(?i)PRO", "^[[:alpha:]]+$", "\\d+", "^a.*z$", "[", "pro|free", "^(foo|bar)+$", "\\.", "x$",
    "(?s)a.b", "^$", "[a-c]+", "\\w+@\\w+", "(?=a)", "\\1", "a{2}", "^(?P<p>pr)o", "^pr(?i)O$",
)  # fmt: skip
NETWORKS = (
    "10.0.0.0/8", "192.168.1.1", "::1", "2001:db8::/32", "bad", "10.0.0.1/33", "10.0.0.0/255.0.0.0",
    "10.1.2.3/32", " 10.0.0.0/8", "0.0.0.0/0",
)  # fmt: skip
ADDRESSES = (
    "10.1.2.3", "192.168.1.1", "::1", "2001:db8::5", " 10.1.2.3", "garbage", "010.1.2.3", "10.1.2.3 ",
    "::ffff:10.1.2.3", "fe80::1%eth0",
)  # fmt: skip
IDS = ("", "1", "42", "user-7", "ß", "é🙂", "7", "x\\", 'q"')
PERCENTS = ("0", "25", "50", "100", "33", "150", "-5", "abc", "50.5", " 50", "+50", "050", "99", "1", "")
STICKINESS = (None, "default", "userId", "sessionId", "random", "plan", "tenant", "remoteAddress", "")
GROUPS = (None, "g1", "", "grp", 'q"x', "x\\")


@dataclass
class Pools:
    """What values a generator draws from, per kind."""

    numbers: tuple[str, ...] = NUMBERS
    versions: tuple[str, ...] = VERSIONS
    dates: tuple[str, ...] = DATES
    texts: tuple[str, ...] = TEXTS
    patterns: tuple[str, ...] = PATTERNS
    networks: tuple[str, ...] = NETWORKS
    every: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.every = (*self.numbers, *self.versions, *self.dates, *self.texts, *ADDRESSES, *IDS)


class Generator:
    """Random flag sets and contexts in the Unleash client-API format, from one seeded `random.Random`."""

    def __init__(self, seed: int, pools: Pools | None = None) -> None:
        self.rng = random.Random(seed)
        self.pools = pools or Pools()

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick[T](self, items: tuple[T, ...]) -> T:
        return self.rng.choice(items)

    def operand(self, operator: str) -> str:
        pools = self.pools
        if operator.startswith("NUM_"):
            pool = pools.numbers
        elif operator.startswith("DATE_"):
            pool = pools.dates
        elif operator.startswith("SEMVER_"):
            pool = pools.versions
        elif operator == "REGEX":
            pool = pools.patterns
        else:
            pool = pools.every
        return self.pick(pool if self.chance(0.9) else pools.every)

    def constraint(self) -> dict[str, Any]:
        operator = self.pick(OPERATORS)
        data: dict[str, Any] = {"contextName": self.pick(FIELDS), "operator": operator}
        if operator in ("IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH", "IN_CIDR"):
            pool = self.pools.networks if operator == "IN_CIDR" else self.pools.every
            data["values"] = [
                self.pick(pool) for _ in range(self.rng.randint(0 if self.chance(0.1) else 1, 4))
            ]
        elif not self.chance(0.03):
            data["value"] = self.operand(operator)
        if self.chance(0.3):
            data["inverted"] = True
        if self.chance(0.3):
            data["caseInsensitive"] = True
        return data

    def variants(self, *, strategy: bool) -> list[dict[str, Any]]:
        variants = []
        for index in range(self.rng.randint(1, 4)):
            variant: dict[str, Any] = {
                "name": f"v{index}",
                "weight": self.pick((0, 1, 5, 33, 50, 100, 250)) if self.chance(0.97) else 0,
                "weightType": self.pick(("variable", "fix")),
            }
            if self.chance(0.5):
                variant["payload"] = {"type": self.pick(("string", "json", "number")), "value": str(index)}
            if not strategy and self.chance(0.4):
                variant["stickiness"] = self.pick(tuple(item for item in STICKINESS if item is not None))
            if not strategy and self.chance(0.2):
                variant["overrides"] = [
                    {
                        "contextName": self.pick(FIELDS),
                        "values": [self.pick(self.pools.every) for _ in range(2)],
                    }
                ]
            variants.append(variant)
        return variants

    def parameters(self, name: str) -> dict[str, str]:
        parameters: dict[str, str] = {}
        if name == "flexibleRollout":
            if self.chance(0.95):
                parameters["rollout"] = self.pick(PERCENTS)
            stickiness = self.pick(STICKINESS)
            if stickiness is not None:
                parameters["stickiness"] = stickiness
        elif name in ("gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom"):
            if self.chance(0.95):
                parameters["percentage"] = self.pick(PERCENTS)
        elif name == "userWithId":
            parameters["userIds"] = ",".join(self.pick(IDS) for _ in range(self.rng.randint(1, 3)))
        elif name == "remoteAddress":
            parameters["IPs"] = ", ".join(
                self.pick(self.pools.networks) for _ in range(self.rng.randint(1, 3))
            )
        elif name == "applicationHostname":
            parameters["hostNames"] = ",".join(self.pick(("web-1", "WEB-2", "")) for _ in range(2))
        group = self.pick(GROUPS)
        if group is not None and self.chance(0.8):
            parameters["groupId"] = group
        return parameters

    def strategy(self, segment_ids: tuple[int, ...]) -> dict[str, Any]:
        name = self.pick(STRATEGIES)
        data: dict[str, Any] = {"name": name, "parameters": self.parameters(name)}
        data["constraints"] = [self.constraint() for _ in range(self.rng.randint(0, 3))]
        if segment_ids and self.chance(0.3):
            data["segments"] = [self.pick((*segment_ids, 99)) for _ in range(self.rng.randint(1, 2))]
        if self.chance(0.25):
            data["variants"] = self.variants(strategy=True)
        if self.chance(0.1):
            data["disabled"] = self.chance(0.5)
        return data

    def flag_set(self, size: int) -> dict[str, Any]:
        segments = [
            {
                "id": number,
                "name": f"s{number}",
                "constraints": [self.constraint() for _ in range(self.rng.randint(1, 2))],
            }
            for number in (1, 2, 3)
        ]
        features = []
        for index in range(size):
            feature: dict[str, Any] = {
                "name": f"flag-{index}",
                "enabled": self.chance(0.9),
                "strategies": [
                    self.strategy((1, 2, 3)) for _ in range(self.rng.randint(0 if self.chance(0.1) else 1, 3))
                ],
            }
            if self.chance(0.5):
                feature["variants"] = self.variants(strategy=False)
            if index and self.chance(0.2):
                dependency: dict[str, Any] = {"feature": f"flag-{self.rng.randrange(index)}"}
                if self.chance(0.5):
                    dependency["enabled"] = self.chance(0.6)
                if self.chance(0.4):
                    dependency["variants"] = [f"v{self.rng.randint(0, 3)}"]
                feature["dependencies"] = [dependency]
            features.append(feature)
        return {"version": 2, "features": features, "segments": segments}

    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = {}
        for key, pool in (
            ("userId", IDS),
            ("sessionId", IDS),
            ("remoteAddress", ADDRESSES),
            ("environment", ("production", "dev", "")),
            ("appName", ("shop", "admin")),
            ("currentTime", self.pools.dates),
        ):
            if self.chance(0.6 if key != "currentTime" else 0.7):
                context[key] = self.pick(pool)
        properties = {}
        for key in ("plan", "version", "age", "tenant", "email", "when"):
            if self.chance(0.6):
                properties[key] = self.pick(self.pools.every)
        if properties:
            context["properties"] = properties
        return context


class _ProbeRandom(random.Random):
    """A `random.Random` whose draws are counted, and either pinned to the middle or searched."""

    def __init__(self, seed: int) -> None:
        super().__init__(0)
        self.search = random.Random(seed)
        self.searching = False
        self.calls = 0

    def randint(self, a: int, b: int) -> int:
        self.calls += 1
        return self.search.randint(a, b) if self.searching else (a + b) // 2


def _unleash_client(state: dict[str, Any]) -> Any:
    from UnleashClient import UnleashClient  # noqa: PLC0415 - only the differential test needs it
    from UnleashClient.cache import BaseCache  # noqa: PLC0415
    from UnleashClient.constants import FEATURES_URL  # noqa: PLC0415
    from UnleashClient.utils import InstanceAllowType  # noqa: PLC0415

    class MemoryCache(BaseCache):  # type: ignore[misc]
        """UnleashClient's bootstrap, from memory: the client reads its flags from here, nowhere else."""

        def __init__(self) -> None:
            self.data: dict[str, Any] = {FEATURES_URL: json.dumps(state)}
            self.bootstrapped = True

        def set(self, key: str, value: Any) -> None:
            self.data[key] = value

        def mset(self, data: dict[str, Any]) -> None:
            self.data.update(data)

        def get(self, key: str, default: Any = None) -> Any:
            return self.data.get(key, default)

        def exists(self, key: str) -> bool:
            return key in self.data

        def destroy(self) -> None:
            self.data.clear()

    client = UnleashClient(
        url="http://127.0.0.1:9/never-contacted",  # initialize_client() is never called: no request is made
        app_name=f"buttress-differential-{uuid.uuid4().hex}",
        disable_metrics=True,
        disable_registration=True,
        cache=MemoryCache(),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.unleash_static_context = {}  # no appName/environment added: both engines see the same context
    return client


def _variant_key(result: VariantResult) -> tuple[object, ...]:
    payload = None if result.payload is None else (result.payload.type, result.payload.value)
    return result.name, result.enabled, result.feature_enabled, payload


def _their_variant_key(variant: dict[str, Any]) -> tuple[object, ...]:
    payload = variant.get("payload")
    shown = None if not payload else (payload["type"], payload["value"])
    return variant["name"], variant["enabled"], variant["feature_enabled"], shown


@dataclass
class Report:
    """The outcome of a comparison: counts, and the first disagreements found."""

    compared: int = 0
    agreed: int = 0
    random_draws: int = 0
    disagreements: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return 100.0 * self.agreed / self.compared if self.compared else 100.0

    def line(self) -> str:
        return (
            f"agreement with UnleashClient: {self.agreed}/{self.compared} = {self.agreement:.2f} % "
            f"({self.random_draws} answers depended on a random draw)"
        )


_SEARCH = 4000  # draws tried before an answer that depends on randomness counts as a disagreement


def compare(state: dict[str, Any], contexts: list[dict[str, Any]], report: Report, *, keep: int = 20) -> None:
    """Evaluate every flag of ``state`` for every context with both engines; add to ``report``.

    ``isEnabled`` is compared as a bool; ``getVariant`` as (name, enabled, payload) and, apart, its
    ``feature_enabled``, which both engines take from an ``isEnabled`` of their own.
    """
    theirs = _unleash_client(state)
    probe = _ProbeRandom(len(contexts))
    ours = FlagClient(MemoryFlagSource(), bootstrap=flag_set_from_dict(state), rng=probe)
    names = [feature["name"] for feature in state["features"]]
    for raw in contexts:
        context = Context.from_mapping(raw)
        for name in names:
            their_variant = _their_variant_key(theirs.get_variant(name, raw))
            checks: list[tuple[str, object, Any]] = [
                ("is_enabled", theirs.is_enabled(name, raw), lambda n=name, c=context: ours.is_enabled(n, c)),
                (
                    "get_variant",
                    their_variant[:2] + their_variant[3:],
                    lambda n=name, c=context: _without_feature(ours.get_variant(n, c)),
                ),
                (
                    "feature_enabled",
                    their_variant[2],
                    lambda n=name, c=context: ours.get_variant(n, c).feature_enabled,
                ),
            ]
            for kind, expected, ask in checks:
                probe.searching, probe.calls = False, 0
                got = ask()
                report.compared += 1
                agreed = got == expected
                if probe.calls:
                    report.random_draws += 1
                    probe.searching = True
                    for _ in range(_SEARCH):
                        if agreed:
                            break
                        agreed = ask() == expected
                if agreed:
                    report.agreed += 1
                elif len(report.disagreements) < keep:
                    feature = next(item for item in state["features"] if item["name"] == name)
                    report.disagreements.append(
                        f"{kind} {name}: UnleashClient {expected!r}, buttress {got!r}\n"
                        f"  context {json.dumps(raw, ensure_ascii=False)}\n"
                        f"  flag {json.dumps(feature, ensure_ascii=False)}\n"
                        f"  segments {json.dumps(state['segments'], ensure_ascii=False)}"
                    )
    theirs.destroy()


def _without_feature(result: VariantResult) -> tuple[object, ...]:
    key = _variant_key(result)
    return key[:2] + key[3:]


def run(*, seed: int, flag_sets: int, flags: int, contexts: int) -> Report:
    """Compare ``flag_sets`` random sets of ``flags`` flags, each over ``contexts`` random contexts."""
    report = Report()
    generator = Generator(seed)
    for _ in range(flag_sets):
        state = generator.flag_set(flags)
        compare(state, [generator.context() for _ in range(contexts)], report)
    return report
