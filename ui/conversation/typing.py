"""When to tell the server "I am typing": on the first keystroke, again every 3 s, stop after 5 s idle."""

from __future__ import annotations

import time
from collections.abc import Callable

REFRESH_SECONDS = 3.0
IDLE_SECONDS = 5.0


class TypingThrottle:
    """Qt-free throttle: call ``keystroke()`` on edits, ``idle()`` when the idle timer fires, ``stop()``
    on send or when leaving the conversation. ``emit(active)`` is called only when something changes
    or a refresh is due."""

    def __init__(self, emit: Callable[[bool], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._clock = clock
        self.active = False
        self._last_sent = 0.0

    def keystroke(self) -> None:
        now = self._clock()
        if not self.active or now - self._last_sent >= REFRESH_SECONDS:
            self.active = True
            self._last_sent = now
            self._emit(True)

    def stop(self) -> None:
        if self.active:
            self.active = False
            self._emit(False)

    idle = stop
