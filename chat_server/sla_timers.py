"""Automation's SLA clock: arming, firing and re-arming timers (warning, breach, meeting offer, fallback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from agent_app.protocol import (
    AuthorKind,
    Conversation,
    ConversationStatus,
    Routing,
    SlaBreached,
    SlaWarning,
)
from chat_server.routing import find_agent, mark_out_of_territory, pool_members, step
from chat_server.sla import Outcome, SlaRecord, TimerHandle, TimerKind

if TYPE_CHECKING:
    from chat_server.automation import Automation

log = logging.getLogger(__name__)
Kind = TimerKind | Literal["fallback"]


class SlaTimers:
    """The timers of every running clock (``Automation.sla`` holds the clocks themselves)."""

    def __init__(self, automation: Automation) -> None:
        self.a = automation
        self._timers: dict[str, list[TimerHandle]] = {}
        self._plans: dict[str, tuple[object, ...]] = {}  # what rearm() armed, per conversation

    def start(self) -> int:
        """Re-arms the timers of every clock still running (after a restart). Returns how many."""
        pending = self.a.sla.pending()
        for record in pending:
            self.arm(record)
        return len(pending)

    def stop(self) -> None:
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()

    def arm(self, record: SlaRecord) -> None:
        for handle in self._timers.pop(record.conversation_id, []):
            handle.cancel()
        if not self.a.timers_here:
            return  # another process leads the cluster: its rearm() picks the clock up from the table
        todo: list[tuple[Kind, float]] = list(record.next_timers(self.a.s.clock.now()))
        fallback_at = self._fallback_at(record)
        if fallback_at is not None:
            todo.append(("fallback", fallback_at))  # after the breach at the same time: it breaches first
        self._timers[record.conversation_id] = [
            self.a.scheduler.call_at(when, self._timer(record.conversation_id, kind, when))
            for kind, when in todo
        ]

    def rearm(self) -> int:
        """The cluster leader, every sweep: arms the clocks other processes started or changed since the
        last call. Returns how many were (re)armed."""
        plans: dict[str, tuple[object, ...]] = {}
        armed = 0
        for record in self.a.sla.pending():
            plan = (record.agent_id, record.warn_at, record.due_at, record.offer_at, record.warned_at,
                    record.breached_at, record.offered_at)  # fmt: skip
            plans[record.conversation_id] = plan
            if self._plans.get(record.conversation_id) != plan:
                self.arm(record)
                armed += 1
        self._plans = plans
        return armed

    def _timer(self, conversation_id: str, kind: Kind, when: float) -> Callable[[], Any]:
        async def fire() -> None:
            await self._fire(conversation_id, kind, when)

        return fire

    def disarm(self, conversation_id: str) -> None:
        for handle in self._timers.pop(conversation_id, []):
            handle.cancel()

    def _fallback_at(self, record: SlaRecord) -> float | None:
        """When the current rep loses the chat if they haven't answered (None: the fallback is off)."""
        sla = self.a.playbook.sla
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

    def _firing(
        self, conversation_id: str, kind: Kind, when: float
    ) -> tuple[SlaRecord | None, Conversation | None]:
        """(record, conversation) when the timer is due as it was armed; (None, conversation) when the clock
        stops instead (answered, or closed); (None, None) when there is no clock running, or the timer fired
        already (another timer, or process), or the clock moved on since it was armed."""
        record = self.a.sla.get(conversation_id)
        conv = self.a.s.storage.get_conversation(conversation_id)
        if record is None or record.outcome != "waiting" or conv is None:
            return None, None
        if conv.first_response_at is not None or conv.status != ConversationStatus.OPEN:
            return None, conv
        due, done = self._due(record, kind)
        if done or due != when:
            return None, None
        return record, conv

    async def _fire(self, conversation_id: str, kind: Kind, when: float) -> None:
        a, s = self.a, self.a.s
        async with a.lock(conversation_id):
            record, conv = self._firing(conversation_id, kind, when)
            if record is not None:
                await s.storage.write_ready()  # PostgreSQL: waits for the writer lock off the loop
                record, conv = self._firing(conversation_id, kind, when)  # again: commands ran meanwhile
                if record is None:
                    await s.commit()  # nothing to write after all: still ends the batch write_ready opened
            if record is None or conv is None:
                if conv is not None:
                    await self.settle(conv)
                return
            now = s.clock.now()
            restarted: SlaRecord | None = None
            with s.storage.savepoint():
                if kind == "warn":
                    a.sla.mark(conversation_id, kind, now)
                    s.publish(conv, conv, [SlaWarning(conversation_id=conv.id, due_at=record.due_at)])
                elif kind == "breach":
                    self._breach(conv, record, now)
                elif kind == "offer":
                    a.sla.mark(conversation_id, kind, now)
                    self._meeting_offer(conv, record)
                else:
                    if record.breached_at is None and record.due_at <= now:
                        self._breach(conv, record, now)  # the same instant as the breach timer: breach first
                    restarted = a.fallback.fallback(conv, record, now)
            await s.commit()
            log.info("SLA %s for conversation %s", kind, conversation_id)
        if restarted is not None:
            self.arm(restarted)
        elif kind == "fallback" and conv.assignee_id is None:
            await a.fallback.route_waiting([conversation_id])  # waiting for a free slot: maybe one now

    def _breach(self, conv: Conversation, record: SlaRecord, now: float) -> None:
        self.a.sla.mark(conv.id, "breach", now)
        record.breached_at = now
        before = msgspec.structs.replace(conv)
        conv.sla_breached = True
        self.a.save(before, conv, SlaBreached(conversation_id=conv.id, due_at=record.due_at))

    def _meeting_offer(self, conv: Conversation, record: SlaRecord) -> None:
        """With the aligned SDR (the meeting belongs in their territory, whoever was tried for the chat),
        else the rep the chat is routed to, else the pool's first member."""
        a = self.a
        agents = a.s.hub.all_agent_views()
        contact = None
        for who in (conv.routing.aligned_agent_id if conv.routing else None, record.agent_id):
            contact = contact or (find_agent(agents, who) if who else None)
        if contact is None and conv.routing is not None:
            members = pool_members(agents, conv.routing.pool, a.playbook.routing)
            contact = members[0] if members else None
        card = a.router.card(contact)
        name = contact.name if contact else "our team"
        pb = a.playbook
        what = "their calendar" if card else "asked for an email"
        wait = f"no reply in {pb.sla.offer_meeting_seconds:g} s"
        a.audit(conv, step(a.s.clock.now(), "offered_meeting", contact, f"{wait}; {what}"))
        a.say(conv, (pb.meeting_offer if card else pb.meeting_offer_no_calendar).format(agent=name), card)
        if not conv.visitor.email:
            a.say(conv, pb.ask_email_for_followup)

    # ------------------------------------------------------------ the clock stops

    def _to_settle(self, conv: Conversation) -> tuple[SlaRecord | None, Routing | None] | None:
        """(the running clock, the out-of-territory mark) to store; None when there is nothing to do."""
        record = self.a.sla.get(conv.id)
        marked = mark_out_of_territory(conv.routing, conv.assignee_id) if conv.first_response_at else None
        if (record is None or record.outcome != "waiting") and marked is None:
            return None
        return record, marked

    async def settle(self, conv: Conversation) -> None:
        """The clock stops: answered (in time or late), or closed unanswered. The caller holds the lock."""
        a, s = self.a, self.a.s
        if self._to_settle(conv) is None:
            return
        await s.storage.write_ready()  # PostgreSQL: waits for the writer lock off the loop
        conv = s.storage.get_conversation(conv.id) or conv  # the wait yielded: commands ran meanwhile
        found = self._to_settle(conv)
        if found is None:
            await s.commit()  # nothing to write after all: still ends the batch write_ready opened
            return
        record, marked = found
        with s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            if record is not None and record.outcome == "waiting":
                if conv.first_response_at is not None:
                    responder = self._first_responder(conv.id)
                    outcome: Outcome = (
                        "answered" if conv.first_response_at <= record.due_at else "answered_late"
                    )
                    a.sla.finish(conv.id, outcome, conv.first_response_at, responder)
                else:
                    a.sla.finish(conv.id, "closed_unanswered", None, None)
                conv.sla_due_at = None
            if marked is not None:
                conv.routing = marked
            a.save(before, conv)
        await s.commit()
        self.disarm(conv.id)

    def _first_responder(self, conversation_id: str) -> str | None:
        messages, _ = self.a.s.storage.messages(conversation_id, None, 500, False)
        for m in messages:
            if m.author_kind == AuthorKind.AGENT:
                return m.author_id
        return None
