"""Tooltips that show untrusted text (visitor, CRM) literally: Qt renders a tooltip as HTML when it
"might be rich text", so `<b>` or `<img src=...>` from a visitor would otherwise be interpreted."""

from __future__ import annotations

import html


def plain_tooltip(text: str) -> str:
    """``text`` escaped inside an explicit rich-text wrapper: the entities decode back to the literal
    characters, and nothing in ``text`` can become markup. Empty text stays empty (no tooltip)."""
    if not text:
        return ""
    return f"<qt><p style='white-space:pre-wrap'>{html.escape(text)}</p></qt>"
