"""Presence with a reason on a real server: stored, broadcast to teammates, size-limited, authorised."""

from __future__ import annotations

import msgspec

from agent_app import protocol as p
from chat_server import ChatServer
from tests.server.conftest import Team, agent_login, cid, open_ws


async def test_reason_round_trip_reaches_teammates_and_survives_a_reconnect(
    server: ChatServer, team: Team
) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    tina, _ = await agent_login(server, team.sdr2.email)
    await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AVAILABLE))
    await _next_presence(tina, team.sdr1.id)

    result = await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="screen locked"))
    mine = msgspec.convert(result["agent"], p.Agent)
    assert mine.presence is p.Presence.AWAY and mine.presence_reason == "screen locked"
    seen = await _next_presence(tina, team.sdr1.id)
    assert seen.presence is p.Presence.AWAY and seen.presence_reason == "screen locked"

    # Back to Available: the reason goes (an Available never carries one, whatever a client sends).
    result = await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AVAILABLE, reason="stale"))
    assert msgspec.convert(result["agent"], p.Agent).presence_reason == ""
    seen = await _next_presence(tina, team.sdr1.id)
    assert seen.presence is p.Presence.AVAILABLE and seen.presence_reason == ""

    # A manual Away (no reason) replaces an automatic one's reason.
    await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="idle 10 min"))
    await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY))
    seen = await _next_presence(tina, team.sdr1.id, reason="")
    assert seen.presence is p.Presence.AWAY

    # Kept by the server: a teammate signing in later sees it in the snapshot.
    await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="asleep"))
    await sam.close()
    late, _ = await agent_login(server, team.manager.email)
    snapshot = await late.frame_of(p.Snapshot)
    me = next(a for a in snapshot.agents if a.id == team.sdr1.id)
    assert me.presence is p.Presence.AWAY and me.presence_reason == "asleep" and not me.online
    for client in (tina, late):
        await client.close()


async def test_reason_is_size_limited_and_one_line(server: ChatServer, team: Team) -> None:
    sam, _ = await agent_login(server, team.sdr1.email)
    too_long = await sam.call(
        p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="x" * (p.MAX_PRESENCE_REASON + 1))
    )
    assert isinstance(too_long, p.Error) and too_long.code == p.ErrorCode.TOO_LONG
    for bad in ("two\nlines", "bell\x07", "tab\there"):
        answer = await sam.call(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason=bad))
        assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.INVALID, bad
    fits = await sam.ok(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="y" * p.MAX_PRESENCE_REASON))
    assert msgspec.convert(fits["agent"], p.Agent).presence_reason == "y" * p.MAX_PRESENCE_REASON
    stored = server.ctx.hub.agents[team.sdr1.id]
    assert stored.presence_reason == "y" * p.MAX_PRESENCE_REASON  # the rejected ones changed nothing
    await sam.close()


async def test_set_presence_needs_a_signed_in_agent(server: ChatServer, team: Team) -> None:
    stranger = await open_ws(server.url, "/agent")
    answer = await stranger.call(p.SetPresence(id=cid(), presence=p.Presence.AWAY, reason="screen locked"))
    assert isinstance(answer, p.Error) and answer.code == p.ErrorCode.NOT_AUTHENTICATED
    assert server.ctx.hub.agents[team.sdr1.id].presence_reason == ""
    await stranger.close()


async def _next_presence(client: object, agent_id: str, **match: str) -> p.Agent:
    from tests.server.conftest import Client

    assert isinstance(client, Client)
    while True:
        frame = await client.event(p.PresenceChanged)
        agent = frame.event.agent
        if agent.id == agent_id and all(getattr(agent, f"presence_{k}") == v for k, v in match.items()):
            return agent
