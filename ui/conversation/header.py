"""Conversation header: visitor name, company, page, status with close/reopen, assignee, actions hook."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent_app import protocol as p
from ui.queue.model import display_name
from ui.style import Palette, icon, named, repolish
from ui.widgets.elided_label import ElidedLabel


class ConversationHeader(QWidget):
    """Shows one conversation (plain text everywhere).

    ``header_actions`` is a QHBoxLayout, left of the close/reopen button, that other features fill
    (CQL bolts, add participant, share calendar): ``view.header.header_actions.addWidget(w)``.

    Signals:
        close_requested: the user asked to close the open conversation.
        reopen_requested: the user asked to reopen it.
    """

    close_requested = Signal()
    reopen_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationHeader")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self._closed = False
        self.name = ElidedLabel("", self)
        self.name.setObjectName("headerName")
        self.status = named(QLabel(self), "statusChip")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.details = ElidedLabel("", self)
        self.details.setObjectName("headerDetails")
        self.page = ElidedLabel("", self)
        self.page.setObjectName("headerPage")
        # Teammates here now ("Sam Chen is viewing", "… is typing…"): ui/viewing fills it.
        self.teammates = ElidedLabel("", self)
        self.teammates.setObjectName("headerTeammates")
        self.teammates.hide()
        self.header_actions = QHBoxLayout()
        self.header_actions.setSpacing(6)
        self.status_button = named(QPushButton(self), "statusButton")
        self.status_button.setCursor(Qt.CursorShape.PointingHandCursor)

        # The visitor's name gets the whole first row (it was elided to "Visitor fro..." when it shared
        # the row with the CQL bolts and teammate buttons); the actions sit beside the details below.
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.name, 1)
        top.addWidget(self.status)
        top.addWidget(self.status_button)
        second = QHBoxLayout()
        second.setSpacing(8)
        info = QVBoxLayout()
        info.setSpacing(2)
        info.addWidget(self.details)
        info.addWidget(self.page)
        info.addWidget(self.teammates)
        second.addLayout(info, 1)
        second.addLayout(self.header_actions)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 10, 14, 10)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(second)
        self.status_button.clicked.connect(self.on_status_button_clicked)

    def set_conversation(self, conv: p.Conversation, assignee: str) -> None:
        v = conv.visitor
        self.name.setText(display_name(conv))
        parts = [x for x in (v.company.strip(), v.email.strip(), v.location.strip()) if x]
        parts.append(f"Assigned to {assignee}" if assignee else "Unassigned")
        self.details.setText(" · ".join(parts))
        page = v.pages[-1].title if v.pages and v.pages[-1].title else ""
        self.page.setText(
            f"On page: {page + ' — ' if page else ''}{v.current_page}" if v.current_page else ""
        )
        self.page.setVisible(bool(v.current_page))
        self._closed = conv.status is p.ConversationStatus.CLOSED
        self.status.setText("Closed" if self._closed else "Open")
        repolish(self.status, closed=self._closed)
        if self._closed:
            self.status_button.setText("Reopen")
            self.status_button.setIcon(icon("reopen", Palette.ACCENT, 16))
            self.status_button.setToolTip("Reopen this conversation (Ctrl+Shift+C)")
        else:
            self.status_button.setText("Close")
            self.status_button.setIcon(icon("close", Palette.TEXT_MUTED, 16))
            self.status_button.setToolTip("Close this conversation (Ctrl+Shift+C)")

    def set_teammates(self, text: str) -> None:
        """Who of the team has this conversation open or types in it (plain text; "" hides the line)."""
        self.teammates.setText(text)
        self.teammates.setVisible(bool(text))

    def on_status_button_clicked(self) -> None:
        (self.reopen_requested if self._closed else self.close_requested).emit()
