"""Agent sign-in, messages, presence, idempotency and permission checks against a real server."""

from __future__ import annotations

from agent_app import protocol as p
from chat_server import ChatServer
from tests.server.conftest import Team, agent_login, cid, visitor_login


async def test_sign_in_with_password_then_token(server: ChatServer, team: Team) -> None:
    client, welcome = await agent_login(server, team.sdr1.email)
    assert welcome.token and welcome.agent.id == team.sdr1.id and welcome.resume == "resync"
    assert welcome.heartbeat_seconds == server.config.ping_interval
    snapshot = await client.frame_of(p.Snapshot)
    assert {a.email for a in snapshot.agents} == {team.manager.email, team.sdr1.email, team.sdr2.email}
    await client.close()
    again, welcome2 = await agent_login(server, "", token=welcome.token)
    assert welcome2.agent.id == team.sdr1.id and welcome2.token == ""
    await again.close()


async def test_visitor_message_reaches_agents_and_reply_assigns(server: ChatServer, team: Team) -> None:
    manager, _ = await agent_login(server, team.manager.email)
    sdr, _ = await agent_login(server, team.sdr1.email)
    visitor, vwelcome = await visitor_login(server, page_url="https://example.com/pricing")
    assert vwelcome.conversation is None  # created on the first message, not on hello
    result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hi, pricing?"))
    conversation_id = result["conversation_id"]
    for agent in (manager, sdr):
        created = await agent.event(p.ConversationCreated)
        assert created.event.conversation.id == conversation_id
        message = await agent.event(p.MessageCreated)
        assert message.event.message.text == "Hi, pricing?"
        updated = await agent.event(p.ConversationUpdated)
        conv = updated.event.conversation
        assert (
            conv.waiting_since is not None
            and conv.message_count == 1
            and conv.last_message_preview == "Hi, pricing?"
        )

    ack = await sdr.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="Hello! Happy to help."))
    assert ack["message"]["author_kind"] == "agent"
    seen = await visitor.event(p.MessageCreated)
    assert seen.seq == 0 and seen.event.message.text == "Hello! Happy to help."
    # The visitor learns who answered, not the team's internal ids.
    assert seen.event.message.author_name == team.sdr1.name
    assert seen.event.message.author_id == "" and seen.event.message.client_id == ""
    updated = await manager.event(p.ConversationUpdated)
    assert updated.event.conversation.assignee_id == team.sdr1.id
    assert updated.event.conversation.waiting_since is None
    assert updated.event.conversation.first_response_at is not None

    # A private note never reaches the visitor; the next visitor-visible frame is the agent's reply.
    await sdr.ok(
        p.SendMessage(id=cid(), conversation_id=conversation_id, text="note: big fish", private=True)
    )
    await sdr.ok(p.SendMessage(id=cid(), conversation_id=conversation_id, text="What is your team size?"))
    seen = await visitor.event(p.MessageCreated)
    assert seen.event.message.text == "What is your team size?"


async def test_same_command_id_three_times_makes_one_message(server: ChatServer, team: Team) -> None:
    _, conversation, _ = await server.seed_visitor_message("hello")
    sdr, _ = await agent_login(server, team.sdr1.email)
    command = p.SendMessage(id="fixed-id-1", conversation_id=conversation.id, text="only once")
    answers = [await sdr.call(command) for _ in range(3)]
    assert all(isinstance(a, p.Ack) for a in answers)
    assert answers[0] == answers[1] == answers[2]
    transcript = await sdr.ok(p.GetTranscript(id=cid(), conversation_id=conversation.id))
    assert [m["text"] for m in transcript["messages"]].count("only once") == 1


async def test_sdr_cannot_act_outside_visibility(server: ChatServer, team: Team) -> None:
    _, conversation, _ = await server.seed_visitor_message("need help")
    sdr1, _ = await agent_login(server, team.sdr1.email)
    sdr2, _ = await agent_login(server, team.sdr2.email)
    await sdr1.ok(p.SendMessage(id=cid(), conversation_id=conversation.id, text="mine now"))
    revoked = await sdr2.event(p.ConversationRevoked)
    assert revoked.event.conversation_id == conversation.id
    for command in (
        p.SendMessage(id=cid(), conversation_id=conversation.id, text="sneaky"),
        p.CloseConversation(id=cid(), conversation_id=conversation.id),
        p.SetCql(id=cid(), conversation_id=conversation.id, level=3),
        p.AddParticipant(id=cid(), conversation_id=conversation.id, agent_id=team.sdr2.id),
        p.AssignConversation(id=cid(), conversation_id=conversation.id, agent_id=team.sdr2.id),
        p.GetTranscript(id=cid(), conversation_id=conversation.id),
        p.SetTyping(id=cid(), conversation_id=conversation.id),
    ):
        answer = await sdr2.call(command)
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.FORBIDDEN, (command, answer)
    # Adding sdr2 as participant gives it visibility (and the whole conversation first).
    await sdr1.ok(
        p.AddParticipant(id=cid(), conversation_id=conversation.id, agent_id=team.sdr2.id, note="EMEA")
    )
    upsert = await sdr2.event(p.ConversationUpdated)
    assert team.sdr2.id in upsert.event.conversation.participant_ids
    await sdr2.event(p.ParticipantAdded, agent_id=team.sdr2.id)
    await sdr2.ok(p.SendMessage(id=cid(), conversation_id=conversation.id, text="hi from EMEA"))
    # sdr2 may not reassign (not assignee, not manager); sdr1 may.
    denied = await sdr2.call(
        p.AssignConversation(id=cid(), conversation_id=conversation.id, agent_id=team.sdr2.id)
    )
    assert isinstance(denied, p.Error) and denied.code == p.ErrorCode.FORBIDDEN
    # sdr2 may remove itself; then it loses visibility again.
    await sdr2.ok(p.RemoveParticipant(id=cid(), conversation_id=conversation.id, agent_id=team.sdr2.id))
    await sdr2.event(p.ConversationRevoked, conversation_id=conversation.id)
