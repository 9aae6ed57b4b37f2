"""Wires one account's main window to the tray, the title/badge unread count, presence and close-to-tray."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel

from agent_app import protocol as p
from agent_app.notify_policy import Notice, NoticeKind
from ui.shell.paths import DISPLAY_NAME
from ui.tray import TrayIcon

if TYPE_CHECKING:
    from ui.shell.account import Account
    from ui.shell.app import Shell

log = logging.getLogger(__name__)

TRAY_HINT_KEY = "shell/tray_hint_shown"
SPLITTER_KEY = "main/splitter"  # MainWindow's saved splitter state


def set_badge(count: int) -> None:
    """The launcher/dock/taskbar badge (Qt 6.5+; a no-op where the platform has none)."""
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        app.setBadgeNumber(count)


def demo_caption(me: p.Agent | None) -> str:
    if me is None:
        return "Demo workspace"
    detail = ", ".join(x for x in (me.role.value.upper(), me.territory) if x)
    return f"Demo workspace — signed in as {me.name} ({detail})" if detail else f"Demo workspace — {me.name}"


class WindowGlue(QObject):
    """The shell's view of one window: everything that is not the window's own business.

    - unread count -> "(3) SDR Agent Desk" title, tray badge, launcher badge (setBadgeNumber);
    - presence picked in the window or the tray -> ``Shell.set_presence``; the server's answer
      (agent_changed for me) is reflected in both;
    - closing the window hides it to the tray when a tray exists and ``close_to_tray`` is on (with a
      one-time hint), else quits.
    """

    def __init__(self, shell: Shell, account: Account, window: Any, *, use_tray: bool, demo: bool) -> None:
        super().__init__(window)
        self.shell, self.account, self.window = shell, account, window
        self.store = account.store
        self.demo = demo
        self.tray: TrayIcon | None = TrayIcon(self) if use_tray else None
        self.unread = -1
        self._quitting = False
        self.caption = QLabel()
        self.caption.setObjectName("shellCaption")
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        with contextlib.suppress(AttributeError):
            window.add_status_widget(self.caption)
        website = shell.demo.website_url if shell.demo is not None else ""
        if website:
            # Our own text and URL (never visitor text), so a rich-text link is fine here.
            self.website_link = QLabel(f'<a href="{website}">Chat as a visitor on the demo website ↗</a>')
            self.website_link.setObjectName("demoWebsiteLink")
            self.website_link.setToolTip(website)
            self.website_link.linkActivated.connect(self.on_website_link_activated)
            with contextlib.suppress(AttributeError):
                window.add_status_widget(self.website_link)
        self._unread_timer = QTimer(self)
        self._unread_timer.setSingleShot(True)
        self._unread_timer.setInterval(50)  # a burst of 1,000 messages updates the badge once
        self._connect_signals()
        self.refresh_unread()
        self._refresh_caption()
        if self.store.me is not None:
            self.reflect_presence(self.store.me.presence)

    def _connect_signals(self) -> None:
        bridge = self.account.bridge
        bridge.reset.connect(self.on_bridge_reset)
        bridge.conversation_changed.connect(self._unread_timer.start)
        bridge.conversation_removed.connect(self._unread_timer.start)
        bridge.message_added.connect(self._unread_timer.start)
        bridge.agent_changed.connect(self.on_bridge_agent_changed)
        self._unread_timer.timeout.connect(self.refresh_unread)
        self.window.sign_out_requested.connect(self.shell.request_sign_out)
        self.window.presence_toggled.connect(self.shell.set_presence)
        self.window.installEventFilter(self)
        if self.tray is not None:
            self.tray.open_requested.connect(self.bring_forward)
            self.tray.presence_toggled.connect(self.shell.set_presence)
            self.tray.sign_out_requested.connect(self.shell.request_sign_out)
            self.tray.quit_requested.connect(self.on_tray_quit_requested)
        self.shell.notifications.clicked.connect(self.shell.open_conversation)

    def show(self, *, minimized: bool = False) -> None:
        """``minimized`` (start at login): only the tray icon if there is a tray, else a minimized window."""
        QApplication.setQuitOnLastWindowClosed(False)  # the shell decides when to quit
        if self.tray is not None:
            self.tray.show()
        if minimized and self.tray is not None:
            return  # the tray's "Open SDR Agent Desk" (or a notification, or a deep link) shows it
        if minimized:
            self.window.showMinimized()
            return
        self.window.show()
        if not self.shell.state.contains(SPLITTER_KEY):  # first run: the user has not arranged it yet
            QTimer.singleShot(0, self.on_first_show_layout)

    @Slot()
    def on_first_show_layout(self) -> None:
        """Queue, conversation and visitor panel all readable at the real window width (sizes set before
        the first show are relative to a default width, and the conversation's stretch takes the rest)."""
        splitter = getattr(self.window, "splitter", None)
        sizes = splitter.sizes() if splitter is not None else []
        total = sum(sizes)
        if splitter is None or len(sizes) != 3 or total < 900:
            return
        # 360 px is what the five view tabs with their counts need without scroll arrows.
        queue, side = max(360, round(total * 0.27)), max(340, round(total * 0.25))
        splitter.setSizes([queue, total - queue - side, side])

    @Slot(str)
    def on_website_link_activated(self, url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))

    def dispose(self) -> None:
        with contextlib.suppress(RuntimeError, TypeError):
            self.shell.notifications.clicked.disconnect(self.shell.open_conversation)
        if self.tray is not None:
            self.tray.hide()
            self.tray.menu.deleteLater()
        self.window.removeEventFilter(self)

    # ------------------------------------------------------------------ unread, title, caption

    @Slot()
    def refresh_unread(self) -> None:
        count = self.store.total_unread()
        if count == self.unread:
            return
        self.unread = count
        base = DISPLAY_NAME
        if self.demo:
            base = f"{DISPLAY_NAME} — {demo_caption(self.store.me)}"
        self.window.setWindowTitle(f"({count}) {base}" if count else base)
        set_badge(count)
        if self.tray is not None:
            self.tray.set_unread(count)

    def _refresh_caption(self) -> None:
        if self.demo:
            self.caption.setText(demo_caption(self.store.me))
            self.caption.setProperty("kind", "demo")
        self.caption.setVisible(bool(self.caption.text()))

    def set_notice(self, text: str) -> None:
        """A lasting status-bar note (e.g. no secure keychain)."""
        self.caption.setText(text if not self.demo else f"{demo_caption(self.store.me)} · {text}")
        self.caption.setVisible(True)

    @Slot()
    def on_bridge_reset(self) -> None:
        self.unread = -1
        self.refresh_unread()
        self._refresh_caption()
        if self.store.me is not None:
            self.reflect_presence(self.store.me.presence, self.store.me.presence_reason)

    @Slot(object)
    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        if self.store.me is not None and agent.id == self.store.me.id:
            self.reflect_presence(agent.presence, agent.presence_reason)

    def reflect_presence(self, presence: p.Presence, reason: str = "") -> None:
        """``reason``: why the desk set it (auto-away), shown as "Away · screen locked"."""
        with contextlib.suppress(AttributeError):
            self.window.set_presence(presence, reason)
        if self.tray is not None:
            self.tray.set_presence(presence, reason)

    # ------------------------------------------------------------------ window management

    @Slot()
    def bring_forward(self) -> None:
        w = self.window
        w.show()
        w.setWindowState((w.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        w.raise_()
        w.activateWindow()
        QApplication.alert(w)

    @Slot()
    def on_tray_quit_requested(self) -> None:
        self._quitting = True
        self.shell.quit_requested.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        window: Any = self.window
        closing = event.type() == QEvent.Type.Close and not self._quitting
        if closing and watched is self.window:
            assert isinstance(event, QCloseEvent)
            with contextlib.suppress(AttributeError):
                window.save_state()
            if self.tray is not None and self.shell.settings.get_bool("close_to_tray"):
                event.ignore()
                window.hide()
                self._tray_hint_once()
                return True
            self._quitting = True
            self.shell.quit_requested.emit()
        return False

    def _tray_hint_once(self) -> None:
        state = self.shell.state
        if state.value(TRAY_HINT_KEY, False, type=bool):
            return
        state.setValue(TRAY_HINT_KEY, True)
        notice = Notice(
            NoticeKind.SUMMARY,
            "SDR Agent Desk is still running in the tray",
            "You'll still get new chats. Use Quit in the tray menu to exit.",
        )
        self.shell.runner.run(self.shell.notifications.show(notice), what="Tray hint")
