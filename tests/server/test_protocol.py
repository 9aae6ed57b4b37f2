"""Round trips for every command, and the documented answer to malformed, unknown and oversized frames."""

from __future__ import annotations

import json

from agent_app import protocol as p
from chat_server import ChatServer
from tests.server.conftest import Team, agent_login, cid, open_ws, visitor_login


async def test_malformed_frames_get_errors_and_the_connection_stays(server: ChatServer, team: Team) -> None:
    sdr, _ = await agent_login(server, team.sdr1.email)
    cases = [
        ("not json at all", p.ErrorCode.MALFORMED, ""),
        ("[1, 2, 3]", p.ErrorCode.MALFORMED, ""),
        (json.dumps({"type": "launch_rockets", "id": "u1"}), p.ErrorCode.UNKNOWN_TYPE, "u1"),
        (
            json.dumps({"type": "send_message", "id": "w1", "conversation_id": 5, "text": "x"}),
            p.ErrorCode.INVALID,
            "w1",
        ),
        (json.dumps({"type": "send_message", "id": "w2"}), p.ErrorCode.INVALID, "w2"),
    ]
    for raw, code, ref in cases:
        await sdr.send(raw)
        error = await sdr.frame_of(p.Error)
        assert (error.code, error.ref) == (code, ref), raw
    _, conversation, _ = await server.seed_visitor_message("hi")
    too_long = await sdr.call(p.SendMessage(id=cid(), conversation_id=conversation.id, text="x" * 4001))
    assert isinstance(too_long, p.Error) and too_long.code == p.ErrorCode.TOO_LONG
    missing = await sdr.call(p.SendMessage(id=cid(), conversation_id="nope", text="hello"))
    assert isinstance(missing, p.Error) and missing.code == p.ErrorCode.NOT_FOUND
    assert "agents" in await sdr.ok(p.ListAgents(id=cid()))


async def test_abusive_peer_is_closed_4008(server: ChatServer, team: Team) -> None:
    sdr, _ = await agent_login(server, team.sdr1.email)
    for _ in range(21):
        await sdr.send("garbage")
    assert await sdr.closed_code() == p.CloseCode.RATE_LIMITED


async def test_oversized_frames_close_1009_and_others_keep_working(server: ChatServer, team: Team) -> None:
    visitor, _ = await visitor_login(server)
    bystander, _ = await visitor_login(server)
    await visitor.send(p.encode(p.VisitorSendMessage(id=cid(), text="x" * (p.MAX_VISITOR_FRAME + 10))))
    assert await visitor.closed_code() == p.CloseCode.TOO_BIG
    sdr, _ = await agent_login(server, team.sdr1.email)
    await sdr.send(
        p.encode(p.SendMessage(id=cid(), conversation_id="c", text="x" * (p.MAX_AGENT_FRAME + 10)))
    )
    assert await sdr.closed_code() == p.CloseCode.TOO_BIG
    await bystander.ok(p.VisitorSendMessage(id=cid(), text="still here"))


