"""The tray icon with an unread count painted on it and a menu for presence, open, sign out and quit."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent_app import protocol as p
from agent_app.auto_away import presence_label
from ui.resources import app_icon_pixmap
from ui.shell.paths import DISPLAY_NAME

BADGE_RED = QColor("#d93025")
PRESENCE_COLOURS = {p.Presence.AVAILABLE: QColor("#1e8e3e"), p.Presence.AWAY: QColor("#9aa0a6")}


def badge_pixmap(base: QPixmap, count: int, presence: p.Presence | None = None) -> QPixmap:
    """``base`` with a red unread badge (top right, "99+" above 99) and a presence dot (bottom right)."""
    px = QPixmap(base)
    size = min(px.width(), px.height())
    painter = QPainter(px)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    if presence is not None:
        d = size * 0.34
        rect = QRectF(size - d - 1, size - d - 1, d, d)
        painter.setPen(QColor("white"))
        painter.setBrush(PRESENCE_COLOURS[presence])
        painter.drawEllipse(rect)
    if count > 0:
        text = "99+" if count > 99 else str(count)
        h = size * 0.55
        w = max(h, h * (0.45 + 0.3 * len(text)))
        rect = QRectF(size - w, 0, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(BADGE_RED)
        painter.drawRoundedRect(rect, h / 2, h / 2)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(6, int(h * (0.72 if len(text) == 1 else 0.58))))
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return px


class TrayIcon(QObject):
    """Wraps ``QSystemTrayIcon``; only built when ``QSystemTrayIcon.isSystemTrayAvailable()``.

    Signals:
        open_requested: "Open" chosen or the icon clicked.
        presence_toggled(Presence): Available/Away picked in the menu.
        sign_out_requested, quit_requested: the menu entries of those names.
        message_clicked: the tray balloon (fallback notification) was clicked.
    """

    open_requested = Signal()
    presence_toggled = Signal(object)
    sign_out_requested = Signal()
    quit_requested = Signal()
    message_clicked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.unread = 0
        self.presence: p.Presence | None = None
        self.reason = ""
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.open_action = QAction("Open SDR Agent Desk", self.menu)
        self.presence_group = QActionGroup(self.menu)
        self.presence_group.setExclusive(True)
        self.presence_actions: dict[p.Presence, QAction] = {}
        for presence, label in ((p.Presence.AVAILABLE, "Available"), (p.Presence.AWAY, "Away")):
            action = QAction(label, self.menu)
            action.setCheckable(True)
            action.setData(presence.value)
            self.presence_group.addAction(action)
            self.presence_actions[presence] = action
        self.sign_out_action = QAction("Sign out", self.menu)
        self.quit_action = QAction("Quit", self.menu)
        self.menu.addAction(self.open_action)
        self.menu.addSeparator()
        self.menu.addActions(list(self.presence_actions.values()))
        self.menu.addSeparator()
        self.menu.addAction(self.sign_out_action)
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self._connect_signals()
        self._refresh()

    def _connect_signals(self) -> None:
        self.open_action.triggered.connect(self.open_requested)
        self.sign_out_action.triggered.connect(self.sign_out_requested)
        self.quit_action.triggered.connect(self.quit_requested)
        self.presence_group.triggered.connect(self.on_presence_group_triggered)
        self.icon.activated.connect(self.on_icon_activated)
        self.icon.messageClicked.connect(self.message_clicked)

    # ------------------------------------------------------------------ for the shell

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_unread(self, count: int) -> None:
        if count != self.unread:
            self.unread = count
            self._refresh()

    def set_presence(self, presence: p.Presence, reason: str = "") -> None:
        """Reflect the server's presence (no signal: setChecked does not trigger); ``reason``: why the desk
        set it (auto-away), shown in the tooltip and as "Away (screen locked)" in the menu."""
        self.presence, self.reason = presence, reason
        self.presence_actions[presence].setChecked(True)
        away = self.presence_actions[p.Presence.AWAY]
        away.setText(f"Away ({reason})" if reason and presence is p.Presence.AWAY else "Away")
        self._refresh()

    def show_message(self, title: str, body: str) -> None:
        self.icon.showMessage(title, body, QSystemTrayIcon.MessageIcon.Information, 8000)

    # ------------------------------------------------------------------ slots

    @Slot(QAction)
    def on_presence_group_triggered(self, action: QAction) -> None:
        self.presence_toggled.emit(p.Presence(action.data()))

    @Slot(QSystemTrayIcon.ActivationReason)
    def on_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_requested.emit()

    def _refresh(self) -> None:
        result = QIcon()
        for size in (16, 22, 24, 32, 48, 64):
            result.addPixmap(badge_pixmap(app_icon_pixmap(size), self.unread, self.presence))
        self.icon.setIcon(result)
        state = presence_label(self.presence, self.reason) if self.presence is not None else ""
        unread = f"{self.unread} unread" if self.unread else "No unread messages"
        self.icon.setToolTip(" — ".join(x for x in (DISPLAY_NAME, state, unread) if x))
