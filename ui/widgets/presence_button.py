"""The avatar button with my name and presence, and a menu: Available, Away, saved replies, help, Sign out."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from agent_app import protocol as p
from agent_app.auto_away import presence_label
from ui.style import Palette, icon

_PRESENCE = {
    p.Presence.AVAILABLE: ("Available", Palette.OK),
    p.Presence.AWAY: ("Away", Palette.TEXT_FAINT),
}


class PresenceButton(QToolButton):
    """Shows "● Jane Doe · Available"; choosing an item emits what the user picked (no state change here).

    Signals:
        presence_chosen(Presence): Available or Away was picked.
        sign_out_clicked: "Sign out" was picked.
        help_clicked: "Keyboard shortcuts" was picked.
        saved_replies_clicked: "Saved replies…" was picked.
    """

    presence_chosen = Signal(object)
    sign_out_clicked = Signal()
    help_clicked = Signal()
    saved_replies_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presenceButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.name = ""
        self.presence = p.Presence.AWAY
        self.reason = ""  # why the desk set it ("screen locked"...); "" = chosen by hand
        self.menu_ = QMenu(self)
        self.who = QAction("", self.menu_)
        self.who.setEnabled(False)
        self.menu_.addAction(self.who)
        self.menu_.addSeparator()
        group = QActionGroup(self)
        self.actions_by_presence: dict[p.Presence, QAction] = {}
        for presence, (label, color) in _PRESENCE.items():
            action = QAction(icon("dot", color, 12), label, self.menu_, checkable=True)
            action.triggered.connect(lambda _=False, pr=presence: self.presence_chosen.emit(pr))
            group.addAction(action)
            self.menu_.addAction(action)
            self.actions_by_presence[presence] = action
        self.menu_.addSeparator()
        self.saved_replies_action = self.menu_.addAction(icon("note"), "Saved replies…")
        self.saved_replies_action.triggered.connect(self.saved_replies_clicked)
        self.help_action = self.menu_.addAction(icon("help"), "Keyboard shortcuts")
        self.help_action.triggered.connect(self.help_clicked)
        self.sign_out_action = self.menu_.addAction("Sign out")
        self.sign_out_action.triggered.connect(self.sign_out_clicked)
        self.setMenu(self.menu_)
        self._refresh()

    def set_agent(self, agent: p.Agent | None) -> None:
        self.name = agent.name if agent else ""
        self.who.setText(f"{agent.name} <{agent.email}>" if agent else "Not signed in")
        if agent is not None:
            self.presence, self.reason = agent.presence, agent.presence_reason
        self._refresh()

    def set_presence(self, presence: p.Presence, reason: str = "") -> None:
        self.presence, self.reason = presence, reason
        self._refresh()

    def _refresh(self) -> None:
        _, color = _PRESENCE[self.presence]
        label = presence_label(self.presence, self.reason)  # "Away · screen locked"
        self.actions_by_presence[self.presence].setChecked(True)
        self.setIcon(icon("dot", color, 12))
        self.setText(f"{self.name} · {label}" if self.name else label)
        self.setToolTip("Set Available or Away, or sign out (Ctrl+Shift+A toggles)")
        self.setProperty("presence", self.presence.value)
