"""CQL history: a table model of who changed the level when, from what to what, and its popup."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from agent_app import cql
from agent_app import protocol as p
from agent_app.timezones import MACHINE_ZONE, instant_text
from ui.widgets.rows_table import RowsTableModel

_Index = QModelIndex | QPersistentModelIndex
HEADERS = ("When", "Who", "From", "To")


def _when(ts: float, zone: dt.tzinfo) -> str:
    return instant_text(ts, zone) if ts else ""


def _who(change: p.CqlChange) -> str:
    if change.by_kind == p.AuthorKind.BOT:
        return change.by_name or "Bot"
    return change.by_name or change.by_id or "Someone"


class CqlHistoryModel(RowsTableModel):
    """Newest change first."""

    HEADERS = HEADERS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[p.CqlChange] = []
        self.zone: dt.tzinfo = MACHINE_ZONE  # the reader's (set by whoever knows who reads)

    def set_history(self, history: list[p.CqlChange]) -> None:
        self.beginResetModel()
        self._rows = list(reversed(history))
        self.endResetModel()

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        change = self.row_at(index)
        if change is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return _when(change.at, self.zone)
            if col == 1:
                return _who(change)
            return cql.name(change.previous if col == 2 else change.level)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (2, 3):
                return cql.tooltip(change.previous if col == 2 else change.level)
            if col == 0 and change.at:
                return dt.datetime.fromtimestamp(change.at, self.zone).isoformat(timespec="seconds")
        if role == Qt.ItemDataRole.UserRole:
            return change
        return None


class CqlHistoryPopup(QFrame):
    """A small popup under the bolts listing every change (closes on click outside or Esc)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("cqlHistoryPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.model = CqlHistoryModel(self)
        self.title = QLabel("CQL history")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.empty = QLabel("Not rated yet. Keys 0-3 rate, Backspace clears.")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.empty)
        layout.addWidget(self.table)
        self.resize(420, 220)

    def set_history(self, history: list[p.CqlChange]) -> None:
        self.model.set_history(history)
        self.empty.setVisible(not history)
        self.table.setVisible(bool(history))
        rows = min(max(len(history), 1), 8)
        self.resize(self.width(), 70 + rows * 26)

    def show_below(self, anchor: QWidget) -> None:
        pos = anchor.mapToGlobal(QPoint(anchor.width() - self.width(), anchor.height() + 4))
        self.move(pos)
        self.show()
