"""The OpenFeature evaluation Gherkin suites (evaluation.feature, evaluation_v2.feature) through FlagProvider.

The feature files and test-flags.json are read from the shared conformance folder, never copied here.
Two scenarios cannot pass and are strict xfails (see ``_XFAIL`` in conftest.py and the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagEvaluationOptions
from openfeature.hook import Hook, HookContext
from pytest_bdd import given, parsers, scenarios, then, when

from buttress.feature_flags import FlagClient, FlagProvider, FlagSet, MemoryFlagSource
from buttress.testing import FakeClock

from ._conformance import suite_dir, suite_missing
from ._openfeature_flags import load_test_flags
from .conftest import FlakySource

SUITE = suite_dir("openfeature-gherkin")

if SUITE is not None:
    scenarios(str(SUITE / "evaluation.feature"), str(SUITE / "evaluation_v2.feature"))
else:

    def test_openfeature_gherkin_suites() -> None:
        suite_missing()


class World:
    """What one scenario builds up."""

    def __init__(self) -> None:
        self.domain = f"bdd-{uuid.uuid4().hex}"
        self.attributes: dict[str, Any] = {}
        self.context: EvaluationContext | None = None
        self.kind = "Boolean"
        self.key = ""
        self.default: Any = None
        self.details: FlagEvaluationDetails[Any] | None = None
        self.options: FlagEvaluationOptions | None = None
        self.hook_calls: list[str] = []
        self.original: dict[str, Any] = {}
        self.client: OpenFeatureClient | None = None
        self.flag_client: FlagClient | None = None


@pytest.fixture
def world() -> Iterator[World]:
    state = World()
    yield state
    api.clear_providers()


def _flags() -> FlagSet:
    assert SUITE is not None
    return load_test_flags(json.loads((SUITE / "test-flags.json").read_text(encoding="utf-8")))


def _install(world: World, provider: FlagProvider, *, wait: bool) -> None:
    if wait:
        # An ERROR or FATAL provider raises here; the scenario then checks the status it left.
        with contextlib.suppress(Exception):
            api.set_provider_and_wait(provider, world.domain)
    else:
        api.set_provider(provider, world.domain)
    world.client = api.get_client(world.domain)


@given("a stable provider")
def stable_provider(world: World) -> None:
    world.flag_client = FlagClient(MemoryFlagSource(), bootstrap=_flags())
    _install(world, FlagProvider(world.flag_client), wait=True)


@given("a not ready provider")
def not_ready_provider(world: World) -> None:
    world.flag_client = FlagClient(MemoryFlagSource())  # never started: no snapshot
    _install(world, FlagProvider(world.flag_client, init_timeout=60), wait=False)


@given("a error provider")
def error_provider(world: World) -> None:
    source = FlakySource()
    source.failing = True
    world.flag_client = FlagClient(source)
    asyncio.run(world.flag_client.refresh())
    _install(world, FlagProvider(world.flag_client, init_timeout=0), wait=True)


@given("a fatal provider")
def fatal_provider(world: World) -> None:
    world.flag_client = FlagClient(MemoryFlagSource(), bootstrap=_flags())
    asyncio.run(world.flag_client.aclose())
    _install(world, FlagProvider(world.flag_client), wait=True)


@given("a stale provider")
def stale_provider(world: World) -> None:
    clock = FakeClock()
    source = FlakySource(*_flags().flags.values())
    world.flag_client = FlagClient(source, refresh_interval=10, stale_after=30, clock=clock)
    asyncio.run(world.flag_client.refresh())
    _install(world, FlagProvider(world.flag_client), wait=True)
    source.failing = True
    clock.advance(60)
    asyncio.run(world.flag_client.refresh())  # fails past stale_after: the provider emits PROVIDER_STALE


def _value(kind: str, text: str) -> Any:
    kind = kind.lower()
    if kind == "boolean":
        return text == "true"
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "object":
        return json.loads(text.replace('\\"', '"'))
    return text


@given(parsers.re(r'a (?P<kind>\w+)-flag with key "(?P<key>[^"]+)" and a fallback value "(?P<default>.*)"$'))
def a_flag(world: World, kind: str, key: str, default: str) -> None:
    world.kind, world.key, world.default = kind, key, _value(kind, default)


@given(parsers.parse('a context containing a key "{name}", with type "{kind}" and with value "{value}"'))
def context_value(world: World, name: str, kind: str, value: str) -> None:
    world.attributes[name] = _value(kind, value)


@given(parsers.parse('a context containing a key "{name}" with null value'))
def context_null(world: World, name: str) -> None:
    world.attributes[name] = None


@given("an evaluation context with modifiable data")
def modifiable_context(world: World) -> None:
    world.attributes = {"email": "ballmer@macrosoft.com", "list": [1, 2]}
    world.original = json.loads(json.dumps(world.attributes))


@given("evaluation options containing specific hooks")
def with_hooks(world: World) -> None:
    calls = world.hook_calls

    class Recorder(Hook):
        def before(self, hook_context: HookContext, hints: Any) -> None:
            calls.append("before")

        def after(self, hook_context: HookContext, details: Any, hints: Any) -> None:
            calls.append("after")

        def finally_after(self, hook_context: HookContext, details: Any, hints: Any) -> None:
            calls.append("finally")

    world.options = FlagEvaluationOptions(hooks=[Recorder()])


def _context(world: World) -> EvaluationContext | None:
    if not world.attributes and world.context is None:
        return None
    world.context = EvaluationContext(attributes=world.attributes)
    return world.context


def _evaluate(world: World, *, asynchronous: bool = False) -> None:
    assert world.client is not None
    suffix = {
        "boolean": "boolean",
        "string": "string",
        "integer": "integer",
        "float": "float",
        "object": "object",
    }
    method = f"get_{suffix[world.kind.lower()]}_details" + ("_async" if asynchronous else "")
    call = getattr(world.client, method)
    result = call(world.key, world.default, _context(world), world.options)
    world.details = asyncio.run(result) if asynchronous else result


@when("the flag was evaluated with details")
@when("the flag was evaluated with details using the evaluation options")
def evaluated(world: World) -> None:
    _evaluate(world)


@when("the flag was evaluated with details asynchronously")
def evaluated_async(world: World) -> None:
    _evaluate(world, asynchronous=True)


def _details(world: World) -> FlagEvaluationDetails[Any]:
    assert world.details is not None
    return world.details


@then(parsers.re(r'the resolved details value should be "(?P<value>.*)"$'))
def resolved_value(world: World, value: str) -> None:
    assert _details(world).value == _value(world.kind, value)


@then(parsers.parse('the reason should be "{reason}"'))
def reason_is(world: World, reason: str) -> None:
    assert _details(world).reason == reason


@then(parsers.parse('the error-code should be "{code}"'))
def error_code_is(world: World, code: str) -> None:
    assert _details(world).error_code == code


@then(parsers.parse('the flag key should be "{key}"'))
def flag_key_is(world: World, key: str) -> None:
    assert _details(world).flag_key == key


@then(parsers.parse('the variant should be "{variant}"'))
def variant_is(world: World, variant: str) -> None:
    assert _details(world).variant == variant


@then(parsers.parse('the provider status should be "{status}"'))
def provider_status(world: World, status: str) -> None:
    assert world.client is not None
    assert world.client.get_provider_status().value == status


@then("the resolved metadata should contain")
def metadata_contains(world: World, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["key", "metadata_type", "value"]
    for key, kind, value in rows:
        assert _details(world).flag_metadata[key] == _value(kind, value)


@then("the specified hooks should execute during evaluation")
def hooks_ran(world: World) -> None:
    assert set(world.hook_calls) == {"before", "after", "finally"}


@then("the hook order should be maintained")
def hook_order(world: World) -> None:
    assert world.hook_calls == ["before", "after", "finally"]


@then("the original evaluation context should remain unmodified")
def context_unmodified(world: World) -> None:
    assert world.attributes == world.original


@then("the evaluation details should be immutable")
def details_immutable(world: World) -> None:
    with pytest.raises((AttributeError, TypeError)):
        _details(world).value = "changed"


@then("the evaluation should complete without blocking")
def completed(world: World) -> None:
    assert world.details is not None


# -- the deprecated evaluation.feature ------------------------------------------------------------


def _old(world: World, kind: str, key: str, default: Any, *, details: bool) -> None:
    world.kind, world.key, world.default = kind, key, default
    _evaluate(world)
    world.attributes = world.attributes  # context stays for the next step


@when(
    parsers.re(
        r"an? (?P<kind>boolean|string|integer|float) flag with key "
        r'"(?P<key>[^"]+)" is evaluated with (?P<details>details and )?default '
        r'value "?(?P<default>[^"]*)"?$'
    )
)
def old_evaluation(world: World, kind: str, key: str, details: str | None, default: str) -> None:
    _old(world, kind, key, _value(kind, default), details=bool(details))


@when(
    parsers.re(
        r'an object flag with key "(?P<key>[^"]+)" is evaluated with '
        r"(?P<details>details and )?a null default value"
    )
)
def old_object(world: World, key: str, details: str | None) -> None:
    _old(world, "object", key, {}, details=bool(details))


@when(
    parsers.parse(
        'a non-existent string flag with key "{key}" is evaluated with details'
        ' and a fallback value "{default}"'
    )
)
def old_missing(world: World, key: str, default: str) -> None:
    _old(world, "string", key, default, details=True)


@when(
    parsers.parse(
        'a string flag with key "{key}" is evaluated as an integer,'
        " with details and a fallback value {default:d}"
    )
)
def old_wrong_type(world: World, key: str, default: int) -> None:
    _old(world, "integer", key, default, details=True)


@when(
    parsers.parse(
        'context contains keys "fn", "ln", "age", "customer"'
        ' with values "{fn}", "{ln}", {age:d}, "{customer}"'
    )
)
def old_context(world: World, fn: str, ln: str, age: int, customer: str) -> None:
    world.attributes = {"fn": fn, "ln": ln, "age": age, "customer": customer == "true"}


@when(parsers.parse('a flag with key "{key}" is evaluated with default value "{default}"'))
def old_context_flag(world: World, key: str, default: str) -> None:
    _old(world, "string", key, default, details=True)


@then(
    parsers.re(
        r"the resolved (?P<kind>boolean|string|integer|float) (?:value|response)"
        r' should be "?(?P<value>[^"]+)"?$'
    )
)
def old_value(world: World, kind: str, value: str) -> None:
    assert _details(world).value == _value(kind, value)


@then(
    parsers.re(
        r"the resolved (?P<kind>boolean|string|integer|float) details value "
        r'should be "?(?P<value>[^",]+)"?, the variant should be '
        r'"(?P<variant>[^"]+)", and the reason should be "(?P<reason>[^"]+)"'
    )
)
def old_details(world: World, kind: str, value: str, variant: str, reason: str) -> None:
    details = _details(world)
    assert (details.value, details.variant, details.reason) == (_value(kind, value), variant, reason)


@then(
    parsers.re(
        r"the resolved object (?:details )?value should be contain fields "
        r'"showImages", "title", and "imagesPerPage", with values "true", "Check'
        r' out these pics!" and 100, respectively'
    )
)
def old_object_value(world: World) -> None:
    assert _details(world).value == {
        "showImages": True,
        "title": "Check out these pics!",
        "imagesPerPage": 100,
    }


@then(parsers.parse('the variant should be "{variant}", and the reason should be "{reason}"'))
def old_variant_reason(world: World, variant: str, reason: str) -> None:
    assert (_details(world).variant, _details(world).reason) == (variant, reason)


@then(parsers.parse('the resolved flag value is "{value}" when the context is empty'))
def old_empty_context(world: World, value: str) -> None:
    world.attributes, world.context = {}, None
    _evaluate(world)
    assert _details(world).value == value


@then(parsers.re(r"the default (?:string|integer) value should be returned"))
def old_default_returned(world: World) -> None:
    assert _details(world).value == world.default


@then(
    parsers.re(
        r"the reason should indicate an error and the error code should indicate"
        r' a (?:missing flag|type mismatch) with "(?P<code>[^"]+)"'
    )
)
def old_error(world: World, code: str) -> None:
    assert (_details(world).reason, _details(world).error_code) == ("ERROR", code)
