"""The "On site now" list: live visitors from the server's live_visitors frames, their segments, filters."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import urlsplit

from agent_app import protocol as p
from agent_app import saved_replies
from agent_app.display import visitor_name

ENGAGE_MAX = 1000  # the server's limit for a proactive opener (chat_server.live_visitors.MAX_ENGAGE_TEXT)


class Segment(enum.StrEnum):
    """The filters of the view; a visitor can be in several."""

    ALL = "all"
    TARGET = "target"  # a target account (the playbook's list)
    KNOWN = "known"  # a known lead or contact (CRM facts, or an email address)
    MINE = "mine"  # my chat, or my territory (I am the aligned SDR)
    LIVE_PAGE = "live_page"  # on a page the bot runs on (pricing, demo, ...)
    RETURNING = "returning"
    NOT_CHATTING = "not_chatting"  # nobody talks to them yet: who to engage


SEGMENT_LABELS: dict[Segment, str] = {
    Segment.ALL: "Everyone",
    Segment.TARGET: "Targets",
    Segment.KNOWN: "Known",
    Segment.MINE: "Mine",
    Segment.LIVE_PAGE: "Live pages",
    Segment.RETURNING: "Returning",
    Segment.NOT_CHATTING: "Not chatting",
}


def display_name(row: p.LiveVisitor) -> str:
    """The visitor's name as the queue and the chat header show it (agent_app.display.visitor_name): the
    name, else "Visitor from <company>", else "Visitor #<short id>"; the same visitor is one name."""
    return visitor_name(p.Visitor(id=row.visitor_id, name=row.name, company=row.company))


def in_segment(row: p.LiveVisitor, segment: Segment, me: str) -> bool:
    match segment:
        case Segment.ALL:
            return True
        case Segment.TARGET:
            return row.target_account
        case Segment.KNOWN:
            return bool(row.crm_source or row.email)
        case Segment.MINE:
            return bool(me) and row.owner_id == me
        case Segment.LIVE_PAGE:
            return row.live_page
        case Segment.RETURNING:
            return row.returning
        case Segment.NOT_CHATTING:
            return not row.conversation_id
    return False


def tags(row: p.LiveVisitor, me: str, agent_name: Callable[[str], str]) -> list[str]:
    """Short segment tags for the row, most telling first."""
    out: list[str] = []
    if row.target_account:
        out.append("Target account")
    if row.crm_source:
        out.append(row.crm_source)  # e.g. "Salesforce lead"
    elif row.email:
        out.append("Known")
    if row.owner_id:
        out.append("Mine" if row.owner_id == me else f"Owner: {agent_name(row.owner_id)}")
    if row.live_page:
        out.append("Live page")
    if row.returning:
        out.append("Returning")
    return out


def page_label(row: p.LiveVisitor) -> str:
    """The page's title, else its path ("/pricing")."""
    if row.page_title:
        return row.page_title
    parts = urlsplit(row.current_page)
    return parts.path or row.current_page


