"""Through the real server: sharing calendars, racing bookings, .ics over HTTP, CQL races, participants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.security import calendar_ref
from tests.server.conftest import Client, Team, agent_login, cid, make_config, provision, visitor_login

ALWAYS = [p.Weekly(weekday=d, start="00:00", end="24:00") for d in range(7)]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    async with run_server(make_config(tmp_path)) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


async def visitor_with_chat(server: ChatServer, text: str = "Hi, pricing?") -> tuple[Client, str]:
    visitor, _ = await visitor_login(server)
    ack = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text=text))
    return visitor, ack["conversation_id"]


async def test_share_calendar_and_two_visitors_race_for_one_slot(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    settings = p.CalendarSettings(
        agent_id=team.sdr1.id,
        timezone="America/New_York",
        duration_minutes=30,
        buffer_minutes=0,
        min_notice_minutes=0,
        horizon_days=3,
        availability=ALWAYS,
    )
    saved = await sam.ok(p.UpdateCalendarSettings(id=cid(), settings=settings))
    assert saved["settings"]["timezone"] == "America/New_York"
    (v1, c1), (v2, c2) = await visitor_with_chat(server), await visitor_with_chat(server)
    for conversation_id, visitor in ((c1, v1), (c2, v2)):
        await sam.ok(p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=team.sdr1.id))
        shared = await visitor.event(p.MessageCreated)
        card = shared.event.message.card
        # visitors get a reference to the calendar, not the agent's internal id (issue 10)
        assert card is not None and card.agent_id == calendar_ref(team.sdr1.id)
        assert card.timezone == "America/New_York"
    start = card.slots[2].start
    b1 = p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="ann@acme.example", name="Ann")
    b2 = p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="bob@globex.example", name="Bob")
    await asyncio.gather(v1.send(b1), v2.send(b2))
    answers = await asyncio.gather(v1.reply(b1.id), v2.reply(b2.id))
    oks = [a for a in answers if isinstance(a, p.Ack)]
    errors = [a for a in answers if isinstance(a, p.Error)]
    assert len(oks) == 1 and len(errors) == 1 and errors[0].code == p.ErrorCode.CONFLICT
    meeting = p.convert(oks[0].result["meeting"], p.Meeting)
    assert meeting.start == start and meeting.end == start + 1800
    booked = await sam.event(p.MeetingBooked)
    assert booked.event.meeting.id == meeting.id
    # The team gets a system line about the booking; the visitor doesn't (its widget confirms in the
    # visitor's own time zone): the next message the winner receives is Sam's, not that line.
    winner, winner_cid = (v1, c1) if isinstance(answers[0], p.Ack) else (v2, c2)
    for _ in range(10):
        line = await sam.event(p.MessageCreated)
        if line.event.message.author_kind == p.AuthorKind.SYSTEM:
            break
    assert line is not None and "booked a call" in line.event.message.text and line.event.message.private
    await sam.ok(p.SendMessage(id=cid(), conversation_id=winner_cid, text="See you then!"))
    after = await winner.event(p.MessageCreated)
    assert after.event.message.text == "See you then!"
    listed = await sam.ok(p.ListMeetings(id=cid()))
    assert [m["id"] for m in listed["meetings"]] == [meeting.id]
    http = server.url.replace("ws://", "http://")
    async with httpx.AsyncClient() as web:
        ics = await web.get(http + meeting.ics_url)
        bad = await web.get(http + f"/meetings/{meeting.id}.ics?token=nope")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert bad.status_code == 404
    (event,) = Calendar.from_ical(ics.content).walk("VEVENT")
    assert event.decoded("dtstart").timestamp() == start
    assert str(event["organizer"]) == "mailto:sam@example.com"
    # the slot is gone from the next card
    await sam.ok(p.ShareCalendar(id=cid(), conversation_id=c1, agent_id=team.sdr1.id))
    again = await v1.event(p.MessageCreated)
    while again.event.message.card is None:
        again = await v1.event(p.MessageCreated)
    assert start not in [s.start for s in again.event.message.card.slots]
    for client in (sam, v1, v2):
        await client.close()


async def test_calendar_settings_are_per_sdr(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    default = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr2.id))
    assert default["settings"]["agent_id"] == team.sdr2.id
    theirs = p.CalendarSettings(agent_id=team.sdr2.id, availability=ALWAYS)
    refused = await sam.call(p.UpdateCalendarSettings(id=cid(), settings=theirs))
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.FORBIDDEN
    bad = p.CalendarSettings(agent_id=team.sdr1.id, timezone="Mars/Base", availability=ALWAYS)
    invalid = await sam.call(p.UpdateCalendarSettings(id=cid(), settings=bad))
    assert (
        isinstance(invalid, p.Error)
        and invalid.code == p.ErrorCode.INVALID
        and "time zone" in invalid.message
    )
    maria, _ = await agent_login(server, "maria@example.com")
    await maria.ok(p.UpdateCalendarSettings(id=cid(), settings=theirs))  # managers may
    got = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr2.id))
    assert len(got["settings"]["availability"]) == 7
    await sam.close()
    await maria.close()


async def test_cql_from_two_agents_at_once_last_write_wins_both_in_history(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    maria, _ = await agent_login(server, "maria@example.com")
    visitor, conversation_id = await visitor_with_chat(server)
    s1 = p.SetCql(id=cid(), conversation_id=conversation_id, level=3)
    s2 = p.SetCql(id=cid(), conversation_id=conversation_id, level=0)
    await asyncio.gather(sam.send(s1), maria.send(s2))
    a1, a2 = await asyncio.gather(sam.reply(s1.id), maria.reply(s2.id))
    assert isinstance(a1, p.Ack) and isinstance(a2, p.Ack)
    changes = [(await sam.event(p.CqlChanged)).event.change for _ in range(2)]
    assert {c.by_id for c in changes} == {team.sdr1.id, team.manager.id}
    assert changes[1].previous == changes[0].level  # the second saw the first: nothing lost
    updated = p.convert(
        a2.result["conversation"] if changes[1].by_id == team.manager.id else a1.result["conversation"],
        p.Conversation,
    )
    assert updated.cql == changes[1].level and len(updated.cql_history) == 2
    assert [h.by_id for h in updated.cql_history] == [c.by_id for c in changes]
    cleared = await sam.ok(p.SetCql(id=cid(), conversation_id=conversation_id, level=None))
    assert cleared["conversation"].get("cql") is None and len(cleared["conversation"]["cql_history"]) == 3
    bad = await sam.call(p.SetCql(id=cid(), conversation_id=conversation_id, level=4))
    assert isinstance(bad, p.Error) and bad.code == p.ErrorCode.INVALID
    for client in (sam, maria, visitor):
        await client.close()


async def test_participants_add_notify_reply_and_removal_rules(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    tina, _ = await agent_login(server, "tina@example.com")
    maria, _ = await agent_login(server, "maria@example.com")
    visitor, conversation_id = await visitor_with_chat(server)
    await sam.ok(p.AssignConversation(id=cid(), conversation_id=conversation_id, agent_id=team.sdr1.id))
    await sam.ok(
        p.AddParticipant(id=cid(), conversation_id=conversation_id, agent_id=team.sdr2.id, note="TX lead")
    )
    added = await tina.event(p.ParticipantAdded)
    assert added.event.agent_id == team.sdr2.id and added.event.note == "TX lead"
    await tina.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="Hi, I cover Texas"))
    reply = await visitor.event(p.MessageCreated, wait=5)
    while reply.event.message.author_name != team.sdr2.name:  # visitors see names, not internal ids
        reply = await visitor.event(p.MessageCreated)
    assert reply.event.message.text == "Hi, I cover Texas"
    # a second participant, then removal rules: an SDR can't remove someone else; self and managers can
    await maria.ok(p.AddParticipant(id=cid(), conversation_id=conversation_id, agent_id=team.manager.id))
    forbidden = await sam.call(
        p.RemoveParticipant(id=cid(), conversation_id=conversation_id, agent_id=team.sdr2.id)
    )
    assert isinstance(forbidden, p.Error) and forbidden.code == p.ErrorCode.FORBIDDEN
    left = await tina.ok(
        p.RemoveParticipant(id=cid(), conversation_id=conversation_id, agent_id=team.sdr2.id)
    )
    assert team.sdr2.id not in left["conversation"].get("participant_ids", [])
    removed = await maria.ok(
        p.RemoveParticipant(id=cid(), conversation_id=conversation_id, agent_id=team.manager.id)
    )
    assert removed["conversation"].get("participant_ids", []) == []
    transcript = await sam.ok(p.GetTranscript(id=cid(), conversation_id=conversation_id))
    system = [m["text"] for m in transcript["messages"] if m["author_kind"] == "system"]
    assert any("added Tina Sdr: TX lead" in t for t in system) and any(
        "removed Tina Sdr" in t for t in system
    )
    for client in (sam, tina, maria, visitor):
        await client.close()
