"""Google calendars through the chat server against the Google Calendar API v3 stand-in (sandbox/)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from agent_app import protocol as p
from agent_app.integrations.calendar_auth import sign_in
from chat_server import ChatServer, run_server
from chat_server.calendars.google_provider import event_id
from chat_server.calendars.oauth import GOOGLE_SCOPE
from chat_server.calendars.sync import event_uid
from sandbox.google_calendar import FakeGoogleCalendar, start_google_calendar
from tests.calendars.oauth_flow import browser_sign_in
from tests.calendars.test_connected_calendar import (
    HALF_HOUR,
    next_half_hour,
    sam_open_all_hours,
    share,
    visitor_with_chat,
)
from tests.server.conftest import Client, Team, agent_login, cid, make_config, provision


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogleCalendar]:
    async with start_google_calendar() as fake:
        yield fake


@pytest.fixture
async def server(tmp_path: Path, google: FakeGoogleCalendar) -> AsyncIterator[ChatServer]:
    config = make_config(tmp_path, google_client_id=google.oauth.client_id, google_token_url=google.token_url)
    async with run_server(config) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


async def connect_sam(server: ChatServer, team: Team, google: FakeGoogleCalendar) -> tuple[Client, dict]:
    sam = await sam_open_all_hours(server, team)
    code, verifier, redirect_uri = await browser_sign_in(
        google.auth_url, google.oauth.client_id, GOOGLE_SCOPE
    )
    result = await sam.ok(p.ConnectCalendar(id=cid(), kind="google", url=google.base_url, code=code,
                                            code_verifier=verifier, redirect_uri=redirect_uri))  # fmt: skip
    return sam, result["connection"]


def stored_token(server: ChatServer) -> str:
    with sqlite3.connect(server.config.db_path) as db:
        (token,) = db.execute("SELECT password FROM calendar_connections WHERE kind='google'").fetchone()
    db.close()
    return str(token)


async def test_sign_in_code_is_exchanged_and_busy_times_are_never_offered(
    server: ChatServer, team: Team, google: FakeGoogleCalendar
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    google.add_busy(blocked, blocked + 3600, "Dentist")
    sam, connection = await connect_sam(server, team, google)
    assert connection["connected"] and connection["kind"] == "google" and not connection["error"]
    assert connection["busy_count"] == 1
    assert google.oauth.token_calls[0] == "authorization_code"
    token = stored_token(server)
    assert token in google.oauth.refresh_tokens  # kept in the server's store ...
    assert token not in repr(connection)  # ... and never sent to the client
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    starts = [s.start for s in card.slots]
    assert blocked not in starts and blocked + HALF_HOUR not in starts
    assert blocked - HALF_HOUR in starts and blocked + 3600 in starts
    assert ack["calendar_warning"] == ""
    late = blocked + 2 * 3600  # busy since the card was shared: the booking re-reads and refuses it
    google.add_busy(late, late + HALF_HOUR)
    refused = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=late, email="a@b.example")
    )
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.CONFLICT
    for client in (sam, visitor):
        await client.close()


async def test_a_bad_verifier_is_refused(server: ChatServer, team: Team, google: FakeGoogleCalendar) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    code, _verifier, redirect_uri = await browser_sign_in(
        google.auth_url, google.oauth.client_id, GOOGLE_SCOPE
    )
    connect = p.ConnectCalendar(id=cid(), kind="google", url=google.base_url, code=code,
                                code_verifier="x" * 60, redirect_uri=redirect_uri)  # fmt: skip
    refused = await sam.call(connect)
    assert isinstance(refused, p.Error) and refused.code == p.ErrorCode.INVALID
    assert "reconnect" in refused.message
    status = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert not status["connection"]["connected"]
    await sam.close()


async def test_booking_inserts_the_event_with_the_visitor_and_cancel_deletes_it(
    server: ChatServer, team: Team, google: FakeGoogleCalendar
) -> None:
    sam, _ = await connect_sam(server, team, google)
    visitor, conversation_id = await visitor_with_chat(server)
    card, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    start = card.slots[3].start
    booked = await visitor.ok(p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start,
                                         email="ann@acme.example", name="Ann Lee"))  # fmt: skip
    meeting = p.convert(booked["meeting"], p.Meeting)
    await server.ctx.calendars.idle()
    event = google.events["primary"][event_id(event_uid(meeting))]
    assert event["iCalUID"] == event_uid(meeting)
    assert event["start"]["dateTime"] == google_time(start)
    assert {"email": "ann@acme.example", "displayName": "Ann Lee"} in event["attendees"]
    assert event["sendUpdates"] == "none"  # the server mails its own invites
    again, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start not in [s.start for s in again.slots]

    await sam.ok(p.CancelMeeting(id=cid(), meeting_id=meeting.id))
    await server.ctx.calendars.idle()
    assert google.events["primary"][event_id(event_uid(meeting))]["status"] == "cancelled"
    third, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start in [s.start for s in third.slots]
    for client in (sam, visitor):
        await client.close()


def google_time(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_an_expired_access_token_is_refreshed(
    server: ChatServer, team: Team, google: FakeGoogleCalendar
) -> None:
    sam, _ = await connect_sam(server, team, google)
    blocked = next_half_hour(server.clock.now()) + 3 * 3600
    google.add_busy(blocked, blocked + HALF_HOUR)
    google.oauth.expire_access_tokens()  # the server still thinks its token is good: the API answers 401
    entry = await server.ctx.calendars.refresh(team.sdr1.id)
    assert entry is not None and entry.error == "" and len(entry.intervals) == 1
    assert google.oauth.token_calls.count("refresh_token") == 2  # the connect test's, then after the 401
    status = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert status["connection"]["error"] == ""
    await sam.close()


async def test_a_revoked_sign_in_asks_to_reconnect_and_falls_back_to_settings(
    server: ChatServer, team: Team, google: FakeGoogleCalendar
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    google.add_busy(blocked, blocked + HALF_HOUR)
    sam, _ = await connect_sam(server, team, google)
    google.oauth.revoke_all()  # the rep removed our access in their Google account
    await server.ctx.calendars.refresh(team.sdr1.id)
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert "reconnect your calendar" in ack["calendar_warning"]
    assert blocked in [s.start for s in card.slots]  # the settings only
    status = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    assert "reconnect your calendar" in status["connection"]["error"]
    start = card.slots[1].start
    first = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="a@b.example")
    )
    assert isinstance(first, p.Ack)
    # our own meetings still count: the same time is never booked twice
    second = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="c@d.example")
    )
    assert isinstance(second, p.Error) and second.code == p.ErrorCode.CONFLICT
    await server.ctx.calendars.idle()
    for client in (sam, visitor):
        await client.close()


async def test_the_desk_clients_browser_sign_in_connects_the_calendar(
    server: ChatServer, team: Team, google: FakeGoogleCalendar
) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    settings = await sam.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr1.id))
    client_id = settings["calendar_sign_in"]["google"]
    pages: list[str] = []

    async def browser(url: str) -> None:  # the user's browser: consent, then the loopback redirect
        async with httpx.AsyncClient(follow_redirects=True) as http:
            response = await http.get(url)
        pages.append(response.text)

    authorize = google.auth_url + "?access_type=offline&prompt=consent"
    command = await sign_in("google", client_id, browser, command_id=cid(), url=google.base_url,
                            authorize_url=authorize)  # fmt: skip
    assert command.redirect_uri.startswith("http://127.0.0.1:") and command.password == ""
    result = await sam.ok(command)
    assert result["connection"]["connected"] and result["connection"]["kind"] == "google"
    assert "Signed in to Google Calendar" in pages[0]
    await sam.close()
