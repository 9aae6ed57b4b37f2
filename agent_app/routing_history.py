"""How a conversation's routing audit reads for the team ("14:03:12  Skipped Alex Rivera — away")."""

from __future__ import annotations

import datetime as dt

from agent_app import protocol as p

_WHAT = {
    "routed": "Routed to {who}",
    "skipped": "Skipped {who}",
    "reassigned": "Moved on from {who}",
    "missed": "{who} kept it",
    "queued": "Waiting in the queue",
    "offered_meeting": "Offered the visitor a meeting with {who}",
}


def step_what(step: p.RoutingStep) -> str:
    """The step in words, without its time: "Routed to Jordan Lee — backup for rule 'us-east'"."""
    who = step.agent_name or step.agent_id or ""
    if step.action == "offered_meeting" and not who:
        what = "Offered the visitor to leave an email"
    else:
        what = _WHAT.get(step.action, step.action.replace("_", " ").capitalize() + " {who}").format(who=who)
    return f"{what.strip()} — {step.reason}" if step.reason else what.strip()


def step_time(step: p.RoutingStep, zone: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(step.at, zone).strftime("%H:%M:%S")


def step_text(step: p.RoutingStep, zone: dt.tzinfo) -> str:
    return f"{step_time(step, zone)}  {step_what(step)}"


def summary(conv: p.Conversation) -> str:
    """The button's text: how many reps were tried ("Routing: 3 tried"), or "" before any routing."""
    audit = conv.routing_audit
    if not audit:
        return ""
    tried = {s.agent_id for s in audit if s.action == "routed" and s.agent_id}
    moved = sum(1 for s in audit if s.action == "reassigned")
    if moved:
        return f"Routing: {len(tried)} tried"
    return "Routing"
