"""Automation's unresponsive fallback and capacity queue: reroute unanswered chats, route waiting ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from agent_app.protocol import Agent, Conversation, ConversationStatus
from chat_server.routing import CAPACITY_QUEUE, fallback_tiers, is_routed, next_in_order, step
from chat_server.sla import SlaRecord

if TYPE_CHECKING:
    from chat_server.automation import Automation
    from chat_server.routing import Decision
    from chat_server.territories import Company

MAX_WAITING_ROUTED = 50  # chats waiting for a free slot routed per close/hand-off (the oldest first)
FREED = "a chat slot freed up"  # why a waiting chat was routed after a close or hand-off


class Fallback:
    """Moves chats between reps for the Automation it belongs to: away from a rep who doesn't answer,
    and out of the queue to a rep who has room (or turned Available)."""

    def __init__(self, automation: Automation) -> None:
        self.a = automation

    def fallback(self, conv: Conversation, record: SlaRecord, now: float) -> SlaRecord | None:
        """The routed rep hasn't answered: the next available rep with room in the territory order gets
        the chat (the previous one stays in it as a participant) and a fresh response clock, which is
        returned to be armed. Only routing's own assignments move; nothing moves after ``max_hops``."""
        a = self.a
        sla = a.playbook.sla
        previous_id = conv.assignee_id
        if previous_id is None or conv.assigned_via != "routing" or conv.routing is None:
            return None  # in the queue, or a person chose the assignee: not routing's to undo
        got_it_at = record.due_at - sla.first_response_seconds
        if any(
            s.agent_id == previous_id and s.action in ("missed", "reassigned") and s.at >= got_it_at
            for s in conv.routing_audit
        ):
            return None  # done for this rep already (the timer fired again after a restart)
        agents = a.router.routable()
        previous = next((x for x in agents if x.id == previous_id), None)
        name = previous.name if previous is not None else "The rep"
        waited = f"no answer in {sla.fallback_after:g} s"
        before = msgspec.structs.replace(conv)
        hops = sum(1 for s in conv.routing_audit if s.action == "reassigned")
        if hops >= sla.max_hops:
            a.audit(conv, step(now, "missed", previous, f"{waited}; no reassignments left ({hops})"))
            a.save(before, conv)
            return None
        tried = {
            s.agent_id for s in conv.routing_audit if s.agent_id and s.action in ("routed", "reassigned")
        }
        tiers = fallback_tiers(conv.routing, agents, a.playbook.routing, sla.fallback)
        chosen, how, skipped = next_in_order(
            tiers, {*tried, previous_id}, a.available, a.router.load(), a.rotation, now
        )
        if chosen is None:
            # the audit says so; no transcript line: a team of one would get one on every slow reply
            a.audit(conv, *skipped, step(now, "missed", previous, f"{waited}; nobody else available"))
            a.save(before, conv)
            return None
        why = f"{name} didn't answer in {sla.fallback_after:g} s"
        a.audit(
            conv,
            step(now, "reassigned", previous, waited),
            *skipped,
            step(now, "routed", chosen, f"{how}; {why}"),
        )
        participants = [p for p in conv.participant_ids if p != chosen.id]
        if previous_id not in participants:
            participants.append(previous_id)  # keeps the context, and may still answer
        conv.participant_ids = participants
        conv.assignee_id = chosen.id
        conv.assigned_via, conv.assigned_by = "routing", ""
        conv.routing = msgspec.structs.replace(
            conv.routing, agent_id=chosen.id, reason=f"fallback: {why}; {how}"
        )
        restarted = self._restart_clock(conv, record, chosen, now)
        a.note(conv, f"{why}; routed to {chosen.name} ({how})", before)
        return restarted

    def _restart_clock(self, conv: Conversation, record: SlaRecord, agent: Agent, now: float) -> SlaRecord:
        """A new rep gets the full response time; the visitor's wait (started_at) and the meeting offer
        (offer_at, offered_at) keep counting from the first routing."""
        sla = self.a.playbook.sla
        record.agent_id = agent.id
        record.warn_at, record.due_at = now + sla.warning_seconds, now + sla.first_response_seconds
        record.warned_at = record.breached_at = None
        self.a.sla.start(record)
        conv.sla_due_at, conv.sla_breached = record.due_at, False
        return record

    @staticmethod
    def waiting_for_room(conv: Conversation, queued: bool = False) -> bool:
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
        ``queued``: every chat routing left in the queue (see waiting_for_room); ``why`` ends the audit
        step and the team's note."""
        a = self.a
        if conversation_ids is None:
            if not queued and not any(x.max_chats > 0 for x in a.router.routable()):
                return 0
            waiting = [c for c in a.router.open_conversations() if self.waiting_for_room(c, queued)]
            conversation_ids = [c.id for c in sorted(waiting, key=lambda c: c.created_at)]
        routed = 0
        for conversation_id in conversation_ids[:MAX_WAITING_ROUTED]:
            async with a.lock(conversation_id):
                conv = a.s.storage.get_conversation(conversation_id)
                if conv is None or not self.waiting_for_room(conv, queued):
                    continue
                restarted = await self._route_waiting(conv, why, queued)
            if restarted is not None:
                routed += 1
                a.timers.arm(restarted)
        return routed

    def _choice(
        self, conv: Conversation, company: Company | None, queued: bool
    ) -> tuple[Conversation, Decision, Agent, float] | None:
        """The chat as stored now, its routing decision, the rep with room it goes to, and when; None
        when it no longer waits or nobody has room."""
        s = self.a.s
        conv = s.storage.get_conversation(conv.id) or conv  # the lookup yielded; reload
        if not self.waiting_for_room(conv, queued):
            return None
        now = s.clock.now()
        decision = self.a.router.decide(conv, company, now)
        chosen = decision.assignee
        if decision.branch != "assign" or chosen is None:
            return None
        return conv, decision, chosen, now

    async def _route_waiting(
        self, conv: Conversation, why: str = FREED, queued: bool = False
    ) -> SlaRecord | None:
        a, s = self.a, self.a.s
        company = await a.router.company(conv)
        if self._choice(conv, company, queued) is None:
            return None  # still nobody with room: no new audit lines until something changes
        await s.storage.write_ready()  # PostgreSQL: waits for the writer lock without blocking the loop
        choice = self._choice(conv, company, queued)  # again: the wait yielded, someone may have taken it
        if choice is None:
            await s.commit()  # nothing to write after all: still ends the batch write_ready opened
            return None
        conv, decision, chosen, now = choice
        record = a.sla.get(conv.id)
        with s.storage.savepoint():
            before = msgspec.structs.replace(conv)
            steps = [
                msgspec.structs.replace(st, reason=f"{st.reason}; {why}") if st.action == "routed" else st
                for st in decision.steps
            ]
            a.audit(conv, *steps)
            conv.routing = decision.routing
            conv.assignee_id = chosen.id
            conv.assigned_via, conv.assigned_by = "routing", ""
            if record is not None and record.outcome == "waiting" and conv.first_response_at is None:
                record = self._restart_clock(conv, record, chosen, now)
            else:
                record = None
            a.note(conv, f"{decision.system_text} — {why}", before)
        await s.commit()
        return record
