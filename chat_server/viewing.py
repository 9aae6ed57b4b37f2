"""Who has which conversation open right now: ephemeral, merged across processes, sent as ``viewers``."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
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
    anyway, and a restart makes every desk reconnect and say again what it shows). In a cluster the other
    processes' viewers come in through ``SharedViewing`` and count like local ones."""

    def __init__(self) -> None:
        self._open: dict[Viewer, str] = {}
        self._remote: dict[str, dict[str, list[str]]] = {}  # process id -> conversation -> its viewing agents
        # Called with the conversations whose local viewers may have changed (SharedViewing publishes them).
        self.on_local_change: Callable[[list[str]], None] | None = None
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
        self._local_changed(touched)
        return [cid for cid in touched if self.agent_ids(cid) != old[cid]]

    def _local_changed(self, conversation_ids: list[str]) -> None:
        if conversation_ids and self.on_local_change is not None:
            self.on_local_change(conversation_ids)

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
        left = [v for v, cid in self._open.items() if cid == conversation_id and not sees(v[0])]
        for viewer in left:
            del self._open[viewer]
        gone = [v for v, cid in self._typing.items() if cid == conversation_id and not sees(v[0])]
        for viewer in gone:
            del self._typing[viewer]
        if left:
            self._local_changed([conversation_id])
        return self.agent_ids(conversation_id) != before, sorted({a for a, _ in gone})

    def forget_remote_unless(self, conversation_id: str, sees: Callable[[str], bool]) -> list[str]:
        """The same for the other processes' viewers (their processes are told: ``SharedViewing.lost``);
        returns the agents dropped."""
        dropped: set[str] = set()
        for conversations in self._remote.values():
            ids = conversations.get(conversation_id, [])
            keep = [a for a in ids if sees(a)]
            if len(keep) < len(ids):
                dropped.update(a for a in ids if a not in keep)
                conversations[conversation_id] = keep
        return sorted(dropped)

    def local_ids(self, conversation_id: str) -> list[str]:
        return sorted({a for (a, _), cid in self._open.items() if cid == conversation_id})

    def local_conversations(self) -> frozenset[str]:
        return frozenset(self._open.values())

    def agent_ids(self, conversation_id: str) -> list[str]:
        """The agents viewing a conversation (on any process), each once, in a stable order."""
        ids = set(self.local_ids(conversation_id))
        for conversations in self._remote.values():
            ids.update(conversations.get(conversation_id, ()))
        return sorted(ids)

    def set_remote(self, process_id: str, conversation_id: str, agent_ids: list[str]) -> bool:
        """Another process's viewers of a conversation; True when the merged set changed."""
        before = self.agent_ids(conversation_id)
        conversations = self._remote.setdefault(process_id, {})
        if agent_ids:
            conversations[conversation_id] = sorted(agent_ids)
        else:
            conversations.pop(conversation_id, None)
        return self.agent_ids(conversation_id) != before

    def remote_conversations(self, process_id: str) -> list[str]:
        """The conversations another process said it has viewers in."""
        return list(self._remote.get(process_id, ()))

    def keep_processes(self, process_ids: Collection[str]) -> list[str]:
        """Forgets the viewers of processes not in ``process_ids`` (dead); returns the conversations whose
        merged set changed."""
        changed: list[str] = []
        for process_id in [pid for pid in self._remote if pid not in process_ids]:
            conversations = self._remote[process_id]
            for cid in list(conversations):
                if self.set_remote(process_id, cid, []):
                    changed.append(cid)
            del self._remote[process_id]
        return sorted(dict.fromkeys(changed))


SHARE_BYTES = 6000  # per published message: under PostgreSQL's 8000-byte NOTIFY payload with the envelope


