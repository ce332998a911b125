"""Differential: buttress-cqrs and python-cqrs agree on routing, middleware order and failures.

python-cqrs (the peer the issue names) defines the same behaviour: one handler per request type, a
missing one is an error, middleware given first is the outermost layer, and a failing handler's
error reaches the caller through every layer. The same scenarios run through both libraries and the
traces are compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import cqrs as peer
import di
import pytest
from cqrs.bootstrap import requests as peer_bootstrap
from cqrs.container import di as peer_di
from cqrs.dispatcher.exceptions import RequestHandlerDoesNotExist
from hypothesis import given, settings
from hypothesis import strategies as st

from buttress.core import Command
from buttress.cqrs import CommandBus, HandlerNotFoundError

from .conftest import Layer

TYPES = 6
OURS = [
    dataclasses.make_dataclass(f"Ours{i}", [("value", int)], bases=(Command[int],), frozen=True)
    for i in range(TYPES)
]
THEIRS = [
    dataclasses.make_dataclass(f"Theirs{i}", [("value", int)], bases=(peer.DCRequest,)) for i in range(TYPES)
]


@dataclasses.dataclass
class Answer(peer.DCResponse):
    value: int


def outcome_of_value(index: int, value: int) -> int:
    if value < 0:
        raise ValueError("negative")
    return value * 10 + index


class TheirLayer:
    def __init__(self, name: str, trail: list[str]) -> None:
        self.name, self.trail = name, trail

    async def __call__(self, request: Any, handle: Any) -> Any:
        self.trail.append(f"enter {self.name}")
        try:
            return await handle(request)
        finally:
            self.trail.append(f"exit {self.name}")


def our_bus(registered: set[int], layers: int, trail: list[str]) -> CommandBus:
    bus = CommandBus(middleware=[Layer(str(i), trail) for i in range(layers)])
    for index in registered:

        class Handler:
            def __init__(self, index: int) -> None:
                self.index = index

            async def handle(self, command: Any) -> int:
                trail.append(f"handler {self.index}")
                return outcome_of_value(self.index, command.value)

        bus.register(OURS[index], Handler(index))
    return bus


def their_mediator(registered: set[int], layers: int, trail: list[str]) -> Any:
    handlers = {}
    for index in registered:

        def handler_class(index: int) -> type:
            class Handler(peer.RequestHandler[THEIRS[index], Answer]):  # type: ignore[misc]
                @property
                def events(self) -> list[Any]:
                    return []

                async def handle(self, request: Any) -> Answer:
                    trail.append(f"handler {index}")
                    return Answer(value=outcome_of_value(index, request.value))

            return Handler

        handlers[index] = handler_class(index)
    container = peer_di.DIContainer()
    container.attach_external_container(di.Container())

    def commands(mapper: peer.RequestMap) -> None:
        for index, handler in handlers.items():
            mapper.bind(THEIRS[index], handler)

    return peer_bootstrap.setup_mediator(
        peer_bootstrap.setup_event_emitter(container),
        container,
        middlewares=[TheirLayer(str(i), trail) for i in range(layers)],
        commands_mapper=commands,
    )


async def through_ours(bus: CommandBus, index: int, value: int) -> object:
    try:
        return await bus.send(OURS[index](value))
    except HandlerNotFoundError:
        return "no handler"
    except ValueError:
        return "handler failed"


async def through_theirs(mediator: Any, index: int, value: int) -> object:
    try:
        answer = await mediator.send(THEIRS[index](value=value))
    except RequestHandlerDoesNotExist:
        return "no handler"
    except ValueError:
        return "handler failed"
    return answer.value


@settings(deadline=None)
@given(
    registered=st.sets(st.integers(0, TYPES - 1)),
    layers=st.integers(0, 4),
    sends=st.lists(st.tuples(st.integers(0, TYPES - 1), st.integers(-3, 50)), max_size=15),
)
def test_both_libraries_route_layer_and_fail_alike(
    registered: set[int], layers: int, sends: list[tuple[int, int]]
) -> None:
    """Differential: for any registrations, middleware depth and messages, buttress-cqrs and
    python-cqrs give the same answers, the same "no handler" and "handler failed" outcomes, and the
    same middleware trace."""
    ours_trail: list[str] = []
    theirs_trail: list[str] = []

    async def run() -> tuple[list[object], list[object]]:
        bus = our_bus(registered, layers, ours_trail)
        mediator = their_mediator(registered, layers, theirs_trail)
        ours = [await through_ours(bus, index, value) for index, value in sends]
        theirs = [await through_theirs(mediator, index, value) for index, value in sends]
        return ours, theirs

    ours, theirs = asyncio.run(run())
    assert ours == theirs
    assert ours_trail == theirs_trail


def test_a_second_handler_is_refused_by_both() -> None:
    bus = our_bus({0}, 0, [])
    with pytest.raises(ValueError, match="has a handler already"):
        bus.register(OURS[0], object())  # type: ignore[call-overload]
    mapper = peer.RequestMap()
    mapper.bind(THEIRS[0], peer.RequestHandler)
    with pytest.raises(KeyError):
        mapper.bind(THEIRS[0], peer.RequestHandler)
