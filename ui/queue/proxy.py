"""Queue views (Mine, Waiting, Participating, All, Closed) and search: a filter over the ordered model."""

from __future__ import annotations

import bisect
import enum
from collections import Counter
from collections.abc import Callable

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QObject, QPersistentModelIndex, Qt

from agent_app import protocol as p
from ui.queue.model import QueueModel, display_name


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
    """Rows per view: counted from the model's precomputed view masks (C-level Counter, no data())."""
    if me_id == model.me_id:
        per_mask = Counter(model.masks().values())
        return {view: sum(n for mask, n in per_mask.items() if mask & (1 << view)) for view in QueueView}
    counts = dict.fromkeys(QueueView, 0)
    for conv in model.conversations():
        for view in QueueView:
            if in_view(conv, view, me_id):
                counts[view] += 1
    return counts


class QueueProxy(QAbstractListModel):
    """The rows of one view (and search) over :class:`QueueModel`, in the model's urgency order.

    A thin Python proxy rather than QSortFilterProxyModel: the source is already sorted, so the
    proxy is just the ascending list of accepted source rows, rebuilt with one list comprehension
    over precomputed view bitmasks (no per-row virtual calls into Python). Row moves and
    membership changes arrive from the source as one layout change per batch; inserts, removals
    and dataChanged are mapped through with a binary search.
    """

    def __init__(self, model: QueueModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._view = QueueView.ALL
        self._needle = ""
        self._src: list[int] = []  # accepted source rows, ascending
        self._saved: list[tuple[QModelIndex, str]] = []
        self._pending_removal: tuple[int, int] | None = None
        model.modelAboutToBeReset.connect(self.beginResetModel)
        model.modelReset.connect(self._on_source_reset)
        model.rowsInserted.connect(self._on_source_rows_inserted)
        model.rowsAboutToBeRemoved.connect(self._on_source_rows_about_to_be_removed)
        model.rowsRemoved.connect(self._on_source_rows_removed)
        model.layoutAboutToBeChanged.connect(self._begin_layout)
        model.layoutChanged.connect(self._end_layout)
        model.dataChanged.connect(self._on_source_data_changed)
        self._src = self._accepted()

    # ------------------------------------------------------------------ API

    @property
    def queue(self) -> QueueModel:
        return self._model

    def sourceModel(self) -> QueueModel:
        return self._model

    @property
    def view(self) -> QueueView:
        return self._view

    @property
    def search_text(self) -> str:
        return self._needle

    def set_me(self, agent_id: str) -> None:
        self._model.set_me(agent_id)  # -> layout change -> re-filter

    def set_view(self, view: QueueView) -> None:
        if view != self._view:
            self._refilter(lambda: setattr(self, "_view", view))

    def set_search(self, text: str) -> None:
        needle = text.strip().lower()
        if needle != self._needle:
            self._refilter(lambda: setattr(self, "_needle", needle))

    def conversation_id(self, row: int) -> str:
        if 0 <= row < len(self._src):
            return self._model.id_at(self._src[row])
        return ""

    def row_of(self, conversation_id: str) -> int:
        return self._proxy_row(self._model.row_of(conversation_id))

    def source_rows(self, first: int, last: int) -> list[int]:
        """Source rows of proxy rows first..last (clamped)."""
        return self._src[max(0, first) : max(0, last + 1)]

    def mapToSource(self, index: QModelIndex | QPersistentModelIndex) -> QModelIndex:
        if not index.isValid() or index.row() >= len(self._src):
            return QModelIndex()
        return self._model.index(self._src[index.row()])

    def mapFromSource(self, index: QModelIndex | QPersistentModelIndex) -> QModelIndex:
        row = self._proxy_row(index.row()) if index.isValid() else -1
        return self.index(row) if row >= 0 else QModelIndex()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        cid = self._model.id_at(source_row)
        return bool(cid) and self._accepts(cid)

    # ------------------------------------------------------------------ Qt model API

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._src)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        row = index.row()
        if not index.isValid() or row >= len(self._src):
            return None
        return self._model.data_at(self._src[row], role)

    def roleNames(self) -> dict[int, QByteArray]:
        return self._model.roleNames()

    # ------------------------------------------------------------------ filtering

    def _accepts(self, cid: str) -> bool:
        if not self._model.masks().get(cid, 0) & (1 << self._view):
            return False
        return not self._needle or self._needle in self._model.search_text(cid)

    def _accepted(self) -> list[int]:
        bit = 1 << self._view
        masks = self._model.masks()
        ids = self._model.ids()
        if not self._needle:
            return [i for i, cid in enumerate(ids) if masks[cid] & bit]
        needle = self._needle
        texts = self._model.fill_search_texts()
        return [i for i, cid in enumerate(ids) if masks[cid] & bit and needle in texts[cid]]

    def _proxy_row(self, source_row: int) -> int:
        if source_row < 0:
            return -1
        row = bisect.bisect_left(self._src, source_row)
        return row if row < len(self._src) and self._src[row] == source_row else -1

    def _refilter(self, change: Callable[[], None]) -> None:
        self._begin_layout()
        change()
        self._end_layout()

    def _begin_layout(self) -> None:
        """Remember which conversation each persistent index (selection, current row) points at."""
        self.layoutAboutToBeChanged.emit()
        self._saved = [(i, self.conversation_id(i.row())) for i in self.persistentIndexList()]

    def _end_layout(self) -> None:
        self._src = self._accepted()
        saved, self._saved = self._saved, []
        if saved:
            model = self._model
            old = [index for index, _ in saved]
            new = [
                self.index(r) if (r := self._proxy_row(model.find(cid))) >= 0 else QModelIndex()
                for _, cid in saved
            ]
            self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ source changes

    def _on_source_reset(self) -> None:
        self._src = self._accepted()
        self.endResetModel()

    def _on_source_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        new = self._accepted()
        p0, p1 = bisect.bisect_left(new, first), bisect.bisect_right(new, last)
        if p1 > p0:
            self.beginInsertRows(QModelIndex(), p0, p1 - 1)
            self._src = new
            self.endInsertRows()
        else:
            self._src = new

    def _on_source_rows_about_to_be_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        p0, p1 = bisect.bisect_left(self._src, first), bisect.bisect_right(self._src, last)
        self._pending_removal = (p0, p1) if p1 > p0 else None
        if p1 > p0:
            self.beginRemoveRows(QModelIndex(), p0, p1 - 1)

    def _on_source_rows_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        self._src = self._accepted()
        if self._pending_removal is not None:
            self._pending_removal = None
            self.endRemoveRows()

    def _on_source_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list[int]
    ) -> None:
        if (
            not roles and self._needle and self._accepted() != self._src
        ):  # an edited name left/joined the search
            self._refilter(lambda: None)
            return
        p0 = bisect.bisect_left(self._src, top_left.row())
        p1 = bisect.bisect_right(self._src, bottom_right.row()) - 1
        if p1 >= p0:
            self.dataChanged.emit(self.index(p0), self.index(p1), roles)
