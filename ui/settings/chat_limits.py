"""Managers' "Chat limits…": how many open chats routing gives each rep at once (Agent.max_chats)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from ui.main_window import MainWindow

Index = QModelIndex | QPersistentModelIndex
MAX_CHATS = 100  # the server's upper bound (chat_server.admin.MAX_CHATS)
NAME, ROLE, OPEN, LIMIT = range(4)
HEADERS = ("Teammate", "Role", "Open chats", "Max open chats")
ROLE_NAMES = {p.Role.SDR: "SDR", p.Role.MANAGER: "Manager", p.Role.ADMIN: "Admin"}


def limit_text(max_chats: int) -> str:
    return "No limit" if max_chats <= 0 else str(max_chats)


class ChatLimitsModel(QAbstractTableModel):
    """The team (enabled agents, by name); the last column is editable. An edit is not applied here: it
    is emitted as ``limit_edited`` and the server's answer (``presence_changed``) updates the row."""

    limit_edited = Signal(str, int)  # agent id, max chats

    def __init__(self, open_chats: Callable[[str], int], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._open_chats = open_chats
        self._agents: list[p.Agent] = []

    def set_agents(self, agents: Iterable[p.Agent]) -> None:
        self.beginResetModel()
        self._agents = sorted((a for a in agents if not a.disabled), key=lambda a: a.name.casefold())
        self.endResetModel()

    def agent_at(self, row: int) -> p.Agent:
        return self._agents[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._agents)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == LIMIT else base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._agents):
            return None
        agent, col = self._agents[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return agent.name
            if col == ROLE:
                return ROLE_NAMES.get(agent.role, agent.role.value)
            if col == OPEN:
                return str(self._open_chats(agent.id))
            return limit_text(agent.max_chats)
        if role == Qt.ItemDataRole.EditRole and col == LIMIT:
            return agent.max_chats
        if role == Qt.ItemDataRole.ToolTipRole and col == LIMIT:
            return "Routing skips this teammate while they hold this many open chats (0 = no limit)"
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != LIMIT or not index.isValid():
            return False
        agent = self._agents[index.row()]
        limit = int(value)
        if limit != agent.max_chats:
            self.limit_edited.emit(agent.id, limit)
        return False  # the server's answer changes the row


class LimitDelegate(QStyledItemDelegate):
    """A spin box from 0 ("No limit") to the server's maximum."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        spin = QSpinBox(parent)
        spin.setRange(0, MAX_CHATS)
        spin.setSpecialValueText("No limit")
        return spin


class ChatLimitsDialog(QDialog):
    def __init__(self, model: ChatLimitsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chat limits")
        self.setObjectName("chatLimitsDialog")
        intro = QLabel(
            "Routing gives a teammate at most this many open chats at once and passes over whoever is full "
            "(the next rep in the territory order takes the chat). 0 means no limit.",
            self,
        )
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setItemDelegateForColumn(LIMIT, LimitDelegate(self.table))
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 380)


class ChatLimitsFeature(QObject):
    """ "Chat limits…" in the account menu, for managers and admins only (the server checks too)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.model = ChatLimitsModel(self._open_chats, self)
        self.dialog: ChatLimitsDialog | None = None
        menu = window.presence_button.menu_
        self.action = QAction("Chat limits…", menu)
        self.action.setObjectName("chatLimitsAction")
        menu.insertAction(window.presence_button.help_action, self.action)
        self.action.triggered.connect(self.open)
        self.model.limit_edited.connect(self.on_model_limit_edited)
        window.bridge.agent_changed.connect(self.on_bridge_agent_changed)
        window.bridge.reset.connect(self.on_bridge_reset)
        self.on_bridge_reset()

    def _open_chats(self, agent_id: str) -> int:
        return sum(
            1
            for c in self.window.store.conversations.values()
            if c.assignee_id == agent_id and c.status is p.ConversationStatus.OPEN
        )

    def open(self) -> ChatLimitsDialog:
        if self.dialog is None:
            self.dialog = ChatLimitsDialog(self.model, self.window)
        self.model.set_agents(self.window.store.agents.values())
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def on_model_limit_edited(self, agent_id: str, max_chats: int) -> None:
        self.window.runner.run(
            self.window.session.set_capacity(agent_id, max_chats), what="Setting the chat limit"
        )

    def on_bridge_agent_changed(self, agent: p.Agent) -> None:
        me = self.window.store.me
        if me is not None and agent.id == me.id:
            self._follow_role()
        if self.dialog is not None and self.dialog.isVisible():
            self.model.set_agents(self.window.store.agents.values())

    def on_bridge_reset(self) -> None:
        self._follow_role()
        self.model.set_agents(self.window.store.agents.values())

    def _follow_role(self) -> None:
        me = self.window.store.me
        self.action.setVisible(me is not None and me.role in (p.Role.MANAGER, p.Role.ADMIN))


def install_chat_limits(window: MainWindow) -> ChatLimitsFeature:
    return ChatLimitsFeature(window)
