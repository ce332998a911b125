"""The hostile-argument helpers pass typed code and catch each kind of untyped failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest

from buttress.core import ArgumentTypeError, ConfigurationError
from buttress.testing import (
    TestingConfigurationError,
    TestingTypeError,
    acheck_hostile,
    check_hostile,
    check_hostile_asgi,
    check_hostile_wsgi,
    hostile_values,
)

type Receive = Callable[[], Awaitable[dict[str, Any]]]
type Send = Callable[[dict[str, Any]], Awaitable[None]]


def checked_ttl(key: str, ttl: float = 1.0) -> str:
    if not isinstance(key, str):
        raise ArgumentTypeError("key", "a str", key)
    if "\x00" in key:
        raise ConfigurationError("key", key, "must not contain NUL")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ArgumentTypeError("ttl", "a number", ttl)
    # Compared before isfinite: math.isfinite(10**400) raises OverflowError.
    if not (0 < ttl <= 1e9):
        raise ConfigurationError("ttl", ttl, "must be a positive finite number")
    return key


def unchecked_ttl(key: str, ttl: float = 1.0) -> float:
    return float(ttl) * 2 + len(key)


def test_a_checked_function_passes() -> None:
    check_hostile(checked_ttl, "k", ttl=1.0)


def test_an_untyped_error_fails_and_names_the_parameter() -> None:
    with pytest.raises(AssertionError, match=r"unchecked_ttl\(.*raised an untyped"):
        check_hostile(unchecked_ttl, "k", ttl=1.0)


def test_kept_parameters_are_not_replaced() -> None:
    def needs_callback(callback: Callable[[], int], key: str = "k") -> int:
        checked_ttl(key)
        return callback()

    check_hostile(needs_callback, lambda: 1, keep={"callback"})


def test_allowed_types_pass() -> None:
    check_hostile(unchecked_ttl, "k", allowed=(TypeError, ValueError, OverflowError))


def test_parameters_not_given_are_replaced_too() -> None:
    """Defaults are part of the surface: ``ttl`` is driven even though the call never passed it."""
    with pytest.raises(AssertionError, match="ttl="):
        check_hostile(lambda key, ttl=1.0: checked_ttl("k") and float(ttl) + 1, "k", keep={"key"})


async def test_coroutines_are_awaited_on_the_callers_loop() -> None:
    loop = asyncio.get_running_loop()
    seen: set[object] = set()

    async def target(key: str) -> str:
        seen.add(asyncio.get_running_loop())
        return checked_ttl(key)

    await acheck_hostile(target, "k", max_examples=20)
    assert seen == {loop}


async def test_an_async_untyped_error_fails() -> None:
    async def target(timeout: float) -> None:
        await asyncio.sleep(0)
        int(timeout)

    with pytest.raises(AssertionError, match="raised an untyped"):
        await acheck_hostile(target, 1.0)


def test_awaitables_from_a_sync_test_run_on_a_private_loop() -> None:
    async def target(timeout: float) -> None:
        int(timeout)

    with pytest.raises(AssertionError, match="raised an untyped"):
        check_hostile(target, 1.0)


async def test_check_hostile_refuses_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="acheck_hostile"):
        check_hostile(checked_ttl, "k")


def test_generators_are_drained_so_deferred_checks_run() -> None:
    def lines(text: str) -> Iterator[str]:
        yield from text.split("\n")

    with pytest.raises(AssertionError, match="raised an untyped"):
        check_hostile(lines, "a\nb")


async def test_async_generators_are_iterated() -> None:
    async def lines(text: str) -> AsyncIterator[str]:
        for line in text.split("\n"):
            yield line

    with pytest.raises(AssertionError, match="raised an untyped"):
        await acheck_hostile(lines, "a\nb")


def test_a_logged_untyped_exception_fails() -> None:
    log = logging.getLogger("buttress.test_hostile")

    def swallow(value: str) -> None:
        try:
            value.encode("ascii")
        except Exception:
            log.exception("could not encode")

    with pytest.raises(AssertionError, match="logged an untyped exception"):
        check_hostile(swallow, "ok")


async def test_a_hanging_call_fails() -> None:
    async def hang(value: object) -> None:
        if value != "ok":
            await asyncio.Event().wait()

    with pytest.raises(AssertionError, match="did not finish in time"):
        await acheck_hostile(hang, "ok", timeout=0.05, max_examples=3)


# --- ASGI / WSGI -----------------------------------------------------------------------------------


async def hello(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def decoding_middleware(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    async def middleware(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        for _, value in scope["headers"]:
            value.decode("utf-8")
        await app(scope, receive, send)

    return middleware


async def test_a_benign_asgi_app_passes() -> None:
    await check_hostile_asgi(hello)


async def test_an_asgi_exception_fails() -> None:
    with pytest.raises(AssertionError, match="UnicodeDecodeError"):
        await check_hostile_asgi(decoding_middleware(hello))


async def test_an_asgi_5xx_fails() -> None:
    async def fails(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        status = 500 if scope["query_string"] else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(AssertionError, match="answered 500"):
        await check_hostile_asgi(fails)


async def test_content_length_on_204_fails() -> None:
    async def no_content(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(AssertionError, match="content-length with 204"):
        await check_hostile_asgi(no_content, max_examples=5)


async def test_no_response_fails() -> None:
    async def silent(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(AssertionError, match="without starting a response"):
        await check_hostile_asgi(silent, max_examples=5)


def wsgi_hello(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_a_benign_wsgi_app_passes() -> None:
    check_hostile_wsgi(wsgi_hello)


def test_a_wsgi_exception_fails() -> None:
    def strict(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        environ["PATH_INFO"].encode("ascii")
        return wsgi_hello(environ, start_response)

    with pytest.raises(AssertionError, match="UnicodeEncodeError"):
        check_hostile_wsgi(strict)


def test_a_target_argument_named_like_an_option_goes_in_kwargs() -> None:
    """The helper's own options never reach the target; ``kwargs=`` carries the target's namesakes."""
    seen: set[object] = set()

    async def close(timeout: float, name: str = "pool") -> None:
        seen.add(timeout)
        await asyncio.sleep(0)
        checked_ttl(name)

    check_hostile(close, kwargs={"timeout": 0}, keep={"timeout"}, max_examples=10)
    assert seen == {0}


BAD_OPTIONS: list[tuple[dict[str, object], type[Exception]]] = [
    ({"keep": "key"}, TestingTypeError),
    ({"keep": [1]}, TestingTypeError),
    ({"allowed": ValueError}, TestingTypeError),
    ({"allowed": [ValueError, "x"]}, TestingTypeError),
    ({"values": [1, 2]}, TestingTypeError),
    ({"max_examples": 0}, TestingConfigurationError),
    ({"max_examples": "10"}, TestingTypeError),
    ({"timeout": float("nan")}, TestingConfigurationError),
    ({"timeout": 10**400}, TestingConfigurationError),
    ({"timeout": None}, TestingTypeError),
    ({"kwargs": ["ttl"]}, TestingTypeError),
]


@pytest.mark.parametrize(("options", "error"), BAD_OPTIONS)
def test_the_helpers_own_options_are_checked_with_typed_errors(
    options: dict[str, object], error: type[Exception]
) -> None:
    """The helpers drive hypothesis themselves, so they cannot be driven by check_hostile: their options
    are checked here, one bad value each, before any call is made."""
    with pytest.raises(error):
        check_hostile(checked_ttl, "k", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("options", "error"), BAD_OPTIONS)
async def test_the_async_helpers_options_are_checked_with_typed_errors(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await acheck_hostile(checked_ttl, "k", **options)  # type: ignore[arg-type]


def test_a_target_that_is_not_callable_or_has_nothing_to_replace_is_a_typed_error() -> None:
    with pytest.raises(TestingTypeError, match="target"):
        check_hostile(5)  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError, match="no parameter to replace"):
        check_hostile(checked_ttl, "k", keep={"key", "ttl"})


async def test_an_app_that_is_not_callable_is_a_typed_error() -> None:
    with pytest.raises(TestingTypeError, match="app"):
        await check_hostile_asgi("app")  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError, match="timeout"):
        await check_hostile_asgi(checked_ttl, timeout=-1)  # type: ignore[arg-type]
    with pytest.raises(TestingTypeError, match="app"):
        check_hostile_wsgi(None)  # type: ignore[arg-type]
    with pytest.raises(TestingConfigurationError, match="max_examples"):
        check_hostile_wsgi(checked_ttl, max_examples=-5)  # type: ignore[arg-type]
    with pytest.raises(TestingTypeError, match="relative_paths"):
        hostile_values(relative_paths="yes")  # type: ignore[arg-type]
