"""The transcript list: sticks to the bottom, shows a "N new messages" pill, asks for older history."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QPushButton, QWidget

from ui.conversation.transcript_delegate import TranscriptDelegate
from ui.conversation.transcript_model import TranscriptModel
from ui.style import Palette, icon, named

type AnyIndex = QModelIndex | QPersistentModelIndex


class TranscriptView(QListView):
    """Model/view transcript (never a widget per message).

    Signals:
        top_reached: the user scrolled to the very top (load older history).
        retry_clicked(str): forwarded from the delegate: retry this failed message (client id).
    """

    top_reached = Signal()
    retry_clicked = Signal(str)

    def __init__(self, model: TranscriptModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.transcript = model
        self.delegate = TranscriptDelegate(self, clock=model.clock)
        self.setModel(model)
        self.setItemDelegate(self.delegate)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(24)
        self._stick = True
        self._from_bottom = 0
        self.new_count = 0
        self.pill = named(QPushButton(self), "newMessagesPill")
        self.pill.setIcon(icon("arrow-down", Palette.TEXT_ON_ACCENT, 14))
        self.pill.setCursor(Qt.CursorShape.PointingHandCursor)
        self.pill.hide()
        self.pill.clicked.connect(self.on_pill_clicked)
        self.delegate.retry_clicked.connect(self.retry_clicked)
        model.rowsAboutToBeInserted.connect(self.on_model_rows_about_to_be_inserted)
        model.rowsInserted.connect(self.on_model_rows_inserted)
        model.modelReset.connect(self.on_model_reset)
        self.verticalScrollBar().valueChanged.connect(self.on_scrollbar_value_changed)

    def at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def scroll_to_end(self) -> None:
        self.scrollToBottom()
        self.new_count = 0
        self.pill.hide()

    # ------------------------------------------------------------------ slots

    def on_model_reset(self) -> None:
        self.delegate.clear_cache()
        self.new_count = 0
        self.pill.hide()
        self._stick = True
        QTimer.singleShot(0, self, self.scrollToBottom)

    def on_model_rows_about_to_be_inserted(self, parent: AnyIndex, first: int, last: int) -> None:
        self._stick = self.at_bottom()
        bar = self.verticalScrollBar()
        self._from_bottom = bar.maximum() - bar.value()

    def on_model_rows_inserted(self, parent: AnyIndex, first: int, last: int) -> None:
        appended = last == self.transcript.rowCount() - 1
        if self._stick:
            self.scroll_to_end()
        elif appended:
            self.new_count += last - first + 1
            self._show_pill()
        else:  # older history above: keep what the user is reading in place
            self.executeDelayedItemsLayout()
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum() - self._from_bottom)

    def on_scrollbar_value_changed(self, value: int) -> None:
        if self.at_bottom() and self.new_count:
            self.new_count = 0
            self.pill.hide()
        if value == 0 and self.verticalScrollBar().maximum() > 0:
            self.top_reached.emit()

    def on_pill_clicked(self) -> None:
        self.scroll_to_end()

    # ------------------------------------------------------------------ layout

    def _show_pill(self) -> None:
        n = self.new_count
        self.pill.setText(f"{n} new message{'s' if n != 1 else ''}")
        self.pill.adjustSize()
        self._place_pill()
        self.pill.show()
        self.pill.raise_()

    def _place_pill(self) -> None:
        vp = self.viewport().geometry()
        self.pill.move(vp.center().x() - self.pill.width() // 2, vp.bottom() - self.pill.height() - 12)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.pill.isVisible():
            self._place_pill()
        if self._stick:
            QTimer.singleShot(0, self, self.scrollToBottom)
