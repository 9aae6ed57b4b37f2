"""The CQL block of the conversation header: bolts, the level's name, and the history popup."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from agent_app import cql
from agent_app import protocol as p
from ui.qualify.bolt_control import BoltControl
from ui.qualify.history import CqlHistoryPopup
from ui.style import icon


class CqlHeader(QWidget):
    """Follows one conversation (``set_conversation``) and asks to change its CQL.

    Signals:
        cql_chosen(str, object): conversation id and the level picked (0-3 or None).
    """

    cql_chosen = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cqlHeader")
        self._conversation: p.Conversation | None = None
        self.bolts = BoltControl(self)
        self.label = QLabel(self)
        self.label.setObjectName("cqlLabel")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setMinimumWidth(84)
        self.history_button = QToolButton(self)
        self.history_button.setObjectName("cqlHistoryButton")
        self.history_button.setIcon(icon("chevron-down"))
        self.history_button.setAutoRaise(True)
        self.history_button.setToolTip("CQL history: who changed it, when, from and to")
        self.history_button.setAccessibleName("CQL history")
        self.popup = CqlHistoryPopup(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.bolts)
        layout.addWidget(self.label)
        layout.addWidget(self.history_button)
        self.bolts.level_chosen.connect(self.on_bolts_level_chosen)
        self.history_button.clicked.connect(self.on_history_button_clicked)
        self.set_conversation(None)

    def conversation_id(self) -> str:
        return self._conversation.id if self._conversation else ""

    def set_conversation(self, conversation: p.Conversation | None) -> None:
        """Show ``conversation``'s level (call again whenever it changes; None disables the control)."""
        self._conversation = conversation
        level = conversation.cql if conversation else None
        self.bolts.set_level(level)
        self.bolts.setEnabled(conversation is not None)
        self.history_button.setEnabled(conversation is not None)
        self.label.setText(cql.name(level) if conversation else "")
        self.label.setToolTip(cql.tooltip(level))
        self.label.setStyleSheet("color: #d92d20;" if level == 0 else "")
        history = conversation.cql_history if conversation else []
        last = history[-1] if history else None
        self.history_button.setToolTip(
            cql.describe_change(last) if last else "CQL history: who changed it, when, from and to"
        )
        if self.popup.isVisible():
            self.popup.set_history(history)

    def on_bolts_level_chosen(self, level: int | None) -> None:
        if self._conversation is not None:
            self.cql_chosen.emit(self._conversation.id, level)

    def on_history_button_clicked(self) -> None:
        self.popup.set_history(self._conversation.cql_history if self._conversation else [])
        self.popup.show_below(self.history_button)
