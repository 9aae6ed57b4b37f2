"""Plugs the playbook bot, territory routing and the SLA clock into the service layer.

The only things it needs from the core are small and explicit: ``Service`` (``storage`` with savepoints
and commit, ``hub.all_agent_views()``, ``add_message``, ``update_visitor``, ``publish``, the
``on_visitor_message`` hook list, and ``on_agent_message`` when the core has it) and the SQLite connection
the storage writes with (for the ``sla_clock`` table). Everything else is injected: the territory table,
the enrichment lookup, the booking-card provider, the scheduler.

Flow: a visitor message on a playbook page -> the bot greets / asks / validates -> CQL rule -> routing
(assign, or offer the aligned SDR's calendar when away, or the pool's when nobody is available) -> the SLA
clock (warning, breach, meeting offer) until the first human reply.

Alignment (``Routing.aligned_agent_id/rule/line/basis``) is evaluated from the first visitor message on
and re-evaluated whenever something new is known about the visitor (``on_visitor_updated``: bot answers,
profile, CRM facts); routing uses that same evaluation. A later change never reassigns a chat: the record
and a team-only note say who owns the territory now, and the SDR decides to add them or hand off.

Unresponsive fallback: a chat routing gave to a rep who hasn't answered ``[sla] fallback_after`` seconds
later goes to the next available rep with room in the territory order (``routing.fallback_tiers``); the
previous rep stays in it as a participant, the new rep's response clock starts afresh, and at most
``max_hops`` such moves happen; the meeting offer at ``offer_meeting_seconds`` (from the first routing)
still comes. Capacity: reps at ``Agent.max_chats`` are passed over; a chat nobody had room for waits in
the queue and is routed when a chat is closed or handed on. Every step lands in
``Conversation.routing_audit`` (team only).

Parts (each holds the Automation and uses its state and shared helpers): ``chat_server.router`` (company
lookup, alignment, routing now, offers), ``chat_server.sla_timers`` (arming, firing, re-arming, settling
the clock) and ``chat_server.fallback`` (unresponsive fallback, the waiting-for-room queue).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, cast

import msgspec

from agent_app.protocol import (
    MAX_ROUTING_AUDIT,
    Agent,
    AuthorKind,
    BookingCard,
    Conversation,
    ConversationStatus,
    ConversationUpdated,
    CqlChange,
    CqlChanged,
    Message,
    RoutingStep,
    Visitor,
)
from chat_server.bot import Bot
from chat_server.fallback import FREED, Fallback
from chat_server.playbook import CqlRule, Playbook, normalize_email
from chat_server.router import Router
from chat_server.routing import (
    Alignment,
    Decision,
    RoundRobin,
    is_available,
    is_routed,
    mark_out_of_territory,
)
from chat_server.service import Service
from chat_server.sla import LoopScheduler, Scheduler, SlaStore
from chat_server.sla_timers import SlaTimers
from chat_server.storage.base import SqlConnection
from chat_server.territories import Enricher, TerritoryTable

BookingProvider = Callable[[Agent], BookingCard | None]


class Automation:
    """The facade: the service hooks and the bot here; routing, the SLA timers and the fallback/queue in its
    parts (``router``, ``timers``, ``fallback``), which share its state and the helpers below."""

    def __init__(
        self,
        service: Service,
        playbook: Playbook,
        *,
        territories: TerritoryTable | None = None,
        enrich: Enricher | None = None,
        booking: BookingProvider | None = None,
        scheduler: Scheduler | None = None,
        available: Callable[[Agent], bool] = is_available,
        conn: SqlConnection | None = None,
    ) -> None:
        self.s = service
        self.playbook = playbook
        self.bot = Bot(playbook)
        self.territories = territories
        self.enrich = enrich
        self.booking = booking
        self.scheduler: Scheduler = scheduler or LoopScheduler(service.clock)
        self.available = available
        self.rotation = RoundRobin()
        self.sla = SlaStore(conn if conn is not None else _connection(service))
        self._locks: dict[str, asyncio.Lock] = {}
        # Several server processes (chat_server.cluster): only the leader runs timers (exactly once).
        self.timers_here = True
        self._card_kw = "card" in inspect.signature(service.add_message).parameters
        self.router = Router(self)
        self.timers = SlaTimers(self)
        self.fallback = Fallback(self)

    # ------------------------------------------------------------ lifecycle

    def install(self) -> None:
        """Registers the hooks on the service (idempotent)."""
        if self.on_visitor_message not in self.s.on_visitor_message:
            self.s.on_visitor_message.append(self.on_visitor_message)
        hooks = getattr(self.s, "on_agent_message", None)
        if isinstance(hooks, list) and self.on_agent_message not in hooks:
            hooks.append(self.on_agent_message)
        assigned = getattr(self.s, "on_assigned", None)
        if isinstance(assigned, list) and self.on_assigned not in assigned:
            assigned.append(self.on_assigned)
        updated = getattr(self.s, "on_visitor_updated", None)
        if isinstance(updated, list) and self.on_visitor_updated not in updated:
            updated.append(self.on_visitor_updated)
        closed = getattr(self.s, "on_closed", None)
        if isinstance(closed, list) and self.on_closed not in closed:
            closed.append(self.on_closed)
        ready = getattr(self.s, "on_agent_ready", None)
        if isinstance(ready, list) and self.on_agent_ready not in ready:
            ready.append(self.on_agent_ready)

    async def start(self) -> int:
        """Re-arms the timers of every clock still running (after a restart). Returns how many."""
        return self.timers.start()

    def stop(self) -> None:
        self.timers.stop()

    # ------------------------------------------------------------ hooks

    async def on_visitor_message(self, conversation: Conversation, message: Message) -> None:
        async with self.lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is None or conv.status != ConversationStatus.OPEN:
                return
            routes_now = not self.bot.runs_for(conv.visitor) and self.playbook.routing.route_without_playbook
            if conv.routing is None and not (routes_now and conv.first_response_at is None):
                await self.router.realign(conv)  # a new conversation: say what is known before any routing
                conv = self.s.storage.get_conversation(conv.id) or conv
            if conv.first_response_at is not None:
                return
            if is_routed(conv.routing):
                await self._maybe_take_email(conv, message.text)
                return
            if not self.bot.runs_for(conv.visitor):
                if routes_now:
                    await self.router.route(conv)
                return
            await self.s.storage.write_ready()  # PostgreSQL: waits for the writer lock off the loop
            conv = self.s.storage.get_conversation(conv.id) or conv  # the wait yielded: read it again
            turn = self.bot.handle(conv.id, conv.visitor, message.text, started=self._bot_spoke(conv.id))
            with self.s.storage.savepoint():
                if turn.visitor is not None:
                    self.s.update_visitor(turn.visitor)
                    conv.visitor = turn.visitor
                for text in turn.says:
                    self.say(conv, text)
                if turn.done and turn.cql is not None:
                    self._rate(conv, turn.cql)
            await self.s.commit()
            if turn.done:
                self.bot.forget(conv.id)
                fresh = self.s.storage.get_conversation(conv.id)
                if fresh is not None and not is_routed(fresh.routing) and fresh.first_response_at is None:
                    await self.router.route(fresh)

    async def on_visitor_updated(self, visitor: Visitor) -> None:
        """Something new about the visitor (answers, profile, CRM facts): re-evaluate the aligned SDR of
        their latest conversation."""
        conv = self.s.storage.latest_conversation(visitor.id)
        if conv is not None:
            await self.realign(conv.id)

    async def realign(self, conversation_id: str) -> Alignment | None:
        """Re-evaluates the aligned SDR now (None when the conversation is gone)."""
        async with self.lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            return await self.router.realign(conv) if conv is not None else None

    async def on_agent_message(self, conversation: Conversation, message: Message) -> None:
        """A human replied: stop the clock (first response recorded) and flag out-of-territory pickups."""
        if message.author_kind != AuthorKind.AGENT or message.private:
            return
        async with self.lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is not None:
                await self.timers.settle(conv)

    async def on_assigned(self, conversation: Conversation) -> None:
        async with self.lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is None:
                return
            if mark_out_of_territory(conv.routing, conv.assignee_id) is not None:
                await self.s.storage.write_ready()  # PostgreSQL: waits for the writer lock off the loop
                conv = self.s.storage.get_conversation(conv.id) or conv  # the wait yielded: read it again
                marked = mark_out_of_territory(conv.routing, conv.assignee_id)
                if marked is not None:
                    with self.s.storage.savepoint():
                        before = msgspec.structs.replace(conv)
                        conv.routing = marked
                        self.save(before, conv)
                await self.s.commit()  # even with nothing written: it ends the batch write_ready opened
        await self.route_waiting()  # an assignment or hand-off may have freed a slot

    async def on_closed(self, conversation: Conversation) -> None:
        await self.route_waiting()  # the assignee has a free slot now

    async def on_agent_ready(self, agent: Agent, why: str) -> None:
        """A rep turned Available, signed in Available, or got room (a raised limit): every chat waiting in
        the queue is routed again, oldest first; routing's usual rules pick who gets each (often this rep).
        Only unassigned chats move, so presence flapping never takes a chat from anyone."""
        await self.route_waiting(why=why, queued=True)

    # ------------------------------------------------------------ the bot

    def _bot_spoke(self, conversation_id: str) -> bool:
        messages, _ = self.s.storage.messages(conversation_id, None, 200, True)
        return any(m.author_kind == AuthorKind.BOT for m in messages)

    def _rate(self, conv: Conversation, rule: CqlRule) -> None:
        if conv.cql == rule.cql:
            return
        change = CqlChange(
            level=rule.cql,
            previous=conv.cql,
            by_kind=AuthorKind.BOT,
            by_id="playbook",
            by_name=f"{self.playbook.bot_name} (rule '{rule.name}')",
            at=self.s.clock.now(),
        )
        before = msgspec.structs.replace(conv)
        conv.cql = rule.cql
        conv.cql_history = [*conv.cql_history, change]
        self.save(before, conv, CqlChanged(conversation_id=conv.id, change=change))

    async def _maybe_take_email(self, conv: Conversation, text: str) -> None:
        """After an away/nobody offer the bot asked for an email: take it when the visitor gives one."""
        if conv.assignee_id is not None or conv.visitor.email:
            return
        email = normalize_email(text)
        if email is None:
            return
        await self.s.storage.write_ready()  # PostgreSQL: waits for the writer lock off the loop
        conv = self.s.storage.get_conversation(conv.id) or conv  # the wait yielded: commands ran meanwhile
        visitor = msgspec.structs.replace(
            conv.visitor, email=email, answers={**conv.visitor.answers, "email": email}
        )
        with self.s.storage.savepoint():
            self.s.update_visitor(visitor)
            conv.visitor = visitor
            self.say(conv, f"Thanks — we'll reach out at {email} within a business day.")
        await self.s.commit()

    # ------------------------------------------------------------ shared with the parts

    def say(self, conv: Conversation, text: str, card: BookingCard | None = None) -> Message:
        kwargs: dict[str, Any] = {"author_name": self.playbook.bot_name}
        if card is not None and self._card_kw:
            kwargs["card"] = card
        return self.s.add_message(conv, AuthorKind.BOT, text, **kwargs)

    def note(self, conv: Conversation, text: str, before: Conversation) -> Message:
        """A system line only agents see (routing decisions are internal)."""
        return self.s.add_message(conv, AuthorKind.SYSTEM, text, private=True, before=before)

    def save(self, before: Conversation, conv: Conversation, *extra: Any) -> None:
        conv.updated_at = self.s.clock.now()
        self.s.storage.save_conversation(conv)
        self.s.publish(before, conv, [ConversationUpdated(conversation=conv), *extra])

    def lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        return lock

    def audit(self, conv: Conversation, *steps: RoutingStep) -> None:
        """Appends to the routing audit (saved with the conversation's next save; the oldest go first)."""
        if steps:
            conv.routing_audit = [*conv.routing_audit, *steps][-MAX_ROUTING_AUDIT:]

    # ------------------------------------------------------------ routing, clock and queue (the parts)

    async def route(self, conversation_id: str) -> Decision | None:
        """Routes now (e.g. an admin re-run); None when it was routed already or is gone."""
        async with self.lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            if conv is None or is_routed(conv.routing):
                return None
            return await self.router.route(conv)

    def rearm(self) -> int:
        """The cluster leader, every sweep: arms the clocks other processes started or changed since the
        last call. Returns how many were (re)armed."""
        return self.timers.rearm()

    async def route_waiting(
        self, conversation_ids: list[str] | None = None, *, why: str = FREED, queued: bool = False
    ) -> int:
        """Routes the chats waiting in the queue to reps with room now (see Fallback.route_waiting)."""
        return await self.fallback.route_waiting(conversation_ids, why=why, queued=queued)

    async def check(self, conversation_id: str) -> None:
        """Settles a clock whose conversation was answered or closed meanwhile (when the core has no
        on_agent_message hook, timers do this when they fire)."""
        async with self.lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            if conv is not None and (
                conv.first_response_at is not None or conv.status != ConversationStatus.OPEN
            ):
                await self.timers.settle(conv)


def _connection(service: Service) -> SqlConnection:
    """The storage's write connection (SqlStorage.conn, SQLite or PostgreSQL): the SLA rows commit with the
    conversation."""
    conn = getattr(service.storage, "conn", None)
    if not callable(getattr(conn, "execute", None)):
        raise TypeError("the SLA clock needs a SQL storage (or pass conn=)")
    return cast(SqlConnection, conn)


def booking_provider(
    service: Service, default_zone: str = "", calendars: Any = None
) -> BookingProvider | None:
    """Booking cards from the calendar module (chat_server.meetings) when the storage keeps meetings;
    ``default_zone`` (Config.default_timezone) for calendars of agents without a zone of their own;
    ``calendars`` (chat_server.calendars.sync.CalendarSync) adds the busy times of connected calendars."""
    storage = service.storage
    if not hasattr(storage, "add_meeting"):
        return None
    from chat_server import meetings

    def card(agent: Agent) -> BookingCard | None:
        now = service.clock.now()
        external = calendars.busy(agent.id)[0] if calendars is not None else []
        return meetings.booking_card(
            cast(Any, storage), agent, now, default_zone=default_zone, external=external
        )

    return card


async def attach(
    server: Any,
    playbook: Playbook | None = None,
    *,
    territories: TerritoryTable | None = None,
    enrich: Enricher | None = None,
    scheduler: Scheduler | None = None,
) -> Automation:
    """Wires the playbook, routing, SLA clock and widget routes into a running ``ChatServer``.

    The territory table defaults to the playbook's ``[routing] territories_csv``; a broken table is a
    startup error naming the bad lines (routing silently to the fallback would hide it)."""
    from chat_server.playbook import load_playbook
    from chat_server.territories import load_table
    from chat_server.widget_routes import widget_routes

    playbook = playbook or load_playbook()
    if territories is None and (path := playbook.territories_path()) is not None:
        territories = load_table(path)
    service: Service = server.service
    automation = Automation(
        service,
        playbook,
        territories=territories,
        enrich=enrich,
        booking=booking_provider(
            service,
            getattr(getattr(server, "config", None), "default_timezone", ""),
            getattr(getattr(server, "ctx", None), "calendars", None),
        ),
        scheduler=scheduler,
    )
    automation.install()
    server.routes.update(widget_routes(playbook))
    await automation.start()
    return automation


async def attach_configured(server: Any) -> Automation:
    """``attach`` with what ``server.config`` says (playbook, territories_csv, enrichment_url/key)."""
    from chat_server.playbook import load_playbook
    from chat_server.territories import datafox_enricher, load_table

    config = server.config
    playbook = load_playbook(config.playbook or None)
    territories = load_table(config.territories_csv) if config.territories_csv else None
    enrich = datafox_enricher(config.enrichment_url, config.enrichment_key) if config.enrichment_url else None
    return await attach(server, playbook, territories=territories, enrich=enrich)
