"""Teammates in a conversation: who has it open and who is typing a reply, and what to tell the rep."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from agent_app import protocol as p
from agent_app.store import MessageItem, NullListener

# A teammate's desk re-sends "typing" every 3 s while they type (agent_app.session_commands); one we
# have not heard again for this long stopped (their app quit, or the "stopped" frame was lost).
TYPING_STALE_SECONDS = 8.0


def _names(ids: list[str], agents: Mapping[str, p.Agent]) -> str:
    names = [agents[a].name if a in agents and agents[a].name else "A teammate" for a in ids]
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def first_name(agent_id: str, agents: Mapping[str, p.Agent]) -> str:
    agent = agents.get(agent_id)
    return agent.name.split()[0] if agent is not None and agent.name.strip() else "A teammate"


class ChatPresence(NullListener):
    """Qt-free state for "Sam Chen is viewing" / "Sam Chen is typing…": fed by ``viewers`` frames (and
    the ``viewing`` ack) and, as a store listener, by teammates' typing frames and messages.

    ``listeners`` get ``cb(conversation_id)`` whenever what a conversation shows may have changed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.viewers: dict[str, list[str]] = {}
        self.typing: dict[str, dict[str, float]] = {}  # conversation -> agent -> last "typing" heard at
        self.listeners: list[Callable[[str], None]] = []

    def _changed(self, conversation_id: str) -> None:
        for cb in list(self.listeners):
            cb(conversation_id)

    # ------------------------------------------------------------ input

    def apply_viewers(self, conversation_id: str, agent_ids: list[str]) -> None:
        if self.viewers.get(conversation_id, []) == agent_ids:
            return
        if agent_ids:
            self.viewers[conversation_id] = list(agent_ids)
        else:
            self.viewers.pop(conversation_id, None)
        self._changed(conversation_id)

    def on_viewers_frame(self, frame: p.ViewersFrame) -> None:
        self.apply_viewers(frame.conversation_id, frame.agent_ids)

    def on_typing_changed(self, frame: p.TypingFrame) -> None:
        if frame.author_kind is not p.AuthorKind.AGENT or not frame.author_id:
            return  # the visitor's typing has its own line under the transcript
        typing = self.typing.setdefault(frame.conversation_id, {})
        if frame.active:
            typing[frame.author_id] = self.clock()
        elif typing.pop(frame.author_id, None) is None:
            return
        self._changed(frame.conversation_id)

    def on_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        author = item.message.author_id
        if item.message.author_kind is p.AuthorKind.AGENT and self.typing.get(conversation_id, {}).pop(
            author, 0
        ):
            self._changed(conversation_id)  # their reply is in: they are not typing it any more

    def on_reset(self) -> None:
        """A resync: what we knew may be stale; viewers come again with the next ``viewing``."""
        touched = set(self.viewers) | set(self.typing)
        self.viewers.clear()
        self.typing.clear()
        for cid in touched:
            self._changed(cid)

    def on_conversation_removed(self, conversation_id: str) -> None:
        self.viewers.pop(conversation_id, None)
        self.typing.pop(conversation_id, None)

    def clear(self) -> None:
        """Signed out or offline: the server forgets us, and we them."""
        self.on_reset()

    # ------------------------------------------------------------ output

    def others_viewing(self, conversation_id: str, me: str) -> list[str]:
        typing = set(self.others_typing(conversation_id, me))
        return [a for a in self.viewers.get(conversation_id, []) if a != me and a not in typing]

    def others_typing(self, conversation_id: str, me: str) -> list[str]:
        now = self.clock()
        heard = self.typing.get(conversation_id, {})
        return sorted(a for a, at in heard.items() if a != me and now - at < TYPING_STALE_SECONDS)

    def next_expiry(self) -> float | None:
        """Seconds until the next "typing" goes stale (the UI re-reads then), None when none is live."""
        now = self.clock()
        left = [at + TYPING_STALE_SECONDS - now for heard in self.typing.values() for at in heard.values()]
        live = [x for x in left if x > 0]
        return min(live) if live else None

    def header_text(self, conversation_id: str, me: str, agents: Mapping[str, p.Agent]) -> str:
        """E.g. "Sam Chen is typing… · Maria Santos is viewing"; "" when no teammate is there."""
        parts = []
        typing = self.others_typing(conversation_id, me)
        if typing:
            parts.append(f"{_names(typing, agents)} {'is' if len(typing) == 1 else 'are'} typing…")
        viewing = self.others_viewing(conversation_id, me)
        if viewing:
            parts.append(f"{_names(viewing, agents)} {'is' if len(viewing) == 1 else 'are'} viewing")
        return " · ".join(parts)

    def composer_warning(self, conversation_id: str, me: str, agents: Mapping[str, p.Agent]) -> str:
        """A gentle note above the reply box while a teammate types a reply here ("Sam is typing a reply")."""
        typing = self.others_typing(conversation_id, me)
        if not typing:
            return ""
        who = " and ".join(first_name(a, agents) for a in typing[:2])
        more = f" and {len(typing) - 2} more" if len(typing) > 2 else ""
        verb = "is" if len(typing) == 1 else "are"
        return f"{who}{more} {verb} typing a reply: check before you answer too."


class ViewingReporter:
    """What this desk tells the server it shows: once per change, and again after every reconnect (the
    server forgets a connection's viewing when it goes). ``send(conversation_id | None)``."""

    def __init__(self, send: Callable[[str | None], None]) -> None:
        self._send = send
        self.target: str | None = None
        self._sent: str | None = None
        self.online = False

    def show(self, conversation_id: str | None) -> None:
        self.target = conversation_id or None
        self._flush()

    def set_online(self, online: bool) -> None:
        if online and not self.online:
            self._sent = None  # a new connection views nothing yet
            self.online = True
            if self.target is not None:
                self._send(self.target)
                self._sent = self.target
            return
        self.online = online
        self._flush()

    def _flush(self) -> None:
        if self.online and self.target != self._sent:
            self._sent = self.target
            self._send(self.target)
