"""The queue pane: view tabs with counts, a search box and the conversation list (model/view)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QEnterEvent, QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLabel,
    QLineEdit,
    QListView,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

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


# Rows hold still while the pointer moves over the list and apply what waited when it leaves. A pointer
# parked on the list (the SDR typing in the reply box) would otherwise freeze the queue, so once it has
# been still this long the hold ends until it moves again; whenever rows then shift under the pointer, a
# press in the next CLICK_GUARD_S is ignored (it was aimed at the row that was there before).
HOLD_IDLE_MS = 4000
CLICK_GUARD_S = 0.6  # about twice a human reaction time


class QueueListView(QListView):
    """The list; tells user-driven current-row changes apart from ones caused by model updates, and
    reports when rows must hold still (pointer over the list or a button down), as mail clients do.

    Signals:
        user_moved(QModelIndex): the user moved the current row (click, arrows).
        hold_changed(bool): the pointer moves over the list or a button is down (True); it left the list,
            or rested on it for HOLD_IDLE_MS (False).
    """

    user_moved = Signal(QModelIndex)
    hold_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.empty_text = ""
        self.clock = clock
        self._user = False
        self._holding = False
        self._pointer: QPoint | None = None  # last pointer position in the viewport
        self._aimed = ""  # the conversation under the pointer when it last moved (what the user saw)
        self._guard_until = 0.0
        self.idle_timer = QTimer(self, singleShot=True, interval=HOLD_IDLE_MS)
        self.idle_timer.timeout.connect(self.on_idle_timeout)

    def pointer_id(self) -> str:
        """The conversation under the pointer ("" when the pointer is not over a row)."""
        if self._pointer is None:
            return ""
        cid = self.indexAt(self._pointer).data(QueueRole.ID)
        return str(cid) if cid else ""

    def guard_clicks(self) -> None:
        """Ignore presses for a moment: the row under the pointer just changed."""
        self._guard_until = self.clock() + CLICK_GUARD_S

    def on_rows_shifted(self) -> None:
        """Rows were inserted, removed or re-laid out: guard clicks if another row is under the pointer."""
        if self._pointer is not None and self.pointer_id() != self._aimed:
            self._aimed = self.pointer_id()
            self.guard_clicks()

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.MouseMove, QEvent.Type.MouseButtonPress, QEvent.Type.Enter):
            if isinstance(event, QMouseEvent | QEnterEvent):
                self._pointer = event.position().toPoint()
                self._aimed = self.pointer_id()
            self._set_holding(True)
            self.idle_timer.start()
        elif kind == QEvent.Type.Leave:
            self._pointer = None
            if not QApplication.mouseButtons():
                self._set_holding(False)
        elif kind == QEvent.Type.MouseButtonRelease:
            handled = super().viewportEvent(event)
            if not self.viewport().rect().contains(self._pointer or QPoint(-1, -1)):
                self._set_holding(False)
            return handled
        elif kind == QEvent.Type.Hide:
            self._pointer = None
            self._set_holding(False)
        return super().viewportEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._pointer = event.position().toPoint()
        super().mouseMoveEvent(event)

    def _set_holding(self, holding: bool) -> None:
        if holding != self._holding:
            self._holding = holding
            if not holding:
                self.idle_timer.stop()
            self.hold_changed.emit(holding)

    def on_idle_timeout(self) -> None:
        if self._holding and not QApplication.mouseButtons():
            self._set_holding(False)  # parked: let the queue move (clicks are guarded when it does)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._user = True
        try:
            super().keyPressEvent(event)
        finally:
            self._user = False

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.clock() < self._guard_until:
            event.accept()  # aimed at the row that was here a moment ago
            return
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
            painter.end()


class QueuePanel(QWidget):
    """Left pane. Emits what the user did; knows nothing about the conversation view.

    Signals:
        conversation_selected(str): the user moved to a conversation (click, arrows).
        conversation_activated(str): a click, Enter or double-click: open it and start typing.
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
        self._select_later = ""

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
        # Below the list, so showing it shrinks the list from the bottom and no row moves.
        self.waiting_bar = named(QLabel(self), "queueWaitingBar")
        self.waiting_bar.setTextFormat(Qt.TextFormat.PlainText)
        self.waiting_bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_bar.hide()
        layout.addWidget(self.waiting_bar)

        self.tabs.currentChanged.connect(self.on_tabs_current_changed)
        self.search.textChanged.connect(self.on_search_text_changed)
        self.list.user_moved.connect(self.on_list_user_moved)
        self.list.activated.connect(self.on_list_activated)
        # The counts change with the rows, in the same pass: the model already coalesces a burst into one
        # batch (BATCH_MS), and a timer here left the tabs behind the list (a new chat in "All" with no
        # "All 1"), or never updated them while changes kept restarting it.
        model.counts_changed.connect(self.refresh_counts)
        model.visible_rows = self.visible_source_rows  # the SLA tick repaints only rows on screen
        model.anchor = self.list.pointer_id  # rows hold still around the row under the pointer
        self.list.destroyed.connect(model.on_view_destroyed)  # the model's timer may outlive the list
        self.list.hold_changed.connect(self.on_list_hold_changed)
        # the model's own changes (not a view or search the user picked) may shift rows under the pointer
        for shifted in (model.layoutChanged, model.rowsInserted, model.rowsRemoved):
            shifted.connect(self.list.on_rows_shifted)
        self.list.pressed.connect(self.on_list_pressed)
        model.held_changed.connect(self.on_model_held_changed)
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
        # a conversation held back (new while the pointer is on the list) is selected when it appears
        self._select_later = conversation_id if row < 0 and self.model.held else ""
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
            text = f"{view.label}  {n}" if n else view.label
            if self.tabs.tabText(int(view)) != text:  # (each change re-lays out the tab bar)
                self.tabs.setTabText(int(view), text)
        self._fit_tabs()

    def tabs_width(self) -> int:
        """The width all five view tabs (with their counts) need side by side."""
        return sum(self.tabs.tabSizeHint(i).width() for i in range(self.tabs.count()))

    def _fit_tabs(self) -> None:
        # The pane never gets narrower than its view tabs (the splitter honours it): a queue squeezed
        # to the tab bar's scroll-button minimum (~120 px) hides the views and every row's text.
        # It only grows, so counts ticking 9 -> 10 -> 9 never jiggle the splitter.
        need = self.tabs_width()
        if need > self.minimumWidth():
            self.setMinimumWidth(need)

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
        cid = index.data(QueueRole.ID)
        if cid:  # (an emptied row kept in place while held has none)
            self.conversation_selected.emit(str(cid))

    def on_list_activated(self, index: QModelIndex) -> None:
        cid = index.data(QueueRole.ID) if index.isValid() else None
        if cid:
            self.conversation_activated.emit(str(cid))

    def on_list_pressed(self, index: QModelIndex) -> None:
        # On the press (the row the user saw under the pointer), not on the release: opening a
        # conversation may scroll a half-shown row into view, and the release would land elsewhere.
        if QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            self.on_list_activated(index)

    def on_list_hold_changed(self, holding: bool) -> None:
        self.model.set_held(holding)

    def on_model_held_changed(self, waiting: int) -> None:
        plural = "s" if waiting != 1 else ""
        self.waiting_bar.setText(f"{waiting} update{plural} held while the pointer is on the list")
        self.waiting_bar.setVisible(waiting > 0)
        if not waiting and self._select_later:
            self.select(self._select_later)
