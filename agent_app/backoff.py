"""Full-jitter exponential backoff for reconnects, with injectable randomness and sleep for tests."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before attempt n (0-based) is uniform in [0, min(cap, base * factor**n)] ("full jitter").

    Full jitter spreads a crowd of clients that lost the server at the same moment, so they don't
    come back in lock-step (AWS: ~57 % less server work than un-jittered exponential backoff).
    ``reset()`` is called by the session only after a connection stayed up long enough; a server
    that accepts and then drops us keeps the delay growing.
    """

    base: float = 1.0
    cap: float = 60.0
    factor: float = 2.0
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The delay for the next attempt; advances the attempt counter."""
        ceiling = min(self.cap, self.base * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return ceiling * self.rand()

    def reset(self) -> None:
        self.attempt = 0

    async def wait(self, delay: float) -> None:
        await self.sleep(delay)
