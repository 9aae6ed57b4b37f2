"""Domain service: every state change writes through storage and publishes through one fan-out."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

import msgspec

from agent_app.protocol import (
    MAX_MESSAGE_TEXT,
    Agent,
    AuthorKind,
    BookingCard,
    Conversation,
    ConversationCreated,
    ConversationRevoked,
    ConversationStatus,
    ConversationUpdated,
    ErrorCode,
    Event,
    EventFrame,
    Meeting,
    Message,
    MessageCreated,
    Presence,
    UpdateVisitor,
    Visitor,
    VisitorUpdated,
    encode_bytes,
)
from chat_server import viewing
from chat_server.clock import Clock
from chat_server.errors import CommandError, forbidden, not_found
from chat_server.hub import Hub
from chat_server.security import calendar_ref, new_id
from chat_server.storage.base import Storage, VisitorFacts
from chat_server.visibility import can_see

log = logging.getLogger(__name__)
VisitorMessageHook = Callable[[Conversation, Message], Awaitable[None]]
PREVIEW_CHARS = 140
MAX_VISITOR_FIELD = 200  # name, email, company, CRM source (the widget's profile limit)
MAX_TEAM_SIZE = 10_000_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2, as the territory table writes countries
_REGION = re.compile(r"^[A-Z0-9]{1,3}$")  # ISO 3166-2 subdivision code without the country ("CA", "NSW")


def visitor_view(conversation: Conversation) -> Conversation:
    """What a visitor may know of its conversation: no ratings, routing, SLA or internal ids."""
    return Conversation(
        id=conversation.id,
        visitor=conversation.visitor,
        status=conversation.status,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        closed_at=conversation.closed_at,
        last_message_at=conversation.last_message_at,
        last_message_preview=conversation.last_message_preview,
        last_message_author=conversation.last_message_author,
        message_count=conversation.message_count,
    )


def visitor_message(message: Message) -> Message:
    """A message as the visitor receives it: the team's internal ids stay inside (the widget needs the
    author's name, and its own client ids to match its pending sends)."""
    if message.author_kind == AuthorKind.VISITOR:
        return message
    card = message.card
    if card is not None:  # the widget books with the card's reference, which is not the agent's id
        card = msgspec.structs.replace(card, agent_id=calendar_ref(card.agent_id))
    return msgspec.structs.replace(message, author_id="", client_id="", card=card, meeting=None)


def check_text(text: str, limit: int = MAX_MESSAGE_TEXT) -> str:
    if len(text) > limit:
        raise CommandError(ErrorCode.TOO_LONG, f"text is {len(text)} characters; the limit is {limit}")
    if not text.strip():
        raise CommandError(ErrorCode.INVALID, "text is empty")
    return text


