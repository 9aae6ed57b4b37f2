"""List model and delegate for the panel's rows (pages, previous chats, records, duplicates)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from ui.style import Palette
from ui.visitor_panel.rows import Row
from ui.widgets.plain_tooltip import plain_tooltip

DetailRole = Qt.ItemDataRole.UserRole + 1
WarningRole = Qt.ItemDataRole.UserRole + 2
UrlRole = Qt.ItemDataRole.UserRole + 3
KeyRole = Qt.ItemDataRole.UserRole + 4
_Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractListModel):
    """Holds a list of :class:`Row`; ``set_rows`` replaces them in one reset (lists are short)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []

    def set_rows(self, rows: list[Row]) -> None:
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[Row]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip("\n".join(x for x in (row.title, row.detail, row.warning, row.url) if x))
        if role == DetailRole:
            return row.detail
        if role == WarningRole:
            return row.warning
        if role == UrlRole:
            return row.url
        if role == KeyRole:
            return row.key
        return None


class RowDelegate(QStyledItemDelegate):
    """Title, muted detail line and, when present, a warning line; text is painted, never parsed."""

    PAD = 6

    def _lines(self, index: _Index) -> int:
        return 1 + bool(index.data(DetailRole)) + bool(index.data(WarningRole))

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        fm = QFontMetrics(option.font)
        return QSize(200, self._lines(index) * (fm.height() + 2) + 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        rect: QRect = option.rect
        state = option.state
        warning = str(index.data(WarningRole) or "")
        if warning:
            painter.fillRect(rect.adjusted(0, 1, 0, -1), QColor(Palette.WARN_SOFT))
        if state & QStyle.StateFlag.State_MouseOver and index.data(UrlRole):
            painter.fillRect(rect, QColor(Palette.HOVER))
        font = QFont(option.font)
        fm = QFontMetrics(font)
        line = fm.height() + 2
        x, y, w = rect.left() + self.PAD, rect.top() + self.PAD, rect.width() - 2 * self.PAD
        bold = QFont(font)
        bold.setWeight(QFont.Weight.DemiBold)
        painter.setFont(bold)
        link = bool(index.data(UrlRole))
        painter.setPen(QColor(Palette.ACCENT_DARK if link else Palette.TEXT))
        title = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        painter.drawText(
            QRect(x, y, w, line),
            Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(title, Qt.TextElideMode.ElideRight, w),
        )
        painter.setFont(font)
        detail = str(index.data(DetailRole) or "")
        if detail:
            y += line
            painter.setPen(QColor(Palette.TEXT_MUTED))
            painter.drawText(
                QRect(x, y, w, line),
                Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(detail, Qt.TextElideMode.ElideRight, w),
            )
        if warning:
            y += line
            painter.setPen(QColor("#b54708"))
            text = fm.elidedText("⚠ " + warning, Qt.TextElideMode.ElideRight, w)
            painter.drawText(QRect(x, y, w, line), Qt.AlignmentFlag.AlignVCenter, text)
        painter.setPen(QColor(Palette.BORDER))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.restore()
