"""Item models of the "On site now" view: the live list as a table, and the segment filter over it."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from agent_app import protocol as p
from agent_app.live_visitors import (
    LiveVisitors,
    Segment,
    display_name,
    duration,
    in_segment,
    page_label,
    status,
    tags,
)

Index = QModelIndex | QPersistentModelIndex
VISITOR_ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2


class Column(enum.IntEnum):
    VISITOR = 0
    COMPANY = 1
    SEGMENTS = 2
    PAGE = 3
    TIME = 4
    STATUS = 5


HEADERS = {
    Column.VISITOR: "Visitor",
    Column.COMPANY: "Company",
    Column.SEGMENTS: "Segments",
    Column.PAGE: "Current page",
    Column.TIME: "Time on site",
    Column.STATUS: "Status",
}


class LiveVisitorsModel(QAbstractTableModel):
    """Rows in arrival order; ``tick()`` (every second) refreshes the time on site and the status."""

    def __init__(
        self,
        live: LiveVisitors,
        agent_name: Callable[[str], str],
        me: Callable[[], str],
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.live, self.agent_name, self.me, self.clock = live, agent_name, me, clock
        live.add_listener(self)

    # LiveListener: the Qt-free list tells what changed, the model tells the views
    def on_live_reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def on_live_inserted(self, index: int) -> None:
        self.beginInsertRows(QModelIndex(), index, index)
        self.endInsertRows()

    def on_live_changed(self, index: int) -> None:
        self.dataChanged.emit(self.index(index, 0), self.index(index, len(Column) - 1))

    def on_live_about_to_remove(self, index: int) -> None:
        self.beginRemoveRows(QModelIndex(), index, index)

    def on_live_removed(self, index: int) -> None:
        self.endRemoveRows()

    def tick(self) -> None:
        if self.live.rows:
            last = len(self.live.rows) - 1
            self.dataChanged.emit(self.index(0, Column.TIME), self.index(last, Column.STATUS))

    def row_at(self, row: int) -> p.LiveVisitor | None:
        return self.live.rows[row] if 0 <= row < len(self.live.rows) else None

    # ------------------------------------------------------------ QAbstractTableModel

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.live.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    def data(self, index: Index, role: int = 0) -> Any:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = Column(index.column())
        if role == VISITOR_ID_ROLE:
            return row.visitor_id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            return -row.since if column == Column.TIME else self._text(row, column).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.PAGE:
                return row.current_page
            if column == Column.VISITOR:  # what else tells an anonymous visitor apart: email, city
                return " · ".join(part for part in (row.email, row.location) if part) or None
            if column in (Column.SEGMENTS, Column.STATUS):
                return self._text(row, column) or None  # the whole text when the column is narrow
        return None

    def _text(self, row: p.LiveVisitor, column: Column) -> str:
        match column:
            case Column.VISITOR:
                return display_name(row)
            case Column.COMPANY:
                return row.company
            case Column.SEGMENTS:
                return " · ".join(tags(row, self.me(), self.agent_name))
            case Column.PAGE:
                return page_label(row)
            case Column.TIME:
                return duration(self.clock() - row.since)
            case Column.STATUS:
                return status(row, self.clock(), self.agent_name)
        return ""


class SegmentProxy(QSortFilterProxyModel):
    """Shows the rows of one segment (agent_app.live_visitors.in_segment), sortable by any column."""

    def __init__(self, model: LiveVisitorsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.segment = Segment.ALL
        self.setSourceModel(model)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)  # a visitor who becomes a target account shows up in that filter

    def set_segment(self, segment: Segment) -> None:
        self.beginFilterChange()
        self.segment = segment
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LiveVisitorsModel)
        row = model.row_at(source_row)
        return row is not None and in_segment(row, self.segment, model.me())
