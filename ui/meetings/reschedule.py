"""The Reschedule dialog: the rep's open slots in the reader's zone, pick one; errors shown inline."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_app import protocol as p
from agent_app.timezones import span_text, zone_name


class RescheduleDialog(QDialog):
    """Signals:
    slot_chosen(float): the user picked this start; the dialog stays open (busy) until ``done_moving``
    closes it or ``show_error`` says why not (e.g. the slot was just taken).
    """

    slot_chosen = Signal(float)

    def __init__(
        self, meeting: p.Meeting, zone: dt.tzinfo, now: float, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rescheduleDialog")
        self.setWindowTitle("Reschedule meeting")
        self.meeting = meeting
        self.zone = zone
        self.now = now
        who = meeting.visitor_name or meeting.visitor_email or "the visitor"
        current = span_text(meeting.start, meeting.end, zone, dt.datetime.fromtimestamp(now, zone).date())
        intro = QLabel(f"Move the call with {who} (now {current}) to:")
        intro.setTextFormat(Qt.TextFormat.PlainText)  # visitor-given name
        intro.setWordWrap(True)
        self.zone_note = QLabel(f"Times in your zone: {zone_name(zone, now)}")
        self.zone_note.setTextFormat(Qt.TextFormat.PlainText)
        self.slots = QListWidget()
        self.slots.setObjectName("rescheduleSlots")
        self.status = QLabel("Loading open times...")
        self.status.setObjectName("rescheduleStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.move_button = QPushButton("Move meeting")
        self.move_button.setEnabled(False)
        self.buttons.addButton(self.move_button, QDialogButtonBox.ButtonRole.AcceptRole)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.zone_note)
        layout.addWidget(self.slots, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.slots.currentItemChanged.connect(self.on_slots_current_item_changed)
        self.slots.itemDoubleClicked.connect(self.on_slots_item_double_clicked)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

    def set_slots(self, card: p.BookingCard, warning: str = "") -> None:
        """The open times (what a visitor would be offered now); ``warning``: the connected calendar
        could not be read, so they come from the calendar settings only."""
        self.slots.clear()
        today = dt.datetime.fromtimestamp(self.now, self.zone).date()
        for slot in card.slots:
            item = QListWidgetItem(span_text(slot.start, slot.end, self.zone, today))
            item.setData(Qt.ItemDataRole.UserRole, slot.start)
            self.slots.addItem(item)
        if not card.slots:
            self.status.setText(
                "No open times on this calendar: widen its availability in Calendar settings."
            )
        else:
            self.status.setText(f"Note: {warning}." if warning else "")

    def show_error(self, text: str) -> None:
        self.status.setText(text)
        self.slots.setEnabled(True)
        self.on_slots_current_item_changed()

    def on_slots_current_item_changed(self, *_: object) -> None:
        self.move_button.setEnabled(self.slots.currentItem() is not None and self.slots.isEnabled())

    def on_slots_item_double_clicked(self, _item: QListWidgetItem) -> None:
        self.on_buttons_accepted()

    def on_buttons_accepted(self) -> None:
        item = self.slots.currentItem()
        if item is None or not self.slots.isEnabled():
            return
        self.slots.setEnabled(False)  # one move at a time
        self.move_button.setEnabled(False)
        self.status.setText("Moving the meeting...")
        self.slot_chosen.emit(float(item.data(Qt.ItemDataRole.UserRole)))

    def done_moving(self) -> None:
        self.accept()
