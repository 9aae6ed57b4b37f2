"""Client-side state: conversations, transcripts, agents and meetings, changed only by server frames.

The session feeds it frames; the UI listens. Applying is idempotent and ordered by ``seq``: an
EventFrame whose seq is not newer than the last applied one is ignored, so a replay overlapping
live events can never show a message twice.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from agent_app import protocol as p


class Delivery(enum.StrEnum):
    """Delivery state of one of my own messages."""

    PENDING = "pending"  # in the outbox, not acked yet
    SENT = "sent"  # acked by the server (durable there)
    FAILED = "failed"  # the server refused it (error frame); can be retried or discarded


@dataclass(slots=True)
class MessageItem:
    """A transcript row: a server message, or one of my sends still pending."""

    message: p.Message
    delivery: Delivery = Delivery.SENT
    error: str = ""

    @property
    def key(self) -> str:
        return self.message.client_id or self.message.id


class StoreListener(Protocol):
    """What the UI (or a test) hears. Every method has a no-op default in :class:`NullListener`."""

    def on_reset(self) -> None: ...
    def on_conversation_changed(self, conversation: p.Conversation, created: bool) -> None: ...
    def on_conversation_removed(self, conversation_id: str) -> None: ...
    def on_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None: ...
    def on_message_changed(self, conversation_id: str, index: int, item: MessageItem) -> None: ...
    def on_agent_changed(self, agent: p.Agent) -> None: ...
    def on_meeting_booked(self, meeting: p.Meeting) -> None: ...
    def on_meeting_updated(self, meeting: p.Meeting) -> None: ...
    def on_meeting_cancelled(self, meeting_id: str) -> None: ...
    def on_sla_event(self, conversation_id: str, breached: bool, due_at: float) -> None: ...
    def on_participant_added(self, event: p.ParticipantAdded) -> None: ...
    def on_typing_changed(self, frame: p.TypingFrame) -> None: ...
    def on_saved_replies_changed(self) -> None: ...


class NullListener:
    """Base class for listeners that care about a few callbacks only."""

    def on_reset(self) -> None:
        pass

    def on_conversation_changed(self, conversation: p.Conversation, created: bool) -> None:
        pass

    def on_conversation_removed(self, conversation_id: str) -> None:
        pass

    def on_message_added(self, conversation_id: str, index: int, item: MessageItem) -> None:
        pass

    def on_message_changed(self, conversation_id: str, index: int, item: MessageItem) -> None:
        pass

    def on_agent_changed(self, agent: p.Agent) -> None:
        pass

    def on_meeting_booked(self, meeting: p.Meeting) -> None:
        pass

    def on_meeting_updated(self, meeting: p.Meeting) -> None:
        pass

    def on_meeting_cancelled(self, meeting_id: str) -> None:
        pass

    def on_sla_event(self, conversation_id: str, breached: bool, due_at: float) -> None:
        pass

    def on_participant_added(self, event: p.ParticipantAdded) -> None:
        pass

    def on_typing_changed(self, frame: p.TypingFrame) -> None:
        pass

    def on_saved_replies_changed(self) -> None:
        pass


@dataclass
class Store:
    """Everything the client knows. Mutate only through the ``apply_*`` and pending-send methods."""

    me: p.Agent | None = None
    epoch: str = ""
    seq: int = 0
    conversations: dict[str, p.Conversation] = field(default_factory=dict)
    transcripts: dict[str, list[MessageItem]] = field(default_factory=dict)
    agents: dict[str, p.Agent] = field(default_factory=dict)
    meetings: dict[str, p.Meeting] = field(default_factory=dict)
    unread: dict[str, int] = field(default_factory=dict)
    saved_replies: dict[str, p.SavedReply] = field(default_factory=dict)  # mine and the team's
    listeners: list[StoreListener] = field(default_factory=list)
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _reply_seq: dict[str, int] = field(default_factory=dict, repr=False)  # reply id -> seq of its last event

    def add_listener(self, listener: StoreListener) -> None:
        self.listeners.append(listener)

    # ------------------------------------------------------------------ frames from the server

    def apply_welcome(self, welcome: p.Welcome) -> None:
        self.me = welcome.agent
        self.agents[welcome.agent.id] = welcome.agent
        if welcome.epoch != self.epoch:
            # A new stream: our seq means nothing there. A snapshot follows (resync).
            self.seq = 0
            self._reply_seq.clear()
        self.epoch = welcome.epoch

    def apply_snapshot(self, snap: p.Snapshot) -> None:
        """Replace everything, keeping my pending sends (they are re-sent by the outbox)."""
        pending = [
            item
            for items in self.transcripts.values()
            for item in items
            if item.delivery is not Delivery.SENT
        ]
        self.epoch, self.seq = snap.epoch, snap.seq
        self.agents = {a.id: a for a in snap.agents}
        if self.me is not None and self.me.id in self.agents:
            self.me = self.agents[self.me.id]
        self.conversations = {c.id: c for c in snap.conversations}
        self.transcripts, self._index = {}, {}
        for message in sorted(snap.messages, key=lambda m: m.created_at):
            self._insert(MessageItem(message), notify=False)
        for item in pending:
            if item.message.conversation_id in self.conversations:
                self._insert(item, notify=False)
        self.meetings = {m.id: m for m in snap.meetings}
        self.unread = {cid: n for cid, n in self.unread.items() if cid in self.conversations}
        for listener in self.listeners:
            listener.on_reset()

    def restore(self, snap: p.Snapshot, me: p.Agent | None, unread: dict[str, int]) -> None:
        """Load state saved by the local cache (before the server answers); fires ``on_reset``."""
        self.me = me
        self.unread = {cid: n for cid, n in unread.items() if n > 0}
        self.apply_snapshot(snap)  # keeps the unread counts of conversations it knows

    def apply_event_frame(self, frame: p.EventFrame) -> bool:
        """Apply one sequenced event; False when it was already applied (seq not newer)."""
        if frame.seq and frame.seq <= self.seq:
            return False
        if frame.seq:
            self.seq = frame.seq
        self.apply_event(frame.event)
        return True

    def apply_event(self, event: p.Event) -> None:
        match event:
            case (
                p.ConversationCreated(conversation=c)
                | p.ConversationUpdated(conversation=c)
                | p.ConversationClosed(conversation=c)
                | p.ConversationReopened(conversation=c)
            ):
                self.upsert_conversation(c)
            case p.ConversationRevoked(conversation_id=cid):
                self.remove_conversation(cid)
            case p.MessageCreated(message=m):
                self.add_message(m)
            case p.VisitorUpdated(conversation_id=cid, visitor=v):
                conv = self.conversations.get(cid)
                if conv is not None:
                    conv.visitor = v
                    self._emit_conversation(conv, created=False)
            case p.PresenceChanged(agent=a):
                self.upsert_agent(a)
            case p.ParticipantAdded() as added:
                for listener in self.listeners:
                    listener.on_participant_added(added)
            case p.ParticipantRemoved():
                pass  # the accompanying ConversationUpdated carries the new participant list
            case p.CqlChanged(conversation_id=cid, change=change):
                conv = self.conversations.get(cid)
                if conv is not None:
                    conv.cql = change.level
                    if change not in conv.cql_history:
                        conv.cql_history.append(change)
                    self._emit_conversation(conv, created=False)
            case p.MeetingBooked(meeting=m):
                self.meetings[m.id] = m
                for listener in self.listeners:
                    listener.on_meeting_booked(m)
            case p.MeetingUpdated(meeting=m):
                self.meetings[m.id] = m
                for listener in self.listeners:
                    listener.on_meeting_updated(m)
            case p.MeetingCancelled(meeting_id=mid):
                self.meetings.pop(mid, None)
                for listener in self.listeners:
                    listener.on_meeting_cancelled(mid)
            case (
                p.SlaWarning(conversation_id=cid, due_at=due) | p.SlaBreached(conversation_id=cid, due_at=due)
            ):
                breached = isinstance(event, p.SlaBreached)
                conv = self.conversations.get(cid)
                if conv is not None and breached and not conv.sla_breached:
                    conv.sla_breached = True
                    self._emit_conversation(conv, created=False)
                for listener in self.listeners:
                    listener.on_sla_event(cid, breached, due)
            case p.SavedReplyChanged(reply=reply):
                self.saved_replies[reply.id] = reply
                self._reply_seq[reply.id] = self.seq
                self._emit_saved_replies()
            case p.SavedReplyDeleted(reply_id=rid):
                self.saved_replies.pop(rid, None)
                self._reply_seq[rid] = self.seq
                self._emit_saved_replies()

    def apply_saved_replies(self, replies: Iterable[p.SavedReply], as_of_seq: int) -> None:
        """The server's list (ListSavedReplies), current as of ``as_of_seq`` of my stream. A reply whose
        event was applied after that seq keeps its newer state (or stays deleted)."""
        fresh = {r.id: r for r in replies}
        for rid, seq in self._reply_seq.items():
            if seq > as_of_seq:
                current = self.saved_replies.get(rid)
                if current is None:
                    fresh.pop(rid, None)
                else:
                    fresh[rid] = current
        self._reply_seq = {rid: seq for rid, seq in self._reply_seq.items() if seq > as_of_seq}
        self.saved_replies = fresh
        self._emit_saved_replies()

    def apply_typing(self, frame: p.TypingFrame) -> None:
        for listener in self.listeners:
            listener.on_typing_changed(frame)

    # ------------------------------------------------------------------ entities

    def upsert_conversation(self, conversation: p.Conversation) -> None:
        created = conversation.id not in self.conversations
        self.conversations[conversation.id] = conversation
        self._emit_conversation(conversation, created)

    def remove_conversation(self, conversation_id: str) -> None:
        if self.conversations.pop(conversation_id, None) is None:
            return
        self.transcripts.pop(conversation_id, None)
        self._index.pop(conversation_id, None)
        self.unread.pop(conversation_id, None)
        for listener in self.listeners:
            listener.on_conversation_removed(conversation_id)

    def upsert_agent(self, agent: p.Agent) -> None:
        self.agents[agent.id] = agent
        if self.me is not None and agent.id == self.me.id:
            self.me = agent
        for listener in self.listeners:
            listener.on_agent_changed(agent)

    def add_message(self, message: p.Message) -> None:
        """A server message: replaces my pending send with the same client id, or is inserted."""
        index = self._index.setdefault(message.conversation_id, {})
        for key in (message.client_id, message.id):
            if key and key in index:
                pos = index[key]
                item = self.transcripts[message.conversation_id][pos]
                item.message, item.delivery, item.error = message, Delivery.SENT, ""
                for k in (message.client_id, message.id):  # found later under either key
                    if k:
                        index[k] = pos
                for listener in self.listeners:
                    listener.on_message_changed(message.conversation_id, pos, item)
                return
        self._insert(MessageItem(message), notify=True)
        mine = self.me is not None and message.author_id == self.me.id
        if message.author_kind is p.AuthorKind.VISITOR and not mine:
            self.unread[message.conversation_id] = self.unread.get(message.conversation_id, 0) + 1

    def load_transcript(self, conversation_id: str, messages: Iterable[p.Message]) -> None:
        """Older history fetched on demand (GetTranscript); duplicates are ignored."""
        for message in messages:
            index = self._index.get(conversation_id, {})
            if message.id in index:
                continue
            if message.client_id and message.client_id in index:
                self.add_message(message)  # the server copy of one of my pending sends
            else:
                self._insert(MessageItem(message), notify=True)

    # ------------------------------------------------------------------ my pending sends

    def add_pending(self, command: p.SendMessage, author: p.Agent, now: float) -> MessageItem:
        message = p.Message(
            id="",
            conversation_id=command.conversation_id,
            author_kind=p.AuthorKind.AGENT,
            author_id=author.id,
            author_name=author.name,
            text=command.text,
            created_at=now,
            client_id=command.id,
            private=command.private,
        )
        item = MessageItem(message, Delivery.PENDING)
        if command.id not in self._index.get(command.conversation_id, {}):
            self._insert(item, notify=True)
        return item

    def set_delivery(self, conversation_id: str, client_id: str, delivery: Delivery, error: str = "") -> None:
        pos = self._index.get(conversation_id, {}).get(client_id)
        if pos is None:
            return
        item = self.transcripts[conversation_id][pos]
        if item.delivery is Delivery.SENT and item.message.id:
            return  # the server's own copy already arrived; nothing can un-send it
        item.delivery, item.error = delivery, error
        for listener in self.listeners:
            listener.on_message_changed(conversation_id, pos, item)

    def missing_history(self, conversation_id: str) -> bool:
        """True when the server holds visitor-visible messages this store lacks: compared with
        ``message_count``, which counts public stored messages only, so team-only notes (a routing move's
        note arrives before the chat's history) and my pending sends must not be counted."""
        conv = self.conversations.get(conversation_id)
        if conv is None:
            return False
        held = sum(
            1
            for item in self.transcripts.get(conversation_id, [])
            if not item.message.private and item.delivery is Delivery.SENT
        )
        return held < conv.message_count

    def mark_read(self, conversation_id: str) -> None:
        if self.unread.pop(conversation_id, 0):
            conv = self.conversations.get(conversation_id)
            if conv is not None:
                self._emit_conversation(conv, created=False)

    def total_unread(self) -> int:
        return sum(self.unread.values())

    # ------------------------------------------------------------------ internals

    def _insert(self, item: MessageItem, *, notify: bool) -> None:
        cid = item.message.conversation_id
        items = self.transcripts.setdefault(cid, [])
        at = item.message.created_at
        if not items or items[-1].message.created_at <= at:
            pos = len(items)  # the usual case: a new message
        else:  # older history fetched late
            pos = bisect.bisect_right([i.message.created_at for i in items], at)
        items.insert(pos, item)
        index = self._index.setdefault(cid, {})
        if pos != len(items) - 1:
            index.clear()
            for i, it in enumerate(items):
                for key in (it.message.client_id, it.message.id):
                    if key:
                        index[key] = i
        else:
            for key in (item.message.client_id, item.message.id):
                if key:
                    index[key] = pos
        if notify:
            for listener in self.listeners:
                listener.on_message_added(cid, pos, item)

    def _emit_saved_replies(self) -> None:
        for listener in self.listeners:
            listener.on_saved_replies_changed()

    def _emit_conversation(self, conversation: p.Conversation, created: bool) -> None:
        for listener in self.listeners:
            listener.on_conversation_changed(conversation, created)
