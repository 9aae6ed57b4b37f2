"""The chat transcript as plain text for the Salesforce Task (subject and body), built from store rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from agent_app import protocol as p
from agent_app.store import Delivery, MessageItem


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else ""


def _author(message: p.Message, visitor: p.Visitor) -> str:
    if message.author_kind is p.AuthorKind.VISITOR:
        return visitor.name or visitor.email or "Visitor"
    if message.author_kind is p.AuthorKind.BOT:
        return "Bot"
    if message.author_kind is p.AuthorKind.SYSTEM:
        return "System"
    return message.author_name or "Agent"


def transcript_subject(conversation: p.Conversation) -> str:
    """E.g. "Website chat with Jane Doe (Acme Robotics)"; the CRM client appends its [chat:id] marker."""
    v = conversation.visitor
    who = v.name or v.email or "a website visitor"
    return f"Website chat with {who}" + (f" ({v.company})" if v.company else "")


def build_transcript(
    conversation: p.Conversation, items: Iterable[MessageItem], *, include_notes: bool = False
) -> str:
    """Header (visitor, pages, times) and one "[time] Author: text" line per delivered message.

    Internal notes are left out unless asked for; failed or unsent rows never appear."""
    v = conversation.visitor
    lines = [transcript_subject(conversation)]
    if v.email:
        lines.append(f"Email: {v.email}")
    if v.company:
        lines.append(f"Company: {v.company}")
    if v.location:
        lines.append(f"Location: {v.location}")
    if v.referrer:
        lines.append(f"Referrer: {v.referrer}")
    if v.pages:
        lines.append("Pages: " + ", ".join(page.url for page in v.pages))
    if conversation.created_at:
        lines.append(f"Started: {_when(conversation.created_at)}")
    if conversation.closed_at:
        lines.append(f"Closed: {_when(conversation.closed_at)}")
    lines.append("")
    for item in sorted(items, key=lambda i: i.message.created_at):
        m = item.message
        if item.delivery is not Delivery.SENT or (m.private and not include_notes):
            continue
        text = m.text.strip() or (f"[shared calendar: {m.card.agent_name}]" if m.card else "")
        if not text:
            continue
        note = " (internal note)" if m.private else ""
        stamp = datetime.fromtimestamp(m.created_at, UTC).strftime("%H:%M") if m.created_at else "--:--"
        lines.append(f"[{stamp}] {_author(m, v)}{note}: {text}")
    return "\n".join(lines)
