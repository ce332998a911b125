"""ThreadedFlagClient: flags in synchronous code, refreshed from a thread of the client's own.

Evaluations are plain calls from threads that have no event loop; the sources (memory, a file,
Redis) are the async ones, run on the client's loop. Flask and Django run under a real WSGI server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path
from flask import Flask, request

from buttress.feature_flags import (
    ClientClosedError,
    ClientStatus,
    Constraint,
    Context,
    FeatureFlagsConfigurationError,
    FileFlagSource,
    FlagDefinition,
    FlagSet,
    MemoryFlagSource,
    MemoryStickyStore,
    Operator,
    Reason,
    RedisFlagSource,
    Strategy,
    ThreadedFlagClient,
    flag_set_to_dict,
)
from buttress.testing import check_hostile, check_hostile_wsgi, django_urls, serve_wsgi

from .test_hostile import METHODS

BETA = FlagDefinition(
    "new-checkout",
    strategies=(
        Strategy("default", constraints=(Constraint("userId", Operator.IN, values=("alice", "bob")),)),
    ),
)


def write_flags(file: Path, *flags: FlagDefinition) -> None:
    file.write_text(json.dumps(flag_set_to_dict(FlagSet({flag.key: flag for flag in flags}))))


def test_evaluation_is_a_plain_call_from_threads_without_a_loop() -> None:
    with ThreadedFlagClient(MemoryFlagSource([BETA])) as flags:
        assert flags.start() is True
        assert flags.status is ClientStatus.READY
        answers: list[tuple[bool, bool]] = []

        def evaluate() -> None:
            with pytest.raises(RuntimeError):
                asyncio.get_running_loop()  # no event loop in this thread
            answers.append(
                (
                    flags.is_enabled("new-checkout", Context(user_id="alice")),
                    flags.is_enabled("new-checkout", Context(user_id="mallory")),
                )
            )

        threads = [threading.Thread(target=evaluate) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [(True, False)] * 8
        details = flags.evaluate("new-checkout", False, Context(user_id="bob"))
        assert (details.value, details.reason) == (True, Reason.TARGETING_MATCH)
        assert flags.get_variant("new-checkout").name == "disabled"
        assert flags.snapshot is not None
        assert flags.last_error is None
    assert flags.closed
    assert flags.status is ClientStatus.FATAL
    assert flags.is_enabled("new-checkout", Context(user_id="alice"))  # the last snapshot still answers
    with pytest.raises(ClientClosedError):
        flags.start()
    with pytest.raises(ClientClosedError):
        flags.refresh()


def test_sticky_assignments_from_many_threads_at_once() -> None:
    """A full MemoryStickyStore written by eight threads at once evicts and remembers without an error."""
    store = MemoryStickyStore(max_entries=10)
    rollout = FlagDefinition("rollout", strategies=(Strategy("flexibleRollout", {"rollout": "50"}),))
    errors: list[BaseException] = []
    with ThreadedFlagClient(MemoryFlagSource([rollout]), sticky_store=store) as flags:
        flags.start()

        def evaluate(worker: int) -> None:
            try:
                for user in range(300):
                    flags.is_enabled("rollout", Context(user_id=f"{worker}-{user}"))
                    if user % 50 == 0:
                        store.forget("rollout")
            except BaseException as exc:  # noqa: BLE001 - what the test looks for
                errors.append(exc)

        threads = [threading.Thread(target=evaluate, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(store) <= 10


def test_a_change_in_a_file_is_served_after_a_refresh(tmp_path: Path) -> None:
    file = tmp_path / "flags.json"
    write_flags(file, FlagDefinition("dark-mode", enabled=False))
    seen: list[ClientStatus] = []
    flags = ThreadedFlagClient(FileFlagSource(file), refresh_interval=3600)
    flags.add_listener(lambda status, snapshot: seen.append(status))
    try:
        assert flags.start()
        assert not flags.is_enabled("dark-mode")
        write_flags(file, FlagDefinition("dark-mode"))
        assert flags.refresh() is True
        assert flags.is_enabled("dark-mode")
    finally:
        flags.close()
    assert seen[0] is ClientStatus.READY
    assert seen[-1] is ClientStatus.FATAL


def test_the_redis_source_runs_on_the_client_s_loop(redis_url: str, redis_prefix: str) -> None:
    """An async backend works unchanged: its connections live on the refresher's loop."""

    async def put(flag: FlagDefinition) -> None:
        writer = RedisFlagSource.from_url(redis_url, prefix=redis_prefix)
        try:
            await writer.put(flag)
        finally:
            await writer.aclose()

    asyncio.run(put(FlagDefinition("search-v2", enabled=False)))
    source = RedisFlagSource.from_url(redis_url, prefix=redis_prefix)
    with ThreadedFlagClient(source, refresh_interval=3600) as flags:
        assert flags.start()
        assert not flags.is_enabled("search-v2")
        asyncio.run(put(FlagDefinition("search-v2")))
        assert flags.refresh()
        assert flags.is_enabled("search-v2")