async def test_agent_command_round_trips(server: ChatServer, team: Team) -> None:
    visitor, _ = await visitor_login(server, page_url="https://example.com/pricing")
    conversation_id = (await visitor.ok(p.VisitorSendMessage(id=cid(), text="hello")))["conversation_id"]
    manager, _ = await agent_login(server, team.manager.email)
    sdr, _ = await agent_login(server, team.sdr1.email)

    result = await sdr.ok(
        p.AssignConversation(id=cid(), conversation_id=conversation_id, agent_id=team.sdr1.id)
    )
    assert result["conversation"]["assignee_id"] == team.sdr1.id
    assert (await manager.event(p.ConversationUpdated)).event.conversation.assignee_id == team.sdr1.id

    result = await sdr.ok(p.SetCql(id=cid(), conversation_id=conversation_id, level=2))
    assert result["conversation"]["cql"] == 2
    await sdr.ok(p.SetCql(id=cid(), conversation_id=conversation_id, level=3))
    change = (await manager.event(p.CqlChanged, conversation_id=conversation_id)).event.change
    assert (change.level, change.by_id) == (2, team.sdr1.id)
    change = (await manager.event(p.CqlChanged, conversation_id=conversation_id)).event.change
    assert (change.level, change.previous) == (3, 2)
    bad = await sdr.call(p.SetCql(id=cid(), conversation_id=conversation_id, level=7))
    assert isinstance(bad, p.Error) and bad.code == p.ErrorCode.INVALID

    await sdr.ok(p.SetTyping(id=cid(), conversation_id=conversation_id, active=True))
    typing = await visitor.frame_of(p.TypingFrame)
    assert typing.author_kind == p.AuthorKind.AGENT and typing.preview == ""
    await visitor.ok(p.VisitorTyping(id=cid(), preview="how much is"))
    peek = await sdr.frame_of(p.TypingFrame)
    assert peek.author_kind == p.AuthorKind.VISITOR and peek.preview == "how much is"

    await visitor.ok(p.VisitorPageView(id=cid(), url="https://example.com/security", title="Security"))
    visitor_event = (await manager.event(p.VisitorUpdated)).event
    assert [pv.url for pv in visitor_event.visitor.pages][-2:] == [
        "https://example.com/pricing",
        "https://example.com/security",
    ]
    profile = await visitor.ok(
        p.VisitorUpdateProfile(id=cid(), name="Ada", email="ada@acme.com", company="Acme")
    )
    assert profile["visitor"]["company"] == "Acme"
    assert (await manager.event(p.VisitorUpdated)).event.visitor.name == "Ada"

    handoff = await sdr.ok(
        p.RecordHandoff(
            id=cid(), conversation_id=conversation_id, to_agent_id=team.sdr2.id, crm_record="00Q1"
        )
    )
    assert handoff["message"]["author_kind"] == "system" and "Tina" in handoff["message"]["text"]

    closed = await sdr.ok(p.CloseConversation(id=cid(), conversation_id=conversation_id))
    assert closed["conversation"]["status"] == "closed"
    assert (await manager.event(p.ConversationClosed)).event.by_id == team.sdr1.id
    status = await visitor.event(p.MessageCreated)  # the system message about the close
    assert status.event.message.author_kind == p.AuthorKind.SYSTEM
    again = await sdr.call(p.CloseConversation(id=cid(), conversation_id=conversation_id))
    assert isinstance(again, p.Error) and again.code == p.ErrorCode.CONFLICT
    reopened = await sdr.ok(p.ReopenConversation(id=cid(), conversation_id=conversation_id))
    assert p.convert(reopened["conversation"], p.Conversation).status == p.ConversationStatus.OPEN
    assert (await manager.event(p.ConversationReopened)).event.by_id == team.sdr1.id

    await manager.ok(p.AssignConversation(id=cid(), conversation_id=conversation_id, agent_id=team.sdr2.id))
    assert (await sdr.event(p.ConversationRevoked)).event.conversation_id == conversation_id

    transcript = await manager.ok(p.GetTranscript(id=cid(), conversation_id=conversation_id, limit=2))
    assert len(transcript["messages"]) == 2 and transcript["more"] is True
    assert (await manager.ok(p.ListMeetings(id=cid()))) == {"meetings": []}
    # calendars (tests/qualify/ covers them in depth): defaults until edited, a card when shared
    settings = await manager.ok(p.GetCalendarSettings(id=cid(), agent_id=team.sdr2.id))
    assert settings["settings"]["agent_id"] == team.sdr2.id
    shared = await manager.ok(
        p.ShareCalendar(id=cid(), conversation_id=conversation_id, agent_id=team.sdr2.id)
    )
    assert shared["message"]["card"]["agent_id"] == team.sdr2.id
    booking = await visitor.call(p.BookSlot(id=cid(), agent_id=team.sdr2.id, start=0))
    assert isinstance(booking, p.Error) and booking.code == p.ErrorCode.INVALID


async def test_visitor_reload_continues_conversation(server: ChatServer) -> None:
    visitor, welcome = await visitor_login(server)
    await visitor.ok(p.VisitorSendMessage(id="v-1", text="one"))
    again = await visitor.ok(p.VisitorSendMessage(id="v-1", text="one"))  # a retry after a lost ack
    await visitor.close()
    _, reloaded = await visitor_login(server, token=welcome.visitor_token, page_url="https://example.com/b")
    assert reloaded.visitor.returning and reloaded.conversation is not None
    assert reloaded.conversation.id == again["conversation_id"]
    assert [m.text for m in reloaded.messages] == ["one"]


async def test_missing_subprotocol_is_refused(server: ChatServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        async with connect(server.url + "/agent", open_timeout=5):
            raise AssertionError("handshake should fail")
    except InvalidStatus as exc:
        assert exc.response.status_code == 400
    # The same path with the subprotocol offered is accepted and the server picks it.
    client = await open_ws(server.url, "/agent")
    try:
        assert client.ws.subprotocol == p.SUBPROTOCOL
    finally:
        await client.close()
