"""Who is viewing: `viewing` commands fan out `viewers` frames to teammates who can see the chat, never to
the visitor; an agent on two devices counts once; a connection that goes stops viewing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent_app import protocol as p
from chat_server import ChatServer
from tests.server.conftest import Client, Team, agent_login, cid, visitor_login


async def _chat(server: ChatServer) -> tuple[Client, str]:
    visitor, _ = await visitor_login(server, page_url="https://example.com/pricing")
    result = await visitor.ok(p.VisitorSendMessage(id=cid(), text="Hi, pricing?"))
    return visitor, str(result["conversation_id"])


async def _viewers_seen(client: Client) -> list[p.ViewersFrame]:
    """The viewers frames this client got so far: a round trip of its own flushes what came before."""
    await client.ok(p.ListAgents(id=cid()))
    seen = [f for f in client.others if isinstance(f, p.ViewersFrame)]
    client.others = [f for f in client.others if not isinstance(f, p.ViewersFrame)]
    return seen


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def _view(client: Client, conversation_id: str | None) -> dict[str, Any]:
    return await client.ok(p.SetViewing(id=cid(), conversation_id=conversation_id))


async def test_teammates_see_who_views_once_per_agent_and_the_visitor_never(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    boss, _ = await agent_login(server, team.manager.email)
    visitor, conversation = await _chat(server)

    assert await _view(sam, conversation) == {"conversation_id": conversation, "agent_ids": [team.sdr1.id]}
    for teammate in (tina, boss):
        assert [(f.conversation_id, f.agent_ids) for f in await _viewers_seen(teammate)] == [
            (conversation, [team.sdr1.id])
        ]
    assert [f.agent_ids for f in await _viewers_seen(sam)] == [[team.sdr1.id]]  # his other devices need it
    answer = await _view(tina, conversation)
    assert answer["agent_ids"] == sorted([team.sdr1.id, team.sdr2.id])
    assert [f.agent_ids for f in await _viewers_seen(sam)] == [sorted([team.sdr1.id, team.sdr2.id])]
    await _viewers_seen(tina)  # her own change

    # Sam on a second device: still one Sam, so nobody is told anything.
    sam_laptop, _ = await agent_login(server, team.sdr1.email)
    await _view(sam_laptop, conversation)
    assert await _viewers_seen(tina) == []
    await sam.close()  # one of Sam's devices goes: Sam still views it on the other
    await _until(lambda: len(server.hub.agent_conns.get(team.sdr1.id, ())) == 1)  # the server noticed
    assert await _viewers_seen(tina) == []
    await _view(sam_laptop, None)  # Sam switched to another view
    assert [f.agent_ids for f in await _viewers_seen(tina)] == [[team.sdr2.id]]

    # The visitor is never told who of the team looks at the chat (only its own frames reach it).
    await visitor.ok(p.VisitorSendMessage(id=cid(), text="still there?"))
    assert not any(isinstance(f, p.ViewersFrame) for f in visitor.others)
    for client in (tina, boss, sam_laptop, visitor):
        await client.close()


async def test_a_connection_that_goes_stops_viewing(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    visitor, conversation = await _chat(server)
    await _view(tina, conversation)
    await _viewers_seen(sam)
    await tina.close()  # no "viewing null": the socket just went (quit, crash, lost network)
    frame = await sam.frame_of(p.ViewersFrame)
    assert (frame.conversation_id, frame.agent_ids) == (conversation, [])
    for client in (sam, visitor):
        await client.close()


async def test_only_teammates_who_may_see_the_chat_hear_of_it(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    boss, _ = await agent_login(server, team.manager.email)
    visitor, conversation = await _chat(server)
    await sam.ok(p.AssignConversation(id=cid(), conversation_id=conversation, agent_id=team.sdr1.id))
    refused = await tina.call(p.SetViewing(id=cid(), conversation_id=conversation))
    assert isinstance(refused, p.Error) and refused.code is p.ErrorCode.FORBIDDEN
    missing = await tina.call(p.SetViewing(id=cid(), conversation_id="no-such-chat"))
    assert isinstance(missing, p.Error) and missing.code is p.ErrorCode.NOT_FOUND

    await _view(boss, conversation)
    assert [f.agent_ids for f in await _viewers_seen(sam)] == [[team.manager.id]]
    assert await _viewers_seen(tina) == []  # Sam's chat: Tina does not see it, nor who looks at it
    for client in (sam, tina, boss, visitor):
        await client.close()
