"""Feeds store events (bridge signals) and window focus to the notification policy; shows its notices and
withdraws the ones it says no longer apply."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtGui import QGuiApplication

from agent_app import protocol as p
from agent_app.notify_policy import Notice, NotifyPolicy, NotifyPrefs
from agent_app.settings import Settings
from agent_app.store import MessageItem
from ui.bridge import StoreBridge
from ui.notifications.service import NotificationService
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)

CATCH_UP_SETTLE_MS = 1500  # replayed frames arrive right after the welcome; then we are live again
LIVE_STATES = ("online",)
CONNECTING_STATES = ("connecting", "reconnecting", "offline")


class _Window(Protocol):
    # conversation_opened(str) (a Qt signal, see docs/client-contracts.md) is connected when present.
    def isActiveWindow(self) -> bool: ...
    def isVisible(self) -> bool: ...
    def current_conversation_id(self) -> str: ...


def prefs_from(settings: Settings) -> NotifyPrefs:
    return NotifyPrefs(
        enabled=settings.get_bool("notifications_enabled"),
        new_chats=settings.get_bool("notify_new_chat"),
        messages=settings.get_bool("notify_new_message"),
        participants=settings.get_bool("notify_new_message"),
        sla=settings.get_bool("notify_sla"),
    )


class NotificationWatcher(QObject):
    """Connects the bridge to :class:`NotifyPolicy` and the policy to :class:`NotificationService`.

    The shell reports connection states (``on_session_state``) so a replay after a reconnect is
    treated as catching up: one summary instead of a flood. Opening a conversation or activating the
    window counts as seeing it (its notices are withdrawn); ``dispose`` (sign-out) withdraws the rest.
    """

    def __init__(
        self,
        bridge: StoreBridge,
        service: NotificationService,
        runner: TaskRunner,
        settings: Settings,
        window: _Window | None = None,
        policy: NotifyPolicy | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.store = bridge.store
        self.service = service
        self.runner = runner
        self.settings = settings
        self.window = window
        self.policy = policy or NotifyPolicy(prefs=prefs_from(settings))
        self.policy.set_me(self.store.me)
        self.policy.set_agent_lookup(lambda agent_id: self.store.agents.get(agent_id))
        self.policy.sync(self.store.conversations.values())  # restored from the cache: the baseline
        service.sound_enabled = settings.get_bool("notification_sound")
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(500)
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(CATCH_UP_SETTLE_MS)
        self._disposed = False
        self._connect_signals()
        settings.add_listener(self.on_settings_changed)

    def _connect_signals(self) -> None:
        self.bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        self.bridge.message_added.connect(self.on_bridge_message_added)
        self.bridge.participant_added.connect(self.on_bridge_participant_added)
        self.bridge.sla_event.connect(self.on_bridge_sla_event)
        self.bridge.agent_changed.connect(self.on_bridge_agent_changed)
        self.bridge.conversation_removed.connect(self.on_bridge_conversation_removed)
        self.bridge.reset.connect(self.on_bridge_reset)
        self.service.notice_closed.connect(self.policy.notice_closed)
        self._flush_timer.timeout.connect(self.on_flush_timer_timeout)
        self._settle_timer.timeout.connect(self.on_settle_timer_timeout)
        opened = getattr(self.window, "conversation_opened", None)
        if opened is not None:
            opened.connect(self.on_window_conversation_opened)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.applicationStateChanged.connect(self.on_app_application_state_changed)

    # ------------------------------------------------------------------ inputs

    def on_session_state(self, state: str, detail: str = "") -> None:
        """Called by the shell on every connection state change.

        Catching up (one summary instead of a flood) only makes sense when the store has a stream
        position the server can replay from. A first sign-in on an empty store (a fresh data dir)
        gets a resync snapshot instead, which raises no per-event notices: holding back what arrives
        next would turn the first live visitor into "1 new chat while you were away"."""
        if state in CONNECTING_STATES:
            self._settle_timer.stop()
            if self.store.seq > 0:
                self.policy.begin_catch_up()
        elif state in LIVE_STATES and self.policy.catching_up:
            self._settle_timer.start()

    @Slot()
    def on_bridge_reset(self) -> None:
        """A snapshot replaced the store: it is the whole truth, so anything after it is live, and what
        it says is over (closed, answered, taken, gone meanwhile) is withdrawn."""
        self.policy.set_me(self.store.me)
        self.policy.sync(self.store.conversations.values())
        self._show([])
        if self.policy.catching_up and self.store.epoch:
            self._settle_timer.stop()
            self.on_settle_timer_timeout()

    @Slot(str)
    def on_bridge_conversation_removed(self, conversation_id: str) -> None:
        self.policy.forget(conversation_id)
        self._show([])

    @Slot(str)
    def on_window_conversation_opened(self, conversation_id: str) -> None:
        self._update_focus()
        self._show([])

    @Slot(Qt.ApplicationState)
    def on_app_application_state_changed(self, state: Qt.ApplicationState) -> None:
        self._update_focus()
        self._show([])

    def dispose(self) -> None:
        """Sign-out/quit: stop the timers and withdraw every notice this account raised."""
        if self._disposed:
            return
        self._disposed = True
        self._flush_timer.stop()
        self._settle_timer.stop()
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.applicationStateChanged.disconnect(self.on_app_application_state_changed)
        self.service.notice_closed.disconnect(self.policy.notice_closed)
        for key in self.policy.live_keys():
            self.runner.run(self.service.withdraw(key), what="Withdraw a notification")

    def on_settings_changed(self, name: str, value: Any) -> None:
        if name.startswith("notif") or name.startswith("notify_"):
            self.policy.prefs = prefs_from(self.settings)
            self.service.sound_enabled = self.settings.get_bool("notification_sound")

    @Slot(object, bool)
    def on_bridge_conversation_changed(self, conv: p.Conversation, created: bool) -> None:
        self._update_focus()
        self._show(self.policy.on_conversation(conv, created))

    @Slot(str, int, object)
    def on_bridge_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        self._update_focus()
        conv = self.store.conversations.get(conversation_id)
        self._show(self.policy.on_message(conv, item.message))

    @Slot(object)
    def on_bridge_participant_added(self, event: p.ParticipantAdded) -> None:
        self._update_focus()
        conv = self.store.conversations.get(event.conversation_id)
        self._show(self.policy.on_participant_added(event, conv))

    @Slot(str, bool, float)
    def on_bridge_sla_event(self, conversation_id: str, breached: bool, due_at: float) -> None:
        self._update_focus()
        conv = self.store.conversations.get(conversation_id)
        self._show(self.policy.on_sla(conv, breached, due_at))

    @Slot(object)
    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        if self.store.me is not None and agent.id == self.store.me.id:
            self.policy.set_me(self.store.me)

    @Slot()
    def on_flush_timer_timeout(self) -> None:
        self._show(self.policy.flush())
        if not self.policy.summary_pending:
            self._flush_timer.stop()

    @Slot()
    def on_settle_timer_timeout(self) -> None:
        self.policy.end_catch_up()
        self._arm_flush()

    # ------------------------------------------------------------------ internals

    def _update_focus(self) -> None:
        if self.policy.me is None and self.store.me is not None:
            self.policy.set_me(self.store.me)
        if self.window is None:
            return
        active = self.window.isVisible() and self.window.isActiveWindow()
        self.policy.set_focus(active, self.window.current_conversation_id() or None)

    def _show(self, notices: list[Notice]) -> None:
        """Withdraw what stopped applying, then show ``notices`` (the service keeps that order)."""
        for key in self.policy.drain_withdrawals():
            self.runner.run(self.service.withdraw(key), what="Withdraw a notification")
        for notice in notices:
            self.runner.run(self.service.show(notice), what="Show a notification")
        self._arm_flush()

    def _arm_flush(self) -> None:
        if self.policy.summary_pending and not self._flush_timer.isActive():
            self._flush_timer.start()
