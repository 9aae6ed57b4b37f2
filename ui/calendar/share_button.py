"""Composer toolbar button: share my calendar, or a teammate's, into the conversation as a booking card."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from agent_app import protocol as p
from agent_app.timezones import named_zone, zone_label
from ui.style import icon


class CalendarShareButton(QToolButton):
    """Click: share my calendar. Arrow menu: a teammate's calendar, or edit my calendar settings.

    Signals:
        share_requested(str, str): conversation id, agent id whose calendar to share.
        settings_requested(): the user wants to edit "My Calendar".
    """

    share_requested = Signal(str, str)
    settings_requested = Signal()

    def __init__(
        self,
        agents: Callable[[], Mapping[str, p.Agent]],
        me: Callable[[], p.Agent | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("calendarShareButton")
        self._agents, self._me = agents, me
        self._conversation_id = ""
        self.setIcon(icon("clock"))
        self.setText("Share calendar")
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.setToolTip("Share my calendar: the visitor gets open slots to book (arrow: a teammate's)")
        self.setAccessibleName("Share calendar")
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self.menu_.aboutToShow.connect(self.on_menu_about_to_show)
        self.clicked.connect(self.on_clicked)
        self.set_conversation_id("")

    def set_conversation_id(self, conversation_id: str) -> None:
        self._conversation_id = conversation_id
        self.setEnabled(bool(conversation_id))

    def on_clicked(self) -> None:
        me = self._me()
        if me is not None and self._conversation_id:
            self.share_requested.emit(self._conversation_id, me.id)

    def on_menu_about_to_show(self) -> None:
        self.menu_.clear()
        me = self._me()
        cid = self._conversation_id
        mine = self.menu_.addAction("Share my calendar")
        mine.setEnabled(me is not None and bool(cid))
        mine.triggered.connect(self.on_clicked)
        team = sorted(
            (a for a in self._agents().values() if (me is None or a.id != me.id) and not a.disabled),
            key=lambda a: (a.presence != p.Presence.AVAILABLE, a.name.lower()),
        )
        if team:
            self.menu_.addSection("A teammate's calendar")
            for agent in team:
                where = f" · {agent.territory}" if agent.territory else ""
                zone = named_zone(agent.timezone)  # where they are: "Sam Chen · US-East · EST"
                if zone is not None:
                    where += f" · {zone_label(datetime.now(zone))}"
                action = self.menu_.addAction(f"{agent.name}{where}")
                action.setEnabled(bool(cid))
                action.triggered.connect(lambda _=False, a=agent.id: self.share_requested.emit(cid, a))
        self.menu_.addSeparator()
        self.menu_.addAction("My calendar settings…").triggered.connect(self.settings_requested.emit)