def duration(seconds: float) -> str:
    """Time on site as an SDR reads it: "45 s", "3 min", "1 h 05 min"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def status(row: p.LiveVisitor, now: float, agent_name: Callable[[str], str]) -> str:
    """What is going on with them: chatting, dismissed, engaged, or "" (nobody yet)."""
    if row.conversation_id:
        if row.engaged_at is not None and row.engaged_by:
            return f"Chatting (engaged by {agent_name(row.engaged_by)})"
        return "Chatting"
    if row.dismissed_at is not None:
        return f"Dismissed a chat {duration(now - row.dismissed_at)} ago"
    if row.engaged_at is not None:
        return f"Engaged {duration(now - row.engaged_at)} ago"
    return ""


def engage_blocker(row: p.LiveVisitor, now: float, cooldown_seconds: float = 600.0) -> str:
    """Why Engage is off for this row ("" = it may be tried; the server decides and says why)."""
    name = display_name(row)
    if row.conversation_id:
        return f"{name} already has an open chat"
    if row.dismissed_at is not None:
        return f"{name} dismissed a chat {duration(now - row.dismissed_at)} ago"
    if row.engaged_at is not None and now - row.engaged_at < cooldown_seconds:
        return f"{name} was engaged {duration(now - row.engaged_at)} ago"
    return ""


class LiveListener(Protocol):
    def on_live_reset(self) -> None: ...

    def on_live_inserted(self, index: int) -> None:
        """A row was appended at ``index`` (always the end)."""

    def on_live_changed(self, index: int) -> None: ...

    def on_live_about_to_remove(self, index: int) -> None: ...

    def on_live_removed(self, index: int) -> None: ...


class LiveVisitors:
    """Who is on the site now, in arrival order, as the server says (frames applied in order)."""

    def __init__(self) -> None:
        self.rows: list[p.LiveVisitor] = []
        self._index: dict[str, int] = {}
        self.listeners: list[LiveListener] = []
        self.known = False  # a snapshot arrived (False offline: the list is not known, not empty)

    def add_listener(self, listener: LiveListener) -> None:
        self.listeners.append(listener)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, visitor_id: str) -> p.LiveVisitor | None:
        index = self._index.get(visitor_id)
        return self.rows[index] if index is not None else None

    def apply(self, frame: p.LiveVisitorsFrame) -> None:
        if frame.snapshot:
            self.rows = list(frame.visitors)
            self._reindex()
            self.known = True
            for listener in list(self.listeners):
                listener.on_live_reset()
            return
        for row in frame.visitors:
            index = self._index.get(row.visitor_id)
            if index is None:
                self.rows.append(row)
                self._index[row.visitor_id] = len(self.rows) - 1
                for listener in list(self.listeners):
                    listener.on_live_inserted(len(self.rows) - 1)
            else:
                self.rows[index] = row
                for listener in list(self.listeners):
                    listener.on_live_changed(index)
        for visitor_id in frame.removed:
            index = self._index.get(visitor_id)
            if index is None:
                continue
            for listener in list(self.listeners):
                listener.on_live_about_to_remove(index)
            del self.rows[index]
            self._reindex()
            for listener in list(self.listeners):
                listener.on_live_removed(index)

    def clear(self) -> None:
        """Offline: what we knew is stale; a new snapshot comes after reconnecting."""
        self.rows, self._index, self.known = [], {}, False
        for listener in list(self.listeners):
            listener.on_live_reset()

    def _reindex(self) -> None:
        self._index = {row.visitor_id: i for i, row in enumerate(self.rows)}

    def count(self, segment: Segment, me: str) -> int:
        return sum(in_segment(row, segment, me) for row in self.rows)


def default_greeting(row: p.LiveVisitor, my_name: str) -> str:
    """The Engage dialog's opener, to edit before sending: personal, short, about the page they're on."""
    first = row.name.split()[0] if row.name.strip() else ""
    me = my_name.split()[0] if my_name.strip() else ""
    hello = f"Hi {first}!" if first else "Hi there!"
    intro = f" I'm {me} from the sales team." if me else ""
    page = page_label(row)
    about = f" Anything I can help with on {page}?" if page and page != "/" else " Anything I can help with?"
    return hello + intro + about


def opener_choices(
    replies: Iterable[p.SavedReply], row: p.LiveVisitor, me: p.Agent | None
) -> list[tuple[str, str]]:
    """Saved replies usable as an opener, expanded for this visitor: (title, text). Replies that share a
    calendar or keep unknown ``{tokens}`` are left out (an opener posts no booking card)."""
    visitor = p.Visitor(id=row.visitor_id, name=row.name, company=row.company)
    values = saved_replies.values_for(visitor, me)
    out = []
    for reply in sorted(replies, key=lambda r: (r.owner_id is None, r.title.lower())):  # mine first
        expansion = saved_replies.expand(reply.text, values)
        if not expansion.shares_calendar and not expansion.unknown and len(expansion.text) <= ENGAGE_MAX:
            out.append((reply.title, expansion.text))
    return out
