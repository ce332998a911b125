"""Lease tokens: 96 random bits each, from the operating system, drawn many at a time."""

from __future__ import annotations

import os

__all__ = ["lease_token"]

_BLOCK = 64  # tokens drawn with one call of os.urandom
_SIZE = 24  # hex digits per token (12 bytes)

# Tokens drawn and not handed out yet. `list.pop` and `list.extend` are atomic, so threads share it
# safely; a forked child starts with none (its parent holds the same ones and hands them out).
_ready: list[str] = []
os.register_at_fork(after_in_child=_ready.clear)


def lease_token() -> str:
    """A fresh lease token: 12 bytes of `os.urandom` as 24 hex digits (what ``secrets.token_hex(12)`` gives).

    Every claim takes one, so the operating system is asked for 64 at a time rather than once per
    claim (its call is the costliest part of a token). A token is handed out once: to one thread, and
    never to both sides of an `os.fork` (which `multiprocessing` and servers' worker processes use).
    """
    while True:
        try:
            return _ready.pop()
        except IndexError:
            data = os.urandom(_BLOCK * _SIZE // 2).hex()
            _ready.extend([data[at : at + _SIZE] for at in range(0, len(data), _SIZE)])
