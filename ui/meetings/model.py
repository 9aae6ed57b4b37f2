"""Table model of upcoming meetings: time in my zone, visitor, company, CQL, and the conversation."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from agent_app import cql
from agent_app import protocol as p
from ui.widgets.plain_tooltip import plain_tooltip
from ui.widgets.rows_table import RowsTableModel

_Index = QModelIndex | QPersistentModelIndex
HEADERS = ("When", "Visitor", "Company", "CQL", "Conversation")
MeetingRole = Qt.ItemDataRole.UserRole
ConversationIdRole = Qt.ItemDataRole.UserRole + 1


def when_text(meeting: p.Meeting, zone: dt.tzinfo, today: dt.date) -> str:
    start = dt.datetime.fromtimestamp(meeting.start, zone)
    end = dt.datetime.fromtimestamp(meeting.end, zone)
    day = (
        "Today"
        if start.date() == today
        else "Tomorrow"
        if start.date() == today + dt.timedelta(days=1)
        else f"{start:%a %d %b}"
    )
    return f"{day} {start:%H:%M}-{end:%H:%M}"


class MeetingsModel(RowsTableModel):
    """Meetings ending after ``now`` (the clock), soonest first. ``conversation`` looks up a meeting's
    conversation for its CQL and preview (None when the client doesn't hold it)."""

    HEADERS = HEADERS

    def __init__(
        self,
        conversation: Callable[[str], p.Conversation | None],
        parent: QObject | None = None,
        *,
        zone: dt.tzinfo | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(parent)
        import time

        self._conversation = conversation
        self._zone = zone or dt.datetime.now().astimezone().tzinfo or dt.UTC
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
                return plain_tooltip(f"{meeting.title} (booked in {meeting.timezone})")
            if col == 1:
                return plain_tooltip(meeting.visitor_email)
            if col == 3 and conv:
                return cql.tooltip(conv.cql)
            if col == 4:
                return "Double-click to open the conversation"
        return None
