"""Chats waiting in the queue are routed as soon as a rep may take them: when a rep turns Available (by
hand or back from auto-away), signs in Available, or gets room under a raised chat limit — oldest first,
with the same rules and audit as routing after a close. Chats already assigned never move on a
presence change (flapping Away/Available reroutes nothing).

The first tests drive a real chat server over websockets (built-in playbook); the last one the service
layer (real SQLite, FakeClock) for the aligned SDR who was away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.routing import CAPACITY_QUEUE
from tests.playbook.conftest import Desk
from tests.server.conftest import PASSWORD, Client, Team, agent_login, cid, make_config, visitor_login


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[ChatServer, Team]]:
    """The built-in playbook and territory table: a visitor nothing is known about goes to the fallback
    rule's pool 'global-queue', where both SDRs are."""
    async with run_server(make_config(tmp_path, playbook="")) as server:
        add = server.admin.add_agent
        yield (
            server,
            Team(
                manager=add("maria@example.com", "Maria Manager", PASSWORD, "US", "manager"),
                sdr1=add("sam@example.com", "Sam Sdr", PASSWORD, "global-queue", "sdr"),
                sdr2=add("tina@example.com", "Tina Sdr", PASSWORD, "global-queue", "sdr"),
            ),
        )


def audit(conv: p.Conversation) -> list[tuple[str, str | None, str]]:
    return [(s.action, s.agent_id, s.reason) for s in conv.routing_audit]


async def new_chat(server: ChatServer, text: str = "Hi, can someone help?") -> tuple[Client, str]:
    """A visitor on a page without the bot writes: routing runs at once."""
    visitor, _ = await visitor_login(server, page_url="https://acme.test/blog")
    ack = await visitor.ok(p.VisitorSendMessage(id=cid("v"), text=text))
    return visitor, str(ack["conversation_id"])


async def settled(server: ChatServer) -> None:
    """The service's hook tasks (routing runs after the commit) have finished."""
    for _ in range(50):
        tasks = list(server.service._tasks)
        if not tasks:
            return
        await asyncio.gather(*tasks, return_exceptions=True)


async def assigned(client: Client, conversation_id: str, wait: float = 5.0) -> p.Conversation:
    """The first conversation_updated (from now on) that gives the conversation an assignee."""
    while True:
        event = (await client.event(p.ConversationUpdated, wait=wait)).event
        assert isinstance(event, p.ConversationUpdated)
        if event.conversation.id == conversation_id and event.conversation.assignee_id is not None:
            return event.conversation


def stored(server: ChatServer, conversation_id: str) -> p.Conversation:
    conv = server.storage.get_conversation(conversation_id)
    assert conv is not None
    return conv


async def presence(client: Client, value: p.Presence, reason: str = "") -> None:
    await client.ok(p.SetPresence(id=cid("pr"), presence=value, reason=reason))


async def test_a_rep_turning_available_gets_the_oldest_waiting_chats(live: tuple[ChatServer, Team]) -> None:
    server, team = live
    sam, _ = await agent_login(server, team.sdr1.email)
    await presence(sam, p.Presence.AWAY)
    first, older = await new_chat(server, "First!")
    second, newer = await new_chat(server, "Second!")
    await settled(server)
    for waiting in (older, newer):
        conv = stored(server, waiting)
        assert conv.assignee_id is None and audit(conv)[0][:2] == ("queued", None)

    await presence(sam, p.Presence.AVAILABLE)  # back at the desk
    await settled(server)
    for waiting in (older, newer):
        conv = stored(server, waiting)
        assert (conv.assignee_id, conv.assigned_via) == (team.sdr1.id, "routing")
        action, agent_id, reason = audit(conv)[-1]
        assert (action, agent_id) == ("routed", team.sdr1.id) and reason.endswith("; Sam Sdr is available")
        notes = [m.text for m in server.storage.messages(waiting, None, 50, True)[0] if m.private]
        assert notes[-1].startswith("Routed to Sam Sdr") and notes[-1].endswith("— Sam Sdr is available")
        assert conv.sla_due_at is not None and not conv.sla_breached  # Sam's own response time from now
    assert (await assigned(sam, older)).assignee_id == team.sdr1.id  # his desk is told at once

    # Flapping (auto-away on a locked screen, then back): the chats stay Sam's, nothing is re-routed.
    before = {cid_: audit(stored(server, cid_)) for cid_ in (older, newer)}
    await presence(sam, p.Presence.AWAY, "screen locked")
    await settled(server)
    await presence(sam, p.Presence.AVAILABLE)
    await settled(server)
    for waiting in (older, newer):
        assert stored(server, waiting).assignee_id == team.sdr1.id
        assert audit(stored(server, waiting)) == before[waiting]
    for client in (sam, first, second):
        await client.close()


