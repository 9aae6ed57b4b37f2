"""Teammates to add to a conversation: list model (presence, territory), search proxy, delegate."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from agent_app import protocol as p
from agent_app.auto_away import presence_label
from ui.style import Palette
from ui.widgets.plain_tooltip import plain_tooltip

_Index = QModelIndex | QPersistentModelIndex
AgentRole = Qt.ItemDataRole.UserRole
AlignedRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2


class TeammateModel(QAbstractListModel):
    """Teammates; ``aligned_id`` (from the server's ``routing.aligned_agent_id``) gets the tag."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._agents: list[p.Agent] = []
        self._aligned = ""

    def set_agents(self, agents: Iterable[p.Agent], aligned_id: str = "") -> None:
        self.beginResetModel()
        self._agents = list(agents)
        self._aligned = aligned_id
        self.endResetModel()

    def update_agent(self, agent: p.Agent) -> None:
        for row, known in enumerate(self._agents):
            if known.id == agent.id:
                self._agents[row] = agent
                self.dataChanged.emit(self.index(row), self.index(row))
                return

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._agents)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._agents):
            return None
        agent = self._agents[index.row()]
        aligned = agent.id == self._aligned
        available = agent.presence == p.Presence.AVAILABLE
        if role == Qt.ItemDataRole.DisplayRole:
            return agent.name
        if role == AgentRole:
            return agent
        if role == AlignedRole:
            return aligned
        if role == SortRole:
            return (0 if aligned else 1, 0 if available else 1, agent.name.lower())
        state = presence_label(agent.presence, agent.presence_reason).lower()  # "away · screen locked"
        if role == Qt.ItemDataRole.ToolTipRole:
            where = f", territory {agent.territory}" if agent.territory else ""
            # plain_tooltip: the name and the presence reason come from teammates' desks, never markup
            return plain_tooltip(
                f"{agent.name} ({agent.email}): {state}{where}"
                + (" - aligned SDR for this visitor" if aligned else "")
            )
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{agent.name}, {state}, {agent.territory}"
        return None


class TeammateFilter(QSortFilterProxyModel):
    """Matches the search text against name and territory; aligned SDR first, then available, then A-Z."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        if not self._needle:
            return True
        agent: p.Agent = self.sourceModel().index(source_row, 0, source_parent).data(AgentRole)
        return self._needle in agent.name.lower() or self._needle in agent.territory.lower()

    def lessThan(self, left: _Index, right: _Index) -> bool:
        key: Callable[[_Index], tuple[int, int, str]] = lambda i: i.data(SortRole)  # noqa: E731
        return key(left) < key(right)


class TeammateDelegate(QStyledItemDelegate):
    """Presence dot, name, territory, and an "Aligned SDR" tag."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(200, 40)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        agent: p.Agent = index.data(AgentRole)
        r: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(r, QColor(Palette.SELECTION))
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(r, QColor(Palette.HOVER))
        available = agent.presence == p.Presence.AVAILABLE
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(Palette.OK if available else Palette.TEXT_FAINT))
        painter.drawEllipse(r.left() + 12, r.center().y() - 4, 8, 8)
        font = option.font
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor(Palette.TEXT))
        name_rect = QRect(r.left() + 28, r.top() + 3, r.width() - 140, 18)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignVCenter, agent.name)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(QColor(Palette.TEXT_MUTED))
        # "Away · screen locked" when a desk set it (auto-away), then the territory
        detail = presence_label(agent.presence, agent.presence_reason)
        detail += f" · {agent.territory}" if agent.territory else ""
        painter.drawText(
            QRect(r.left() + 28, r.top() + 20, r.width() - 40, 16), Qt.AlignmentFlag.AlignVCenter, detail
        )
        if index.data(AlignedRole):
            tag = QRect(r.right() - 104, r.top() + 10, 96, 20)
            painter.setBrush(QColor(Palette.ACCENT_SOFT))
            painter.drawRoundedRect(tag, 10, 10)
            painter.setPen(QColor(Palette.ACCENT_DARK))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, "Aligned SDR")
        painter.restore()
