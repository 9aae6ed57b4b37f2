"""Auto-away in a signed-in window: desktop watcher -> agent_app.auto_away policy -> server presence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal, Slot

from agent_app import protocol as p
from agent_app.auto_away import AutoAwayConfig, AutoAwayPolicy, Change, presence_label

if TYPE_CHECKING:
    from agent_app.session import Session
    from agent_app.settings import Settings
    from ui.bridge import StoreBridge
    from ui.main_window import MainWindow
    from ui.tasks import TaskRunner

log = logging.getLogger(__name__)

MAX_POLL_S = 60.0  # idle time is re-read at least this often (and sooner when the threshold is near)
RETURN_NOTICE_MS = 10_000


class DesktopWatcher(Protocol):
    """What the platform watcher offers (ui.presence_watch.linux.LinuxDesktopWatcher on Linux)."""

    parts: list[str]

    async def start(self) -> None: ...
    async def idle_seconds(self) -> float | None: ...
    async def close(self) -> None: ...


WatcherFactory = Callable[[Callable[[bool], None], Callable[[bool], Awaitable[None]]], DesktopWatcher]


def platform_watcher(
    on_locked: Callable[[bool], None], on_sleeping: Callable[[bool], Awaitable[None]]
) -> DesktopWatcher | None:
    """The watcher for this OS, or None (macOS and Windows: see docs/auto-away.md for their equivalents)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        try:
            from ui.presence_watch.linux import LinuxDesktopWatcher
        except ImportError as exc:  # dbus-fast missing from a custom install: the feature is off
            log.info("auto-away is off: %s", exc)
            return None
        return LinuxDesktopWatcher(on_locked, on_sleeping)
    log.info("auto-away is not available on %s yet", sys.platform)
    return None


class AutoAwayFeature(QObject):
    """Feeds the desktop's lock/sleep/idle and my presence (as the server says it) to the policy, and sends
    what it decides through the session (via the TaskRunner). Failures are logged, never shown: the next
    change, or the next reconnect's snapshot, asks again.

    Signals:
        presence_changed_automatically(Presence, str): an automatic change was acknowledged by the server
            (presence, reason; Available with "" = "You're Available again").
    """

    presence_changed_automatically = Signal(object, str)

    def __init__(
        self,
        bridge: StoreBridge,
        session: Session,
        runner: TaskRunner,
        settings: Settings | None,
        *,
        watcher_factory: WatcherFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_poll_s: float = MAX_POLL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge, self.store, self.session, self.runner = bridge, bridge.store, session, runner
        self.settings = settings
        config = AutoAwayConfig.from_settings(settings) if settings is not None else AutoAwayConfig()
        self.policy = AutoAwayPolicy(config, clock=clock)
        self.max_poll_s = max_poll_s
        self.watcher: DesktopWatcher | None = (watcher_factory or platform_watcher)(
            self.on_watcher_locked, self.on_watcher_sleeping
        )
        self.ready = False  # the watcher has reported the initial lock state
        self.disposed = False
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        if settings is not None:
            settings.add_listener(self.on_settings_changed)
        bridge.reset.connect(self.on_bridge_reset)
        bridge.agent_changed.connect(self.on_bridge_agent_changed)
        if self.watcher is not None:
            self.task = runner.run(self._run(self.watcher), what="Auto-away")

    # ------------------------------------------------------------------ the watcher's loop

    async def _run(self, watcher: DesktopWatcher) -> None:
        try:
            await watcher.start()
            self.ready = True
            self.on_bridge_reset()  # my presence as known now (the session may already be online)
            while not self.disposed:
                idle = await watcher.idle_seconds()
                wait: float | None = None
                if idle is not None:
                    self._send(self.policy.idle(idle))
                    wait = self.policy.next_idle_check(idle)
                self._wake.clear()
                timeout = min(wait, self.max_poll_s) if wait is not None else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            await watcher.close()

    def dispose(self) -> None:
        """The account ends: stop watching and listening to the app-wide settings."""
        self.disposed = True
        if self.settings is not None:
            self.settings.remove_listener(self.on_settings_changed)
        if self.task is not None:
            self.task.cancel()

    # ------------------------------------------------------------------ inputs

    def on_watcher_locked(self, locked: bool) -> None:
        log.info("auto-away: screen %s", "locked" if locked else "unlocked")
        self._send(self.policy.screen_locked(locked))
        self._wake.set()  # re-read the idle time now (unlocking resets it)

    async def on_watcher_sleeping(self, asleep: bool) -> None:
        """Awaited by the watcher before the machine may sleep: the Away must be on the server first."""
        log.info("auto-away: %s", "going to sleep" if asleep else "woke up")
        task = self._send(self.policy.sleeping(asleep))
        if asleep and task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        self._wake.set()

    def on_settings_changed(self, name: str, _value: Any) -> None:
        if self.disposed or not name.startswith("auto_away_") or self.settings is None:
            return
        self._send(self.policy.configure(AutoAwayConfig.from_settings(self.settings)))
        self._wake.set()

    @Slot()
    def on_bridge_reset(self) -> None:
        me = self.store.me
        if me is not None:
            self._seen(me)

    @Slot(object)
    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        me = self.store.me
        if me is not None and agent.id == me.id:
            self._seen(agent)

    def _seen(self, me: p.Agent) -> None:
        if self.ready and not self.disposed:
            self._send(self.policy.presence_seen(me.presence, me.presence_reason))

    # ------------------------------------------------------------------ output

    def _send(self, change: Change | None) -> asyncio.Task[None] | None:
        if change is None or self.disposed:
            return None
        log.info("auto-away: asking for %s", presence_label(change.presence, change.reason))

        def failed(exc: Exception) -> None:
            log.info("auto-away: could not change the presence (%s); will ask again", exc)
            self.policy.request_failed(change)

        def done(_: None) -> None:
            self.presence_changed_automatically.emit(change.presence, change.reason)

        return self.runner.run(
            self.session.set_presence(change.presence, change.reason),
            what="Auto-away",
            on_success=done,
            on_error=failed,
        )


def install_auto_away(
    window: MainWindow, *, watcher_factory: WatcherFactory | None = None, max_poll_s: float = MAX_POLL_S
) -> AutoAwayFeature:
    """Auto-away for ``window``'s account; "You're Available again" in the status bar on return."""
    feature = AutoAwayFeature(
        window.bridge,
        window.session,
        window.runner,
        window.settings,
        watcher_factory=watcher_factory,
        max_poll_s=max_poll_s,
        parent=window,
    )

    def notice(presence: p.Presence, reason: str) -> None:
        if presence is p.Presence.AVAILABLE:
            window.statusBar().showMessage("You're Available again", RETURN_NOTICE_MS)
        else:
            window.statusBar().showMessage(f"You're {presence_label(presence, reason)}", RETURN_NOTICE_MS)

    feature.presence_changed_automatically.connect(notice)
    return feature
