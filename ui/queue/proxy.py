"""Queue views (Mine, Waiting, Participating, All, Closed) and search: one filter proxy, sorted by urgency."""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from agent_app import protocol as p
from ui.queue.model import QueueModel, QueueRole, display_name


class QueueView(enum.IntEnum):
    """The queue's views, in tab order (Ctrl+1..5)."""

    MINE = 0
    WAITING = 1
    PARTICIPATING = 2
    ALL = 3
    CLOSED = 4

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    QueueView.MINE: "Mine",
    QueueView.WAITING: "Waiting",
    QueueView.PARTICIPATING: "Participating",
    QueueView.ALL: "All",
    QueueView.CLOSED: "Closed",
}


def in_view(conv: p.Conversation, view: QueueView, me_id: str) -> bool:
    """Whether a conversation belongs in a view (also used for the tab counts)."""
    is_open = conv.status is p.ConversationStatus.OPEN
    match view:
        case QueueView.MINE:
            return is_open and bool(me_id) and conv.assignee_id == me_id
        case QueueView.WAITING:
            return is_open and conv.assignee_id is None
        case QueueView.PARTICIPATING:
            return is_open and bool(me_id) and me_id in conv.participant_ids
        case QueueView.ALL:
            return is_open
        case QueueView.CLOSED:
            return not is_open
    return False


def matches_search(conv: p.Conversation, needle: str) -> bool:
    if not needle:
        return True
    v = conv.visitor
    return needle in f"{display_name(conv)}\n{v.company}\n{v.email}".lower()


def view_counts(model: QueueModel, me_id: str) -> dict[QueueView, int]:
    counts = dict.fromkeys(QueueView, 0)
    for conv in model.conversations():
        for view in QueueView:
            if in_view(conv, view, me_id):
                counts[view] += 1
    return counts


class QueueProxy(QSortFilterProxyModel):
    """Filters the queue model by view and search text; sorts on the precomputed urgency (C++ compare)."""

    def __init__(self, model: QueueModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view = QueueView.ALL
        self._needle = ""
        self._me_id = ""
        self.setSourceModel(model)
        self.setSortRole(QueueRole.URGENCY)
        self.setDynamicSortFilter(True)
        self.sort(0, Qt.SortOrder.AscendingOrder)

    @property
    def queue(self) -> QueueModel:
        model = self.sourceModel()
        assert isinstance(model, QueueModel)
        return model

    @property
    def view(self) -> QueueView:
        return self._view

    @property
    def search_text(self) -> str:
        return self._needle

    def set_me(self, agent_id: str) -> None:
        if agent_id != self._me_id:
            self._refilter(lambda: setattr(self, "_me_id", agent_id))

    def set_view(self, view: QueueView) -> None:
        if view != self._view:
            self._refilter(lambda: setattr(self, "_view", view))

    def set_search(self, text: str) -> None:
        needle = text.strip().lower()
        if needle != self._needle:
            self._refilter(lambda: setattr(self, "_needle", needle))

    def _refilter(self, change: Callable[[], None]) -> None:
        """Apply a filter change (Qt >= 6.10: begin/endFilterChange; invalidateFilter is deprecated)."""
        if hasattr(self, "endFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def conversation_id(self, row: int) -> str:
        if 0 <= row < self.rowCount():
            return str(self.index(row, 0).data(QueueRole.ID))
        return ""

    def row_of(self, conversation_id: str) -> int:
        source_row = self.queue.row_of(conversation_id)
        if source_row < 0:
            return -1
        return self.mapFromSource(self.queue.index(source_row)).row()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        conv = self.queue.conversation_at(source_row)
        if conv is None:
            return False
        return in_view(conv, self._view, self._me_id) and matches_search(conv, self._needle)
