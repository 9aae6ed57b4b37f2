"""Automation's routing part: company lookup, alignment, routing a chat now, and the away/nobody offers."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from agent_app.protocol import Agent, BookingCard, Conversation, ConversationStatus
from chat_server.playbook import email_domain
from chat_server.routing import (
    Alignment,
    Decision,
    Load,
    align,
    company_from_email,
    decide,
    is_routed,
    mark_out_of_territory,
    step,
)
from chat_server.sla import new_record
from chat_server.storage.base import VisitorFacts
from chat_server.territories import Company

if TYPE_CHECKING:
    from chat_server.automation import Automation

log = logging.getLogger(__name__)
# Enrichment answers are cached: alignment re-runs on every visitor update (page views too).
COMPANY_TTL = 3600.0
UNKNOWN_COMPANY_TTL = 300.0
COMPANY_CACHE = 4096
OPEN_ONLY = 1e18  # storage.conversations(closed_since=...): no closed chat is that recent: open ones only


class Router:
    """Applies ``chat_server.routing`` (align, decide) to conversations for the Automation it belongs to.
    The callers of ``realign``/``route`` hold the conversation's lock."""

    def __init__(self, automation: Automation) -> None:
        self.a = automation
        self._companies: dict[str, tuple[float, Company | None]] = {}

    # ------------------------------------------------------------ what is known about the visitor

    async def company(self, conv: Conversation) -> Company | None:
        visitor = conv.visitor
        email = visitor.email or visitor.answers.get("email", "")
        personal = bool(email) and self.a.playbook.is_personal(email)
        domain = email_domain(email)
        if self.a.enrich is not None and domain and not personal:
            found = await self._lookup(domain)
            if found is not None:
                return found
        return company_from_email(email, visitor.company, personal)

    async def _lookup(self, domain: str) -> Company | None:
        now = self.a.s.clock.now()
        cached = self._companies.get(domain)
        if cached is not None:
            at, found = cached
            if now - at < (COMPANY_TTL if found is not None else UNKNOWN_COMPANY_TTL):
                return found
        assert self.a.enrich is not None
        try:
            found = await self.a.enrich(domain)
        except Exception:
            log.exception("enrichment lookup for %s failed", domain)
            return None  # not cached: the next update tries again
        self._companies.pop(domain, None)
        self._companies[domain] = (now, found)
        while len(self._companies) > COMPANY_CACHE:
            self._companies.pop(next(iter(self._companies)))
        return found

    def crm(self, conv: Conversation) -> VisitorFacts | None:
        reader = getattr(self.a.s.storage, "visitor_facts", None)
        return reader(conv.visitor.id) if reader is not None else None

    # ------------------------------------------------------------ alignment

    async def realign(self, conv: Conversation) -> Alignment:
        """One evaluation of the territory table for what is known now; stores and broadcasts the aligned
        fields when they changed. Never reassigns. The caller holds the conversation's lock."""
        s = self.a.s
        company = await self.company(conv)
        conv = s.storage.get_conversation(conv.id) or conv  # the lookup yielded; reload
        alignment = align(
            conv.visitor,
            company,
            s.hub.all_agent_views(),
            self.a.territories,
            self.a.playbook.routing,
            self.crm(conv),
        )
        if alignment.apply(conv.routing) == conv.routing:
            return alignment
        await s.storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
        # The wait yielded: a command may have changed the chat meanwhile (saving our copy would undo it).
        conv = s.storage.get_conversation(conv.id) or conv
        routing = alignment.apply(conv.routing)
        if routing != conv.routing:
            moved = conv.routing is not None and conv.routing.aligned_agent_id != routing.aligned_agent_id
            with s.storage.savepoint():
                before = msgspec.structs.replace(conv)
                conv.routing = routing
                if moved and is_routed(routing) and conv.status == ConversationStatus.OPEN:
                    self.a.note(conv, self._realigned_text(alignment, conv), before)
                else:
                    self.a.save(before, conv)
        await s.commit()  # also with nothing written after all: it ends the batch write_ready opened
        return alignment

    def _realigned_text(self, alignment: Alignment, conv: Conversation) -> str:
        where = f"{alignment.label()}, from {alignment.facts.basis}"
        if alignment.aligned is None:
            return f"No aligned SDR for what is known now ({where})"
        text = f"Aligned SDR is now {alignment.aligned.name} ({where})"
        if conv.assignee_id not in (None, alignment.aligned.id):
            text += " — add them or hand off"
        return text

    # ------------------------------------------------------------ routing

    def decide(self, conv: Conversation, company: Company | None, now: float) -> Decision:
        """The one routing decision for the conversation now (first routing and waiting chats alike)."""
        return decide(
            conv.visitor,
            company,
            self.routable(),
            self.a.territories,
            self.a.playbook.routing,
            now,
            crm=self.crm(conv),
            available=self.a.available,
            rotation=self.a.rotation,
            load=self.load(),
        )

    async def route(self, conv: Conversation) -> Decision:
        a, s = self.a, self.a.s
        company = await self.company(conv)
        await s.storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
        conv = s.storage.get_conversation(conv.id) or conv  # the lookup and the wait yielded; reload
        now = s.clock.now()
        decision = self.decide(conv, company, now)
        card = self.card(decision.contact) if decision.branch != "assign" else None
        record = new_record(conv.id, decision.routing.agent_id, now, a.playbook.sla)
        with s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            conv.routing = decision.routing
            taken = conv.assignee_id not in (None, decision.routing.agent_id)  # someone took it meanwhile
            a.audit(conv, *(st for st in decision.steps if not (taken and st.action == "routed")))
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
                a.sla.start(record)
            a.note(conv, decision.system_text, before)
            if decision.branch != "assign":
                self._offer(conv, decision, card)
        await s.commit()
        if conv.first_response_at is None:
            a.timers.arm(record)
        return decision

    def card(self, agent: Agent | None) -> BookingCard | None:
        if agent is None or self.a.booking is None:
            return None
        try:
            card = self.a.booking(agent)
        except Exception:
            log.exception("booking card for %s failed", agent.id)
            return None
        return card if card is not None and card.slots else None

    def _offer(self, conv: Conversation, decision: Decision, card: BookingCard | None) -> None:
        a = self.a
        pb = a.playbook
        name = decision.contact.name if decision.contact else "our team"
        what = "their calendar" if card else "asked for an email"
        why = "away" if decision.branch == "away" else "nobody free"
        a.audit(conv, step(a.s.clock.now(), "offered_meeting", decision.contact, f"{why}; {what}"))
        if decision.branch == "away":
            a.say(conv, (pb.away_message if card else pb.away_no_calendar).format(agent=name), card)
        else:
            a.say(conv, pb.nobody_message if card else pb.nobody_no_calendar, card)
        if not conv.visitor.email:
            a.say(conv, pb.ask_email_for_followup)

    # ------------------------------------------------------------ the team and its load

    def open_conversations(self) -> list[Conversation]:
        """Every open conversation, read on the write connection (this batch's assignments count too)."""
        storage = self.a.s.storage
        reader: Callable[[float], list[Conversation]] | None = getattr(storage, "conversations", None)
        if reader is None:
            return []
        return [c for c in reader(OPEN_ONLY) if c.status == ConversationStatus.OPEN]

    def routable(self) -> list[Agent]:
        """The team for a routing decision, with chat limits as stored now (the CLI sets them from
        another process; the hub's agent cache is only reloaded at sign-in)."""
        agents = self.a.s.hub.all_agent_views()
        limits = {a.id: a.max_chats for a in self.a.s.storage.list_agents()}
        return [
            msgspec.structs.replace(a, max_chats=limits[a.id])
            if limits.get(a.id, a.max_chats) != a.max_chats
            else a
            for a in agents
        ]

    def load(self) -> Load:
        """Open chats per assignee, counted once per decision and only when someone has a limit."""
        counts: Counter[str] | None = None

        def load(agent: Agent) -> int:
            nonlocal counts
            if counts is None:
                counts = Counter(
                    c.assignee_id
                    for c in self.open_conversations()
                    if c.status == ConversationStatus.OPEN and c.assignee_id
                )
            return counts[agent.id]

        return load
