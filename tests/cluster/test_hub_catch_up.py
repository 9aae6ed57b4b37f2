"""The hub sends each agent connection its events only in seq order, reading gaps from the log (SQLite)."""

from __future__ import annotations

import sqlite3

from agent_app import protocol as p
from chat_server import ChatServer
from chat_server.hub import event_frame
from tests.server.conftest import Team, agent_login


def _write_elsewhere(server: ChatServer, agent_id: str, seqs: range) -> None:
    """Commits events to the log the way another server process would: behind this hub's back."""
    server.storage.commit_now()  # this process holds no write transaction meanwhile
    conn = sqlite3.connect(server.config.db_path)
    try:
        with conn:
            for seq in seqs:
                event = p.encode_bytes(p.SlaWarning(conversation_id=f"c{seq}", due_at=1.0))
                frame = event_frame(seq, server.storage.epoch, 1.0, event)
                conn.execute("INSERT INTO events (agent_id, seq, at, frame) VALUES (?,?,?,?)",
                             (agent_id, seq, 1.0, frame))  # fmt: skip
    finally:
        conn.close()


async def test_catch_up_sends_events_committed_elsewhere_once_in_order(
    server: ChatServer, team: Team
) -> None:
    client, welcome = await agent_login(server, team.sdr1.email)
    await client.frame_of(p.Snapshot)
    server.storage.commit_now()
    head = server.storage.head_seq(team.sdr1.id)  # the welcome's seq, and its own "online" event
    while welcome.seq < head and (await client.recv()).seq < head:
        pass
    _write_elsewhere(server, team.sdr1.id, range(head + 1, head + 4))

    assert server.hub.catch_up_all({team.sdr1.id: head + 3}) == 1
    assert server.hub.catch_up_all({team.sdr1.id: head + 3}) == 0  # nothing twice
    seqs = [(await client.recv()).seq for _ in range(3)]
    assert seqs == [head + 1, head + 2, head + 3]

    # A frame whose seq skips ahead (another process committed in between): the gap is read from the log.
    _write_elsewhere(server, team.sdr1.id, range(head + 4, head + 6))
    frame = event_frame(head + 5, server.storage.epoch, 1.0, b'{"type":"noop"}')
    ws = next(iter(server.hub.agent_conns[team.sdr1.id]))
    server.hub.send_event(team.sdr1.id, ws, head + 5, frame)
    server.hub.send_event(team.sdr1.id, ws, head + 5, frame)  # already sent: dropped
    got = [await client.recv() for _ in range(2)]
    assert [f.seq for f in got] == [head + 4, head + 5]
    assert all(isinstance(f.event, p.SlaWarning) for f in got)  # the log's frames, not the stale copy
    assert server.hub.sent[ws] == head + 5
    await client.close()
