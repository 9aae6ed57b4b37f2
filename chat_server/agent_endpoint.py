"""The /agent websocket: sign-in, resume (replay or snapshot), then commands until the socket closes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from agent_app import protocol as p
from chat_server.agent_commands import HANDLERS, NOT_IDEMPOTENT, AgentSession
from chat_server.calendar_commands import before_reschedule, prepare_connect
from chat_server.context import (
    BadFrames,
    Context,
    bad_frame,
    run_command,
    send_error,
    wait_for_hello,
)
from chat_server.sign_in import authenticate
from chat_server.storage.meetings_sql import snapshot_meetings
from chat_server.visibility import can_see

log = logging.getLogger(__name__)


async def _authenticate(
    ctx: Context, ws: ServerConnection, hello: p.Hello
) -> tuple[p.Agent, str, str] | None:
    """(agent, token hash, new token or "") or None after closing (see chat_server.sign_in)."""
    return await authenticate(ctx, ws, hello)


def _snapshot(ctx: Context, agent: p.Agent, head: int) -> p.Snapshot:
    view = ctx.storage.committed()
    since = ctx.clock.now() - ctx.config.snapshot_closed_days * 86400
    conversations = [c for c in view.conversations(since) if can_see(agent, c)]
    per = ctx.config.snapshot_messages_per_conversation
    messages = [m for c in conversations for m in view.recent_messages(c.id, per, include_private=True)]
    return p.Snapshot(
        epoch=ctx.storage.epoch, seq=head, agents=ctx.hub.all_agent_views(), conversations=conversations,
        messages=messages, meetings=snapshot_meetings(view, agent.id, ctx.clock.now() - 86400),
    )  # fmt: skip


def _welcome(
    ctx: Context, ws: ServerConnection, hello: p.Hello, agent: p.Agent, token: str, hashed: str
) -> None:
    """Welcome, then the backlog or a snapshot, then registration as live: all without yielding, so no
    event can fall between the backlog and the live stream, and none is sent twice."""
    storage, config = ctx.storage, ctx.config
    head = storage.head_seq(agent.id)
    backlog = None
    if hello.epoch == storage.epoch and 0 <= hello.last_seq <= head:
        backlog = storage.committed().events_after(agent.id, hello.last_seq, config.replay_max_events)
    welcome = p.Welcome(
        ref=hello.id, agent=msgspec.structs.replace(agent, online=True), epoch=storage.epoch, seq=head,
        resume="replay" if backlog is not None else "resync", token=token, server_time=ctx.clock.now(),
        heartbeat_seconds=config.ping_interval,
    )  # fmt: skip
    hub = ctx.hub
    hub.attach(ws, agent=True)
    # Unbounded on purpose: the backlog (replay_max_events) and the snapshot are bounded by the server, and a
    # first look at a big workspace may well exceed the live limit. The stall watchdog still applies.
    hub.send(ws, p.encode_bytes(welcome), bounded=False)
    sent = head
    if backlog is not None:
        for seq, frame in backlog:
            hub.send(ws, frame, bounded=False)
            sent = seq  # another process may have committed more since head_seq was read
    else:
        hub.send(ws, p.encode_bytes(_snapshot(ctx, agent, head)), bounded=False)
    if hub.add_agent_conn(agent.id, ws, hashed, sent=max(sent, head)):
        with storage.savepoint():
            ctx.hub.broadcast_presence(agent)
            if agent.presence is p.Presence.AVAILABLE:  # signed in Available: chats waiting in the queue go
                ctx.service.agent_ready(agent, f"{agent.name} is available")


async def _set_offline(ctx: Context, agent_id: str, ws: ServerConnection) -> None:
    if ctx.hub.remove_agent_conn(agent_id, ws):
        agent = ctx.hub.agents.get(agent_id)
        if agent is not None:
            await ctx.storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
            with ctx.storage.savepoint():
                ctx.hub.broadcast_presence(agent)
            await ctx.storage.commit()


async def serve_agent(ctx: Context, ws: ServerConnection) -> None:
    bad = BadFrames(ctx.config.bad_frames_per_minute)
    hello = await wait_for_hello(ctx, ws, bad, p.decode_agent_command, p.Hello)
    if hello is None:
        return
    signed_in = await _authenticate(ctx, ws, hello)
    if signed_in is None:
        return
    agent, hashed, token = signed_in
    ctx.hub.refresh_agents()  # picks up CLI changes (new agents, roles) at every sign-in
    agent = ctx.hub.agents[agent.id]
    await ctx.storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
    _welcome(ctx, ws, hello, agent, token, hashed)
    await ctx.storage.commit()
    session = AgentSession(ctx, agent.id, hashed, ws)
    try:
        await _command_loop(ctx, ws, session, bad)
    except ConnectionClosed:
        pass
    finally:
        await _set_offline(ctx, agent.id, ws)


async def _command_loop(ctx: Context, ws: ServerConnection, session: AgentSession, bad: BadFrames) -> None:
    # Reads the next command only once the agent has read (most of) the answers so far: see Hub.writable.
    while await ctx.hub.writable(ws):
        raw = await ws.recv()
        agent = ctx.hub.agents.get(session.agent_id)
        if agent is None or agent.disabled:
            await ws.close(p.CloseCode.AGENT_DISABLED, "account disabled")
            return
        try:
            command = p.decode_agent_command(raw)
        except p.ProtocolError as exc:
            if await bad_frame(ctx, ws, bad, exc):
                return
            continue
        handler: Callable[[AgentSession, Any], dict[str, Any]] | None = HANDLERS.get(type(command))
        if handler is None:
            send_error(
                ctx, ws, p.ErrorCode.INVALID, f"{type(command).__name__} is not accepted here", command.id
            )
            continue
        if isinstance(command, p.ConnectCalendar):  # tests the account: network I/O before the savepoint
            await prepare_connect(session, command)
        if isinstance(command, p.RescheduleMeeting):  # re-reads the connected calendar, as a booking does
            await before_reschedule(session, command)
        principal = f"agent:{agent.id}"
        idempotent = type(command) not in NOT_IDEMPOTENT
        ok = await run_command(ctx, ws, principal, command.id, partial(handler, session, command), idempotent)
        if ok and isinstance(command, p.SignOut):
            await ws.close(p.CloseCode.NORMAL, "signed out")
            return
