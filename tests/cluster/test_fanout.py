"""Two server processes on one PostgreSQL database: any process serves anyone, delivery stays exactly once."""

from __future__ import annotations

import asyncio

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision
from tests.server.conftest import Client, cid


async def collect(client: Client, texts: set[str], wait: float = 20.0) -> list[p.EventFrame]:
    """Every event frame until MessageCreated was seen for all ``texts``."""
    frames: list[p.EventFrame] = []
    seen: set[str] = set()
    async with asyncio.timeout(wait):
        while not texts <= seen:
            frame = await client.recv(wait)
            if isinstance(frame, p.EventFrame):
                frames.append(frame)
                if isinstance(frame.event, p.MessageCreated):
                    seen.add(frame.event.message.text)
    return frames


def assert_stream(frames: list[p.EventFrame], first: int) -> None:
    """The seq/epoch contract: consecutive from ``first``, no gap, no repeat."""
    assert [f.seq for f in frames] == list(range(first, first + len(frames)))


async def send_all(visitor: Client, texts: list[str]) -> None:
    for text in texts:
        await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text=text))


async def test_events_committed_in_one_process_reach_agents_on_the_other(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    manager, m_welcome = await cluster.agent(a.url, staff.manager.email)
    sdr, s_welcome = await cluster.agent(b.url, staff.sdr1.email)
    await manager.frame_of(p.Snapshot)
    await sdr.frame_of(p.Snapshot)
    v1, _ = await cluster.visitor(a.url)
    v2, _ = await cluster.visitor(b.url)
    one = [f"from A {i}" for i in range(15)]
    two = [f"from B {i}" for i in range(15)]
    await asyncio.gather(send_all(v1, one), send_all(v2, two))

    for client, welcome in ((manager, m_welcome), (sdr, s_welcome)):
        frames = await collect(client, set(one + two))
        assert_stream(frames, welcome.seq + 1)
        texts = [f.event.message.text for f in frames if isinstance(f.event, p.MessageCreated)]
        assert sorted(texts) == sorted(one + two)  # each exactly once
        assert [t for t in texts if t.startswith("from A")] == one  # in order
        assert [t for t in texts if t.startswith("from B")] == two

    # An agent on B answers a visitor connected to A: the reply crosses processes to the visitor.
    conversation_id = next(
        f.event.message.conversation_id for f in frames
        if isinstance(f.event, p.MessageCreated) and f.event.message.text == one[0]
    )  # fmt: skip
    await sdr.ok(p.SendMessage(id=cid("r"), conversation_id=conversation_id, text="Hi from Sam"))
    async with asyncio.timeout(10):
        while True:
            frame = await v1.recv(10)
            event = frame.event if isinstance(frame, p.EventFrame) else None
            if isinstance(event, p.MessageCreated) and event.message.text == "Hi from Sam":
                break


async def test_typing_crosses_processes(cluster: Cluster) -> None:
    """Ephemeral frames (not in the log) reach peers on the other process too: the visitor's sneak peek
    to the agent, the agent's "typing" to the visitor."""
    staff = provision(cluster.dsn)
    a, b = await cluster.spawn(), await cluster.spawn()
    agent, _ = await cluster.agent(b.url, staff.manager.email)
    visitor, _ = await cluster.visitor(a.url)
    result = await visitor.ok(p.VisitorSendMessage(id=cid("vm"), text="pricing question"))
    conversation_id = str(result["conversation_id"])
    await agent.event(p.MessageCreated)

    await visitor.ok(p.VisitorTyping(id=cid("vt"), active=True, preview="how much for 50 se"))
    peek = await agent.frame_of(p.TypingFrame)
    assert (peek.conversation_id, peek.author_kind, peek.preview) == (
        conversation_id, p.AuthorKind.VISITOR, "how much for 50 se"
    )  # fmt: skip
    await agent.ok(p.SetTyping(id=cid("at"), conversation_id=conversation_id, active=True))
    typing = await visitor.frame_of(p.TypingFrame)
    assert typing.author_kind == p.AuthorKind.AGENT and typing.author_name == staff.manager.name
