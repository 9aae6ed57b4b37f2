"""Table model of upcoming meetings: time in my zone (labelled), visitor, company, CQL, the conversation."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from agent_app import cql
from agent_app import protocol as p
from agent_app.timezones import instant_text, named_zone, reader_zone, span_text, zone_name
from ui.widgets.plain_tooltip import plain_tooltip
from ui.widgets.rows_table import RowsTableModel

_Index = QModelIndex | QPersistentModelIndex
HEADERS = ("When", "Visitor", "Company", "CQL", "Conversation")
MeetingRole = Qt.ItemDataRole.UserRole
ConversationIdRole = Qt.ItemDataRole.UserRole + 1


def when_text(meeting: p.Meeting, zone: dt.tzinfo, today: dt.date) -> str:
    """ "Today 12:00-12:30 CST" (en dash)."""
    return span_text(meeting.start, meeting.end, zone, today)


class MeetingsModel(RowsTableModel):
    """Meetings ending after ``now`` (the clock), soonest first. ``conversation`` looks up a meeting's
    conversation for its CQL and preview (None when the client doesn't hold it). Times are in ``zone``
    when given, else in the zone of ``reader()`` (the signed-in agent's profile, else this machine's)."""

    HEADERS = HEADERS

    def __init__(
        self,
        conversation: Callable[[str], p.Conversation | None],
        parent: QObject | None = None,
        *,
        zone: dt.tzinfo | None = None,
        clock: Callable[[], float] | None = None,
        reader: Callable[[], p.Agent | None] | None = None,
    ) -> None:
        super().__init__(parent)
        import time

        self._conversation = conversation
        self._fixed_zone = zone
        self._reader = reader or (lambda: None)
        self._clock = clock or time.time
        self._rows: list[p.Meeting] = []

    def set_meetings(self, meetings: Iterable[p.Meeting]) -> None:
        now = self._clock()
        self.beginResetModel()
        self._rows = sorted((m for m in meetings if m.end > now), key=lambda m: (m.start, m.id))
        self.endResetModel()

    def add_meeting(self, meeting: p.Meeting) -> None:
        """Insert or replace one meeting (a MeetingBooked event)."""
        for row, known in enumerate(self._rows):
            if known.id == meeting.id:
                self._rows[row] = meeting
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
                return
        if meeting.end <= self._clock():
            return
        row = bisect.bisect(self._rows, (meeting.start, meeting.id), key=lambda m: (m.start, m.id))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, meeting)
        self.endInsertRows()

    def update_meeting(self, meeting: p.Meeting) -> None:
        """A meeting moved (a MeetingUpdated event): its row goes where its new start sorts."""
        self.remove_meeting(meeting.id)
        self.add_meeting(meeting)

    def remove_meeting(self, meeting_id: str) -> None:
        """A meeting was cancelled (a MeetingCancelled event)."""
        for row, known in enumerate(self._rows):
            if known.id == meeting_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
                return

    @property
    def _zone(self) -> dt.tzinfo:
        return self._fixed_zone or reader_zone(self._reader())

    def zone_name(self) -> str:
        """ "America/Chicago (CST)": what the view says the times are in."""
        return zone_name(self._zone, self._clock())

    def meeting(self, row: int) -> p.Meeting | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def count_today(self) -> int:
        today = dt.datetime.fromtimestamp(self._clock(), self._zone).date()
        return sum(1 for m in self._rows if dt.datetime.fromtimestamp(m.start, self._zone).date() == today)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        meeting = self.row_at(index)
        if meeting is None:
            return None
        if role == MeetingRole:
            return meeting
        if role == ConversationIdRole:
            return meeting.conversation_id
        col = index.column()
        conv = self._conversation(meeting.conversation_id) if col in (3, 4) else None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                today = dt.datetime.fromtimestamp(self._clock(), self._zone).date()
                return when_text(meeting, self._zone, today)
            if col == 1:
                return meeting.visitor_name or meeting.visitor_email or "Visitor"
            if col == 2:
                return meeting.company
            if col == 3:
                return cql.name(conv.cql) if conv else ""
            return (conv.last_message_preview[:60] if conv else "") or "Open conversation"
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                calendar = named_zone(meeting.timezone)
                booked = instant_text(meeting.start, calendar) if calendar else ""
                where = f"\nOn the calendar in {meeting.timezone}: {booked}" if booked else ""
                return plain_tooltip(f"{meeting.title}{where}")
            if col == 1:
                return plain_tooltip(meeting.visitor_email)
            if col == 3 and conv:
                return cql.tooltip(conv.cql)
            if col == 4:
                return "Double-click to open the conversation"
        return None
