"""SQLite tables and queries for meetings and calendar settings (a mixin for SqliteStorage)."""

from __future__ import annotations

from typing import cast

import msgspec

from agent_app.protocol import CalendarSettings, Meeting
from chat_server.calendars import Connection
from chat_server.storage.base import SqlConnection
from chat_server.storage.errors import INTEGRITY_ERRORS

MEETINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,  -- quoted: a reserved word in PostgreSQL (pg_schema.py), harmless in SQLite
    conversation_id TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at REAL NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (agent_id, start)
);
CREATE INDEX IF NOT EXISTS meetings_agent_end ON meetings(agent_id, "end");
CREATE INDEX IF NOT EXISTS meetings_conversation ON meetings(conversation_id);
CREATE TABLE IF NOT EXISTS calendar_settings (
    agent_id TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
-- Connected calendars (chat_server/calendars): the server's secret store for calendar passwords. Never
-- read into snapshots, frames or logs; CREATE IF NOT EXISTS adds it to databases made before it existed.
CREATE TABLE IF NOT EXISTS calendar_connections (
    agent_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    calendar TEXT NOT NULL
);
"""

_enc = msgspec.json.Encoder()
_meeting = msgspec.json.Decoder(Meeting)
_settings = msgspec.json.Decoder(CalendarSettings)


class SlotTaken(Exception):
    """Another meeting of this agent starts at, or overlaps (with buffer), the requested time."""


def ensure_schema(conn: SqlConnection) -> None:
    conn.executescript(MEETINGS_SCHEMA)


def insert_meeting(conn: SqlConnection, meeting: Meeting, token: str, buffer_seconds: float) -> None:
    """Inserts ``meeting`` unless it overlaps one of the agent's meetings (widened by the buffer).

    Must run inside a write transaction: the overlap check and the insert then see the same data, and
    the UNIQUE (agent_id, start) constraint catches the one race the check alone could not (two
    writers that both checked before either inserted, e.g. two processes on one file). Raises SlotTaken.
    """
    row = conn.execute(
        'SELECT id FROM meetings WHERE agent_id=? AND start<? AND "end">? LIMIT 1',
        (meeting.agent_id, meeting.end + buffer_seconds, meeting.start - buffer_seconds),
    ).fetchone()
    if row is not None:
        raise SlotTaken(f"overlaps meeting {row[0]}")
    try:
        conn.execute(
            'INSERT INTO meetings (id, agent_id, start, "end", conversation_id, token, created_at, data) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                meeting.id,
                meeting.agent_id,
                meeting.start,
                meeting.end,
                meeting.conversation_id,
                token,
                meeting.created_at,
                _enc.encode(meeting),
            ),
        )
    except INTEGRITY_ERRORS as exc:
        raise SlotTaken("that slot was just booked") from exc


def move_meeting(conn: SqlConnection, meeting: Meeting, buffer_seconds: float) -> None:
    """Moves a stored meeting to ``meeting``'s start/end unless that overlaps another of the agent's
    meetings (the booking check, the meeting itself left out). Inside a write transaction; the UNIQUE
    (agent_id, start) constraint catches a racing writer as for a booking. Raises SlotTaken."""
    row = conn.execute(
        'SELECT id FROM meetings WHERE agent_id=? AND id<>? AND start<? AND "end">? LIMIT 1',
        (meeting.agent_id, meeting.id, meeting.end + buffer_seconds, meeting.start - buffer_seconds),
    ).fetchone()
    if row is not None:
        raise SlotTaken(f"overlaps meeting {row[0]}")
    try:
        conn.execute(
            'UPDATE meetings SET start=?, "end"=?, data=? WHERE id=?',
            (meeting.start, meeting.end, _enc.encode(meeting), meeting.id),
        )
    except INTEGRITY_ERRORS as exc:
        raise SlotTaken("that slot was just booked") from exc


def book_exclusively(conn: SqlConnection, meeting: Meeting, token: str, buffer_seconds: float) -> None:
    """Books on a connection of its own (autocommit mode): BEGIN IMMEDIATE takes the write lock before
    the overlap check, so concurrent writers on other connections are serialised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        insert_meeting(conn, meeting, token, buffer_seconds)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def agent_meetings(
    conn: SqlConnection, agent_id: str, since: float, until: float | None = None
) -> list[Meeting]:
    """Meetings of one agent ending after ``since`` (and starting before ``until``), by start."""
    sql = 'SELECT data FROM meetings WHERE agent_id=? AND "end">?'
    args: list[object] = [agent_id, since]
    if until is not None:
        sql += " AND start<?"
        args.append(until)
    return [_meeting.decode(r[0]) for r in conn.execute(sql + " ORDER BY start", args)]


def snapshot_meetings(view: object, agent_id: str, since: float) -> list[Meeting]:
    """An agent's meetings for a snapshot, read through a committed view (none for views without SQL)."""
    conn = getattr(view, "conn", None)
    if not callable(getattr(conn, "execute", None)):
        return []
    return agent_meetings(cast(SqlConnection, conn), agent_id, since)


class MeetingsSql:
    """Mixed into SqliteStorage: ``conn`` is its write connection and ``_begin`` opens the batch."""

    conn: SqlConnection

    def _begin(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")

    def add_meeting(self, meeting: Meeting, token: str, buffer_seconds: float) -> None:
        self._begin()
        insert_meeting(self.conn, meeting, token, buffer_seconds)

    def get_meeting(self, meeting_id: str) -> tuple[Meeting, str] | None:
        row = self.conn.execute("SELECT data, token FROM meetings WHERE id=?", (meeting_id,)).fetchone()
        return (_meeting.decode(row[0]), str(row[1])) if row else None

    def agent_meetings(self, agent_id: str, since: float, until: float | None = None) -> list[Meeting]:
        return agent_meetings(self.conn, agent_id, since, until)

    def all_meetings(self, since: float) -> list[Meeting]:
        rows = self.conn.execute('SELECT data FROM meetings WHERE "end">? ORDER BY start', (since,))
        return [_meeting.decode(r[0]) for r in rows]

    def conversation_meetings(self, conversation_id: str) -> list[Meeting]:
        rows = self.conn.execute(
            "SELECT data FROM meetings WHERE conversation_id=? ORDER BY start", (conversation_id,)
        )
        return [_meeting.decode(r[0]) for r in rows]

    def move_meeting(self, meeting: Meeting, buffer_seconds: float) -> None:
        self._begin()
        move_meeting(self.conn, meeting, buffer_seconds)

    def delete_meeting(self, meeting_id: str) -> None:
        self._begin()
        self.conn.execute("DELETE FROM meetings WHERE id=?", (meeting_id,))

    def calendar_connections(self) -> list[Connection]:
        rows = self.conn.execute(
            "SELECT agent_id, url, username, password, calendar, kind FROM calendar_connections"
        )
        return [Connection(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def save_calendar_connection(self, c: Connection) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO calendar_connections (agent_id, kind, url, username, password, calendar) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET kind=excluded.kind, "
            "url=excluded.url, username=excluded.username, password=excluded.password, "
            "calendar=excluded.calendar",
            (c.agent_id, c.kind, c.url, c.username, c.password, c.calendar),
        )

    def delete_calendar_connection(self, agent_id: str) -> None:
        self._begin()
        self.conn.execute("DELETE FROM calendar_connections WHERE agent_id=?", (agent_id,))

    def get_calendar_settings(self, agent_id: str) -> CalendarSettings | None:
        row = self.conn.execute("SELECT data FROM calendar_settings WHERE agent_id=?", (agent_id,)).fetchone()
        return _settings.decode(row[0]) if row else None

    def save_calendar_settings(self, settings: CalendarSettings) -> None:
        self._begin()
        self.conn.execute(
            "INSERT INTO calendar_settings (agent_id, data) VALUES (?, ?) "
            "ON CONFLICT (agent_id) DO UPDATE SET data=excluded.data",
            (settings.agent_id, _enc.encode(settings)),
        )