async def test_signing_in_available_routes_the_waiting_chats(live: tuple[ChatServer, Team]) -> None:
    server, team = live
    tina, _ = await agent_login(server, team.sdr2.email)
    await presence(tina, p.Presence.AVAILABLE)
    await tina.close()  # the app is closed: her presence stays Available, but she can't answer
    for _ in range(200):
        if team.sdr2.id not in server.hub.agent_conns:
            break
        await asyncio.sleep(0.01)
    visitor, waiting = await new_chat(server)
    await settled(server)
    assert stored(server, waiting).assignee_id is None

    tina, _ = await agent_login(server, team.sdr2.email)  # she opens the desk again
    assert (await assigned(tina, waiting)).assignee_id == team.sdr2.id  # routed right after sign-in
    conv = stored(server, waiting)
    assert conv.assignee_id == team.sdr2.id
    assert audit(conv)[-1][2].endswith("; Tina Sdr is available")
    for client in (tina, visitor):
        await client.close()


async def test_a_raised_chat_limit_routes_the_chats_waiting_for_room(live: tuple[ChatServer, Team]) -> None:
    server, team = live
    boss, _ = await agent_login(server, team.manager.email)
    sam, _ = await agent_login(server, team.sdr1.email)
    await presence(sam, p.Presence.AVAILABLE)
    await boss.ok(p.SetCapacity(id=cid(), agent_id=team.sdr1.id, max_chats=1))
    v1, taken = await new_chat(server, "One")
    await settled(server)
    v2, waiting = await new_chat(server, "Two")
    await settled(server)
    assert stored(server, taken).assignee_id == team.sdr1.id
    assert stored(server, waiting).assignee_id is None
    assert ("queued", None, CAPACITY_QUEUE) in audit(stored(server, waiting))

    await boss.ok(p.SetCapacity(id=cid(), agent_id=team.sdr1.id, max_chats=1))  # unchanged: nothing moves
    await settled(server)
    assert stored(server, waiting).assignee_id is None
    await boss.ok(p.SetCapacity(id=cid(), agent_id=team.sdr1.id, max_chats=2))
    await settled(server)
    conv = stored(server, waiting)
    assert conv.assignee_id == team.sdr1.id
    assert audit(conv)[-1][2].endswith("; Sam Sdr's chat limit was raised to 2")
    for client in (boss, sam, v1, v2):
        await client.close()


async def test_the_aligned_sdr_back_from_away_gets_the_chat_the_rule_gave_them(desk: Desk) -> None:
    d = desk
    d.set_presence("sam", p.Presence.AWAY)
    _, waiting = await d.visitor_says("Hi", page="/blog", country="US", region="NY")  # us-east: Sam
    assert waiting.assignee_id is None and waiting.routing is not None
    assert waiting.routing.agent_id == "sam"
    assert audit(waiting)[0] == ("skipped", "sam", "aligned SDR is away")

    d.set_presence("alex", p.Presence.AVAILABLE)  # someone else coming back does not take Sam's chat
    with d.storage.savepoint():
        d.service.set_presence(d.agent("alex"), p.Presence.AVAILABLE)
    await d.storage.commit()
    await d.settle()
    assert d.conversation(waiting.id).assignee_id is None

    with d.storage.savepoint():
        d.service.set_presence(d.agent("sam"), p.Presence.AVAILABLE)
    await d.storage.commit()
    await d.settle()
    conv = d.conversation(waiting.id)
    assert (conv.assignee_id, conv.assigned_via) == ("sam", "routing")
    assert audit(conv)[-1] == ("routed", "sam", "aligned SDR; Sam Chen is available")
    assert conv.sla_due_at == d.clock.now() + 30


async def test_a_limit_raised_with_the_cli_routes_the_waiting_chats_too(
    live: tuple[ChatServer, Team],
) -> None:
    """``agents set-capacity`` runs in another process: the server notices at its next agent reload (5 s)."""
    from chat_server.cli import main as cli

    server, team = live
    boss, _ = await agent_login(server, team.manager.email)
    sam, _ = await agent_login(server, team.sdr1.email)
    await presence(sam, p.Presence.AVAILABLE)
    await boss.ok(p.SetCapacity(id=cid(), agent_id=team.sdr1.id, max_chats=1))  # set in the desk earlier
    v1, taken = await new_chat(server, "One")
    await settled(server)
    v2, waiting = await new_chat(server, "Two")
    await settled(server)
    assert stored(server, taken).assignee_id == team.sdr1.id
    assert stored(server, waiting).assignee_id is None

    assert cli(["agents", "set-capacity", team.sdr1.email, "0", "--db", server.config.db_path]) == 0
    conv = await assigned(sam, waiting, wait=15)  # at the next agent reload, with nothing else happening
    assert conv.assignee_id == team.sdr1.id
    assert audit(conv)[-1][2].endswith("; Sam Sdr's chat limit was removed")
    for client in (boss, sam, v1, v2):
        await client.close()
