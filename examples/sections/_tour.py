"""What every section of the tour gets: where the optional real backends are, and a way to report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tour:
    """What every section gets: where the optional real backends are, and a way to report."""

    redis_url: str | None
    postgres_dsn: str | None
    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(f"  {text}")


type Section = Callable[[Tour], Awaitable[None]]
