"""Who is viewing/typing follows an assignment change: a viewer or typist who can no longer see the chat is
dropped at once, and the remaining viewers are told without anyone sending ``viewing`` again."""

from __future__ import annotations

from agent_app import protocol as p
from chat_server import ChatServer
from tests.server.conftest import Client, Team, agent_login, cid, visitor_login


async def _chat(server: ChatServer) -> tuple[Client, str]:
    visitor, _ = await visitor_login(server, page_url="https://example.com/pricing")
    result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hi, pricing?"))
    return visitor, str(result["conversation_id"])


async def _viewers_seen(client: Client) -> list[list[str]]:
    """The viewers lists this client got so far: a round trip of its own flushes what came before."""
    await client.ok(p.ListAgents(id=cid()))
    seen = [f.agent_ids for f in client.others if isinstance(f, p.ViewersFrame)]
    client.others = [f for f in client.others if not isinstance(f, p.ViewersFrame)]
    return seen


async def _typing_seen(client: Client) -> list[tuple[str, bool]]:
    await client.ok(p.ListAgents(id=cid()))
    seen = [(f.author_id, f.active) for f in client.others if isinstance(f, p.TypingFrame)]
    client.others = [f for f in client.others if not isinstance(f, p.TypingFrame)]
    return seen


async def test_a_viewer_who_loses_the_chat_is_dropped_at_once(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    boss, _ = await agent_login(server, team.manager.email)
    visitor, conversation = await _chat(server)
    await sam.ok(p.SetViewing(id=cid(), conversation_id=conversation))
    await tina.ok(p.SetViewing(id=cid(), conversation_id=conversation))
    both = sorted([team.sdr1.id, team.sdr2.id])
    assert (await _viewers_seen(boss))[-1] == both
    await _viewers_seen(tina)
    await _viewers_seen(sam)

    # Tina answers: the chat is hers; Sam (an SDR) can't see it any more and his desk says nothing.
    await tina.ok(p.SendMessage(id=cid(), conversation_id=conversation, text="Hi! Happy to help."))
    await sam.event(p.ConversationRevoked, conversation_id=conversation)
    assert await _viewers_seen(tina) == [[team.sdr2.id]]
    assert await _viewers_seen(boss) == [[team.sdr2.id]]
    assert await _viewers_seen(sam) == []  # not told about a chat he can no longer see

    # Later changes do not bring Sam back either.
    await boss.ok(p.SetViewing(id=cid(), conversation_id=conversation))
    assert await _viewers_seen(tina) == [sorted([team.sdr2.id, team.manager.id])]
    for client in (sam, tina, boss, visitor):
        await client.close()


async def test_a_typist_who_loses_the_chat_stops_typing_for_the_others(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    boss, _ = await agent_login(server, team.manager.email)
    visitor, conversation = await _chat(server)
    await tina.ok(p.SetViewing(id=cid(), conversation_id=conversation))
    await sam.ok(p.SetTyping(id=cid(), conversation_id=conversation, active=True))  # types, not "viewing"
    assert await _typing_seen(tina) == [(team.sdr1.id, True)]
    assert await _typing_seen(boss) == [(team.sdr1.id, True)]

    await tina.ok(p.SendMessage(id=cid(), conversation_id=conversation, text="Hi! Happy to help."))
    await sam.event(p.ConversationRevoked, conversation_id=conversation)
    assert await _typing_seen(tina) == [(team.sdr1.id, False)]
    assert await _typing_seen(boss) == [(team.sdr1.id, False)]
    assert await _typing_seen(sam) == []

    # Someone who stopped typing before is not "stopped" again by the next change.
    await boss.ok(p.AssignConversation(id=cid(), conversation_id=conversation, agent_id=team.manager.id))
    assert await _typing_seen(boss) == []
    for client in (sam, tina, boss, visitor):
        await client.close()
