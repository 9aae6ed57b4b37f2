"""``set_capacity``: managers and admins set a rep's chat limit (Agent.max_chats) from the desk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from agent_app import protocol as p
from chat_server.admin import MAX_CHATS
from chat_server.errors import CommandError, forbidden
from chat_server.visibility import is_supervisor

if TYPE_CHECKING:
    from chat_server.agent_commands import AgentSession


def set_capacity(s: AgentSession, c: p.SetCapacity) -> dict[str, Any]:
    """Routing reads the limit at its next decision; every desk gets the agent with the new limit."""
    if not is_supervisor(s.agent):
        raise forbidden("only a manager or an admin can set chat limits")
    if not 0 <= c.max_chats <= MAX_CHATS:
        raise CommandError(p.ErrorCode.INVALID, f"the chat limit must be from 0 (no limit) to {MAX_CHATS}")
    storage, hub = s.ctx.storage, s.ctx.hub
    with storage.savepoint():
        stored = storage.get_agent(c.agent_id)  # (the CLI may have changed it since the hub loaded it)
        before = stored.max_chats if stored is not None else 0
        agent = msgspec.structs.replace(s.ctx.service.agent(c.agent_id), max_chats=c.max_chats)
        storage.save_agent(agent)
        hub.agents[agent.id] = agent
        hub.broadcast_presence(agent)
        if before and (c.max_chats == 0 or c.max_chats > before):  # room now: chats waiting for it go
            limit = f"raised to {c.max_chats}" if c.max_chats else "removed"
            s.ctx.service.agent_ready(agent, f"{agent.name}'s chat limit was {limit}")
    return {"agent": msgspec.to_builtins(hub.agent_view(agent))}


HANDLERS = {p.SetCapacity: set_capacity}
