"""Saved replies on the client: variables and their expansion, search ranking, validation, server calls."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agent_app import protocol as p
from agent_app.store import Store

# Where {calendar_link} stands in a reply: the sentence points at the booking card that the client shares
# right after the message (the chat server's share-calendar card: open slots in the visitor's own time
# zone, booked atomically in the widget). A chat visitor gets no better "link" than that card.
CALENDAR_TEXT: Final = "(pick a time in the calendar below)"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    description: str
    fallback: str  # what a visitor sees when the value is unknown


VARIABLES: Final = (
    Variable("visitor_first_name", "The visitor's first name", "there"),
    Variable("visitor_name", "The visitor's full name", "there"),
    Variable("company", "The visitor's company", "your company"),
    Variable("my_first_name", "Your first name", "our team"),
    Variable("my_name", "Your full name", "our team"),
    Variable("calendar_link", "Your calendar: the booking card follows the message", CALENDAR_TEXT),
)
_BY_NAME: Final = {v.name: v for v in VARIABLES}
_TOKEN = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_SHORTCUT = re.compile(p.SAVED_REPLY_SHORTCUT_PATTERN)


@dataclass(frozen=True, slots=True)
class Expansion:
    """A reply ready for the composer. ``unknown`` lists ``{tokens}`` left as typed (no such variable):
    the SDR must fix them before sending. ``shares_calendar``: the reply used {calendar_link}."""

    text: str
    unknown: tuple[str, ...] = ()
    shares_calendar: bool = False


def _first(name: str) -> str:
    name = name.strip()
    if not name or "@" in name:  # an email typed into the name field is no name to greet
        return ""
    return name.split()[0]


def values_for(visitor: p.Visitor | None, me: p.Agent | None) -> dict[str, str]:
    """The known values; unknown ones are absent (their fallback applies)."""
    known: dict[str, str] = {"calendar_link": CALENDAR_TEXT}
    if visitor is not None:
        name = " ".join(visitor.name.split())
        if name and "@" not in name:
            known["visitor_name"] = name
            known["visitor_first_name"] = _first(name)
        if visitor.company.strip():
            known["company"] = visitor.company.strip()
    if me is not None and me.name.strip():
        known["my_name"] = " ".join(me.name.split())
        known["my_first_name"] = _first(me.name)
    return {k: v for k, v in known.items() if v}


def expand(text: str, values: dict[str, str]) -> Expansion:
    """Replaces every ``{variable}`` (spaces inside the braces tolerated) with its value or fallback;
    anything else in braces stays, reported in ``unknown``."""
    unknown: list[str] = []
    used_calendar = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used_calendar
        name = match.group(1).lower()
        variable = _BY_NAME.get(name)
        if variable is None:
            if match.group(0) not in unknown:
                unknown.append(match.group(0))
            return match.group(0)
        used_calendar = used_calendar or name == "calendar_link"
        return values.get(name) or variable.fallback

    return Expansion(_TOKEN.sub(replace, text), tuple(unknown), used_calendar)


def unknown_tokens(text: str) -> list[str]:
    """``{tokens}`` in ``text`` that name no variable (for the editor's warning)."""
    return [m.group(0) for m in _TOKEN.finditer(text) if m.group(1).lower() not in _BY_NAME]


def problems(shortcut: str, title: str, text: str) -> list[str]:
    """What the server would refuse, said before sending (the server checks again)."""
    found: list[str] = []
    shortcut = shortcut.strip().lower().lstrip("/")  # as the server normalises it
    if not shortcut:
        found.append("Give it a shortcut, e.g. greet (you type /greet in the composer).")
    elif not _SHORTCUT.fullmatch(shortcut):
        found.append("The shortcut may hold only letters, digits, - and _ (no spaces).")
    elif len(shortcut) > p.MAX_SAVED_REPLY_SHORTCUT:
        found.append(f"The shortcut is longer than {p.MAX_SAVED_REPLY_SHORTCUT} characters.")
    if not title.strip():
        found.append("Give it a title.")
    elif len(" ".join(title.split())) > p.MAX_SAVED_REPLY_TITLE:
        found.append(f"The title is longer than {p.MAX_SAVED_REPLY_TITLE} characters.")
    if not text.strip():
        found.append("Write the reply text.")
    elif len(text.strip()) > p.MAX_MESSAGE_TEXT:
        found.append(f"The text is {len(text.strip()):,} characters; the limit is {p.MAX_MESSAGE_TEXT:,}.")
    bad = unknown_tokens(text)
    if bad:
        names = ", ".join("{" + v.name + "}" for v in VARIABLES)
        found.append(f"Unknown variable {', '.join(bad)}. Known: {names}.")
    return found


def is_team(reply: p.SavedReply) -> bool:
    return reply.owner_id is None


def can_edit(reply: p.SavedReply | None, me: p.Agent | None) -> bool:
    """The server's rule, for greying out the editor: my own replies; team replies for managers."""
    if me is None:
        return False
    if reply is None or reply.owner_id is None:
        return me.role in (p.Role.MANAGER, p.Role.ADMIN)
    return reply.owner_id == me.id


def rank(reply: p.SavedReply, query: str) -> int | None:
    """How well ``reply`` matches what was typed after "/" (lower is better); None: no match."""
    q = query.strip().lower().lstrip("/")
    if not q:
        return 0
    shortcut, title = reply.shortcut.lower(), reply.title.lower()
    if shortcut == q:
        return 0
    if shortcut.startswith(q):
        return 1
    if title.startswith(q) or any(word.startswith(q) for word in title.split()):
        return 2
    if q in shortcut or q in title:
        return 3
    if q in reply.text.lower():
        return 4
    return None


def search(replies: Iterable[p.SavedReply], query: str) -> list[p.SavedReply]:
    """Matches, best first; then my own before the team's; then by shortcut."""
    scored = [(r, rank(r, query)) for r in replies]
    hits = [(score, is_team(r), r.shortcut, r.title, r) for r, score in scored if score is not None]
    return [entry[-1] for entry in sorted(hits, key=lambda e: e[:4])]


# ---------------------------------------------------------------- server calls


class Requester(Protocol):
    """What these calls need of a Session."""

    store: Store

    async def request(self, command: p.AgentCommand) -> dict[str, Any]: ...


def _id() -> str:
    return uuid.uuid4().hex


async def refresh(session: Requester) -> list[p.SavedReply]:
    """Loads mine and the team's into the store (after every (re)connect)."""
    result = await session.request(p.ListSavedReplies(id=_id()))
    replies = p.convert(result.get("replies", []), list[p.SavedReply])
    session.store.apply_saved_replies(replies, int(result.get("seq", 0)))
    return replies


async def create(session: Requester, shortcut: str, title: str, text: str, *, team: bool) -> p.SavedReply:
    command = p.CreateSavedReply(id=_id(), shortcut=shortcut, title=title, text=text, team=team)
    return p.convert((await session.request(command))["reply"], p.SavedReply)


async def update(session: Requester, reply_id: str, shortcut: str, title: str, text: str) -> p.SavedReply:
    command = p.UpdateSavedReply(id=_id(), reply_id=reply_id, shortcut=shortcut, title=title, text=text)
    return p.convert((await session.request(command))["reply"], p.SavedReply)


async def delete(session: Requester, reply_id: str) -> None:
    await session.request(p.DeleteSavedReply(id=_id(), reply_id=reply_id))


@dataclass
class CalendarFollowUps:
    """Conversations whose next sent reply must be followed by my calendar card ({calendar_link}).

    The card is shared once the message itself is durable on the server, so the visitor reads the
    sentence first and the card below it."""

    armed: set[str] = field(default_factory=set)
    waiting: dict[str, str] = field(default_factory=dict)  # client id of the sent message -> conversation

    def arm(self, conversation_id: str) -> None:
        self.armed.add(conversation_id)

    def disarm(self, conversation_id: str) -> None:
        self.armed.discard(conversation_id)

    def is_armed(self, conversation_id: str) -> bool:
        return conversation_id in self.armed

    def message_sent(self, conversation_id: str, client_id: str, private: bool) -> None:
        """My message was handed to the outbox; a private note never brings the card."""
        if conversation_id in self.armed and not private:
            self.waiting[client_id] = conversation_id
        self.armed.discard(conversation_id)

    def delivered(self, client_id: str, ok: bool, share: Callable[[str], None]) -> None:
        """The message was acked (``ok``) or refused: share the card now, or forget it."""
        conversation_id = self.waiting.pop(client_id, None)
        if conversation_id is not None and ok:
            share(conversation_id)
