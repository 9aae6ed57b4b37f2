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
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, cast

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
    SlaBreached,
    SlaWarning,
    Visitor,
)
from chat_server.bot import Bot
from chat_server.playbook import CqlRule, Playbook, email_domain, normalize_email
from chat_server.routing import (
    CAPACITY_QUEUE,
    Alignment,
    Company,
    Decision,
    Enricher,
    Load,
    RoundRobin,
    TerritoryTable,
    align,
    company_from_email,
    decide,
    fallback_tiers,
    find_agent,
    is_available,
    is_routed,
    mark_out_of_territory,
    next_in_order,
    pool_members,
    step,
)
from chat_server.service import Service
from chat_server.sla import (
    LoopScheduler,
    Outcome,
    Scheduler,
    SlaRecord,
    SlaStore,
    TimerHandle,
    TimerKind,
    new_record,
)
from chat_server.storage.base import SqlConnection, VisitorFacts

log = logging.getLogger(__name__)
BookingProvider = Callable[[Agent], BookingCard | None]
# Enrichment answers are cached: alignment re-runs on every visitor update (page views too).
COMPANY_TTL = 3600.0
UNKNOWN_COMPANY_TTL = 300.0
COMPANY_CACHE = 4096
OPEN_ONLY = 1e18  # storage.conversations(closed_since=...): no closed chat is that recent: open ones only
MAX_WAITING_ROUTED = 50  # chats waiting for a free slot routed per close/hand-off (the oldest first)
FREED = "a chat slot freed up"  # why a waiting chat was routed after a close or hand-off
Kind = TimerKind | Literal["fallback"]