class Service:
    def __init__(self, storage: Storage, hub: Hub, clock: Clock) -> None:
        self.storage = storage
        self.hub = hub
        self.clock = clock
        # Later modules (bot playbook, routing, SLA) react to visitor messages without touching transport.
        self.on_visitor_message: list[VisitorMessageHook] = []
        # ... and to human replies (the SLA clock stops; out-of-territory pickups are recorded).
        self.on_agent_message: list[VisitorMessageHook] = []
        self.on_assigned: list[Callable[[Conversation], Awaitable[None]]] = []
        # ... and to a close (routing gives a chat waiting for a free slot to the rep who has room now).
        self.on_closed: list[Callable[[Conversation], Awaitable[None]]] = []
        # ... and to every published change of a conversation, synchronously (the live-visitor list
        # schedules a throttled update; a hook must not write).
        # (who is viewing/typing drops agents who lost sight of the chat: chat_server.viewing)
        self.on_published: list[Callable[[Conversation], None]] = [partial(viewing.follow_access, hub)]
        # ... and to a rep who may take chats now (turned Available, signed in Available, a raised chat
        # limit: ``why`` says which): routing gives them the chats waiting in the queue.
        self.on_agent_ready: list[Callable[[Agent, str], Awaitable[None]]] = []
        # ... and to anything new about a visitor (bot answers, profile, CRM facts): alignment re-runs.
        self.on_visitor_updated: list[Callable[[Visitor], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def commit(self) -> None:
        await self.storage.commit()

    # ------------------------------------------------------------ lookups

    def agent(self, agent_id: str) -> Agent:
        agent = self.hub.agents.get(agent_id) or self.storage.get_agent(agent_id)
        if agent is None:
            raise not_found("agent")
        return agent

    def visible_conversation(self, agent: Agent, conversation_id: str) -> Conversation:
        conversation = self.storage.get_conversation(conversation_id)
        # Same answer for "doesn't exist" and "not yours" would hide existence, but clients need to tell
        # a stale id from a permission problem; ids are random, so existence leaks nothing useful.
        if conversation is None:
            raise not_found("conversation")
        if not can_see(agent, conversation):
            raise forbidden("this conversation is not visible to you")
        return conversation

    # ---------------------------------------------------- fan-out: the one place recipients are chosen

    def publish(
        self,
        before: Conversation | None,
        after: Conversation,
        events: list[Event],
        visitor_events: list[Event] | None = None,
        skip_visitor_conn: object = None,
    ) -> None:
        """Agents who see ``after`` get ``events``; agents who saw ``before`` but no longer see ``after``
        get ConversationRevoked; agents who newly see it get the whole conversation first."""
        # A newly-seeing agent gets the conversation before anything that refers to it.
        starts_with_conversation = bool(events) and isinstance(
            events[0], ConversationCreated | ConversationUpdated
        )
        full = ConversationUpdated(conversation=after)
        revoked = ConversationRevoked(conversation_id=after.id)
        per_agent: list[tuple[str, Event]] = []
        for agent in self.hub.agents.values():
            sees = can_see(agent, after)
            saw = before is not None and can_see(agent, before)
            if sees:
                if before is not None and not saw and not starts_with_conversation:
                    per_agent.append((agent.id, full))
                per_agent.extend((agent.id, e) for e in events)
            elif saw:
                per_agent.append((agent.id, revoked))
        self.hub.to_agents(per_agent)
        for hook in self.on_published:
            hook(after)
        for event in visitor_events or ():
            frame = encode_bytes(EventFrame(seq=0, epoch="", at=self.clock.now(), event=event))
            self.hub.to_visitor(after.visitor.id, frame, after_commit=True, skip=skip_visitor_conn)

    # ------------------------------------------------------------ messages

    def _apply_message(self, conversation: Conversation, message: Message) -> None:
        now = message.created_at
        conversation.updated_at = now
        if message.private:
            return  # internal notes change neither the preview nor the waiting clock
        conversation.message_count += 1
        conversation.last_message_at = now
        conversation.last_message_preview = " ".join(message.text.split())[:PREVIEW_CHARS]
        conversation.last_message_author = message.author_kind
        if message.author_kind == AuthorKind.VISITOR:
            if conversation.waiting_since is None:
                conversation.waiting_since = now
        elif message.author_kind == AuthorKind.AGENT:
            conversation.waiting_since = None
            if conversation.first_response_at is None:
                conversation.first_response_at = now

    def add_message(
        self,
        conversation: Conversation,
        author_kind: AuthorKind,
        text: str,
        *,
        author: Agent | None = None,
        author_id: str = "",
        author_name: str = "",
        client_id: str = "",
        private: bool = False,
        extra_events: list[Event] | None = None,
        before: Conversation | None = None,
        skip_visitor_conn: object = None,
        card: BookingCard | None = None,
        meeting: Meeting | None = None,
    ) -> Message:
        """Stores a message, updates the conversation, publishes to agents and (unless private) visitor."""
        with self.storage.savepoint():
            before = before if before is not None else msgspec.structs.replace(conversation)
            message = Message(
                id=new_id(),
                conversation_id=conversation.id,
                author_kind=author_kind,
                text=text,
                created_at=self.clock.now(),
                author_id=author.id if author else author_id,
                author_name=author.name if author else author_name,
                client_id=client_id,
                private=private,
                card=card,
                meeting=meeting,
            )
            self.storage.add_message(message)
            self._apply_message(conversation, message)
            self.storage.save_conversation(conversation)
            events: list[Event] = [*(extra_events or []), MessageCreated(message=message)]
            events.append(ConversationUpdated(conversation=conversation))
            visitor_events: list[Event] = (
                [] if private else [MessageCreated(message=visitor_message(message))]
            )
            self.publish(before, conversation, events, visitor_events, skip_visitor_conn)
        return message

    def system_message(self, conversation: Conversation, text: str, before: Conversation | None = None,
                       extra_events: list[Event] | None = None) -> Message:  # fmt: skip
        return self.add_message(
            conversation, AuthorKind.SYSTEM, text, before=before, extra_events=extra_events
        )

    def post_visitor_message(
        self, visitor: Visitor, text: str, client_id: str = "", skip_visitor_conn: object = None
    ) -> tuple[Conversation, Message]:
        """The visitor's first message (or first after a close) starts a new conversation."""
        check_text(text)
        with self.storage.savepoint():
            latest = self.storage.latest_conversation(visitor.id)
            return self._post_visitor_message(visitor, latest, text, client_id, skip_visitor_conn)

    def post_visitor_message_by_id(
        self, visitor_id: str, text: str, client_id: str = "", skip_visitor_conn: object = None
    ) -> tuple[Conversation, Message]:
        """post_visitor_message with the visitor and its latest conversation read in one query (the hot path:
        every round trip on PostgreSQL is spent holding the writer lock)."""
        check_text(text)
        with self.storage.savepoint():
            visitor, latest = self.storage.visitor_and_latest(visitor_id)
            if visitor is None:
                raise not_found("visitor")
            return self._post_visitor_message(visitor, latest, text, client_id, skip_visitor_conn)

    def _post_visitor_message(
        self, visitor: Visitor, conversation: Conversation | None, text: str, client_id: str,
        skip_visitor_conn: object,
    ) -> tuple[Conversation, Message]:  # fmt: skip
        # Inside the caller's savepoint: a command rolled back never runs the hooks.
        created = conversation is None or conversation.status == ConversationStatus.CLOSED
        if conversation is None or created:
            now = self.clock.now()
            conversation = Conversation(id=new_id(), visitor=visitor, created_at=now, updated_at=now)
            self.storage.add_conversation(conversation)
        before = None if created else msgspec.structs.replace(conversation)
        extra: list[Event] = []
        if created:
            extra.append(ConversationCreated(conversation=conversation))
        message = self.add_message(
            conversation,
            AuthorKind.VISITOR,
            text,
            author_id=visitor.id,
            author_name=visitor.name,
            client_id=client_id,
            extra_events=extra,
            before=before,
            skip_visitor_conn=skip_visitor_conn,
        )
        self.storage.after_commit(lambda: self._run_hooks(conversation, message))
        return conversation, message

    def _run_hooks(
        self, conversation: Conversation, message: Message, hooks: list[VisitorMessageHook] | None = None
    ) -> None:
        for hook in self.on_visitor_message if hooks is None else hooks:
            task = asyncio.get_running_loop().create_task(self._guard(hook(conversation, message)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def assigned(self, conversation: Conversation) -> None:
        """Runs the on_assigned hooks after the current batch commits (routing marks out-of-territory)."""
        if self.on_assigned:
            self.storage.after_commit(lambda: self._spawn(hook(conversation) for hook in self.on_assigned))

    def closed(self, conversation: Conversation) -> None:
        """Runs the on_closed hooks after the current batch commits."""
        if self.on_closed:
            self.storage.after_commit(lambda: self._spawn(hook(conversation) for hook in self.on_closed))

    def agent_ready(self, agent: Agent, why: str, *, now: bool = False) -> None:
        """Runs the on_agent_ready hooks after the current batch commits (``now``: nothing to commit)."""
        if not self.on_agent_ready:
            return
        if now:
            self._spawn(hook(agent, why) for hook in self.on_agent_ready)
        else:
            self.storage.after_commit(lambda: self._spawn(hook(agent, why) for hook in self.on_agent_ready))

    def _spawn(self, awaitables: Iterable[Awaitable[None]]) -> None:
        try:
            loop = asyncio.get_running_loop()  # before the hooks' coroutines exist: none is left unawaited
        except RuntimeError:  # a synchronous commit outside the loop (start-up, admin): no hooks to run
            log.debug("hooks skipped: no running loop")
            return
        for awaitable in awaitables:
            task = loop.create_task(self._guard(awaitable))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Lets the hook tasks still pending finish (at stop, before storage closes): a task cancelled
        before it started would drop its hook unrun, and its coroutine is never awaited."""
        for _ in range(10):  # a hook may spawn hooks; bounded all the same
            if not self._tasks:
                return
            await asyncio.wait(tuple(self._tasks), timeout=5.0)

    async def _guard(self, awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("on_visitor_message hook failed")

    def post_agent_message(
        self, agent: Agent, conversation_id: str, text: str, private: bool = False, client_id: str = ""
    ) -> Message:
        """Replying to an unassigned conversation assigns it to the replier."""
        check_text(text)
        with self.storage.savepoint():
            conversation = self.visible_conversation(agent, conversation_id)
            before = msgspec.structs.replace(conversation)
            if conversation.status == ConversationStatus.CLOSED:
                raise CommandError(ErrorCode.CONFLICT, "the conversation is closed; reopen it first")
            if conversation.assignee_id is None and not private:
                conversation.assignee_id = agent.id
                conversation.assigned_via, conversation.assigned_by = "take", agent.id
            message = self.add_message(
                conversation, AuthorKind.AGENT, text, author=agent, client_id=client_id, private=private,
                before=before,
            )  # fmt: skip
        if not private and self.on_agent_message:
            self.storage.after_commit(lambda: self._run_hooks(conversation, message, self.on_agent_message))
        return message

    def post_bot_message(self, conversation_id: str, text: str, bot_name: str = "Bot") -> Message:
        """For the playbook module: a bot reply in a conversation (call ``await commit()`` after)."""
        with self.storage.savepoint():
            conversation = self.storage.get_conversation(conversation_id)
            if conversation is None:
                raise not_found("conversation")
            return self.add_message(conversation, AuthorKind.BOT, text, author_name=bot_name)

    # ------------------------------------------------------------ visitors

    def update_visitor(self, visitor: Visitor, skip_visitor_conn: object = None) -> Visitor:
        """Saves the visitor; agents who see its latest conversation get VisitorUpdated; the
        on_visitor_updated hooks (territory alignment) run after the commit."""
        visitor.last_seen = self.clock.now()
        with self.storage.savepoint():
            self.storage.save_visitor(visitor)
            conversation = self.storage.latest_conversation(visitor.id)
            if conversation is not None:
                conversation.visitor = visitor
                self.publish(
                    conversation,
                    conversation,
                    [VisitorUpdated(conversation_id=conversation.id, visitor=visitor)],
                )
            if self.on_visitor_updated:
                self.storage.after_commit(
                    lambda: self._spawn(hook(visitor) for hook in self.on_visitor_updated)
                )
        return visitor

    def agent_update_visitor(self, agent: Agent, command: UpdateVisitor) -> tuple[Conversation, Visitor]:
        """An agent reports what the CRM knows (update_visitor): validated, stored with its source (kept on
        the server: the visitor never sees it), broadcast; alignment re-runs after the commit."""
        c = command
        for name in ("name", "email", "company", "country", "region", "source"):
            value = getattr(c, name)
            if value is not None and len(value) > MAX_VISITOR_FIELD:
                raise CommandError(
                    ErrorCode.TOO_LONG, f"{name} is longer than {MAX_VISITOR_FIELD} characters"
                )
        if c.team_size is not None and not 0 <= c.team_size <= MAX_TEAM_SIZE:
            raise CommandError(ErrorCode.INVALID, f"team_size must be between 0 and {MAX_TEAM_SIZE}")
        email = c.email.strip() if c.email is not None else None
        if email and not _EMAIL.match(email):
            raise CommandError(ErrorCode.INVALID, f"'{email}' is not an email address")
        country = c.country.strip().upper() if c.country is not None else None
        if country and not _COUNTRY.match(country):
            raise CommandError(ErrorCode.INVALID, "country must be a two-letter ISO code such as US or DE")
        region = c.region.strip().upper() if c.region is not None else None
        if region and not _REGION.match(region):
            raise CommandError(ErrorCode.INVALID, "region must be a state/province code such as CA or NY")
        with self.storage.savepoint():
            conversation = self.visible_conversation(agent, c.conversation_id)
            visitor = self.storage.get_visitor(conversation.visitor.id) or conversation.visitor
            known = self.storage.visitor_facts(visitor.id) or VisitorFacts()
            given = {
                "name": c.name.strip() if c.name is not None else None,
                "email": email,
                "company": c.company.strip() if c.company is not None else None,
                "country": country,
                "region": region,
                "team_size": c.team_size,
            }
            changes = {k: v for k, v in given.items() if v is not None}
            visitor = msgspec.structs.replace(visitor, **changes)
            facts = msgspec.structs.replace(
                known,
                **{k: v for k, v in changes.items() if k in ("company", "country", "region", "team_size")},
                source=c.source.strip() or known.source,
                by_id=agent.id,
                at=self.clock.now(),
            )
            self.storage.save_visitor_facts(visitor.id, facts)
            visitor = self.update_visitor(visitor)
            conversation.visitor = visitor
        return conversation, visitor

    # ------------------------------------------------------------ presence

    def set_presence(self, agent: Agent, presence: Presence, reason: str = "") -> Agent:
        """``reason``: why the desk set it ("screen locked"...; "" = by hand); an Available never has one."""
        with self.storage.savepoint():
            reason = reason if presence is Presence.AWAY else ""
            was = agent.presence
            agent = msgspec.structs.replace(agent, presence=presence, presence_reason=reason)
            self.storage.save_agent(agent)
            self.hub.agents[agent.id] = agent
            self.hub.broadcast_presence(agent)
            if presence is Presence.AVAILABLE and was is not Presence.AVAILABLE:
                self.agent_ready(agent, f"{agent.name} is available")
        return self.hub.agent_view(agent)

    def result(self, **values: Any) -> dict[str, Any]:
        return {k: msgspec.to_builtins(v) for k, v in values.items()}
