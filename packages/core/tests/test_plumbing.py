"""The plumbing every package shares: telemetry, owned resources, background tasks, driver errors, ASGI."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from types import MappingProxyType
from typing import Any

import pytest

from buttress.core import (
    ArgumentTypeError,
    AsyncResource,
    BackendUnavailableError,
    BackgroundTask,
    ButtressError,
    ClientDisconnectedError,
    ConfigurationError,
    Owned,
    Telemetry,
    connection_errors,
    lazy_exports,
    read_body,
    respond,
    scope_state,
    unavailable_on,
)
from buttress.testing import RecordedMetrics, RecordedSpans, check_hostile

# --- Telemetry ---------------------------------------------------------------------------------------


def test_instruments_reach_the_sdk_on_first_use(metric_reader: RecordedMetrics) -> None:
    telemetry = Telemetry("buttress.core_test_a", "1.0")
    hits = telemetry.counter("buttress.core_test.hits", unit="{hit}")
    sizes = telemetry.histogram("buttress.core_test.size", unit="By")
    inflight = telemetry.up_down_counter("buttress.core_test.inflight")
    hits.add(2, {"cache.name": "x"})
    hits.add(1, {"cache.name": "x"})
    sizes.record(10)
    inflight.add(3)
    inflight.add(-1)
    assert [p.value for p in metric_reader.points("buttress.core_test.hits")] == [3]
    assert [p.value for p in metric_reader.points("buttress.core_test.size")] == [10]
    assert [p.value for p in metric_reader.points("buttress.core_test.inflight")] == [2]


def test_observable_instruments_read_at_collection(metric_reader: RecordedMetrics) -> None:
    live = {"a": 1.0}
    Telemetry("buttress.core_test_b").observe(
        "buttress.core_test.live", lambda: [(v, {"pool.name": k}) for k, v in live.items()]
    )
    live["a"] = 7.0
    assert [p.value for p in metric_reader.points("buttress.core_test.live")] == [7.0]


_PROVIDER_SET_LATER = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from buttress.core import Telemetry

telemetry = Telemetry("buttress.core_test_late")
hits = telemetry.counter("buttress.core_test.late_hits")
sizes = telemetry.histogram("buttress.core_test.late_size", unit="By")
inflight = telemetry.up_down_counter("buttress.core_test.late_inflight")
hits.add(5, {"k": "v"})  # bound to the API's proxy: no provider yet, so nothing is recorded
sizes.record(50)
inflight.add(5)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
hits.add(2, {"k": "v"})
hits.add(1, {"k": "v"})
sizes.record(7)
inflight.add(-3)
found = {
    metric.name: [(dict(p.attributes), getattr(p, "value", None) or p.sum) for p in metric.data.data_points]
    for resource in reader.get_metrics_data().resource_metrics
    for scope in resource.scope_metrics
    for metric in scope.metrics
}
print(sorted(found.items()))
"""


