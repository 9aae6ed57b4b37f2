"""The header's "Routing" button: the open conversation's routing history (who was tried, why, when)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QPoint, Qt
from PySide6.QtWidgets import QFrame, QLabel, QListView, QToolButton, QVBoxLayout, QWidget

from agent_app import protocol as p
from agent_app.routing_history import step_text, step_what, summary
from agent_app.timezones import reader_zone
from ui.main_window import MainWindow

Index = QModelIndex | QPersistentModelIndex


class RoutingHistoryModel(QAbstractListModel):
    """One row per routing step (oldest first), shown in the reader's time zone."""

    StepRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, reader: Callable[[], p.Agent | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._steps: list[p.RoutingStep] = []

    def set_steps(self, steps: list[p.RoutingStep]) -> None:
        if steps == self._steps:
            return
        self.beginResetModel()
        self._steps = list(steps)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._steps)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._steps):
            return None
        step = self._steps[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return step_text(step, reader_zone(self._reader()))
        if role == Qt.ItemDataRole.ToolTipRole:
            return step_what(step)
        if role == self.StepRole:
            return step
        return None


class RoutingHistoryPopup(QFrame):
    """A popup under the button: a title and the steps (plain text: a delegate never renders markup)."""

    def __init__(self, model: RoutingHistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("routingHistoryPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        title = QLabel("Routing history — who was tried, why, when", self)
        title.setTextFormat(Qt.TextFormat.PlainText)
        title.setObjectName("popupTitle")
        self.view = QListView(self)
        self.view.setObjectName("routingHistoryList")
        self.view.setModel(model)
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)  # the tooltip has the whole line
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addWidget(title)
        layout.addWidget(self.view)


class RoutingHistoryButton(QToolButton):
    """Shows "Routing" (or "Routing: 3 tried" after a rep didn't answer) and opens the history."""

    def __init__(self, reader: Callable[[], p.Agent | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("routingHistoryButton")
        self.setAutoRaise(True)
        self.setAccessibleName("Routing history")
        self.setToolTip("Routing history: who was tried, why, when (team only)")
        self.model = RoutingHistoryModel(reader, self)
        self.popup = RoutingHistoryPopup(self.model, self)
        self.clicked.connect(self.on_clicked)
        self.set_conversation(None)

    def set_conversation(self, conversation: p.Conversation | None) -> None:
        text = summary(conversation) if conversation is not None else ""
        self.model.set_steps(conversation.routing_audit if conversation is not None else [])
        self.setText(text)
        self.setVisible(bool(text))
        if not text:
            self.popup.hide()

    def on_clicked(self) -> None:
        view, rows = self.popup.view, self.model.rowCount()
        frame = 2 * view.frameWidth() + 4
        view.setFixedHeight(max(view.sizeHintForRow(0), 16) * min(max(rows, 1), 12) + frame)
        view.setFixedWidth(min(max(view.sizeHintForColumn(0) + frame + 20, 420), 760))
        self.popup.adjustSize()
        at = self.mapToGlobal(QPoint(self.width() - self.popup.width(), self.height()))
        screen = self.screen().availableGeometry()  # right-aligned under the button, kept on the screen
        at.setX(max(screen.left(), min(at.x(), screen.right() - self.popup.width())))
        self.popup.move(at)
        self.popup.show()
        view.scrollToBottom()  # the latest step is what the reader came for


class RoutingHistoryFeature(QObject):
    """Puts the button into the window's conversation header and keeps it on the open conversation."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.button = RoutingHistoryButton(lambda: window.store.me, window.conversation)
        window.add_header_action(self.button)
        window.conversation_opened.connect(self.on_window_conversation_opened)
        window.bridge.conversation_changed.connect(self.on_bridge_conversation_changed)
        window.bridge.reset.connect(self.on_bridge_reset)
        self.on_bridge_reset()

    def on_window_conversation_opened(self, conversation_id: str) -> None:
        self.button.set_conversation(self.window.store.conversations.get(conversation_id))

    def on_bridge_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        if conversation.id == self.window.current_conversation_id():
            self.button.set_conversation(conversation)

    def on_bridge_reset(self) -> None:
        self.on_window_conversation_opened(self.window.current_conversation_id())


def install_routing_history(window: MainWindow) -> RoutingHistoryFeature:
    return RoutingHistoryFeature(window)
