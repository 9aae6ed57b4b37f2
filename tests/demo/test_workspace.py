"""demo_workspace end to end: starts, seeds once, restarts without duplicates, sends the first visitor."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent_app import protocol as p
from sandbox.demo_data import PAST_CONVERSATIONS, TEAM
from sandbox.workspace import AgentLink, demo_workspace


async def test_workspace_seeds_once_and_restarts_without_duplicates(tmp_path: Path) -> None:
    async with demo_workspace(tmp_path, visitors=False, seed=7) as ws:
        assert ws.seeded == len(PAST_CONVERSATIONS)
        assert ws.chat_url.startswith("ws://127.0.0.1:") and ws.http_url.startswith("http://127.0.0.1:")
        assert ws.demo_email == "alex@demo.sdr" and ws.agents[ws.demo_email] == ws.demo_password
        async with AgentLink.connect(ws.chat_url, "casey@demo.sdr") as casey:
            conversations = list(casey.conversations.values())
            listed = p.convert((await casey.request(p.ListAgents))["agents"], list[p.Agent])
            agents = {a.email: a for a in listed}
        async with AgentLink.connect(ws.chat_url, ws.demo_email, ws.demo_password) as alex:
            mine = [c for c in alex.conversations.values() if c.assignee_id == alex.id]
    assert sorted(agents) == sorted(m.email for m in TEAM)
    assert agents["casey@demo.sdr"].role == p.Role.MANAGER and agents["alex@demo.sdr"].territory == "US-West"
    assert len(conversations) == len(PAST_CONVERSATIONS)
    closed = [c for c in conversations if c.status == p.ConversationStatus.CLOSED]
    assert len(closed) == sum(1 for c in PAST_CONVERSATIONS if c.closed)
    assert all(c.created_at < time.time() - 1800 for c in conversations)  # backdated
    assert max(c.created_at for c in conversations) - min(c.created_at for c in conversations) > 60 * 3600
    assert {c.assignee_id for c in conversations} == {a.id for a in agents.values() if a.role == p.Role.SDR}
    assert len(mine) == sum(1 for c in PAST_CONVERSATIONS if c.assignee == "alex@demo.sdr")
    messages = [m for c in mine for m in alex.messages.get(c.id, [])]
    assert {p.AuthorKind.VISITOR, p.AuthorKind.AGENT} <= {m.author_kind for m in messages}
    assert any(m.private for m in messages)  # the assignee's notes

    async with demo_workspace(tmp_path, visitors=False, seed=7) as again:
        assert again.seeded == 0
        async with AgentLink.connect(again.chat_url, "casey@demo.sdr") as casey:
            assert len(casey.conversations) == len(PAST_CONVERSATIONS)
            listed = (await casey.request(p.ListAgents))["agents"]
    assert len(listed) == len(TEAM)


async def test_first_visitor_arrives_soon(tmp_path: Path) -> None:
    async with demo_workspace(
        tmp_path, first_visitor_after=0.2, visitor_interval=(600.0, 600.0), seed=1, speed=0.01
    ) as ws:
        async with AgentLink.connect(ws.chat_url, ws.demo_email, ws.demo_password) as alex:
            await asyncio.wait_for(ws.first_visitor.wait(), 20)
            assert ws.pool is not None
            first = ws.pool.visitors[0]
            await alex.wait_for(lambda: first.conversation_id in alex.conversations, within=20)
            assert alex.texts(first.conversation_id or "")[0] == first.persona.script[0]
        assert ws.salesforce_url.startswith("http://127.0.0.1:")
        assert ws.datafox_url.startswith("http://127.0.0.1:")


async def test_seeded_past_visitors_are_not_on_the_site_now(tmp_path: Path) -> None:
    """A fresh demo start seeds past chats through /visitor with the clock set back: those visitors left
    hours ago, so "On site now" starts empty (no "66 h 00 min" on site, no Marcus Lee twice)."""
    async with demo_workspace(tmp_path, visitors=False, seed=3) as ws:
        assert ws.seeded == len(PAST_CONVERSATIONS)
        async with AgentLink.connect(ws.chat_url, "casey@demo.sdr") as casey:  # a manager sees everyone
            ack = await casey.request(p.WatchLiveVisitors, active=True)
    assert ack == {"count": 0}
