"""Item models of the CQL report: counts per period and SDR, and the conversations behind a number."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from agent_app import cql
from agent_app import protocol as p
from agent_app.timezones import MACHINE_ZONE, zone_label
from ui.style import Palette

_Index = QModelIndex | QPersistentModelIndex
LEVEL_COLORS: dict[int | None, str] = {
    None: Palette.TEXT_FAINT,
    0: Palette.DANGER,
    1: "#f8c660",
    2: "#f5a300",
    3: "#b86e00",
}
LEVEL_HEADERS: dict[int | None, str] = {
    None: "Unrated",
    0: "Red line",
    1: "1 bolt",
    2: "2 bolts",
    3: "3 bolts",
}
CellRole = Qt.ItemDataRole.UserRole + 1  # (date, agent id, level | "any") of a count cell


def period_label(day: dt.date, period: cql.Period) -> str:
    return f"Week of {day:%d %b}" if period == "week" else f"{day:%a %d %b}"


class CqlCountsModel(QAbstractTableModel):
    """One row per (period, SDR); columns: period, SDR, one per level, total. Newest period first."""

    FIXED = 2

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.report = cql.CqlReport(period="day")
        self._rows: list[tuple[dt.date, str]] = []
        self._agents: Mapping[str, p.Agent] = {}

    def set_report(self, report: cql.CqlReport, agents: Mapping[str, p.Agent]) -> None:
        self.beginResetModel()
        self.report, self._agents = report, agents
        self._rows = [(d, a) for d in reversed(report.periods) for a in report.agents if report.count(d, a)]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.FIXED + len(cql.ALL_LEVELS) + 1

    def level_of(self, column: int) -> int | str | None:
        if self.FIXED <= column < self.FIXED + len(cql.ALL_LEVELS):
            return cql.ALL_LEVELS[column - self.FIXED]
        return "any"

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section == 0:
                return "Period"
            if section == 1:
                return "SDR"
            level = self.level_of(section)
            return "Total" if level == "any" else LEVEL_HEADERS[level]  # type: ignore[index]
        if role == Qt.ItemDataRole.ToolTipRole and section >= self.FIXED:
            level = self.level_of(section)
            return "All levels" if level == "any" else cql.tooltip(level)  # type: ignore[arg-type]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        day, agent_id = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return period_label(day, self.report.period)
            if col == 1:
                return cql.agent_label(agent_id, self._agents)
            return self.report.count(day, agent_id, self.level_of(col))
        if role == CellRole:
            return (day, agent_id, self.level_of(col) if col >= self.FIXED else "any")
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= self.FIXED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        faint = role == Qt.ItemDataRole.ForegroundRole and col >= self.FIXED
        if faint and self.report.count(day, agent_id, self.level_of(col)) == 0:
            return QColor(Palette.TEXT_FAINT)
        return None


CONVERSATION_HEADERS = ("Visitor", "Company", "SDR", "CQL", "Started")


class ReportConversationsModel(QAbstractTableModel):
    """The conversations behind the selected number (double-click opens one)."""

    IdRole = Qt.ItemDataRole.UserRole

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[p.Conversation] = []
        self._agents: Mapping[str, p.Agent] = {}
        self.zone: dt.tzinfo = MACHINE_ZONE  # the reader's

    def set_conversations(self, conversations: list[p.Conversation], agents: Mapping[str, p.Agent]) -> None:
        self.beginResetModel()
        self._rows = sorted(conversations, key=lambda c: c.created_at, reverse=True)
        self._agents = agents
        self.endResetModel()

    def conversation_id(self, row: int) -> str:
        return self._rows[row].id if 0 <= row < len(self._rows) else ""

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CONVERSATION_HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return CONVERSATION_HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        conv = self._rows[index.row()]
        if role == self.IdRole:
            return conv.id
        if role == Qt.ItemDataRole.DisplayRole:
            col = index.column()
            if col == 0:
                return conv.visitor.name or conv.visitor.email or "Visitor"
            if col == 1:
                return conv.visitor.company
            if col == 2:
                return cql.agent_label(cql.owner(conv), self._agents)
            if col == 3:
                return cql.name(conv.cql)
            when = dt.datetime.fromtimestamp(conv.created_at, self.zone)
            return f"{when:%d %b %H:%M} {zone_label(when)}"
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 3:
            return cql.tooltip(conv.cql)
        return None
