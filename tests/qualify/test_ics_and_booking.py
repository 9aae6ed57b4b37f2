"""The .ics invite parses back with the right UTC times; concurrent bookings of one slot: one wins."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from agent_app.protocol import Agent, CalendarSettings, Conversation, Meeting, Visitor, Weekly
from chat_server import meetings
from chat_server.ics import meeting_invite
from chat_server.storage.meetings_sql import MeetingsSql, SlotTaken, book_exclusively, ensure_schema
from chat_server.storage.schema import connect

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC).timestamp()


def meeting(mid: str = "m1", start: float = START, minutes: int = 30) -> Meeting:
    return Meeting(
        id=mid,
        conversation_id="c1",
        agent_id="a1",
        visitor_id="v1",
        start=start,
        end=start + minutes * 60,
        timezone="America/New_York",
        title="Intro call: Acme x Sam",
        visitor_name="Jane Doe",
        visitor_email="jane@acme.example",
        company="Acme",
        created_at=START - 86400,
    )


def test_ics_parses_back_with_utc_times_and_invite_fields() -> None:
    raw = meeting_invite(meeting(), organizer_name="Sam Rep", organizer_email="sam@yourco.example")
    assert b"\r\n" in raw and b"METHOD:REQUEST" in raw
    cal = Calendar.from_ical(raw)
    assert str(cal["method"]) == "REQUEST"
    (event,) = cal.walk("VEVENT")
    assert event.decoded("dtstart") == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert event.decoded("dtend") == datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    assert event.decoded("dtstamp").tzinfo is not None
    assert str(event["uid"]).startswith("m1@")
    assert str(event["summary"]) == "Intro call: Acme x Sam"
    assert str(event["organizer"]) == "mailto:sam@yourco.example"
    assert event["organizer"].params["CN"] == "Sam Rep"
    attendee = event["attendee"]
    assert str(attendee) == "mailto:jane@acme.example" and attendee.params["RSVP"] == "TRUE"
    assert "America/New_York" in str(event["description"])
    assert b"DTSTART:20261102T150000Z" in raw


_open: list[sqlite3.Connection] = []


def _conn(path: Path) -> sqlite3.Connection:
    conn = connect(str(path))
    ensure_schema(conn)
    _open.append(conn)
    return conn


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    """Every connection _conn opened is closed after the test (closing twice is harmless)."""
    yield
    while _open:
        _open.pop().close()


def test_two_connections_racing_for_one_slot_exactly_one_wins(tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    _conn(db).close()
    barrier = threading.Barrier(8)
    results: list[str] = []

    def visitor(n: int) -> None:
        conn = _conn(db)
        barrier.wait()
        try:
            book_exclusively(conn, meeting(f"m{n}", START + (n % 2) * 600), f"t{n}", 0)
            results.append("won")
        except SlotTaken:
            results.append("lost")
        finally:
            conn.close()

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]  # 15:00 and 15:10 overlap: only one of all eight
    assert _conn(db).execute("SELECT count(*) FROM meetings").fetchone()[0] == 1


def test_unique_constraint_catches_a_writer_that_skipped_the_check(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "u.db")
    book_exclusively(conn, meeting("m1"), "t", 0)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO meetings VALUES ('m2','a1',?,?,'c','t',0,x'00')", (START, START + 60))


class _Store(MeetingsSql):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def test_service_books_validates_and_serves_ics(tmp_path: Path) -> None:
    store = _Store(_conn(tmp_path / "s.db"))
    sam = Agent(id="a1", name="Sam Rep", email="sam@yourco.example")
    other = Agent(id="a2", name="Kim", email="kim@yourco.example")
    settings = CalendarSettings(
        agent_id="a1",
        timezone="UTC",
        min_notice_minutes=0,
        buffer_minutes=10,
        availability=[Weekly(weekday=0, start="15:00", end="17:00")],
    )
    with pytest.raises(meetings.BookingRefused) as refused:
        meetings.update_settings(store, other, settings)
    assert refused.value.code == "forbidden"
    meetings.update_settings(store, sam, settings)
    now = START - 3600
    card = meetings.booking_card(store, sam, now)
    assert [s.start for s in card.slots[:2]] == [START, START + 1800] and card.timezone == "UTC"
    conv = Conversation(id="c1", visitor=Visitor(id="v1", name="Jane", company="Acme"))
    booked = meetings.book(
        store, agent=sam, conversation=conv, start=START, name="", email="j@a.example", now=now
    )
    assert booked.meeting.ics_url == f"/meetings/{booked.meeting.id}.ics?token={booked.token}"
    with pytest.raises(meetings.BookingRefused) as refused:
        meetings.book(store, agent=sam, conversation=conv, start=START, name="", email="", now=now)
    assert refused.value.code == "conflict"
    with pytest.raises(meetings.BookingRefused) as refused:
        meetings.book(store, agent=sam, conversation=conv, start=START + 60, name="", email="", now=now)
    assert refused.value.code == "invalid"
    # the buffer hides 15:30 (10 min after the 15:00-15:30 meeting); 16:00 stays open
    assert [s.start for s in meetings.booking_card(store, sam, now).slots][:1] == [START + 3600]
    assert meetings.ics_for(store, booked.meeting.id, "wrong", sam) is None
    ics = meetings.ics_for(store, booked.meeting.id, booked.token, sam)
    assert ics is not None and b"ORGANIZER;CN=" in ics
    assert [m.id for m in meetings.list_meetings(store, sam, "", 0)] == [booked.meeting.id]
    with pytest.raises(meetings.BookingRefused):
        meetings.list_meetings(store, other, "a1", 0)