def test_instruments_bound_before_the_provider_reach_it_once_it_is_set() -> None:
    """An SDK installed after a package measured once still receives every later measurement.

    It runs in a new interpreter: the API's global provider can be set once per process.
    """
    done = subprocess.run(
        [sys.executable, "-c", _PROVIDER_SET_LATER], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(
        [
            ("buttress.core_test.late_hits", [({"k": "v"}, 3)]),
            ("buttress.core_test.late_inflight", [({}, -3)]),
            ("buttress.core_test.late_size", [({}, 7)]),
        ]
    )


class _Recorder:
    """An instrument of a meter that is not the API's proxy: what it is given, it keeps."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object]] = []

    def add(self, amount: float, attributes: object = None) -> None:
        self.calls.append((amount, attributes))

    record = add


class _Meter:
    def __init__(self) -> None:
        self.made: dict[str, _Recorder] = {}

    def __getattr__(self, name: str) -> Any:
        def create(instrument: str, **_: object) -> _Recorder:
            return self.made.setdefault(instrument, _Recorder())

        return create


def test_a_meter_that_gives_its_own_instruments_gets_every_measurement() -> None:
    """A meter from an SDK set before the first measurement hands out instruments that are no proxy."""
    telemetry = Telemetry("buttress.core_test_own")
    meter = _Meter()
    telemetry._meter = meter  # as the API's get_meter would return it
    hits = telemetry.counter("buttress.core_test.own_hits")
    sizes = telemetry.histogram("buttress.core_test.own_size")
    hits.add(1, {"k": "v"})
    hits.add(2)
    sizes.record(0.5)
    assert meter.made["buttress.core_test.own_hits"].calls == [(1, {"k": "v"}), (2, None)]
    assert meter.made["buttress.core_test.own_size"].calls == [(0.5, None)]


def test_without_the_api_instruments_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if not installed
    telemetry = Telemetry("buttress.core_test_c")
    counter = telemetry.counter("buttress.core_test.absent")
    counter.add(1)
    counter.add(1)
    telemetry.observe("buttress.core_test.absent_gauge", list)
    assert telemetry.meter() is None


_BIND_AT_START = """
import sys

from buttress.core import Telemetry

telemetry = Telemetry("buttress.core_test_bind")
hits = telemetry.counter("buttress.core_test.bind_hits")
sizes = telemetry.histogram("buttress.core_test.bind_size", unit="By")
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "imported before bind()"
assert telemetry.bind() is True
assert "opentelemetry.trace" not in sys.modules  # no tracer unless spans=True
inflight = telemetry.up_down_counter("buttress.core_test.bind_inflight")  # declared after bind()


def made_late(*args, **kwargs):
    raise AssertionError("an instrument was made on its first measurement")


for kind in ("counter", "histogram", "up_down_counter"):
    setattr(telemetry.meter(), f"create_{kind}", made_late)
before = set(sys.modules)
hits.add(5)  # the first measurements: bound already, so they import and make nothing
sizes.record(50)
inflight.add(5)
assert telemetry.bind() is True  # again: nothing to do
print(sorted(set(sys.modules) - before))
telemetry.bind(spans=True)
print("opentelemetry.trace" in sys.modules)

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
hits.add(2)
sizes.record(7)
inflight.add(-3)
found = {
    metric.name: [getattr(p, "value", None) or p.sum for p in metric.data.data_points]
    for resource in reader.get_metrics_data().resource_metrics
    for scope in resource.scope_metrics
    for metric in scope.metrics
}
print(sorted(found.items()))
"""


def test_bind_pays_the_first_measurement_s_cost_and_the_sdk_still_receives_them() -> None:
    """After bind(), the first measurement imports nothing; an SDK installed later gets the rest.

    A new interpreter: what the first measurement imports shows only where nothing imported the API.
    """
    done = subprocess.run([sys.executable, "-c", _BIND_AT_START], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "[]",
        "True",
        str(
            [
                ("buttress.core_test.bind_hits", [2]),
                ("buttress.core_test.bind_inflight", [-3]),
                ("buttress.core_test.bind_size", [7]),
            ]
        ),
    ]


def test_bound_instruments_reach_an_installed_reader(metric_reader: RecordedMetrics) -> None:
    telemetry = Telemetry("buttress.core_test_bound", "1.0")
    hits = telemetry.counter("buttress.core_test.bound_hits")
    assert telemetry.bind(spans=True) is True
    sizes = telemetry.histogram("buttress.core_test.bound_size", unit="By")
    hits.add(3, {"k": "v"})
    sizes.record(4)
    assert metric_reader.value("buttress.core_test.bound_hits", {"k": "v"}) == 3
    assert [p.value for p in metric_reader.points("buttress.core_test.bound_size")] == [4]
    assert telemetry.tracer() is not None


def test_without_the_api_bind_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    telemetry = Telemetry("buttress.core_test_unbound")
    counter = telemetry.counter("buttress.core_test.unbound")
    assert telemetry.bind(spans=True) is False
    assert telemetry.bind() is False
    counter.add(1)
    telemetry.histogram("buttress.core_test.unbound_size").record(1.0)
    assert (telemetry.meter(), telemetry.tracer()) == (None, None)
    with pytest.raises(ArgumentTypeError):
        telemetry.bind(spans=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "error"),
    [("cache.hits", ConfigurationError), ("buttress.bad name", ConfigurationError), (5, ConfigurationError)],
)
def test_instrument_names_follow_the_convention(name: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Telemetry("buttress.core_test_d").counter(name)  # type: ignore[arg-type]


def test_an_instrument_name_is_claimed_once() -> None:
    telemetry = Telemetry("buttress.core_test_e")
    telemetry.counter("buttress.core_test.once")
    with pytest.raises(ConfigurationError, match="already"):
        telemetry.histogram("buttress.core_test.once")


def test_spans_reach_the_sdk_and_record_what_escapes(span_recorder: RecordedSpans) -> None:
    telemetry = Telemetry("buttress.core_test_f", "1.0")
    with telemetry.span("outer", {"core.kind": "test"}), telemetry.span("inner"):
        pass
    with pytest.raises(KeyError), telemetry.span("failing"):
        raise KeyError("gone")
    outer, inner, failing = (span_recorder.spans(name)[0] for name in ("outer", "inner", "failing"))
    assert outer.attributes == {"core.kind": "test"}
    assert inner.parent_id == outer.span_id
    assert outer.parent_id is None
    assert (outer.error, failing.error, failing.exceptions) == (False, True, ("KeyError",))


def test_without_the_api_a_span_is_a_shared_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    telemetry = Telemetry("buttress.core_test_g")
    with telemetry.span("nothing") as span:
        assert span is None
    assert telemetry.span("again") is telemetry.span("and again")
    assert telemetry.tracer() is None
    with pytest.raises(ArgumentTypeError):
        telemetry.span(b"name")  # type: ignore[arg-type]


def test_before_a_tracer_provider_is_installed_a_span_is_the_shared_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    telemetry = Telemetry("buttress.core_test_h")
    assert telemetry.tracer() is not None
    assert telemetry.span("early") is telemetry.span("early too")


def test_scope_is_a_buttress_package() -> None:
    with pytest.raises(ConfigurationError):
        Telemetry("myapp")


# --- Owned and AsyncResource ---------------------------------------------------------------------------


class Holder(AsyncResource):
    def __init__(self, pool: Owned[str]) -> None:
        super().__init__()
        self.pool = pool

    async def _aclose(self) -> None:
        await self.pool.release()


async def test_an_owned_value_is_closed_once_and_a_borrowed_one_never() -> None:
    closes: list[str] = []

    async def close() -> None:
        closes.append("closed")

    owned = Holder(Owned("pool", close))
    borrowed = Holder(Owned("pool"))
    async with owned, borrowed:
        assert owned.pool.owned
        assert not borrowed.pool.owned
    await owned.aclose()
    assert closes == ["closed"]
    assert owned.closed
    assert borrowed.closed


def test_owned_refuses_a_close_that_is_not_callable() -> None:
    with pytest.raises(ArgumentTypeError):
        Owned("pool", "close")  # type: ignore[arg-type]


# --- BackgroundTask --------------------------------------------------------------------------------------


async def test_a_crashing_task_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    done = asyncio.Event()

    async def work() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        done.set()

    task = BackgroundTask("worker", work, logger=logging.getLogger("test.tasks"), restart_delay=0)
    with caplog.at_level(logging.ERROR, logger="test.tasks"):
        task.start()
        await asyncio.wait_for(done.wait(), 5)
    assert len(runs) == 3
    assert task.crashes == 2
    assert sum("worker failed" in r.getMessage() for r in caplog.records) == 2
    await task.aclose()


async def test_stop_cancels_a_running_task_and_leaves_nothing_behind() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = BackgroundTask("forever", forever, logger=logging.getLogger("test.tasks"))
    task.start()
    await asyncio.wait_for(started.wait(), 5)
    assert task.running
    await task.aclose()
    assert not task.running
    with pytest.raises(ButtressError, match="stopped"):
        task.start()


def test_start_needs_a_running_loop() -> None:
    async def work() -> None:
        return None

    with pytest.raises(ButtressError, match="event loop"):
        BackgroundTask("t", work, logger=logging.getLogger("t")).start()


# --- connection errors -----------------------------------------------------------------------------------


def test_connection_errors_name_the_drivers_that_are_installed() -> None:
    errors = connection_errors("redis", "asyncpg", "httpx", "aiosmtplib")
    assert OSError in errors
    assert TimeoutError in errors
    with pytest.raises(ConfigurationError):
        connection_errors("mysql")  # type: ignore[arg-type]


def test_unavailable_on_maps_and_redacts() -> None:
    class StoreUnavailableError(BackendUnavailableError):
        pass

    with (
        pytest.raises(StoreUnavailableError) as caught,
        unavailable_on(
            (ConnectionRefusedError,), StoreUnavailableError, backend="redis", address="redis://:s3cret@h/0"
        ),
    ):
        raise ConnectionRefusedError("refused")
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ValueError, match="bad input"), unavailable_on((OSError,), backend="x", address="y"):
        raise ValueError("bad input")


# --- ASGI ------------------------------------------------------------------------------------------------


def _receiver(*messages: dict[str, Any]) -> Any:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    return receive


async def test_read_body_joins_chunks_and_stops_past_the_limit() -> None:
    chunks = (
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd"},
    )
    assert await read_body(_receiver(*chunks), limit=4) == b"abcd"
    assert await read_body(_receiver(*chunks), limit=3) is None
    with pytest.raises(ClientDisconnectedError):
        await read_body(_receiver({"type": "http.request", "body": b"a", "more_body": True}), limit=4)


@pytest.fixture
def sent() -> list[dict[str, Any]]:
    return []


@pytest.mark.parametrize("status", [204, 304, 101])
async def test_respond_sends_no_length_or_body_where_http_forbids(
    status: int, sent: list[dict[str, Any]]
) -> None:
    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await respond(send, status, headers=[(b"content-length", b"5")], body=b"hello")
    assert all(name != b"content-length" for name, _ in sent[0]["headers"])
    assert sent[1]["body"] == b""


async def test_respond_sets_the_length_of_the_body(sent: list[dict[str, Any]]) -> None:
    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await respond(send, 400, headers=[(b"content-type", b"text/plain")], body=b"bad")
    assert (b"content-length", b"3") in sent[0]["headers"]
    with pytest.raises(ConfigurationError):
        await respond(send, 99)


def test_scope_state_is_the_scope_s_own_or_a_new_one_set_on_it() -> None:
    given: dict[str, Any] = {"user": 1}
    assert scope_state({"type": "http", "state": given}) is given
    bare: dict[str, Any] = {"type": "http"}
    made = scope_state(bare)
    made["nonce"] = "n"
    assert bare["state"] == {"nonce": "n"}
    with pytest.raises(ArgumentTypeError, match="scope must be a mutable mapping"):
        scope_state(MappingProxyType({"type": "http"}))  # a read-only scope cannot take a state
    with pytest.raises(ArgumentTypeError, match=r"scope\['state'\] must be"):
        scope_state({"type": "http", "state": "s"})


# --- lazy_exports ------------------------------------------------------------------------------------


def test_lazy_exports_import_on_first_use_and_refuse_unknown_names() -> None:
    getattr_ = lazy_exports("buttress.core", {"Telemetry": "_telemetry"})
    assert getattr_("Telemetry") is Telemetry
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        getattr_("Nope")


def test_lazy_exports_check_their_table() -> None:
    with pytest.raises(ConfigurationError, match="private module"):
        lazy_exports("buttress.core", {"X": "os"})
    with pytest.raises(ArgumentTypeError):
        lazy_exports("buttress.core", {"X": 1})  # type: ignore[dict-item]
    check_hostile(lazy_exports, "buttress.core", {"X": "_x"})


def test_a_driver_error_that_is_also_a_value_error_is_never_unavailable() -> None:
    class DriverInterfaceError(Exception):
        pass

    class DriverDataError(DriverInterfaceError, ValueError):
        pass

    with (
        pytest.raises(DriverDataError),
        unavailable_on((DriverInterfaceError,), backend="db", address="db://h"),
    ):
        raise DriverDataError("cannot encode")
    with (
        pytest.raises(ConfigurationError, match="cannot encode"),
        unavailable_on(
            (DriverInterfaceError,),
            backend="db",
            address="db://h",
            bad_input=lambda exc: ConfigurationError("value", None, str(exc), show_value=False),
        ),
    ):
        raise DriverDataError("cannot encode")
    with (
        pytest.raises(BackendUnavailableError),
        unavailable_on((DriverInterfaceError,), backend="db", address="db://h"),
    ):
        raise DriverInterfaceError("connection lost")
