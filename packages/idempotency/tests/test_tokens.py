"""Lease tokens: drawn from the operating system in blocks, each handed out once, across threads and forks."""

from __future__ import annotations

import multiprocessing
import re
import threading
import warnings
from multiprocessing.connection import Connection

from buttress.idempotency._tokens import lease_token

_HEX = re.compile(r"[0-9a-f]{24}")


def test_tokens_are_96_random_bits_in_hex_and_never_repeat() -> None:
    tokens = [lease_token() for _ in range(10_000)]  # many blocks
    assert all(_HEX.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_threads_taking_tokens_at_once_never_get_the_same_one() -> None:
    start = threading.Barrier(8)
    taken: list[list[str]] = [[] for _ in range(8)]

    def take(into: list[str]) -> None:
        start.wait()
        into.extend(lease_token() for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [token for into in taken for token in into]
    assert len(every) == 40_000
    assert len(set(every)) == 40_000


def _child(out: Connection) -> None:
    out.send([lease_token() for _ in range(32)])
    out.close()


def test_a_forked_child_does_not_hand_out_its_parent_s_tokens() -> None:
    lease_token()  # the parent holds a block it has not handed out yet
    receiving, sending = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(sending,))
    with warnings.catch_warnings():
        # Threads other tests left (a loop thread, say) make Python warn about fork; the child only
        # takes tokens and writes them to a pipe.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        child.start()
    theirs = receiving.recv()
    child.join(timeout=30)
    assert child.exitcode == 0
    ours = [lease_token() for _ in range(32)]
    assert not set(theirs) & set(ours)
