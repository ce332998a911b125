"""Progress output: one live line on a terminal, a line every ``progress_interval`` seconds otherwise."""

from __future__ import annotations

from typing import TextIO

__all__ = ["Progress"]

_TTY_INTERVAL = 0.25


def _rate(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


class Progress:
    """Writes campaign status lines to a stream.

    Args:
        stream: Where to write, or ``None`` for silence.
        interval: Seconds between lines when ``stream`` is not a terminal.
    """

    def __init__(self, stream: TextIO | None, interval: float) -> None:
        self._stream = stream
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._interval = _TTY_INTERVAL if self._tty else interval
        self._next = 0.0
        self._dirty = False

    @property
    def enabled(self) -> bool:
        """Whether anything is written."""
        return self._stream is not None

    def due(self, now: float) -> bool:
        """Whether a line is due at monotonic time ``now``."""
        return self._stream is not None and now >= self._next

    @staticmethod
    def line(*, executions: int, elapsed: float, corpus: int, coverage: int, crashes: int, total: int) -> str:
        """The status line."""
        rate = executions / elapsed if elapsed > 0 else 0.0
        return (
            f"#{executions} execs {_rate(rate)}/s corpus {corpus} cov {coverage} "
            f"crashes {crashes} ({total} total)"
        )

    def show(self, now: float, text: str) -> None:
        """Write a status line (replacing the live line on a terminal)."""
        stream = self._stream
        if stream is None:
            return
        self._next = now + self._interval
        if self._tty:
            stream.write(f"\r\x1b[2K{text}")
            self._dirty = True
        else:
            stream.write(f"{text}\n")
        stream.flush()

    def message(self, text: str) -> None:
        """Write an event line (a new crash), keeping the live line below it."""
        stream = self._stream
        if stream is None:
            return
        if self._dirty:
            stream.write("\r\x1b[2K")
            self._dirty = False
        stream.write(f"{text}\n")
        stream.flush()

    def close(self, text: str) -> None:
        """Write the final status line."""
        if self._stream is None:
            return
        self.message(text)
