"""Auto-away rules: screen lock, sleep and idle time in, the presence (and reason) to ask for out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agent_app.protocol import Presence

SCREEN_LOCKED = "screen locked"
ASLEEP = "asleep"
MIN_IDLE_MINUTES = 1
DEFAULT_IDLE_MINUTES = 10
MAX_IDLE_MINUTES = 240


def idle_reason(minutes: int) -> str:
    return f"idle {minutes} min"


def presence_label(presence: Presence, reason: str = "") -> str:
    """ "Available", "Away", or "Away · screen locked" -- how a presence reads anywhere in the app."""
    label = "Available" if presence is Presence.AVAILABLE else "Away"
    return f"{label} · {reason}" if reason and presence is Presence.AWAY else label


class _SettingsLike(Protocol):
    def get(self, name: str) -> object: ...


@dataclass(frozen=True, slots=True)
class AutoAwayConfig:
    idle_enabled: bool = True
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    on_lock: bool = True  # the screen locks or the machine sleeps

    @classmethod
    def from_settings(cls, settings: _SettingsLike) -> AutoAwayConfig:
        minutes = settings.get("auto_away_idle_minutes")
        minutes = minutes if isinstance(minutes, int) else DEFAULT_IDLE_MINUTES
        return cls(
            idle_enabled=bool(settings.get("auto_away_idle_enabled")),
            idle_minutes=max(MIN_IDLE_MINUTES, min(MAX_IDLE_MINUTES, minutes)),
            on_lock=bool(settings.get("auto_away_on_lock")),
        )

    @property
    def idle_seconds(self) -> float:
        return self.idle_minutes * 60.0


@dataclass(frozen=True, slots=True)
class Change:
    """Ask the server for ``presence`` with ``reason`` ("" when going back to Available)."""

    presence: Presence
    reason: str

    @property
    def returned(self) -> bool:
        """True when this undoes an automatic Away (the app may say "You're Available again")."""
        return self.presence is Presence.AVAILABLE


class AutoAwayPolicy:
    """Every input method returns the :class:`Change` to send now, or None.

    The policy is pure (no I/O, an injectable clock): the platform watchers (ui/presence_watch) feed it what
    the desktop reports, the app feeds it my presence as the server last told it, and it answers with a
    :class:`Change` to send, or None.

    Rules (docs/auto-away.md says the same for users):

    * A *cause* is the strongest of: asleep, screen locked (both when "away on lock" is on), idle for the set
      minutes (when "away when idle" is on). While there is a cause and I am Available, ask for Away with the
      cause as the reason; while I am automatically Away and the cause changes, update the reason.
    * Only an automatic Away is undone automatically. The server keeps the reason with the presence, and a
      reason means "set by a desk" -- so an Away I chose myself (reason "") stays Away on my return, and an
      automatic Away still shown after a restart is undone when nothing keeps it.
    * A manual Available while a cause lasts (e.g. from another device while this screen is locked) wins for
      the rest of that absence: the policy asks again only when the cause ends and a new one starts (or a
      stronger one arrives). Two desks therefore never fight over my presence.
    * A request the server has not answered yet is not repeated, until it fails or ``pending_timeout_s``
      passes.
    """

    return_poll_s = 5.0  # while idle-Away: how soon activity is noticed
    pending_timeout_s = 20.0

    def __init__(self, config: AutoAwayConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.locked = False
        self.asleep = False
        self.idle_s = 0.0
        self.presence: Presence | None = None  # as the server last said; None = not known yet
        self.reason = ""
        self._overridden = ""  # the cause during which I chose Available by hand
        self._pending: Change | None = None
        self._pending_at = 0.0

    # ------------------------------------------------------------------ inputs

    def screen_locked(self, locked: bool) -> Change | None:
        if self.locked and not locked:
            self.idle_s = 0.0  # unlocking is input: the idle time read while locked is stale
        self.locked = locked
        return self._evaluate()

    def sleeping(self, asleep: bool) -> Change | None:
        self.asleep = asleep
        return self._evaluate()

    def idle(self, seconds: float) -> Change | None:
        self.idle_s = max(0.0, seconds)
        return self._evaluate()

    def configure(self, config: AutoAwayConfig) -> Change | None:
        self.config = config
        return self._evaluate()

    def presence_seen(self, presence: Presence, reason: str) -> Change | None:
        """My presence as the server says it (snapshot or PresenceChanged, from any of my desks)."""
        before = self.presence
        self.presence, self.reason = presence, reason
        ours = self._pending is not None and self._pending == Change(presence, reason)
        if ours:
            self._pending = None
        elif before is Presence.AWAY and presence is Presence.AVAILABLE and self.cause():
            self._overridden = self.cause()  # chosen by hand during this absence: leave it be
        return self._evaluate()

    def request_failed(self, change: Change) -> None:
        """Sending ``change`` failed (offline...): the next input may ask again."""
        if self._pending == change:
            self._pending = None

    # ------------------------------------------------------------------ outputs

    def cause(self) -> str:
        """Why I should be Away now ("" = no reason)."""
        if self.config.on_lock and self.asleep:
            return ASLEEP
        if self.config.on_lock and self.locked:
            return SCREEN_LOCKED
        if self.config.idle_enabled and self.idle_s >= self.config.idle_seconds:
            return idle_reason(self.config.idle_minutes)
        return ""

    def next_idle_check(self, idle_s: float) -> float | None:
        """Seconds until the idle time should be read again (None: idle is off, no need to). Idle time grows
        at most one second a second, so the threshold can't be crossed sooner than this."""
        if not self.config.idle_enabled:
            return None
        remaining = self.config.idle_seconds - idle_s
        if remaining <= 0:
            return self.return_poll_s
        return max(1.0, remaining)

    def _evaluate(self) -> Change | None:
        cause = self.cause()
        if cause != self._overridden:
            self._overridden = ""  # that absence ended (or a stronger one began)
        if self.presence is None:
            return None
        want: Change | None = None
        if cause:
            if self._overridden:
                return None
            if self.presence is Presence.AVAILABLE or (self.reason and self.reason != cause):
                want = Change(Presence.AWAY, cause)
        elif self.presence is Presence.AWAY and self.reason:
            want = Change(Presence.AVAILABLE, "")
        if want is None:
            return None
        now = self.clock()
        if want == self._pending and now - self._pending_at < self.pending_timeout_s:
            return None  # asked already; the answer is on its way
        self._pending, self._pending_at = want, now
        return want
