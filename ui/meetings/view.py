"""The Meetings view: what's booked for me, soonest first, with links to the chats and the invites."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.meetings.model import MeetingsModel


class MeetingsView(QWidget):
    """Signals:
    conversation_open_requested(str): open this conversation in the main window.
    refresh_requested(): fetch the meetings list again from the server.
    cancel_requested(str): cancel this meeting (confirmed by the user): the server removes it from the
    rep's connected calendar and mails a METHOD:CANCEL to the visitor and the rep.
    reschedule_requested(str): move this meeting (the owner opens the Reschedule dialog with open times).
    """

    conversation_open_requested = Signal(str)
    refresh_requested = Signal()
    cancel_requested = Signal(str)
    reschedule_requested = Signal(str)

    def __init__(self, model: MeetingsModel, http_base: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("meetingsView")
        self.model = model
        self.http_base = http_base.rstrip("/")
        title = QLabel("Meetings booked for you")
        title.setObjectName("viewTitle")
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.zone_note = QLabel()  # "Times in your zone: America/Chicago (CST)"
        self.zone_note.setObjectName("meetingsZone")
        self.zone_note.setTextFormat(Qt.TextFormat.PlainText)
        self.zone_note.setToolTip("Set in your agent profile (ask your admin: agents set-timezone)")
        self.table = QTableView()
        self.table.setModel(model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty = QLabel("No upcoming meetings. Share your calendar in a chat to get some booked.")
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.open_button = QPushButton("Open conversation")
        self.invite_button = QPushButton("Open invite (.ics)")
        self.refresh_button = QPushButton("Refresh")
        self.cancel_button = QPushButton("Cancel meeting...")
        self.reschedule_button = QPushButton("Reschedule...")
        self.reschedule_button.setToolTip(
            "Move it to another open time; the visitor and you get an updated invite by email"
        )
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.zone_note)
        top.addWidget(self.refresh_button)
        actions = QHBoxLayout()
        actions.addWidget(self.summary)
        actions.addStretch(1)
        actions.addWidget(self.reschedule_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.invite_button)
        actions.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(actions)
        self.table.doubleClicked.connect(self.on_table_double_clicked)
        self.table.selectionModel().selectionChanged.connect(self.on_table_selection_changed)
        self.open_button.clicked.connect(self.on_open_button_clicked)
        self.invite_button.clicked.connect(self.on_invite_button_clicked)
        self.cancel_button.clicked.connect(self.on_cancel_button_clicked)
        self.reschedule_button.clicked.connect(self.on_reschedule_button_clicked)
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved):
            signal.connect(self.on_model_changed)
        self.on_model_changed()

    def _selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def on_model_changed(self, *_: object) -> None:
        n, today = self.model.rowCount(), self.model.count_today()
        self.summary.setText(f"{today} today, {n} upcoming" if n else "")
        self.zone_note.setText(f"Times in your zone: {self.model.zone_name()}")
        self.empty.setVisible(n == 0)
        self.on_table_selection_changed()

    def on_table_selection_changed(self, *_: object) -> None:
        meeting = self.model.meeting(self._selected_row())
        self.open_button.setEnabled(meeting is not None)
        self.cancel_button.setEnabled(meeting is not None)
        self.reschedule_button.setEnabled(meeting is not None)
        self.invite_button.setEnabled(meeting is not None and bool(meeting.ics_url and self.http_base))

    def on_table_double_clicked(self, index: QModelIndex) -> None:
        meeting = self.model.meeting(index.row())
        if meeting is not None:
            self.conversation_open_requested.emit(meeting.conversation_id)

    def on_open_button_clicked(self) -> None:
        meeting = self.model.meeting(self._selected_row())
        if meeting is not None:
            self.conversation_open_requested.emit(meeting.conversation_id)

    def on_cancel_button_clicked(self) -> None:
        meeting = self.model.meeting(self._selected_row())
        if meeting is None:
            return
        who = meeting.visitor_name or meeting.visitor_email or "the visitor"
        answer = QMessageBox.question(
            self, "Cancel meeting",
            f"Cancel the meeting with {who}? They and you get a cancellation by email, and the time is "
            "offered again.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.cancel_requested.emit(meeting.id)

    def on_reschedule_button_clicked(self) -> None:
        meeting = self.model.meeting(self._selected_row())
        if meeting is not None:
            self.reschedule_requested.emit(meeting.id)

    def on_invite_button_clicked(self) -> None:
        meeting = self.model.meeting(self._selected_row())
        if meeting is not None and meeting.ics_url:
            QDesktopServices.openUrl(QUrl(self.http_base + meeting.ics_url))
