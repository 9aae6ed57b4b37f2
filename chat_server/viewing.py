"""Who has which conversation open right now: ephemeral, per process, fanned out as ``viewers`` frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from agent_app import protocol as p
from chat_server.visibility import can_see

if TYPE_CHECKING:
    from chat_server.agent_commands import AgentSession
    from chat_server.hub import Hub

# A connection is named by (agent id, token hash): command handlers know no socket, and a desk's token is
# its device, so an agent on two devices is two entries that count as one viewer.
Viewer = tuple[str, str]


class Viewing:
    """The open conversation of every signed-in connection (memory only: it is gone with the connection
    anyway, and a restart makes every desk reconnect and say again what it shows). In a multi-process
    deployment each process knows its own connections only (docs/protocol.md "Who is viewing")."""

    def __init__(self) -> None:
        self._open: dict[Viewer, str] = {}
        # Who told teammates "typing" in which conversation and has not said "stopped" yet: when the chat is
        # assigned away from them, their desk can no longer send the "stopped" (it can't see the chat).
        self._typing: dict[Viewer, str] = {}

    def set(self, viewer: Viewer, conversation_id: str | None) -> list[str]:
        """Records what ``viewer`` shows; returns the conversations whose set of viewing agents changed
        (none when another device of the same agent still shows it: an agent counts once)."""
        before = self._open.get(viewer)
        if before == conversation_id:
            return []
        touched = [cid for cid in (before, conversation_id) if cid]
        old = {cid: self.agent_ids(cid) for cid in touched}
        if conversation_id:
            self._open[viewer] = conversation_id
        else:
            del self._open[viewer]
        return [cid for cid in touched if self.agent_ids(cid) != old[cid]]

    def drop(self, viewer: Viewer) -> list[str]:
        """The connection went: it views nothing any more (teammates' desks let its typing go stale)."""
        self._typing.pop(viewer, None)
        return self.set(viewer, None)

    def typing(self, viewer: Viewer, conversation_id: str, active: bool) -> None:
        """Records a ``typing`` command (a desk types in one conversation at a time)."""
        if active:
            self._typing[viewer] = conversation_id
        elif self._typing.get(viewer) == conversation_id:
            del self._typing[viewer]

    def forget_unless(self, conversation_id: str, sees: Callable[[str], bool]) -> tuple[bool, list[str]]:
        """Drops the viewers and typists of a conversation whose agent no longer ``sees`` it. Returns
        whether its set of viewing agents changed, and the agents who were typing in it."""
        before = self.agent_ids(conversation_id)
        for viewer in [v for v, cid in self._open.items() if cid == conversation_id and not sees(v[0])]:
            del self._open[viewer]
        gone = [v for v, cid in self._typing.items() if cid == conversation_id and not sees(v[0])]
        for viewer in gone:
            del self._typing[viewer]
        return self.agent_ids(conversation_id) != before, sorted({a for a, _ in gone})

    def agent_ids(self, conversation_id: str) -> list[str]:
        """The agents viewing a conversation, each once, in a stable order."""
        return sorted({a for (a, _), cid in self._open.items() if cid == conversation_id})


def announce(hub: Hub, viewing: Viewing, conversation_ids: list[str]) -> None:
    """Sends each changed conversation's viewers to every agent who can see it. Viewers who can no longer
    see it (it was assigned away meanwhile) are left out: they would be showing a stale copy."""
    for cid in conversation_ids:
        conversation = hub.storage.get_conversation(cid)
        if conversation is None:
            continue
        frame = p.ViewersFrame(conversation_id=cid, agent_ids=visible_viewers(hub, viewing, conversation))
        allowed = [a.id for a in hub.agents.values() if can_see(a, conversation)]
        hub.to_agents_now(allowed, p.encode_bytes(frame))


def follow_access(hub: Hub, conversation: p.Conversation) -> None:
    """A Service.on_published hook: agents who lost sight of the chat (it was assigned away from them) stop
    viewing and typing in it at once, and whoever still sees it is told after the change commits."""
    viewing = hub.viewing

    def sees(agent_id: str) -> bool:
        agent = hub.agents.get(agent_id)
        return agent is not None and can_see(agent, conversation)

    changed, stopped = viewing.forget_unless(conversation.id, sees)
    if changed or stopped:
        hub.storage.after_commit(lambda: _tell(hub, conversation.id, changed, stopped))


def _tell(hub: Hub, conversation_id: str, changed: bool, stopped: list[str]) -> None:
    if changed:
        announce(hub, hub.viewing, [conversation_id])
    conversation = hub.storage.get_conversation(conversation_id)
    if conversation is None:
        return
    allowed = [a.id for a in hub.agents.values() if can_see(a, conversation)]
    for agent_id in stopped:
        agent = hub.agents.get(agent_id)
        name = agent.name if agent is not None else ""
        frame = p.TypingFrame(conversation_id=conversation_id, author_kind=p.AuthorKind.AGENT,
                              author_name=name, active=False)  # fmt: skip
        # The visitor saw "… is typing" too (by name only, as with every typing frame).
        hub.to_visitor(conversation.visitor.id, p.encode_bytes(frame), after_commit=False)
        with_id = msgspec.structs.replace(frame, author_id=agent_id)
        hub.to_agents_now([a for a in allowed if a != agent_id], p.encode_bytes(with_id))


def visible_viewers(hub: Hub, viewing: Viewing, conversation: p.Conversation) -> list[str]:
    """The viewers of ``conversation`` who may still see it."""
    return [
        a for a in viewing.agent_ids(conversation.id) if (x := hub.agents.get(a)) and can_see(x, conversation)
    ]


def set_viewing(s: AgentSession, c: p.SetViewing) -> dict[str, Any]:
    """``viewing``: only a conversation the agent may see; the answer says who else has it open now."""
    hub = s.ctx.hub
    conversation = (
        s.ctx.service.visible_conversation(s.agent, c.conversation_id) if c.conversation_id else None
    )
    announce(hub, hub.viewing, hub.viewing.set((s.agent_id, s.token_hash), c.conversation_id))
    viewers = visible_viewers(hub, hub.viewing, conversation) if conversation is not None else []
    return {"conversation_id": c.conversation_id, "agent_ids": viewers}


HANDLERS: dict[type[Any], Callable[[AgentSession, Any], dict[str, Any]]] = {p.SetViewing: set_viewing}
EPHEMERAL: set[type[Any]] = {p.SetViewing}
