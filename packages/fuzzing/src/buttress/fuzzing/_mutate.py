"""Byte-level mutations, all drawn from one seeded `random.Random` so a campaign replays exactly."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Final, Literal

from ._checks import positive_int, random_source, tokens
from .exceptions import FuzzingConfigurationError, FuzzingTypeError

__all__ = ["INTERESTING_INTEGERS", "Mutator"]

#: Boundary values that break size checks and arithmetic: written as 1, 2, 4 or 8 bytes, either order.
INTERESTING_INTEGERS: Final[tuple[int, ...]] = (
    0, 1, 2, 16, 32, 64, 100, 127, 128, 255, 256, 512, 1000, 1024, 4096,
    32767, 32768, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1,
    -1, -2, -128, -129, -32768, -32769, -(2**31), -(2**63),
)  # fmt: skip

_WIDTHS: Final = (1, 2, 4, 8)
_DELTAS: Final = (-3, -2, -1, 1, 2, 3)
_MAX_INSERT: Final = 8


class Mutator:
    """Applies a few stacked mutations to an input.

    Args:
        rng: The campaign's random generator.
        dictionary: Tokens to insert and overwrite with.
        min_size: Results are padded to at least this many bytes.
        max_size: Results are cut to at most this many bytes.
        max_mutations: Up to this many mutations per input.
    """

    def __init__(
        self,
        rng: random.Random,
        dictionary: Sequence[bytes] = (),
        *,
        min_size: int = 0,
        max_size: int = 4096,
        max_mutations: int = 5,
    ) -> None:
        self._rng = random_source(rng)
        self._random = self._rng.random
        self.dictionary = list(tokens(dictionary)) if dictionary else []
        self._min = positive_int("min_size", min_size, minimum=0)
        self._max = positive_int("max_size", max_size)
        if self._min > self._max:
            raise FuzzingConfigurationError("min_size", min_size, f"must not exceed max_size={max_size}")
        self._max_mutations = positive_int("max_mutations", max_mutations)
        self._operations: list[Callable[[bytearray], None]] = [
            self._flip_bit,
            self._random_byte,
            self._arithmetic,
            self._insert_bytes,
            self._delete_range,
            self._duplicate_range,
            self._interesting_integer,
            self._random_byte,
            self._flip_bit,
        ]
        self._token_operations: list[Callable[[bytearray], None]] = [
            self._insert_token,
            self._overwrite_token,
        ]

    def random_input(self) -> bytes:
        """A fresh random input of a random size within the limits."""
        rng = self._rng
        size = rng.randint(self._min, min(self._max, max(self._min, 64)))
        return rng.randbytes(size)

    def mutate(self, data: bytes, other: bytes | None = None) -> bytes:
        """A mutated copy of ``data``; ``other`` (another corpus input) may be spliced in."""
        if not isinstance(data, bytes | bytearray):
            raise FuzzingTypeError("data", "bytes", data)
        if other is not None and not isinstance(other, bytes | bytearray):
            raise FuzzingTypeError("other", "bytes or None", other)
        random_ = self._random
        buf = bytearray(data)
        operations = self._operations
        count = len(operations)
        use_tokens = bool(self.dictionary)
        for _ in range(1 + int(random_() * self._max_mutations)):
            roll = random_()
            if other is not None and roll < 0.1:
                self._splice(buf, other)
            elif use_tokens and roll < 0.35:
                self._token_operations[roll < 0.225](buf)
            else:
                operations[int(random_() * count)](buf)
        if len(buf) > self._max:
            del buf[self._max :]
        if len(buf) < self._min:
            buf.extend(self._rng.randbytes(self._min - len(buf)))
        return bytes(buf)

    # Each operation edits ``buf`` in place; on an empty buffer the ones that need a byte insert one.

    # ``int(random() * n)`` instead of ``randrange(n)``: the same seeded stream, several times faster.

    def _below(self, n: int) -> int:
        return int(self._random() * n)

    def _position(self, buf: bytearray) -> int:
        return int(self._random() * len(buf))

    def _pick[T](self, items: Sequence[T]) -> T:
        return items[int(self._random() * len(items))]

    # The three most frequent operations draw inline: a method call per draw costs as much as the draw.

    def _flip_bit(self, buf: bytearray) -> None:
        random_ = self._random
        if not buf:
            buf.append(int(random_() * 256))
            return
        buf[int(random_() * len(buf))] ^= 1 << int(random_() * 8)

    def _random_byte(self, buf: bytearray) -> None:
        random_ = self._random
        if not buf:
            buf.append(int(random_() * 256))
            return
        buf[int(random_() * len(buf))] = int(random_() * 256)

    def _arithmetic(self, buf: bytearray) -> None:
        random_ = self._random
        if not buf:
            buf.append(int(random_() * 256))
            return
        at = int(random_() * len(buf))
        buf[at] = (buf[at] + _DELTAS[int(random_() * 6)]) & 0xFF

    def _insert_bytes(self, buf: bytearray) -> None:
        count = 1 + self._below(_MAX_INSERT)
        at = self._below(len(buf) + 1)
        if self._random() < 0.5:
            buf[at:at] = bytes([self._below(256)]) * count
        else:
            buf[at:at] = self._rng.randbytes(count)

    def _delete_range(self, buf: bytearray) -> None:
        if not buf:
            return
        at = self._position(buf)
        del buf[at : at + 1 + self._below(min(16, len(buf) - at))]

    def _duplicate_range(self, buf: bytearray) -> None:
        if not buf:
            return
        start = self._position(buf)
        end = min(len(buf), start + 1 + self._below(16))
        at = self._below(len(buf) + 1)
        buf[at:at] = buf[start:end]

    def _interesting_integer(self, buf: bytearray) -> None:
        width = self._pick(_WIDTHS)
        value = self._pick(INTERESTING_INTEGERS) % (1 << (8 * width))
        order: Literal["little", "big"] = "little" if self._random() < 0.5 else "big"
        raw = value.to_bytes(width, order)
        self._overwrite(buf, raw)

    def _insert_token(self, buf: bytearray) -> None:
        token = self._pick(self.dictionary)
        at = self._below(len(buf) + 1)
        buf[at:at] = token

    def _overwrite_token(self, buf: bytearray) -> None:
        self._overwrite(buf, self._pick(self.dictionary))

    def _overwrite(self, buf: bytearray, raw: bytes) -> None:
        if len(buf) < len(raw):
            buf.extend(bytes(len(raw) - len(buf)))
        at = self._below(len(buf) - len(raw) + 1)
        buf[at : at + len(raw)] = raw

    def _splice(self, buf: bytearray, other: bytes) -> None:
        if not other:
            return
        cut_self = self._below(len(buf) + 1)
        cut_other = self._below(len(other) + 1)
        if self._random() < 0.5:
            buf[cut_self:] = other[cut_other:]
        else:
            buf[:cut_self] = other[:cut_other]
