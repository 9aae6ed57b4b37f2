"""Calendar and meeting rules: settings, booking cards, atomic booking, listing, serving the .ics."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from msgspec.structs import replace

from agent_app.protocol import Agent, BookingCard, CalendarSettings, Conversation, Meeting
from chat_server.calendar import (
    DEFAULT_ZONE,
    agent_zone,
    default_settings,
    is_open,
    open_slots,
    validate_settings,
)
from chat_server.ics import meeting_invite
from chat_server.security import new_id
from chat_server.storage.meetings_sql import SlotTaken
from chat_server.visibility import is_supervisor

CARD_SLOTS = 24  # slots offered in one booking card (the widget pages through them by day)

__all__ = [
    "CARD_SLOTS",
    "BookingRefused",
    "MeetingStore",
    "SlotTaken",
    "booking_card",
    "book",
    "calendar_settings",
    "ics_for",
    "list_meetings",
    "reschedule",
    "update_settings",
]


class MeetingStore(Protocol):
    """The part of the storage these rules use (SqliteStorage gets it from MeetingsSql)."""

    def add_meeting(self, meeting: Meeting, token: str, buffer_seconds: float) -> None: ...

    def get_meeting(self, meeting_id: str) -> tuple[Meeting, str] | None: ...

    def delete_meeting(self, meeting_id: str) -> None: ...

    def move_meeting(self, meeting: Meeting, buffer_seconds: float) -> None: ...

    def agent_meetings(self, agent_id: str, since: float, until: float | None = None) -> list[Meeting]: ...

    def all_meetings(self, since: float) -> list[Meeting]: ...

    def get_calendar_settings(self, agent_id: str) -> CalendarSettings | None: ...

    def save_calendar_settings(self, settings: CalendarSettings) -> None: ...


class BookingRefused(Exception):
    """The booking or settings change is not allowed; ``code`` maps to an ErrorCode value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Booked:
    meeting: Meeting
    token: str


def calendar_settings(
    store: MeetingStore, agent: Agent, default_zone: str = DEFAULT_ZONE
) -> CalendarSettings:
    """Stored settings, or the defaults for a calendar never edited: weekdays 09:00-17:00 in the agent's
    own zone (profile, else territory, else ``default_zone``: the server's default_timezone)."""
    stored = store.get_calendar_settings(agent.id)
    return stored or default_settings(agent.id, agent_zone(agent, default_zone))


def update_settings(store: MeetingStore, actor: Agent, settings: CalendarSettings) -> CalendarSettings:
    """An SDR edits their own calendar; managers and admins anyone's. Raises BookingRefused."""
    if settings.agent_id != actor.id and not is_supervisor(actor):
        raise BookingRefused("forbidden", "you may only change your own calendar")
    problems = validate_settings(settings)
    if problems:
        raise BookingRefused("invalid", " ".join(problems))
    settings.availability.sort(key=lambda w: (w.weekday, w.start))
    store.save_calendar_settings(settings)
    return settings


def _busy(
    store: MeetingStore,
    settings: CalendarSettings,
    now: float,
    external: Iterable[tuple[float, float]] = (),
) -> list[tuple[float, float]]:
    """Our own meetings plus ``external`` busy times (the rep's connected calendar, chat_server/calendars)."""
    until = now + (settings.horizon_days + 1) * 86400
    own = [(m.start, m.end) for m in store.agent_meetings(settings.agent_id, now - 86400, until)]
    return own + [(a, b) for a, b in external if b > now - 86400 and a < until]


def booking_card(
    store: MeetingStore,
    agent: Agent,
    now: float,
    limit: int = CARD_SLOTS,
    *,
    default_zone: str = DEFAULT_ZONE,
    external: Iterable[tuple[float, float]] = (),
) -> BookingCard:
    """What "share calendar" puts into the chat: the agent's next open slots."""
    settings = calendar_settings(store, agent, default_zone)
    return BookingCard(
        agent_id=agent.id,
        agent_name=agent.name,
        duration_minutes=settings.duration_minutes,
        timezone=settings.timezone,
        slots=open_slots(settings, _busy(store, settings, now, external), now, limit=limit),
        description=settings.description,
    )


