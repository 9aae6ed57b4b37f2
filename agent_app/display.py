"""How people and things are named on screen, the same everywhere (queue, header, notifications)."""

from __future__ import annotations

from agent_app import protocol as p


def display_name(conv: p.Conversation) -> str:
    """Visitor name, else "Visitor from <company>", else "Visitor #<short id>"."""
    v = conv.visitor
    if v.name.strip():
        return v.name.strip()
    if v.company.strip():
        return f"Visitor from {v.company.strip()}"
    return f"Visitor #{(v.id or conv.id)[-5:]}"