class Broken:
    async def load(self) -> FlagSet:
        raise ConnectionError("the flag server is down")


def test_a_source_that_fails_serves_defaults_and_says_why() -> None:
    with ThreadedFlagClient(Broken()) as flags:  # type: ignore[arg-type]
        assert flags.start() is False
        assert flags.status is ClientStatus.ERROR
        assert isinstance(flags.last_error, ConnectionError)
        assert flags.is_enabled("anything", default=True) is True
    bootstrapped = ThreadedFlagClient(Broken(), bootstrap=FlagSet({"on": FlagDefinition("on")}))  # type: ignore[arg-type]
    with bootstrapped:
        bootstrapped.start()
        assert bootstrapped.is_enabled("on")


def test_a_client_never_started_closes_cleanly() -> None:
    flags = ThreadedFlagClient(MemoryFlagSource([BETA]))
    flags.close()
    flags.close()
    assert flags.closed
    with pytest.raises(FeatureFlagsConfigurationError):
        ThreadedFlagClient(MemoryFlagSource()).start(timeout=0)


# --- Flask and Django under a real WSGI server -------------------------------------------------------

FLAGS = ThreadedFlagClient(MemoryFlagSource([BETA]))


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/checkout")
    def checkout() -> str:
        user = request.args.get("user")
        return "new" if FLAGS.is_enabled("new-checkout", Context(user_id=user)) else "old"

    return app


def django_checkout(request: HttpRequest) -> HttpResponse:
    user = request.GET.get("user")
    return HttpResponse("new" if FLAGS.is_enabled("new-checkout", Context(user_id=user)) else "old")


def _django() -> AbstractContextManager[None]:
    return django_urls([path("checkout", django_checkout)])


@pytest.fixture(scope="module", autouse=True)
def _flags_started() -> Any:
    FLAGS.start()
    yield
    FLAGS.close()


def check_checkout(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        answers = {user: client.get("/checkout", params={"user": user}).text for user in ("alice", "eve")}
        anonymous = client.get("/checkout")
    assert answers == {"alice": "new", "eve": "old"}
    assert (anonymous.status_code, anonymous.text) == (200, "old")


def test_flask_under_a_wsgi_server() -> None:
    with serve_wsgi(flask_app()) as base:
        check_checkout(base)


def test_django_under_a_wsgi_server() -> None:
    with _django(), serve_wsgi(get_wsgi_application()) as base:
        check_checkout(base)


def test_the_apps_never_answer_5xx_to_a_client() -> None:
    check_hostile_wsgi(flask_app())
    with _django():
        check_hostile_wsgi(get_wsgi_application())


def test_the_threaded_client_raises_only_typed_errors() -> None:
    check_hostile(
        ThreadedFlagClient,
        MemoryFlagSource([BETA]),
        refresh_interval=30.0,
        stale_after=90.0,
        max_examples=30,
    )
    with ThreadedFlagClient(MemoryFlagSource([BETA])) as flags:
        # The methods test_hostile.py lists for it (close last: it ends the client).
        for method, (args, kwargs) in METHODS["ThreadedFlagClient"].items():
            check_hostile(getattr(flags, method), *args, kwargs=kwargs, max_examples=20)
