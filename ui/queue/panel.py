"""The queue pane: view tabs with counts, a search box and the conversation list (model/view)."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QListView, QTabBar, QVBoxLayout, QWidget

from ui.queue.delegate import QueueDelegate
from ui.queue.model import QueueModel, QueueRole
from ui.queue.proxy import QueueProxy, QueueView, view_counts
from ui.style import Palette, icon, named

_EMPTY_TEXT = {
    QueueView.MINE: "Nothing assigned to you right now.",
    QueueView.WAITING: "No visitor is waiting. Nice work!",
    QueueView.PARTICIPATING: "You are not participating in any open chat.",
    QueueView.ALL: "No open conversations.",
    QueueView.CLOSED: "No closed conversations yet.",
}


class QueueListView(QListView):
    """The list; tells user-driven current-row changes apart from ones caused by model updates."""

    user_moved = Signal(QModelIndex)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_text = ""
        self._user = False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._user = True
        try:
            super().keyPressEvent(event)
        finally:
            self._user = False

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._user = True
        try:
            super().mousePressEvent(event)
        finally:
            self._user = False

    def currentChanged(self, current: QModelIndex, previous: QModelIndex) -> None:  # type: ignore[override]
        super().currentChanged(current, previous)
        if self._user and current.isValid():
            self.user_moved.emit(current)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.empty_text:
            painter = QPainter(self.viewport())
            painter.setPen(Palette.TEXT_MUTED)
            rect = self.viewport().rect().adjusted(24, 40, -24, 0)
            flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
            painter.drawText(rect, int(flags), self.empty_text)


class QueuePanel(QWidget):
    """Left pane. Emits what the user did; knows nothing about the conversation view.

    Signals:
        conversation_selected(str): the user moved to a conversation (click, arrows).
        conversation_activated(str): Enter or double-click: open it and start typing.
        view_changed(QueueView): the user switched views.
    """

    conversation_selected = Signal(str)
    conversation_activated = Signal(str)
    view_changed = Signal(object)

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.model = model
        self.proxy = QueueProxy(model, self)
        self._me_id = ""

        self.tabs = named(QTabBar(self, expanding=False, drawBase=False), "queueTabs")
        for view in QueueView:
            self.tabs.addTab(view.label)
            self.tabs.setTabToolTip(view, f"{view.label} (Ctrl+{view + 1})")
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)

        self.search = named(QLineEdit(self, clearButtonEnabled=True), "queueSearch")
        self.search.setPlaceholderText("Search name, company, email   Ctrl+K")
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)

        self.list = QueueListView(self)
        self.list.setObjectName("queueList")
        # everything that re-lays the list out is set before the model: with 100,000 rows each
        # layout pass costs a Python rowCount() call per row
        self.list.setUniformItemSizes(True)
        self.list.setMouseTracking(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setItemDelegate(QueueDelegate(self.list))
        # The view sees the proxy through a filter-less QSortFilterProxyModel: QListView re-lays out
        # every row on each insert/move/dataChanged, calling index() -> rowCount() per row; on a Python
        # model that is a Python call per row (~180 ms at 100,000 rows), on this native pass-through
        # it stays in C++ (~ms). Rows are identical to the proxy's.
        self.view_model = QSortFilterProxyModel(self)
        self.view_model.setDynamicSortFilter(False)
        self.view_model.setSourceModel(self.proxy)
        self.list.setModel(self.view_model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tabs)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)

        self._counts_timer = QTimer(self, singleShot=True, interval=100)
        self._counts_timer.timeout.connect(self.refresh_counts)
        self.tabs.currentChanged.connect(self.on_tabs_current_changed)
        self.search.textChanged.connect(self.on_search_text_changed)
        self.list.user_moved.connect(self.on_list_user_moved)
        self.list.activated.connect(self.on_list_activated)
        model.counts_changed.connect(self._counts_timer.start)
        model.visible_rows = self.visible_source_rows  # the SLA tick repaints only rows on screen
        self.set_view(QueueView.ALL)
        self.refresh_counts()

    # ------------------------------------------------------------------ API

    def set_me(self, agent_id: str) -> None:
        self._me_id = agent_id
        self.proxy.set_me(agent_id)
        self.refresh_counts()

    def set_view(self, view: QueueView) -> None:
        self.tabs.setCurrentIndex(int(view))  # -> on_tabs_current_changed
        self.proxy.set_view(view)
        self.list.empty_text = _EMPTY_TEXT[view]
        self.list.viewport().update()

    def current_id(self) -> str:
        index = self.list.currentIndex()
        return str(index.data(QueueRole.ID)) if index.isValid() else ""

    def select(self, conversation_id: str) -> bool:
        """Make a conversation the current row (no signal); False when the view hides it."""
        row = self.proxy.row_of(conversation_id)
        if row < 0:
            self.list.selectionModel().clearSelection()
            return False
        index = self.view_model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.list.selectionModel().setCurrentIndex(index, flags)
        self.list.scrollTo(index)
        return True

    def neighbour(self, conversation_id: str, step: int) -> str:
        """The conversation ``step`` rows away in the visible order (for Alt+Up/Down); "" at the ends."""
        count = self.proxy.rowCount()
        if count == 0:
            return ""
        row = self.proxy.row_of(conversation_id) if conversation_id else -1
        target = (0 if step > 0 else count - 1) if row < 0 else row + step
        return self.proxy.conversation_id(target) if 0 <= target < count else ""

    def visible_source_rows(self) -> list[int]:
        """Model rows currently on screen (none while the list is hidden)."""
        if not self.list.isVisible() or self.proxy.rowCount() == 0:
            return []
        rect = self.list.viewport().rect()
        top, bottom = self.list.indexAt(rect.topLeft()), self.list.indexAt(rect.bottomLeft())
        first = top.row() if top.isValid() else 0
        last = bottom.row() if bottom.isValid() else self.proxy.rowCount() - 1
        return self.proxy.source_rows(first, last)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_list(self) -> None:
        self.list.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if not self.list.currentIndex().isValid() and self.proxy.rowCount():
            self.list.setCurrentIndex(self.view_model.index(0, 0))

    def refresh_counts(self) -> None:
        counts = view_counts(self.model, self._me_id)
        for view in QueueView:
            n = counts[view]
            self.tabs.setTabText(int(view), f"{view.label}  {n}" if n else view.label)

    # ------------------------------------------------------------------ slots

    def on_tabs_current_changed(self, index: int) -> None:
        view = QueueView(index)
        if view != self.proxy.view:
            self.proxy.set_view(view)
            self.list.empty_text = _EMPTY_TEXT[view]
            self.view_changed.emit(view)

    def on_search_text_changed(self, text: str) -> None:
        self.proxy.set_search(text)

    def on_list_user_moved(self, index: QModelIndex) -> None:
        self.conversation_selected.emit(str(index.data(QueueRole.ID)))

    def on_list_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.conversation_activated.emit(str(index.data(QueueRole.ID)))
