"""The report table: one row per rep (or territory) and the team's totals, as the server computed them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from agent_app import cql
from agent_app import protocol as p
from agent_app.reports import CQL_COLUMNS, percent_text, seconds_text
from agent_app.timezones import instant_text
from ui.style import Palette

_Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Name", "Chats", "Answered", "Median 1st reply", "P90", "Within target", "Missed", "Meetings",
           *CQL_COLUMNS)  # fmt: skip
RowRole = Qt.ItemDataRole.UserRole + 1  # the p.ReportRow of a line
ValueRole = Qt.ItemDataRole.UserRole + 2  # the raw number of a cell (seconds, counts), for sorting and tests


class ReportModel(QAbstractTableModel):
    """Rows of the current grouping ("rep" or "territory"), then the team's totals in bold."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.report: p.Report | None = None
        self.group = "rep"
        self._rows: list[p.ReportRow] = []

    def set_report(self, report: p.Report | None, group: str | None = None) -> None:
        self.beginResetModel()
        self.report = report
        self.group = group or self.group
        rows: list[p.ReportRow] = []
        if report is not None:
            rows = list(report.reps if self.group == "rep" else report.territories)
            if report.team is not None:
                rows.append(report.team)
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[p.ReportRow]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section == 0:
                return "Rep" if self.group == "rep" else "Territory"
            if section == 5 and self.report is not None:
                return f"Within {self.report.target_seconds:g} s"
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    def value(self, row: p.ReportRow, column: int) -> Any:
        values: tuple[Any, ...] = (
            row.name or row.key, row.chats, row.answered, row.median_seconds, row.p90_seconds,
            row.within_target_pct, row.missed, row.meetings, *row.cql,
        )  # fmt: skip
        return values[column]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            value = self.value(row, col)
            if col in (3, 4):
                return seconds_text(value)
            if col == 5:
                return percent_text(value) + (
                    f" ({row.within_target}/{row.answered})" if row.answered else ""
                )
            return value if col == 0 else str(value)
        if role == ValueRole:
            return self.value(row, col)
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row.key == "team" and row is self._rows[-1]:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 6 and row.missed:
                return QColor(Palette.DANGER)
            if col == 3 and self.report and row.median_seconds is not None:
                late = row.median_seconds > self.report.target_seconds
                return QColor(Palette.DANGER if late else Palette.TEXT)
        return None


_HEADER_TIPS = {
    1: "Chats started in the period that ended with this rep",
    2: "First human replies",
    3: "Median time to the first human reply (from routing)",
    4: "90 % of first replies came this fast or faster",
    5: "First replies within the response target",
    6: "Nobody replied before the 60 s meeting offer, or the chat closed unanswered with no meeting",
    7: "Meetings booked from chats in the period",
}


CHAT_COLUMNS = ("Visitor", "Company", "Rep", "Started", "1st reply", "CQL", "Outcome")


class ReportChatsModel(QAbstractTableModel):
    """The chats behind the selected line (the server lists only chats the reader may see)."""

    IdRole = Qt.ItemDataRole.UserRole

    def __init__(self, names: Callable[[str], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._names = names  # agent id -> display name
        self._rows: list[p.ReportChat] = []
        self.zone: dt.tzinfo = dt.UTC

    def set_chats(self, chats: list[p.ReportChat], zone: dt.tzinfo) -> None:
        self.beginResetModel()
        self._rows, self.zone = list(chats), zone
        self.endResetModel()

    def chats(self) -> list[p.ReportChat]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CHAT_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return CHAT_COLUMNS[section] if 0 <= section < len(CHAT_COLUMNS) else None
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        chat, col = self._rows[index.row()], index.column()
        if role == self.IdRole:
            return chat.conversation_id
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return chat.visitor_name or "Visitor"
            if col == 1:
                return chat.company
            if col == 2:
                return self._names(chat.owner_id) if chat.owner_id else "Unassigned"
            if col == 3:
                return instant_text(chat.created_at, self.zone)
            if col == 4:
                return seconds_text(chat.first_response_seconds)
            if col == 5:
                return cql.name(chat.cql)
            return "Missed" if chat.missed else ("Meeting booked" if chat.meeting else "")
        if role == Qt.ItemDataRole.ForegroundRole and col == 6 and chat.missed:
            return QColor(Palette.DANGER)
        return None