class SharedViewing:
    """Who views what, across a cluster: each process publishes its own viewers per conversation (kind
    "viewing", ``{"c": {conversation id: [agent ids]}}``) and announces the merged set to its own desks."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        hub.viewing.on_local_change = self._publish
        self._synced = 0  # the last snapshot (republish) this process sent
        # A snapshot being received: process id -> (its number, the conversations it listed so far).
        self._syncs: dict[str, tuple[int, set[str]]] = {}

    def _publish(self, conversation_ids: list[str]) -> None:
        if self.hub.peers is None:
            return
        body: dict[str, list[str]] = {}
        size = 0
        for cid in sorted(set(conversation_ids)):
            ids = self.hub.viewing.local_ids(cid)
            entry = len(json.dumps([cid, ids]))
            if body and size + entry > SHARE_BYTES:
                self.hub.peers.share("viewing", {"c": body})
                body, size = {}, 0
            body[cid], size = ids, size + entry
        if body:
            self.hub.peers.share("viewing", {"c": body})

    def republish(self) -> None:
        """A snapshot of the viewers here, between ``sync`` and ``synced``: it replaces the others' copy,
        so a change they missed (their listener was down) is undone too."""
        if self.hub.peers is None:
            return
        self._synced += 1
        self.hub.peers.share("viewing", {"sync": self._synced})
        self._publish(list(self.hub.viewing.local_conversations()))
        self.hub.peers.share("viewing", {"synced": self._synced})

    def from_peer(self, origin: str, body: dict[str, Any]) -> None:
        if "lost" in body:
            self._on_lost(body)
            return
        if "sync" in body:
            self._syncs[origin] = (int(body["sync"]), set())
        if "synced" in body:
            self._end_sync(origin, int(body["synced"]))
        viewers = body.get("c")
        if not isinstance(viewers, dict):
            return
        sync = self._syncs.get(origin)
        if sync is not None:
            sync[1].update(str(cid) for cid in viewers)
        changed = [
            str(cid) for cid, ids in viewers.items()
            if isinstance(ids, list) and self.hub.viewing.set_remote(origin, str(cid), [str(a) for a in ids])
        ]  # fmt: skip
        announce(self.hub, self.hub.viewing, changed)

    def _end_sync(self, origin: str, number: int) -> None:
        """The snapshot is complete: the origin's conversations it did not list have no viewers there."""
        sync = self._syncs.pop(origin, None)
        if sync is None or sync[0] != number:  # its start was missed: a later snapshot will do
            return
        viewing, listed = self.hub.viewing, sync[1]
        stale = [cid for cid in viewing.remote_conversations(origin) if cid not in listed]
        announce(self.hub, viewing, [cid for cid in stale if viewing.set_remote(origin, cid, [])])

    def peers_alive(self, process_ids: set[str]) -> None:
        for origin in [o for o in self._syncs if o not in process_ids]:
            del self._syncs[origin]
        announce(self.hub, self.hub.viewing, self.hub.viewing.keep_processes(process_ids))

    def lost(self, conversation_id: str, agent_ids: list[str]) -> None:
        """These agents lost sight of the chat (a change committed on this process): their processes drop
        them as viewers and typists (only the process that published the change runs ``follow_access``)."""
        if self.hub.peers is not None and agent_ids:
            self.hub.peers.share("viewing", {"lost": [conversation_id, agent_ids]})

    def _on_lost(self, body: dict[str, Any]) -> None:
        lost = body.get("lost")
        if not isinstance(lost, list) or len(lost) != 2 or not isinstance(lost[1], list):
            return
        conversation_id, gone = str(lost[0]), {str(a) for a in lost[1]}
        changed, stopped = self.hub.viewing.forget_unless(conversation_id, lambda a: a not in gone)
        if changed or stopped:
            _tell(self.hub, conversation_id, changed, stopped)


def announce(hub: Hub, viewing: Viewing, conversation_ids: list[str]) -> None:
    """Sends each changed conversation's viewers to every agent who can see it. Viewers who can no longer
    see it (it was assigned away meanwhile) are left out: they would be showing a stale copy. Only to this
    process's desks: every process of a cluster announces the merged set to its own."""
    for cid in conversation_ids:
        conversation = hub.storage.get_conversation(cid)
        if conversation is None:
            continue
        frame = p.ViewersFrame(conversation_id=cid, agent_ids=visible_viewers(hub, viewing, conversation))
        allowed = [a.id for a in hub.agents.values() if can_see(a, conversation)]
        hub.agents_frame_from_peer(allowed, p.encode_bytes(frame))


def follow_access(hub: Hub, conversation: p.Conversation) -> None:
    """A Service.on_published hook: agents who lost sight of the chat (it was assigned away from them) stop
    viewing and typing in it at once, and whoever still sees it is told after the change commits."""
    viewing = hub.viewing

    def sees(agent_id: str) -> bool:
        agent = hub.agents.get(agent_id)
        return agent is not None and can_see(agent, conversation)

    changed, stopped = viewing.forget_unless(conversation.id, sees)
    elsewhere = viewing.forget_remote_unless(conversation.id, sees)  # viewers on other processes
    changed = changed or bool(elsewhere)
    if changed or stopped:
        hub.storage.after_commit(lambda: _tell(hub, conversation.id, changed, stopped))
    shared = hub.shared.get("viewing")
    if elsewhere and isinstance(shared, SharedViewing):
        hub.storage.after_commit(lambda: shared.lost(conversation.id, elsewhere))


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
