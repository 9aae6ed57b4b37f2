"""Plain rows (title, detail, warning, link) for the panel's lists, built from store and CRM data."""

from __future__ import annotations

from dataclasses import dataclass

from agent_app import protocol as p
from agent_app.integrations import AccountMatch, DuplicateReport, PersonMatch
from agent_app.store import Store


@dataclass(frozen=True)
class Row:
    """One list row; every text is shown as plain text."""

    key: str
    title: str
    detail: str = ""
    warning: str = ""
    url: str = ""


def page_rows(visitor: p.Visitor) -> list[Row]:
    """Pages visited this session, newest first; the current page is marked."""
    rows = []
    for i, page in enumerate(reversed(visitor.pages)):
        current = " (current)" if page.url == visitor.current_page and i == 0 else ""
        rows.append(
            Row(f"{i}:{page.url}", (page.title or page.url) + current, page.url if page.title else "")
        )
    if not rows and visitor.current_page:
        rows.append(Row("current", visitor.current_page + " (current)"))
    return rows


def previous_rows(store: Store, conversation: p.Conversation) -> list[Row]:
    """Other conversations of the same visitor (same visitor id, or same email), newest first."""
    v = conversation.visitor
    email = v.email.strip().lower()
    others = [
        c
        for c in store.conversations.values()
        if c.id != conversation.id
        and (c.visitor.id == v.id or (email and c.visitor.email.strip().lower() == email))
    ]
    others.sort(key=lambda c: -c.created_at)
    return [
        Row(c.id, f"{c.status.value.title()} chat", c.last_message_preview or f"{c.message_count} messages")
        for c in others
    ]


def _owner(name: str | None, owner_id: str | None) -> str:
    return f"Owner {name or owner_id or 'unknown'}"


def _colleague(owner: str) -> str:
    # The same words as DuplicateHit.warning: one record reads the same wherever it is listed.
    return f"owned by {owner}, talk to them before creating a lead"


def record_rows(people: list[PersonMatch], accounts: list[AccountMatch]) -> list[Row]:
    """Leads and Contacts with this email, then Accounts for the company."""
    rows = []
    for m in people:
        bits = [_owner(m.owner_name, m.owner_id)]
        if m.status:
            bits.append(m.status)
        bits.append(f"last activity {m.last_activity}" if m.last_activity else "no activity yet")
        company = f" ({m.company})" if m.company else ""
        warn = _colleague(m.owner_name or m.owner_id or "a colleague") if m.owned_by_other else ""
        rows.append(Row(m.record_id, f"{m.sobject}: {m.name}{company}", " · ".join(bits), warn, m.url))
    for a in accounts:
        detail = " · ".join(x for x in (_owner(a.owner_name, a.owner_id), a.website or "", a.reason) if x)
        rows.append(Row(a.record_id, f"Account: {a.name}", detail, "", a.url))
    return rows


def duplicate_rows(report: DuplicateReport | None) -> list[Row]:
    """Each possible duplicate with why it matched and how strongly; colleagues' records warn."""
    if report is None:
        return []
    return [
        Row(
            h.record_id,
            f"{h.sobject}: {h.label}",
            f"{_owner(h.owner_name, h.owner_id)} · {h.score:.0f}% · " + "; ".join(h.reasons),
            h.warning or "",
            h.url,
        )
        for h in report.hits
    ]