class Automation:
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
        self._timers: dict[str, list[TimerHandle]] = {}
        # Several server processes (chat_server.cluster): only the leader runs timers (exactly once).
        self.timers_here = True
        self._plans: dict[str, tuple[object, ...]] = {}  # what rearm() armed, per conversation
        self._companies: dict[str, tuple[float, Company | None]] = {}
        self._card_kw = "card" in inspect.signature(service.add_message).parameters

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
        pending = self.sla.pending()
        for record in pending:
            self._arm(record)
        return len(pending)

    def stop(self) -> None:
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------ hooks

    async def on_visitor_message(self, conversation: Conversation, message: Message) -> None:
        async with self._lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is None or conv.status != ConversationStatus.OPEN:
                return
            routes_now = not self.bot.runs_for(conv.visitor) and self.playbook.routing.route_without_playbook
            if conv.routing is None and not (routes_now and conv.first_response_at is None):
                await self._realign(conv)  # a new conversation: say what is known before any routing
                conv = self.s.storage.get_conversation(conv.id) or conv
            if conv.first_response_at is not None:
                return
            if is_routed(conv.routing):
                await self._maybe_take_email(conv, message.text)
                return
            if not self.bot.runs_for(conv.visitor):
                if routes_now:
                    await self._route(conv)
                return
            turn = self.bot.handle(conv.id, conv.visitor, message.text, started=self._bot_spoke(conv.id))
            with self.s.storage.savepoint():
                if turn.visitor is not None:
                    self.s.update_visitor(turn.visitor)
                    conv.visitor = turn.visitor
                for text in turn.says:
                    self._say(conv, text)
                if turn.done and turn.cql is not None:
                    self._rate(conv, turn.cql)
            await self.s.commit()
            if turn.done:
                self.bot.forget(conv.id)
                fresh = self.s.storage.get_conversation(conv.id)
                if fresh is not None and not is_routed(fresh.routing) and fresh.first_response_at is None:
                    await self._route(fresh)

    async def on_visitor_updated(self, visitor: Visitor) -> None:
        """Something new about the visitor (answers, profile, CRM facts): re-evaluate the aligned SDR of
        their latest conversation."""
        conv = self.s.storage.latest_conversation(visitor.id)
        if conv is not None:
            await self.realign(conv.id)

    async def realign(self, conversation_id: str) -> Alignment | None:
        """Re-evaluates the aligned SDR now (None when the conversation is gone)."""
        async with self._lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            return await self._realign(conv) if conv is not None else None

    async def on_agent_message(self, conversation: Conversation, message: Message) -> None:
        """A human replied: stop the clock (first response recorded) and flag out-of-territory pickups."""
        if message.author_kind != AuthorKind.AGENT or message.private:
            return
        async with self._lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is not None:
                await self._settle(conv)

    async def on_assigned(self, conversation: Conversation) -> None:
        async with self._lock(conversation.id):
            conv = self.s.storage.get_conversation(conversation.id)
            if conv is None:
                return
            marked = mark_out_of_territory(conv.routing, conv.assignee_id)
            if marked is not None:
                with self.s.storage.savepoint():
                    before = msgspec.structs.replace(conv)
                    conv.routing = marked
                    self._save(before, conv)
                await self.s.commit()
        await self.route_waiting()  # an assignment or hand-off may have freed a slot

    async def on_closed(self, conversation: Conversation) -> None:
        await self.route_waiting()  # the assignee has a free slot now

    async def on_agent_ready(self, agent: Agent, why: str) -> None:
        """A rep turned Available, signed in Available, or got room (a raised limit): every chat waiting in
        the queue is routed again, oldest first; routing's usual rules pick who gets each (often this rep).
        Only unassigned chats move, so presence flapping never takes a chat from anyone."""
        await self.route_waiting(why=why, queued=True)

    # ------------------------------------------------------------ bot helpers

    def _bot_spoke(self, conversation_id: str) -> bool:
        messages, _ = self.s.storage.messages(conversation_id, None, 200, True)
        return any(m.author_kind == AuthorKind.BOT for m in messages)

    def _say(self, conv: Conversation, text: str, card: BookingCard | None = None) -> Message:
        kwargs: dict[str, Any] = {"author_name": self.playbook.bot_name}
        if card is not None and self._card_kw:
            kwargs["card"] = card
        return self.s.add_message(conv, AuthorKind.BOT, text, **kwargs)

    def _note(self, conv: Conversation, text: str, before: Conversation) -> Message:
        """A system line only agents see (routing decisions are internal)."""
        return self.s.add_message(conv, AuthorKind.SYSTEM, text, private=True, before=before)

    def _save(self, before: Conversation, conv: Conversation, *extra: Any) -> None:
        conv.updated_at = self.s.clock.now()
        self.s.storage.save_conversation(conv)
        self.s.publish(before, conv, [ConversationUpdated(conversation=conv), *extra])

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
        self._save(before, conv, CqlChanged(conversation_id=conv.id, change=change))

    async def _maybe_take_email(self, conv: Conversation, text: str) -> None:
        """After an away/nobody offer the bot asked for an email: take it when the visitor gives one."""
        if conv.assignee_id is not None or conv.visitor.email:
            return
        email = normalize_email(text)
        if email is None:
            return
        visitor = msgspec.structs.replace(
            conv.visitor, email=email, answers={**conv.visitor.answers, "email": email}
        )
        with self.s.storage.savepoint():
            self.s.update_visitor(visitor)
            conv.visitor = visitor
            self._say(conv, f"Thanks — we'll reach out at {email} within a business day.")
        await self.s.commit()

    # ------------------------------------------------------------ alignment and routing

    async def _company(self, conv: Conversation) -> Company | None:
        visitor = conv.visitor
        email = visitor.email or visitor.answers.get("email", "")
        personal = bool(email) and self.playbook.is_personal(email)
        domain = email_domain(email)
        if self.enrich is not None and domain and not personal:
            found = await self._lookup(domain)
            if found is not None:
                return found
        return company_from_email(email, visitor.company, personal)

    async def _lookup(self, domain: str) -> Company | None:
        now = self.s.clock.now()
        cached = self._companies.get(domain)
        if cached is not None:
            at, found = cached
            if now - at < (COMPANY_TTL if found is not None else UNKNOWN_COMPANY_TTL):
                return found
        assert self.enrich is not None
        try:
            found = await self.enrich(domain)
        except Exception:
            log.exception("enrichment lookup for %s failed", domain)
            return None  # not cached: the next update tries again
        self._companies.pop(domain, None)
        self._companies[domain] = (now, found)
        while len(self._companies) > COMPANY_CACHE:
            self._companies.pop(next(iter(self._companies)))
        return found

    def _crm(self, conv: Conversation) -> VisitorFacts | None:
        reader = getattr(self.s.storage, "visitor_facts", None)
        return reader(conv.visitor.id) if reader is not None else None

    async def _realign(self, conv: Conversation) -> Alignment:
        """One evaluation of the territory table for what is known now; stores and broadcasts the aligned
        fields when they changed. Never reassigns. The caller holds the conversation's lock."""
        company = await self._company(conv)
        conv = self.s.storage.get_conversation(conv.id) or conv  # the lookup yielded; reload
        alignment = align(
            conv.visitor,
            company,
            self.s.hub.all_agent_views(),
            self.territories,
            self.playbook.routing,
            self._crm(conv),
        )
        routing = alignment.apply(conv.routing)
        if routing == conv.routing:
            return alignment
        moved = conv.routing is not None and conv.routing.aligned_agent_id != routing.aligned_agent_id
        with self.s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            conv.routing = routing
            if moved and is_routed(routing) and conv.status == ConversationStatus.OPEN:
                self._note(conv, self._realigned_text(alignment, conv), before)
            else:
                self._save(before, conv)
        await self.s.commit()
        return alignment

    def _realigned_text(self, alignment: Alignment, conv: Conversation) -> str:
        where = f"{alignment.label()}, from {alignment.facts.basis}"
        if alignment.aligned is None:
            return f"No aligned SDR for what is known now ({where})"
        text = f"Aligned SDR is now {alignment.aligned.name} ({where})"
        if conv.assignee_id not in (None, alignment.aligned.id):
            text += " — add them or hand off"
        return text

    async def route(self, conversation_id: str) -> Decision | None:
        """Routes now (e.g. an admin re-run); None when it was routed already or is gone."""
        async with self._lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            if conv is None or is_routed(conv.routing):
                return None
            return await self._route(conv)

    async def _route(self, conv: Conversation) -> Decision:
        company = await self._company(conv)
        conv = self.s.storage.get_conversation(conv.id) or conv  # the lookup yielded; reload
        now = self.s.clock.now()
        decision = decide(
            conv.visitor,
            company,
            self._routable(),
            self.territories,
            self.playbook.routing,
            now,
            crm=self._crm(conv),
            available=self.available,
            rotation=self.rotation,
            load=self._load(),
        )
        card = self._card(decision.contact) if decision.branch != "assign" else None
        record = new_record(conv.id, decision.routing.agent_id, now, self.playbook.sla)
        with self.s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            conv.routing = decision.routing
            taken = conv.assignee_id not in (None, decision.routing.agent_id)  # someone took it meanwhile
            self._audit(conv, *(s for s in decision.steps if not (taken and s.action == "routed")))
            if decision.assignee is not None and conv.assignee_id is None:
                conv.assignee_id = decision.assignee.id
                conv.assigned_via, conv.assigned_by = "routing", ""
            elif conv.assignee_id is not None and conv.assignee_id != decision.routing.agent_id:
                marked = mark_out_of_territory(conv.routing, conv.assignee_id)
                conv.routing = marked or conv.routing
            if conv.first_response_at is None:
                conv.sla_due_at = record.due_at
                conv.waiting_since = conv.waiting_since or now
                if decision.branch != "assign":
                    record.offered_at = now  # offered right away; no second offer at 60 s
                self.sla.start(record)
            self._note(conv, decision.system_text, before)
            if decision.branch != "assign":
                self._offer(conv, decision, card)
        await self.s.commit()
        if conv.first_response_at is None:
            self._arm(record)
        return decision

    def _card(self, agent: Agent | None) -> BookingCard | None:
        if agent is None or self.booking is None:
            return None
        try:
            card = self.booking(agent)
        except Exception:
            log.exception("booking card for %s failed", agent.id)
            return None
        return card if card is not None and card.slots else None

    def _offer(self, conv: Conversation, decision: Decision, card: BookingCard | None) -> None:
        pb = self.playbook
        name = decision.contact.name if decision.contact else "our team"
        what = "their calendar" if card else "asked for an email"
        why = "away" if decision.branch == "away" else "nobody free"
        self._audit(conv, step(self.s.clock.now(), "offered_meeting", decision.contact, f"{why}; {what}"))
        if decision.branch == "away":
            self._say(conv, (pb.away_message if card else pb.away_no_calendar).format(agent=name), card)
        else:
            self._say(conv, pb.nobody_message if card else pb.nobody_no_calendar, card)
        if not conv.visitor.email:
            self._say(conv, pb.ask_email_for_followup)

    # ------------------------------------------------------------ SLA clock

    def _arm(self, record: SlaRecord) -> None:
        for handle in self._timers.pop(record.conversation_id, []):
            handle.cancel()
        if not self.timers_here:
            return  # another process leads the cluster: its rearm() picks the clock up from the table
        todo: list[tuple[Kind, float]] = list(record.next_timers(self.s.clock.now()))
        fallback_at = self._fallback_at(record)
        if fallback_at is not None:
            todo.append(("fallback", fallback_at))  # after the breach at the same time: it breaches first
        self._timers[record.conversation_id] = [
            self.scheduler.call_at(when, self._timer(record.conversation_id, kind, when))
            for kind, when in todo
        ]

    def rearm(self) -> int:
        """The cluster leader, every sweep: arms the clocks other processes started or changed since the
        last call. Returns how many were (re)armed."""
        plans: dict[str, tuple[object, ...]] = {}
        armed = 0
        for record in self.sla.pending():
            plan = (record.agent_id, record.warn_at, record.due_at, record.offer_at, record.warned_at,
                    record.breached_at, record.offered_at)  # fmt: skip
            plans[record.conversation_id] = plan
            if self._plans.get(record.conversation_id) != plan:
                self._arm(record)
                armed += 1
        self._plans = plans
        return armed

    def _timer(self, conversation_id: str, kind: Kind, when: float) -> Callable[[], Any]:
        async def fire() -> None:
            await self._fire(conversation_id, kind, when)

        return fire

    def _disarm(self, conversation_id: str) -> None:
        for handle in self._timers.pop(conversation_id, []):
            handle.cancel()

    def _fallback_at(self, record: SlaRecord) -> float | None:
        """When the current rep loses the chat if they haven't answered (None: the fallback is off)."""
        sla = self.playbook.sla
        if sla.fallback == "off" or sla.max_hops <= 0:
            return None
        return record.due_at - sla.first_response_seconds + sla.fallback_after

    def _due(self, record: SlaRecord, kind: Kind) -> tuple[float | None, bool]:
        """When ``kind`` is due on the record now, and whether it has been done already (a timer armed for
        another time is stale: a reassignment restarted the clock)."""
        if kind == "warn":
            return record.warn_at, record.warned_at is not None
        if kind == "breach":
            return record.due_at, record.breached_at is not None
        if kind == "offer":
            return record.offer_at, record.offered_at is not None
        return self._fallback_at(record), False

    async def _fire(self, conversation_id: str, kind: Kind, when: float) -> None:
        async with self._lock(conversation_id):
            record = self.sla.get(conversation_id)
            conv = self.s.storage.get_conversation(conversation_id)
            if record is None or record.outcome != "waiting" or conv is None:
                return
            if conv.first_response_at is not None or conv.status != ConversationStatus.OPEN:
                await self._settle(conv)
                return
            due, done = self._due(record, kind)
            if done or due != when:
                return  # fired already (another timer, or process), or the clock moved on since it was armed
            now = self.s.clock.now()
            restarted: SlaRecord | None = None
            with self.s.storage.savepoint():
                if kind == "warn":
                    self.sla.mark(conversation_id, kind, now)
                    self.s.publish(conv, conv, [SlaWarning(conversation_id=conv.id, due_at=record.due_at)])
                elif kind == "breach":
                    self._breach(conv, record, now)
                elif kind == "offer":
                    self.sla.mark(conversation_id, kind, now)
                    self._meeting_offer(conv, record)
                else:
                    if record.breached_at is None and record.due_at <= now:
                        self._breach(conv, record, now)  # the same instant as the breach timer: breach first
                    restarted = self._fallback(conv, record, now)
            await self.s.commit()
            log.info("SLA %s for conversation %s", kind, conversation_id)
        if restarted is not None:
            self._arm(restarted)
        elif kind == "fallback" and conv.assignee_id is None:
            await self.route_waiting([conversation_id])  # waiting for a free slot: maybe there is one now

    def _breach(self, conv: Conversation, record: SlaRecord, now: float) -> None:
        self.sla.mark(conv.id, "breach", now)
        record.breached_at = now
        before = msgspec.structs.replace(conv)
        conv.sla_breached = True
        self._save(before, conv, SlaBreached(conversation_id=conv.id, due_at=record.due_at))

    def _meeting_offer(self, conv: Conversation, record: SlaRecord) -> None:
        """With the aligned SDR (the meeting belongs in their territory, whoever was tried for the chat),
        else the rep the chat is routed to, else the pool's first member."""
        agents = self.s.hub.all_agent_views()
        contact = None
        for who in (conv.routing.aligned_agent_id if conv.routing else None, record.agent_id):
            contact = contact or (find_agent(agents, who) if who else None)
        if contact is None and conv.routing is not None:
            members = pool_members(agents, conv.routing.pool, self.playbook.routing)
            contact = members[0] if members else None
        card = self._card(contact)
        name = contact.name if contact else "our team"
        pb = self.playbook
        what = "their calendar" if card else "asked for an email"
        wait = f"no reply in {pb.sla.offer_meeting_seconds:g} s"
        self._audit(conv, step(self.s.clock.now(), "offered_meeting", contact, f"{wait}; {what}"))
        self._say(conv, (pb.meeting_offer if card else pb.meeting_offer_no_calendar).format(agent=name), card)
        if not conv.visitor.email:
            self._say(conv, pb.ask_email_for_followup)

    # ------------------------------------------------------------ unresponsive fallback and capacity

    def _audit(self, conv: Conversation, *steps: RoutingStep) -> None:
        """Appends to the routing audit (saved with the conversation's next save; the oldest go first)."""
        if steps:
            conv.routing_audit = [*conv.routing_audit, *steps][-MAX_ROUTING_AUDIT:]

    def _open_conversations(self) -> list[Conversation]:
        """Every open conversation, read on the write connection (this batch's assignments count too)."""
        reader: Callable[[float], list[Conversation]] | None = getattr(self.s.storage, "conversations", None)
        if reader is None:
            return []
        return [c for c in reader(OPEN_ONLY) if c.status == ConversationStatus.OPEN]

    def _routable(self) -> list[Agent]:
        """The team for a routing decision, with chat limits as stored now (the CLI sets them from
        another process; the hub's agent cache is only reloaded at sign-in)."""
        agents = self.s.hub.all_agent_views()
        limits = {a.id: a.max_chats for a in self.s.storage.list_agents()}
        return [
            msgspec.structs.replace(a, max_chats=limits[a.id])
            if limits.get(a.id, a.max_chats) != a.max_chats
            else a
            for a in agents
        ]

    def _load(self) -> Load:
        """Open chats per assignee, counted once per decision and only when someone has a limit."""
        counts: Counter[str] | None = None

        def load(agent: Agent) -> int:
            nonlocal counts
            if counts is None:
                counts = Counter(
                    c.assignee_id
                    for c in self._open_conversations()
                    if c.status == ConversationStatus.OPEN and c.assignee_id
                )
            return counts[agent.id]

        return load

    def _fallback(self, conv: Conversation, record: SlaRecord, now: float) -> SlaRecord | None:
        """The routed rep hasn't answered: the next available rep with room in the territory order gets
        the chat (the previous one stays in it as a participant) and a fresh response clock, which is
        returned to be armed. Only routing's own assignments move; nothing moves after ``max_hops``."""
        sla = self.playbook.sla
        previous_id = conv.assignee_id
        if previous_id is None or conv.assigned_via != "routing" or conv.routing is None:
            return None  # in the queue, or a person chose the assignee: not routing's to undo
        got_it_at = record.due_at - sla.first_response_seconds
        if any(
            s.agent_id == previous_id and s.action in ("missed", "reassigned") and s.at >= got_it_at
            for s in conv.routing_audit
        ):
            return None  # done for this rep already (the timer fired again after a restart)
        agents = self._routable()
        previous = next((a for a in agents if a.id == previous_id), None)
        name = previous.name if previous is not None else "The rep"
        waited = f"no answer in {sla.fallback_after:g} s"
        before = msgspec.structs.replace(conv)
        hops = sum(1 for s in conv.routing_audit if s.action == "reassigned")
        if hops >= sla.max_hops:
            self._audit(conv, step(now, "missed", previous, f"{waited}; no reassignments left ({hops})"))
            self._save(before, conv)
            return None
        tried = {
            s.agent_id for s in conv.routing_audit if s.agent_id and s.action in ("routed", "reassigned")
        }
        tiers = fallback_tiers(conv.routing, agents, self.playbook.routing, sla.fallback)
        chosen, how, skipped = next_in_order(
            tiers, {*tried, previous_id}, self.available, self._load(), self.rotation, now
        )
        if chosen is None:
            # the audit says so; no transcript line: a team of one would get one on every slow reply
            self._audit(conv, *skipped, step(now, "missed", previous, f"{waited}; nobody else available"))
            self._save(before, conv)
            return None
        why = f"{name} didn't answer in {sla.fallback_after:g} s"
        self._audit(
            conv,
            step(now, "reassigned", previous, waited),
            *skipped,
            step(now, "routed", chosen, f"{how}; {why}"),
        )
        participants = [a for a in conv.participant_ids if a != chosen.id]
        if previous_id not in participants:
            participants.append(previous_id)  # keeps the context, and may still answer
        conv.participant_ids = participants
        conv.assignee_id = chosen.id
        conv.assigned_via, conv.assigned_by = "routing", ""
        conv.routing = msgspec.structs.replace(
            conv.routing, agent_id=chosen.id, reason=f"fallback: {why}; {how}"
        )
        restarted = self._restart_clock(conv, record, chosen, now)
        self._note(conv, f"{why}; routed to {chosen.name} ({how})", before)
        return restarted

    def _restart_clock(self, conv: Conversation, record: SlaRecord, agent: Agent, now: float) -> SlaRecord:
        """A new rep gets the full response time; the visitor's wait (started_at) and the meeting offer
        (offer_at, offered_at) keep counting from the first routing."""
        sla = self.playbook.sla
        record.agent_id = agent.id
        record.warn_at, record.due_at = now + sla.warning_seconds, now + sla.first_response_seconds
        record.warned_at = record.breached_at = None
        self.sla.start(record)
        conv.sla_due_at, conv.sla_breached = record.due_at, False
        return record

    @staticmethod
    def _waiting_for_room(conv: Conversation, queued: bool = False) -> bool:
        """Routing queued it because everyone available was at capacity (and nobody has taken it since).
        ``queued``: or for any reason routing left it in the queue (nobody available, the rule's SDR
        away), and nobody has answered it yet. A chat routing gave a rep and a person put back is not one."""
        if conv.status != ConversationStatus.OPEN or conv.assignee_id is not None:
            return False
        last = next((s for s in reversed(conv.routing_audit) if s.action in ("routed", "queued")), None)
        if not queued:
            return last is not None and last.action == "queued" and last.reason == CAPACITY_QUEUE
        if conv.first_response_at is not None or not is_routed(conv.routing):
            return False
        if last is None:  # routing ran and routed nobody: the rule's SDR (or fallback) was away
            return conv.routing is not None and conv.routing.agent_id is not None
        return last.action == "queued"

    async def route_waiting(
        self, conversation_ids: list[str] | None = None, *, why: str = FREED, queued: bool = False
    ) -> int:
        """Routes the chats that wait for a free slot, oldest first, to reps with room now (all of them,
        or the ones named). Returns how many were routed. Cheap when nobody has a chat limit.
        ``queued``: every chat routing left in the queue (see _waiting_for_room); ``why`` ends the audit
        step and the team's note."""
        if conversation_ids is None:
            if not queued and not any(a.max_chats > 0 for a in self._routable()):
                return 0
            waiting = [c for c in self._open_conversations() if self._waiting_for_room(c, queued)]
            conversation_ids = [c.id for c in sorted(waiting, key=lambda c: c.created_at)]
        routed = 0
        for conversation_id in conversation_ids[:MAX_WAITING_ROUTED]:
            async with self._lock(conversation_id):
                conv = self.s.storage.get_conversation(conversation_id)
                if conv is None or not self._waiting_for_room(conv, queued):
                    continue
                restarted = await self._route_waiting(conv, why, queued)
            if restarted is not None:
                routed += 1
                self._arm(restarted)
        return routed

    async def _route_waiting(
        self, conv: Conversation, why: str = FREED, queued: bool = False
    ) -> SlaRecord | None:
        company = await self._company(conv)
        conv = self.s.storage.get_conversation(conv.id) or conv  # the lookup yielded; reload
        if not self._waiting_for_room(conv, queued):
            return None
        now = self.s.clock.now()
        decision = decide(
            conv.visitor,
            company,
            self._routable(),
            self.territories,
            self.playbook.routing,
            now,
            crm=self._crm(conv),
            available=self.available,
            rotation=self.rotation,
            load=self._load(),
        )
        chosen = decision.assignee
        if decision.branch != "assign" or chosen is None:
            return None  # still nobody with room: no new audit lines until something changes
        record = self.sla.get(conv.id)
        with self.s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            steps = [
                msgspec.structs.replace(s, reason=f"{s.reason}; {why}") if s.action == "routed" else s
                for s in decision.steps
            ]
            self._audit(conv, *steps)
            conv.routing = decision.routing
            conv.assignee_id = chosen.id
            conv.assigned_via, conv.assigned_by = "routing", ""
            if record is not None and record.outcome == "waiting" and conv.first_response_at is None:
                record = self._restart_clock(conv, record, chosen, now)
            else:
                record = None
            self._note(conv, f"{decision.system_text} — {why}", before)
        await self.s.commit()
        return record

    async def _settle(self, conv: Conversation) -> None:
        """The clock stops: answered (in time or late), or closed unanswered. The caller holds the lock."""
        record = self.sla.get(conv.id)
        marked = mark_out_of_territory(conv.routing, conv.assignee_id) if conv.first_response_at else None
        if (record is None or record.outcome != "waiting") and marked is None:
            return
        with self.s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            if record is not None and record.outcome == "waiting":
                if conv.first_response_at is not None:
                    responder = self._first_responder(conv.id)
                    outcome: Outcome = (
                        "answered" if conv.first_response_at <= record.due_at else "answered_late"
                    )
                    self.sla.finish(conv.id, outcome, conv.first_response_at, responder)
                else:
                    self.sla.finish(conv.id, "closed_unanswered", None, None)
                conv.sla_due_at = None
            if marked is not None:
                conv.routing = marked
            self._save(before, conv)
        await self.s.commit()
        self._disarm(conv.id)

    def _first_responder(self, conversation_id: str) -> str | None:
        messages, _ = self.s.storage.messages(conversation_id, None, 500, False)
        for m in messages:
            if m.author_kind == AuthorKind.AGENT:
                return m.author_id
        return None

    async def check(self, conversation_id: str) -> None:
        """Settles a clock whose conversation was answered or closed meanwhile (when the core has no
        on_agent_message hook, timers do this when they fire)."""
        async with self._lock(conversation_id):
            conv = self.s.storage.get_conversation(conversation_id)
            if conv is not None and (
                conv.first_response_at is not None or conv.status != ConversationStatus.OPEN
            ):
                await self._settle(conv)


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
    from chat_server.routing import load_table
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
    from chat_server.routing import datafox_enricher, load_table

    config = server.config
    playbook = load_playbook(config.playbook or None)
    territories = load_table(config.territories_csv) if config.territories_csv else None
    enrich = datafox_enricher(config.enrichment_url, config.enrichment_key) if config.enrichment_url else None
    return await attach(server, playbook, territories=territories, enrich=enrich)