def book(
    store: MeetingStore,
    *,
    agent: Agent,
    conversation: Conversation,
    start: float,
    name: str,
    email: str,
    now: float,
    default_zone: str = DEFAULT_ZONE,
    external: Iterable[tuple[float, float]] = (),
) -> Booked:
    """Books ``start`` on ``agent``'s calendar for the conversation's visitor.

    Call it inside one storage savepoint: the slot is re-validated against the settings and the
    meetings as of now, then inserted with an overlap check and a unique (agent, start) constraint,
    so of two visitors racing for one slot exactly one gets it. Raises BookingRefused("conflict")
    when the slot is gone and BookingRefused("invalid") when it never was a slot.
    """
    if agent.disabled:
        raise BookingRefused("not_found", "that calendar is not available")
    settings = calendar_settings(store, agent, default_zone)
    busy = _busy(store, settings, now, external)
    if not is_open(settings, busy, now, start):
        if is_open(settings, [], now, start):
            raise BookingRefused("conflict", "that time was just booked; please pick another")
        raise BookingRefused("invalid", "that time is not on the calendar (any more)")
    visitor = conversation.visitor
    meeting_id = new_id()
    token = new_id()
    company = visitor.company
    who = company or name or visitor.name or "visitor"
    meeting = Meeting(
        id=meeting_id,
        conversation_id=conversation.id,
        agent_id=agent.id,
        visitor_id=visitor.id,
        start=start,
        end=start + settings.duration_minutes * 60,
        timezone=settings.timezone,
        title=f"{settings.description or 'Intro call'}: {who} x {agent.name}",
        visitor_name=name or visitor.name,
        visitor_email=email or visitor.email,
        company=company,
        created_at=now,
        ics_url=f"/meetings/{meeting_id}.ics?token={token}",
    )
    try:
        store.add_meeting(meeting, token, settings.buffer_minutes * 60.0)
    except SlotTaken as exc:
        raise BookingRefused("conflict", "that time was just booked; please pick another") from exc
    return Booked(meeting, token)


def reschedule(
    store: MeetingStore,
    *,
    actor: Agent,
    owner: Agent,
    meeting: Meeting,
    start: float,
    now: float,
    default_zone: str = DEFAULT_ZONE,
    external: Iterable[tuple[float, float]] = (),
) -> Meeting:
    """Moves ``meeting`` to ``start`` on its owner's calendar; call it inside one storage savepoint.

    The owner or a manager only. The new time must be an open slot by the same rules a visitor's
    booking meets (availability, notice, horizon, buffers, our meetings and the connected calendar's
    busy times): the visitor was promised those slots and the rep's week stays as they set it up; an SDR
    who wants another time widens their availability first. The meeting itself does not block its new
    time (neither its row nor its own event on the connected calendar). Same id, same invite UID,
    ``sequence`` + 1. Raises BookingRefused (forbidden, not_found, invalid, conflict).
    """
    if meeting.agent_id != actor.id and not is_supervisor(actor):
        raise BookingRefused("forbidden", "you may only reschedule your own meetings")
    if owner.disabled:
        raise BookingRefused("not_found", "that calendar is not available")
    if start == meeting.start:
        raise BookingRefused("invalid", "the meeting is already at that time")
    settings = calendar_settings(store, owner, default_zone)
    mine = (meeting.start, meeting.end)
    busy = [b for b in _busy(store, settings, now, external) if b != mine]
    if not is_open(settings, busy, now, start):
        if is_open(settings, [], now, start):
            raise BookingRefused("conflict", "that time was just taken; please pick another")
        raise BookingRefused("invalid", "that time is not on the calendar (any more)")
    moved = replace(
        meeting, start=start, end=start + settings.duration_minutes * 60, sequence=meeting.sequence + 1
    )
    try:
        store.move_meeting(moved, settings.buffer_minutes * 60.0)
    except SlotTaken as exc:
        raise BookingRefused("conflict", "that time was just taken; please pick another") from exc
    return moved


def list_meetings(store: MeetingStore, actor: Agent, agent_id: str, since: float) -> list[Meeting]:
    """An SDR's own meetings; managers may ask for anyone's, or everyone's with agent_id "*"."""
    target = agent_id or actor.id
    if target != actor.id and not is_supervisor(actor):
        raise BookingRefused("forbidden", "you may only list your own meetings")
    if target == "*":
        return store.all_meetings(since)
    return store.agent_meetings(target, since)


def ics_for(store: MeetingStore, meeting_id: str, token: str, organizer: Agent | None) -> bytes | None:
    """The invitation for whoever holds the meeting's token (visitor link, SDR's Meetings view)."""
    found = store.get_meeting(meeting_id)
    if found is None or not hmac.compare_digest(found[1], token):
        return None
    meeting = found[0]
    settings = store.get_calendar_settings(meeting.agent_id)
    return meeting_invite(
        meeting,
        organizer_name=organizer.name if organizer else "",
        organizer_email=organizer.email if organizer else "",
        description=settings.description if settings else "",
        sequence=meeting.sequence,
    )
