"""The aligned SDR as the server's territory table decided it (``Conversation.routing``), put into words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent_app import protocol as p


@dataclass(frozen=True)
class Alignment:
    """Who owns this visitor's territory, for the panel's card, the participants dialog and hand-off.

    Read from ``routing.aligned_agent_id`` only: the client never re-derives it (one source of truth).
    """

    agent_id: str  # "" when the server named nobody (or has not aligned this chat yet)
    agent: p.Agent | None  # the teammate, when they are on this client's team list
    mine: bool  # the signed-in agent is the aligned SDR
    known: bool  # the server has evaluated the territory table for this chat at all
    provenance: str  # "rule 'us-east', line 6, from visitor answers" ("" when nothing matched)

    @property
    def name(self) -> str:
        """The aligned SDR's name ("" when none)."""
        return self.agent.name if self.agent else self.agent_id

    def headline(self) -> str:
        """The territory card's first line."""
        if self.mine:
            return "You own this territory"
        if self.agent_id:
            return f"{self.name} owns this territory"
        return "No aligned SDR is known for this visitor" + ("" if self.known else " yet")


def provenance(routing: p.Routing | None) -> str:
    """Which rule (and CSV line) matched, and from what: "rule 'us-east', line 6, from visitor answers"."""
    if routing is None or not routing.rule:
        return ""
    parts = [f"rule '{routing.rule}'"]
    if routing.line:
        parts.append(f"line {routing.line}")
    text = ", ".join(parts)
    return f"{text}, from {routing.basis}" if routing.basis else text


def alignment(conversation: p.Conversation, agents: Mapping[str, p.Agent], me_id: str) -> Alignment:
    """The server's decision for this conversation, with the teammate looked up by id."""
    routing = conversation.routing
    agent_id = (routing.aligned_agent_id if routing else None) or ""
    known = routing is not None and bool(agent_id or routing.rule)
    return Alignment(
        agent_id=agent_id,
        agent=agents.get(agent_id) if agent_id else None,
        mine=bool(agent_id) and agent_id == me_id,
        known=known,
        provenance=provenance(routing),
    )
