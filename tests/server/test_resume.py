"""The delivery promise: replay exactly once and in order, or resync with a snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from tests.server.conftest import Client, Team, agent_login, make_config, provision


async def visitor_burst(server: ChatServer, visitor: p.Visitor, count: int) -> None:
    """``count`` visitor messages through the service (bypasses the per-visitor rate limit)."""
    for i in range(count):
        with server.storage.savepoint():
            server.service.post_visitor_message(visitor, f"message {i}")
        await server.storage.commit()


async def drain_until(client: Client, seq: int, wait: float = 10.0) -> list[p.EventFrame]:
    frames: list[p.EventFrame] = []
    while not frames or frames[-1].seq < seq:
        frame = await client.recv(wait)
        if isinstance(frame, p.EventFrame):
            frames.append(frame)
    return frames


async def test_replay_500_missed_events_exactly_once_in_order(server: ChatServer, team: Team) -> None:
    _, conversation, _ = await server.seed_visitor_message("first")
    manager, welcome = await agent_login(server, team.manager.email)
    await manager.frame_of(p.Snapshot)
    last_seq = welcome.seq
    await manager.close()

    await visitor_burst(server, conversation.visitor, 250)  # 2 events each for a manager: 500
    head = server.storage.head_seq(team.manager.id)
    assert head - last_seq >= 500  # plus presence changes (online/offline)

    # More events arrive while the agent resumes: none may be lost or doubled at the boundary.
    burst = asyncio.create_task(visitor_burst(server, conversation.visitor, 50))
    client, again = await agent_login(server, "", token=welcome.token, epoch=welcome.epoch, last_seq=last_seq)
    assert again.resume == "replay"
    await burst
    frames = await drain_until(client, server.storage.head_seq(team.manager.id))
    seqs = [f.seq for f in frames]
    assert seqs == list(range(last_seq + 1, last_seq + 1 + len(seqs)))
    assert len(seqs) >= 600
    texts = [f.event.message.text for f in frames if isinstance(f.event, p.MessageCreated)]
    assert texts == [f"message {i}" for i in range(250)] + [f"message {i}" for i in range(50)]


async def test_gap_outside_window_gets_resync_and_snapshot(tmp_path: Path) -> None:
    config = make_config(tmp_path, replay_window_seconds=0.0, replay_min_events=10)
    async with run_server(config) as server:
        team = provision(server)
        _, conversation, _ = await server.seed_visitor_message("hello")
        manager, welcome = await agent_login(server, team.manager.email)
        await manager.frame_of(p.Snapshot)
        await manager.close()
        await visitor_burst(server, conversation.visitor, 30)
        server.prune()
        client, again = await agent_login(
            server, "", token=welcome.token, epoch=welcome.epoch, last_seq=welcome.seq
        )
        assert again.resume == "resync"
        snapshot = await client.frame_of(p.Snapshot)
        assert snapshot.seq == again.seq
        assert [c.id for c in snapshot.conversations] == [conversation.id]
        assert snapshot.conversations[0].message_count == 31
        assert len([m for m in snapshot.messages if m.conversation_id == conversation.id]) == 31
        await visitor_burst(server, conversation.visitor, 1)
        first_live = await client.recv()  # its own presence (online) comes right after the snapshot
        assert isinstance(first_live, p.EventFrame) and first_live.seq == snapshot.seq + 1
        live = await client.event(p.MessageCreated)
        assert live.seq > first_live.seq


async def test_wrong_epoch_or_future_seq_gets_resync(server: ChatServer, team: Team) -> None:
    await server.seed_visitor_message("hello")
    client, welcome = await agent_login(server, team.sdr1.email, epoch="another-epoch", last_seq=1)
    assert welcome.resume == "resync"
    await client.frame_of(p.Snapshot)
    other, welcome2 = await agent_login(server, "", token=welcome.token, epoch=welcome.epoch, last_seq=10_000)
    assert welcome2.resume == "resync"
    await other.frame_of(p.Snapshot)
    _same, welcome3 = await agent_login(
        server, "", token=welcome.token, epoch=welcome.epoch, last_seq=welcome2.seq
    )
    assert welcome3.resume == "replay"


async def test_presence_persists_across_disconnect_and_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with run_server(config) as server:
        team = provision(server)
        sdr, _ = await agent_login(server, team.sdr1.email)
        manager, _ = await agent_login(server, team.manager.email)
        answer = await sdr.ok(p.SetPresence(id="presence-1", presence=p.Presence.AVAILABLE))
        assert answer["agent"]["presence"] == "available"
        assert await _presence(manager, team.sdr1.id, p.Presence.AVAILABLE, online=True)
        await sdr.close()  # the app closes: presence stays, online goes
        assert await _presence(manager, team.sdr1.id, p.Presence.AVAILABLE, online=False)
    async with run_server(config) as server:
        manager, _ = await agent_login(server, team.manager.email)
        snapshot = await manager.frame_of(p.Snapshot)
        sdr_view = next(a for a in snapshot.agents if a.id == team.sdr1.id)
        assert sdr_view.presence == p.Presence.AVAILABLE and not sdr_view.online


async def _presence(client: Client, agent_id: str, presence: p.Presence, online: bool) -> bool:
    while True:
        frame = await client.event(p.PresenceChanged)
        agent = frame.event.agent
        if agent.id == agent_id and agent.presence == presence and agent.online == online:
            return True
