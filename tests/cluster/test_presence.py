"""Presence across processes: online means connected to any live process; a killed process's agents go
offline for everyone once its heartbeat expires."""

from __future__ import annotations

import os
import signal

from agent_app import protocol as p
from tests.cluster.conftest import Cluster, provision


async def test_presence_spans_processes_and_expires_with_a_killed_one(cluster: Cluster) -> None:
    staff = provision(cluster.dsn)
    a, b, c = await cluster.spawn(), await cluster.spawn(), await cluster.spawn()
    manager, _ = await cluster.agent(a.url, staff.manager.email)
    await manager.frame_of(p.Snapshot)
    await cluster.agent(b.url, staff.sdr1.email)
    await manager.event(p.PresenceChanged, agent=_Online(staff.sdr1.id, True))
    await cluster.agent(c.url, staff.sdr2.email)
    await manager.event(p.PresenceChanged, agent=_Online(staff.sdr2.id, True))

    # A desk signing in on A sees who is online on B and C (the first sweep has run by now).
    second, _ = await cluster.agent(a.url, staff.manager.email)
    snapshot = await second.frame_of(p.Snapshot)
    online = {agent.id for agent in snapshot.agents if agent.online}
    assert {staff.sdr1.id, staff.sdr2.id} <= online

    await c.kill9()  # no goodbye: the leader notices the missing heartbeats
    frame = await manager.event(p.PresenceChanged, wait=30, agent=_Online(staff.sdr2.id, False))
    assert frame.event.agent.online is False
    snapshot = await (await cluster.agent(b.url, staff.manager.email))[0].frame_of(p.Snapshot)
    assert {a.id: a.online for a in snapshot.agents}[staff.sdr2.id] is False
    assert {a.id: a.online for a in snapshot.agents}[staff.sdr1.id] is True


class _Online:
    """Matches an Agent by id and online flag (Client.event compares attributes with ==)."""

    def __init__(self, agent_id: str, online: bool) -> None:
        self.agent_id, self.online = agent_id, online

    def __eq__(self, other: object) -> bool:
        return getattr(other, "id", None) == self.agent_id and getattr(other, "online", None) == self.online

    __hash__ = None  # type: ignore[assignment]


async def test_a_stalled_process_is_expired_then_announces_its_agents_again(cluster: Cluster) -> None:
    """A process whose loop stops longer than the heartbeat lifetime looks dead to the leader, which tells
    everyone its agents went offline; when it runs again it must say they are online after all."""
    staff = provision(cluster.dsn)
    leader, other = await cluster.spawn(), await cluster.spawn()
    manager, _ = await cluster.agent(leader.url, staff.manager.email)
    await manager.frame_of(p.Snapshot)
    await cluster.agent(other.url, staff.sdr1.email)
    await manager.event(p.PresenceChanged, agent=_Online(staff.sdr1.id, True))

    assert other.proc is not None
    os.kill(other.proc.pid, signal.SIGSTOP)
    try:
        await manager.event(p.PresenceChanged, wait=30, agent=_Online(staff.sdr1.id, False))
    finally:
        os.kill(other.proc.pid, signal.SIGCONT)
    await manager.event(p.PresenceChanged, wait=15, agent=_Online(staff.sdr1.id, True))
