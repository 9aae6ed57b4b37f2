"""Connected calendars through the chat server against real servers: Radicale (CalDAV), aiosmtpd (SMTP)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.calendars import CalendarError, Connection
from chat_server.calendars.caldav_provider import CalDavProvider
from chat_server.calendars.sync import event_uid
from chat_server.ics import meeting_invite
from tests.calendars.conftest import CALDAV_PASSWORD, CALDAV_USER, Mailbox, Radicale
from tests.server.conftest import Client, Team, agent_login, cid, make_config, provision, visitor_login

ALWAYS = [p.Weekly(weekday=d, start="00:00", end="24:00") for d in range(7)]
HALF_HOUR = 1800


@pytest.fixture
async def server(tmp_path: Path, smtp: tuple[Mailbox, int]) -> AsyncIterator[ChatServer]:
    config = make_config(tmp_path, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_security="none",
                         smtp_from="invites@yourco.example")  # fmt: skip
    async with run_server(config) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


def busy_block(radicale: Radicale, uid: str, start: float, end: float) -> None:
    """An event the rep has in their own calendar (put straight into Radicale, not through our server)."""
    from agent_app.protocol import Meeting

    meeting = Meeting(id=uid, conversation_id="", agent_id="", visitor_id="", start=start, end=end,
                      timezone="UTC", title="Dentist")  # fmt: skip
    provider = CalDavProvider(
        Connection("x", radicale.url, CALDAV_USER, CALDAV_PASSWORD, radicale.calendar_url)
    )
    try:
        provider.put_event(uid, meeting_invite(meeting, organizer_name="Sam", organizer_email="", method=""))
    finally:
        provider.close()


def radicale_events(radicale: Radicale) -> list[Calendar]:
    provider = CalDavProvider(
        Connection("x", radicale.url, CALDAV_USER, CALDAV_PASSWORD, radicale.calendar_url)
    )
    try:
        return [Calendar.from_ical(e.data) for e in provider._cal().events()]
    finally:
        provider.close()


async def sam_open_all_hours(server: ChatServer, team: Team) -> Client:
    """Sam signed in, his calendar open every hour for 3 days (30-minute calls, no buffer or notice)."""
    sam, _ = await agent_login(server, "sam@example.com")
    settings = p.CalendarSettings(
        agent_id=team.sdr1.id, timezone="America/New_York", duration_minutes=30, buffer_minutes=0,
        min_notice_minutes=0, horizon_days=3, availability=ALWAYS,
    )  # fmt: skip
    await sam.ok(p.UpdateCalendarSettings(id=cid(), settings=settings))
    return sam


async def setup_sam(server: ChatServer, team: Team, radicale: Radicale) -> Client:
    sam = await sam_open_all_hours(server, team)
    connect = p.ConnectCalendar(id=cid(), url=radicale.url, username=CALDAV_USER, password=CALDAV_PASSWORD,
                                calendar=radicale.calendar_url)  # fmt: skip
    result = await sam.ok(connect)
    assert result["connection"]["connected"] and not result["connection"]["error"]
    return sam


async def share(
    sam: Client, visitor: Client, conversation_id: str, agent_id: str
) -> tuple[p.BookingCard, dict]:
    ack = await sam.ok(p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=agent_id))
    frame = await visitor.event(p.MessageCreated)
    while frame.event.message.card is None:
        frame = await visitor.event(p.MessageCreated)
    return frame.event.message.card, ack


async def visitor_with_chat(server: ChatServer) -> tuple[Client, str]:
    visitor, _ = await visitor_login(server)
    ack = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="Hi, pricing?"))
    return visitor, ack["conversation_id"]


def next_half_hour(now: float) -> float:
    return math.ceil(now / HALF_HOUR) * HALF_HOUR


def calendar_parts(msg: EmailMessage) -> list[Calendar]:
    return [
        Calendar.from_ical(part.get_content())
        for part in msg.walk()
        if part.get_content_type() == "text/calendar"
    ]


async def test_busy_block_in_the_connected_calendar_is_never_offered(
    server: ChatServer, team: Team, radicale: Radicale
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    busy_block(radicale, "dentist-1", blocked, blocked + 3600)  # covers two 30-minute slots
    sam = await setup_sam(server, team, radicale)
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    starts = [s.start for s in card.slots]
    assert blocked not in starts and blocked + HALF_HOUR not in starts
    assert blocked - HALF_HOUR in starts and blocked + 3600 in starts  # the neighbours stay open
    assert ack["calendar_warning"] == ""
    # A block added after the card was shared: the booking re-reads the calendar and refuses the time.
    late = blocked + 2 * 3600
    assert late in starts
    busy_block(radicale, "late-1", late, late + HALF_HOUR)
    refused = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=late, email="a@b.example")
    )
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.CONFLICT
    for client in (sam, visitor):
        await client.close()


async def test_booking_writes_the_event_and_mails_request_then_cancel(
    server: ChatServer, team: Team, radicale: Radicale, smtp: tuple[Mailbox, int]
) -> None:
    mailbox = smtp[0]
    sam = await setup_sam(server, team, radicale)
    visitor, conversation_id = await visitor_with_chat(server)
    card, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    start = card.slots[3].start
    booked = await visitor.ok(p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start,
                                         email="ann@acme.example", name="Ann Lee"))  # fmt: skip
    meeting = p.convert(booked["meeting"], p.Meeting)
    await server.ctx.calendars.idle()
    (stored,) = [c for c in radicale_events(radicale)]
    (event,) = stored.walk("VEVENT")
    assert str(event["uid"]) == f"{meeting.id}@sdr-agent-desk.local"
    assert event.decoded("dtstart").timestamp() == start
    assert str(event["attendee"]) == "mailto:ann@acme.example"
    assert "method" not in stored  # RFC 4791: no METHOD in a stored calendar object
    (msg,) = mailbox.messages
    assert sorted(mailbox.recipients[0]) == ["ann@acme.example", "sam@example.com"]
    assert msg["From"] == "invites@yourco.example"
    (invite,) = calendar_parts(msg)
    assert str(invite["method"]) == "REQUEST"
    assert str(invite.walk("VEVENT")[0]["uid"]) == str(event["uid"])
    # the booked time is busy in the rep's calendar too, and gone from the next card
    await server.ctx.calendars.refresh(team.sdr1.id)
    again, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start not in [s.start for s in again.slots]

    cancelled = await sam.ok(p.CancelMeeting(id=cid(), meeting_id=meeting.id))
    assert cancelled["meeting"]["id"] == meeting.id
    await server.ctx.calendars.idle()
    assert radicale_events(radicale) == []
    assert len(mailbox.messages) == 2
    assert sorted(mailbox.recipients[1]) == ["ann@acme.example", "sam@example.com"]
    (cancel,) = calendar_parts(mailbox.messages[1])
    assert str(cancel["method"]) == "CANCEL"
    cancel_event = cancel.walk("VEVENT")[0]
    assert str(cancel_event["status"]) == "CANCELLED" and int(cancel_event["sequence"]) == 1
    listed = await sam.ok(p.ListMeetings(id=cid()))
    assert listed["meetings"] == []
    third, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start in [s.start for s in third.slots]  # offered again
    for client in (sam, visitor):
        await client.close()


async def test_calendar_outage_falls_back_to_settings_with_a_warning(
    server: ChatServer, team: Team, radicale: Radicale, smtp: tuple[Mailbox, int]
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    busy_block(radicale, "dentist-2", blocked, blocked + HALF_HOUR)
    sam = await setup_sam(server, team, radicale)
    radicale.stop()
    await server.ctx.calendars.refresh(team.sdr1.id)
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert "could not be read" in ack["calendar_warning"]
    assert blocked in [s.start for s in card.slots]  # our settings only
    note = await sam.event(p.MessageCreated)
    while note.event.message.author_kind != p.AuthorKind.SYSTEM:
        note = await sam.event(p.MessageCreated)
    assert note.event.message.private and "calendar settings only" in note.event.message.text
    status = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert status["connection"]["connected"] and status["connection"]["error"]
    # booking still works (checked against our own meetings); the invite is mailed, the event write is logged
    booked = await visitor.call(p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=card.slots[1].start,
                                           email="bo@acme.example"))  # fmt: skip
    assert isinstance(booked, p.Ack)
    await server.ctx.calendars.idle()
    assert len(smtp[0].messages) == 1
    for client in (sam, visitor):
        await client.close()


async def test_connect_tests_first_and_keeps_the_password_on_the_server(
    server: ChatServer, team: Team, radicale: Radicale, tmp_path: Path
) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    connect = p.ConnectCalendar(id=cid(), url=radicale.url, username=CALDAV_USER, password=CALDAV_PASSWORD,
                                calendar="No such calendar")  # fmt: skip
    wrong = await sam.call(connect)
    assert (
        isinstance(wrong, p.Error)
        and wrong.code == p.ErrorCode.INVALID
        and "No such calendar" in wrong.message
    )
    bad_url = await sam.call(p.ConnectCalendar(id=cid(), url="ftp://x"))
    assert isinstance(bad_url, p.Error) and bad_url.code == p.ErrorCode.INVALID
    await sam.close()
    sam = await setup_sam(server, team, radicale)
    got = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert got["connection"]["url"] == radicale.url and CALDAV_PASSWORD not in repr(got)
    other, welcome = await agent_login(server, "sam@example.com")  # snapshot
    assert CALDAV_PASSWORD not in repr(welcome)
    snapshot = await other.frame_of(p.Snapshot)
    assert CALDAV_PASSWORD not in repr(snapshot)
    tina, _ = await agent_login(server, "tina@example.com")
    theirs = await tina.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert "connection" not in theirs
    with sqlite3.connect(tmp_path / "chat.sqlite3") as db:
        rows = db.execute("SELECT agent_id, password FROM calendar_connections").fetchall()
    db.close()
    assert rows == [(team.sdr1.id, CALDAV_PASSWORD)]
    disconnected = await sam.ok(p.ConnectCalendar(id=cid(), url=""))
    assert not disconnected["connection"]["connected"]
    for client in (sam, other, tina):
        await client.close()


def test_unreachable_calendar_raises_calendar_error() -> None:
    provider = CalDavProvider(Connection("x", "http://127.0.0.1:9/", "u", "p"))
    with pytest.raises(CalendarError, match="cannot reach"):
        provider.busy(0, 1)
    provider.close()


def test_event_uid_matches_the_invite() -> None:
    meeting = p.Meeting(
        id="m1", conversation_id="c", agent_id="a", visitor_id="v", start=0, end=60, timezone="UTC"
    )
    ics = Calendar.from_ical(meeting_invite(meeting, organizer_name="S", organizer_email="s@x.example"))
    assert str(ics.walk("VEVENT")[0]["uid"]) == event_uid(meeting)


async def test_the_bots_booking_card_excludes_connected_calendar_busy_times(
    server: ChatServer, team: Team, radicale: Radicale
) -> None:
    from chat_server.automation import booking_provider

    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    busy_block(radicale, "dentist-3", blocked, blocked + HALF_HOUR)
    sam = await setup_sam(server, team, radicale)
    provider = booking_provider(server.service, "", server.ctx.calendars)
    assert provider is not None
    card = provider(server.hub.agents[team.sdr1.id])
    assert card is not None
    starts = [s.start for s in card.slots]
    assert blocked - HALF_HOUR in starts and blocked not in starts
    await sam.close()
