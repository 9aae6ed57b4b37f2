"""How people and things are named on screen, the same everywhere (queue, header, notifications)."""

from __future__ import annotations

from agent_app import protocol as p


def display_name(conv: p.Conversation) -> str:
    """Visitor name, else "Visitor from <company>", else "Visitor #<short id>"."""
    return visitor_name(conv.visitor, conv.id)


def visitor_name(v: p.Visitor, conversation_id: str = "") -> str:
    """The same naming for a visitor on its own (side panel)."""
    if v.name.strip():
        return v.name.strip()
    if v.company.strip():
        return f"Visitor from {v.company.strip()}"
    return f"Visitor #{(v.id or conversation_id)[-5:]}"
