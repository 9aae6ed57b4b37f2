"""TTL cache for lookups with single-flight fetches; cancelling a waiter never leaves a half-written entry."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass
class _Flight[V]:
    task: asyncio.Task[V]
    waiters: int = 0


class LookupCache[V]:
    """Maps a key (domain, email) to a value for `ttl_s`; `negative_ttl_s` applies to values judged negative.

    Values are written only from a finished fetch, in one step, so a cancelled caller can't corrupt it.
    Concurrent callers of the same key share one fetch; when every waiter is cancelled the fetch is too.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 24 * 3600,
        negative_ttl_s: float = 3600,
        max_entries: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._neg_ttl, self._max, self._clock = ttl_s, negative_ttl_s, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._flights: dict[str, _Flight[V]] = {}

    def peek(self, key: str) -> V | None:
        """The cached value if still fresh, without fetching."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def invalidate(self, key: str | None = None) -> None:
        """Forget one key, or everything."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(
        self,
        key: str,
        fetch: Callable[[], Awaitable[V]],
        *,
        cacheable: Callable[[V], bool] = lambda v: True,
        negative: Callable[[V], bool] = lambda v: False,
    ) -> V:
        """Cached value, or the result of `fetch()` (stored only when `cacheable(value)`); exceptions pass."""
        hit = self.peek(key)
        if hit is not None:
            return hit
        flight = self._flights.get(key)
        if flight is None:
            task: asyncio.Task[V] = asyncio.ensure_future(fetch())

            def done(t: asyncio.Task[V], key: str = key) -> None:
                self._flights.pop(key, None)
                if t.cancelled() or t.exception() is not None:
                    return
                value = t.result()
                if cacheable(value):
                    ttl = self._neg_ttl if negative(value) else self._ttl
                    self._entries[key] = (self._clock() + ttl, value)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self._max:
                        self._entries.popitem(last=False)

            task.add_done_callback(done)
            flight = self._flights[key] = _Flight(task)
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # nobody else wants it: don't leave it running
            raise
        finally:
            flight.waiters -= 1
