"""Microsoft 365 calendars through the chat server against the Microsoft Graph stand-in (sandbox/)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.calendars.msgraph_provider import UID_PROPERTY
from chat_server.calendars.oauth import MICROSOFT_SCOPE
from chat_server.calendars.sync import event_uid
from sandbox.ms_graph import FakeGraph, start_graph
from tests.calendars.oauth_flow import browser_sign_in
from tests.calendars.test_connected_calendar import (
    HALF_HOUR,
    next_half_hour,
    sam_open_all_hours,
    share,
    visitor_with_chat,
)
from tests.server.conftest import Client, Team, agent_login, cid, make_config, provision

MAILBOX = "sam@yourco.example"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with start_graph(mailbox=MAILBOX) as fake:
        yield fake


@pytest.fixture
async def server(tmp_path: Path, graph: FakeGraph) -> AsyncIterator[ChatServer]:
    config = make_config(
        tmp_path, microsoft_client_id=graph.oauth.client_id, microsoft_token_url=graph.token_url
    )
    async with run_server(config) as running:
        yield running


@pytest.fixture
def team(server: ChatServer) -> Team:
    return provision(server)


async def connect_sam(server: ChatServer, team: Team, graph: FakeGraph) -> tuple[Client, dict]:
    sam = await sam_open_all_hours(server, team)
    code, verifier, redirect_uri = await browser_sign_in(
        graph.auth_url, graph.oauth.client_id, MICROSOFT_SCOPE
    )
    connect = p.ConnectCalendar(id=cid(), kind="microsoft", url=graph.base_url, username=MAILBOX,
                                code=code, code_verifier=verifier, redirect_uri=redirect_uri)  # fmt: skip
    result = await sam.ok(connect)
    return sam, result["connection"]


def stored_token(server: ChatServer) -> str:
    with sqlite3.connect(server.config.db_path) as db:
        (token,) = db.execute("SELECT password FROM calendar_connections WHERE kind='microsoft'").fetchone()
    db.close()
    return str(token)


def graph_events(graph: FakeGraph, uid: str) -> list[dict]:
    return [e for e in graph.events.values()
            if {"id": UID_PROPERTY, "value": uid} in e.get("singleValueExtendedProperties", [])]  # fmt: skip


async def test_busy_times_from_get_schedule_are_never_offered(
    server: ChatServer, team: Team, graph: FakeGraph
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    graph.add_busy(blocked, blocked + 3600, "Dentist")
    free = blocked + 3 * 3600
    graph.add_busy(free, free + HALF_HOUR, "Lunch (shown as free)", show_as="free")
    sam, connection = await connect_sam(server, team, graph)
    assert connection["connected"] and connection["kind"] == "microsoft" and not connection["error"]
    assert connection["busy_count"] == 1
    assert stored_token(server) in graph.oauth.refresh_tokens
    assert stored_token(server) not in repr(connection)
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    starts = [s.start for s in card.slots]
    assert blocked not in starts and blocked + HALF_HOUR not in starts
    assert blocked + 3600 in starts and free in starts
    assert ack["calendar_warning"] == ""
    for client in (sam, visitor):
        await client.close()


async def test_a_mailbox_address_is_required(server: ChatServer, team: Team, graph: FakeGraph) -> None:
    sam, _ = await agent_login(server, "sam@example.com")
    connect = p.ConnectCalendar(id=cid(), kind="microsoft", url=graph.base_url, code="c",
                                code_verifier="v", redirect_uri="http://127.0.0.1:1/cb")  # fmt: skip
    refused = await sam.call(connect)
    assert (
        isinstance(refused, p.Error) and refused.code == p.ErrorCode.INVALID and "mailbox" in refused.message
    )
    await sam.close()


async def test_booking_creates_the_event_with_the_visitor_and_cancel_deletes_it(
    server: ChatServer, team: Team, graph: FakeGraph
) -> None:
    sam, _ = await connect_sam(server, team, graph)
    visitor, conversation_id = await visitor_with_chat(server)
    card, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    start = card.slots[3].start
    booked = await visitor.ok(p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start,
                                         email="ann@acme.example", name="Ann Lee"))  # fmt: skip
    meeting = p.convert(booked["meeting"], p.Meeting)
    await server.ctx.calendars.idle()
    (event,) = graph_events(graph, event_uid(meeting))
    assert {"emailAddress": {"address": "ann@acme.example", "name": "Ann Lee"}, "type": "required"} in event[
        "attendees"
    ]
    assert event["start"]["timeZone"] == "UTC"
    again, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start not in [s.start for s in again.slots]

    await sam.ok(p.CancelMeeting(id=cid(), meeting_id=meeting.id))
    await server.ctx.calendars.idle()
    assert graph_events(graph, event_uid(meeting)) == []
    third, _ = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert start in [s.start for s in third.slots]
    for client in (sam, visitor):
        await client.close()


async def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    server: ChatServer, team: Team, graph: FakeGraph
) -> None:
    sam, _ = await connect_sam(server, team, graph)
    graph.oauth.expire_access_tokens()
    entry = await server.ctx.calendars.refresh(team.sdr1.id)
    assert entry is not None and entry.error == ""
    assert graph.oauth.token_calls.count("refresh_token") == 2
    # Microsoft rotates refresh tokens: the newest is stored (the loop applies it right after the refresh)
    await server.ctx.calendars.refresh(team.sdr1.id)
    token = stored_token(server)
    assert token in graph.oauth.refresh_tokens and len(graph.oauth.refresh_tokens) == 1
    assert server.ctx.calendars.connections[team.sdr1.id].password == token
    await sam.close()


async def test_a_revoked_sign_in_asks_to_reconnect_and_falls_back_to_settings(
    server: ChatServer, team: Team, graph: FakeGraph
) -> None:
    blocked = next_half_hour(server.clock.now()) + 2 * 3600
    graph.add_busy(blocked, blocked + HALF_HOUR)
    sam, _ = await connect_sam(server, team, graph)
    graph.oauth.revoke_all()
    await server.ctx.calendars.refresh(team.sdr1.id)
    visitor, conversation_id = await visitor_with_chat(server)
    card, ack = await share(sam, visitor, conversation_id, team.sdr1.id)
    assert "reconnect your calendar" in ack["calendar_warning"]
    assert blocked in [s.start for s in card.slots]
    start = card.slots[1].start
    first = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="a@b.example")
    )
    assert isinstance(first, p.Ack)
    second = await visitor.call(
        p.BookSlot(id=cid("b"), agent_id=card.agent_id, start=start, email="c@d.example")
    )
    assert isinstance(second, p.Error) and second.code == p.ErrorCode.CONFLICT
    await server.ctx.calendars.idle()
    for client in (sam, visitor):
        await client.close()
