"""Calendar commands: share a calendar, calendar settings, list meetings, visitor booking, the .ics route."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import msgspec
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from agent_app import protocol as p
from chat_server import meetings
from chat_server.calendars import CalendarError, Connection
from chat_server.calendars.google_provider import DEFAULT_API as GOOGLE_API
from chat_server.calendars.msgraph_provider import DEFAULT_API as GRAPH_API
from chat_server.errors import CommandError
from chat_server.ics import CONTENT_TYPE, ics_filename
from chat_server.security import agent_for_ref, calendar_ref
from chat_server.visibility import can_see, is_supervisor

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from chat_server.agent_commands import AgentSession
    from chat_server.context import Context

ICS_PREFIX = "/meetings/"
MAX_FIELD = 200
MAX_URL = 1000


def _store(ctx: Context) -> meetings.MeetingStore:
    return cast(meetings.MeetingStore, ctx.storage)


def _refused(exc: meetings.BookingRefused) -> CommandError:
    return CommandError(p.ErrorCode(exc.code), exc.message)


def share_calendar(s: AgentSession, c: p.ShareCalendar) -> dict[str, Any]:
    """A bot message with the calendar owner's open slots, to the visitor and the team."""
    ctx, agent = s.ctx, s.agent
    with ctx.storage.savepoint():
        conversation = ctx.service.visible_conversation(agent, c.conversation_id)
        if conversation.status == p.ConversationStatus.CLOSED:
            raise CommandError(p.ErrorCode.CONFLICT, "the conversation is closed")
        owner = ctx.service.agent(c.agent_id)
        if owner.disabled:
            raise CommandError(p.ErrorCode.INVALID, f"{owner.name} is disabled")
        external, warning = ctx.calendars.busy(owner.id)
        card = meetings.booking_card(
            _store(ctx), owner, ctx.clock.now(), default_zone=ctx.config.default_timezone, external=external
        )
        if not card.slots:
            problem = f"{owner.name}'s calendar has no open times; check the calendar settings"
            raise CommandError(p.ErrorCode.CONFLICT, problem)
        mine = owner.id == agent.id
        text = f"Pick a time for a {card.duration_minutes}-minute call with {owner.name}" + (
            "" if mine else f" (shared by {agent.name})"
        )
        message = ctx.service.add_message(
            conversation, p.AuthorKind.BOT, text, author_name=agent.name, card=card
        )
        if warning:  # the team sees it in the chat; the visitor does not
            note = (f"{owner.name}'s {warning}: the times offered come from the calendar settings only. "
                    "A booking is checked against the calendar again once it can be read.")  # fmt: skip
            ctx.service.add_message(conversation, p.AuthorKind.SYSTEM, note, private=True)
    return {"message": msgspec.to_builtins(message), "calendar_warning": warning}


def get_calendar_settings(s: AgentSession, c: p.GetCalendarSettings) -> dict[str, Any]:
    owner = s.ctx.service.agent(c.agent_id or s.agent_id)  # not_found for unknown agents
    settings = meetings.calendar_settings(_store(s.ctx), owner, s.ctx.config.default_timezone)
    result = {"settings": msgspec.to_builtins(settings)}
    if owner.id == s.agent_id:  # the connection is its owner's business only
        result["connection"] = s.ctx.calendars.status(owner.id)
        # the OAuth apps' client ids (public by design) for the desk client's browser sign-in
        result["calendar_sign_in"] = {kind: app.client_id for kind, app in s.ctx.calendars.oauth.items()}
    return result


# ConnectCalendar: the async part (testing the account over the network) runs before the command's
# savepoint (agent_endpoint calls prepare_connect); the handler then stores the outcome atomically.
# Outcomes wait in CalendarSync.tested, keyed by (agent, command id).
_MAX_PENDING = 256
BOOKING_RECHECK_SECONDS = 5.0  # a hung calendar delays a booking at most this long
CONNECT_TEST_SECONDS = 20.0


OAUTH_KINDS = {"google": GOOGLE_API, "microsoft": GRAPH_API}
MAX_TOKEN = 8000  # Microsoft's codes and refresh tokens run to a few thousand characters


def _connection(s: AgentSession, c: p.ConnectCalendar) -> Connection:
    """The connection the command describes (OAuth: ``password`` is the refresh token, "" with a code)."""
    if max(len(c.url), len(c.username), len(c.calendar), len(c.redirect_uri)) > MAX_URL:
        raise CommandError(p.ErrorCode.TOO_LONG, f"calendar settings must be under {MAX_URL} characters")
    if max(len(c.password), len(c.code), len(c.code_verifier)) > MAX_TOKEN:
        raise CommandError(p.ErrorCode.TOO_LONG, f"passwords and codes must be under {MAX_TOKEN} characters")
    if c.url and not c.url.startswith(("http://", "https://")):
        raise CommandError(p.ErrorCode.INVALID, "the calendar URL must start with https:// (or http://)")
    if c.kind == "caldav":
        return Connection(s.agent_id, c.url.strip(), c.username.strip(), c.password, c.calendar.strip())
    if c.kind not in OAUTH_KINDS:
        raise CommandError(p.ErrorCode.INVALID, "kind must be caldav, google or microsoft")
    if not (c.code or c.password):
        raise CommandError(p.ErrorCode.INVALID, "sign in to the calendar first (no code or refresh token)")
    if c.code and not (c.code_verifier and c.redirect_uri):
        raise CommandError(p.ErrorCode.INVALID, "the sign-in code needs its code_verifier and redirect_uri")
    if c.kind == "microsoft" and "@" not in c.username:
        raise CommandError(p.ErrorCode.INVALID, "give the Microsoft 365 mailbox address as the user name")
    url = c.url.strip() or OAUTH_KINDS[c.kind]
    return Connection(s.agent_id, url, c.username.strip(), "" if c.code else c.password, c.calendar.strip(),
                      kind=c.kind)  # fmt: skip


async def prepare_connect(s: AgentSession, c: p.ConnectCalendar) -> None:
    """Tests the account before the command runs (network I/O cannot run inside a savepoint)."""
    try:
        connection = _connection(s, c)
    except CommandError:
        return  # the handler raises it again
    if not connection.url:
        return
    sync = s.ctx.calendars
    tested = sync.tested
    if len(tested) >= _MAX_PENDING:
        tested.clear()
    try:  # the agent's later commands wait behind this one: bounded
        if c.code:  # the browser sign-in's code: exchanged here, so the refresh token never leaves the server
            token = await asyncio.wait_for(
                asyncio.to_thread(sync.exchange_code, c.kind, c.code, c.code_verifier, c.redirect_uri),
                CONNECT_TEST_SECONDS,
            )
            connection = dataclasses.replace(connection, password=token)
        outcome: list[tuple[float, float]] | str = await asyncio.wait_for(
            sync.test(connection), CONNECT_TEST_SECONDS
        )
    except CalendarError as exc:
        outcome = str(exc)
    except TimeoutError:
        outcome = f"the calendar server did not answer within {CONNECT_TEST_SECONDS:.0f} s"
    tested[(s.agent_id, c.id)] = (connection, outcome)


def connect_calendar(s: AgentSession, c: p.ConnectCalendar) -> dict[str, Any]:
    connection = _connection(s, c)
    sync = s.ctx.calendars
    if not connection.url:
        sync.disconnect(s.agent_id)
        return {"connection": sync.status(s.agent_id)}
    tested = sync.tested.pop((s.agent_id, c.id), None)
    if tested is not None and c.code:  # compared without the refresh token the code was exchanged for
        connection = dataclasses.replace(connection, password=tested[0].password)
    if tested is None or tested[0] != connection:
        raise CommandError(p.ErrorCode.CONFLICT, "the calendar was not tested; send the command again")
    outcome = tested[1]
    if isinstance(outcome, str):
        raise CommandError(p.ErrorCode.INVALID, f"calendar not connected: {outcome}")
    sync.save(connection, outcome)
    return {"connection": sync.status(s.agent_id)}


def _owned_meeting(s: AgentSession, meeting_id: str, verb: str) -> p.Meeting:
    found = _store(s.ctx).get_meeting(meeting_id)
    if found is None:
        raise CommandError(p.ErrorCode.NOT_FOUND, "no such meeting")
    if found[0].agent_id != s.agent_id and not is_supervisor(s.agent):
        raise CommandError(p.ErrorCode.FORBIDDEN, f"you may only {verb} your own meetings")
    return found[0]


def _announce(ctx: Context, meeting: p.Meeting, owner: p.Agent, text: str, event: p.Event) -> None:
    """A visitor-safe line in the meeting's conversation (the visitor's widget and the team) carrying
    ``event`` to every agent who sees it (persisted and replayed like meeting_booked); the owner gets
    the event directly when they do not see the conversation."""
    conversation = ctx.storage.get_conversation(meeting.conversation_id)
    if conversation is None:
        ctx.hub.to_agents([(owner.id, event)])
        return
    ctx.service.add_message(conversation, p.AuthorKind.SYSTEM, text, extra_events=[event])
    if not can_see(owner, conversation):
        ctx.hub.to_agents([(owner.id, event)])


def cancel_meeting(s: AgentSession, c: p.CancelMeeting) -> dict[str, Any]:
    """The owner (or a manager) cancels: the row goes (its time is offered again), every desk that sees
    it hears meeting_cancelled, the visitor reads a plain line, the event leaves the rep's calendar and
    a METHOD:CANCEL goes to the visitor and the rep after the commit."""
    ctx = s.ctx
    with ctx.storage.savepoint():
        meeting = _owned_meeting(s, c.meeting_id, "cancel")
        owner = ctx.service.agent(meeting.agent_id)
        settings = _store(ctx).get_calendar_settings(meeting.agent_id)
        _store(ctx).delete_meeting(meeting.id)
        text = f"Your call with {owner.name} on {when_text(meeting)} was cancelled."
        _announce(ctx, meeting, owner, text, p.MeetingCancelled(meeting_id=meeting.id, agent_id=owner.id))
        description = settings.description if settings else ""
        ctx.storage.after_commit(lambda: ctx.calendars.meeting_cancelled(meeting, owner, description))
    return {"meeting": msgspec.to_builtins(meeting)}


def get_open_slots(s: AgentSession, c: p.GetOpenSlots) -> dict[str, Any]:
    """The slots a reschedule may pick: exactly what a visitor would be offered now."""
    owner = s.ctx.service.agent(c.agent_id or s.agent_id)  # not_found for unknown agents
    if owner.id != s.agent_id and not is_supervisor(s.agent):
        raise CommandError(p.ErrorCode.FORBIDDEN, "you may only read your own calendar's open times")
    external, warning = s.ctx.calendars.busy(owner.id)
    card = meetings.booking_card(_store(s.ctx), owner, s.ctx.clock.now(),
                                 default_zone=s.ctx.config.default_timezone, external=external)  # fmt: skip
    return {"card": msgspec.to_builtins(card), "calendar_warning": warning}


async def before_reschedule(s: AgentSession, c: p.RescheduleMeeting) -> None:
    """Re-reads the owner's connected calendar before a reschedule, as before a booking."""
    found = _store(s.ctx).get_meeting(c.meeting_id)
    if found is not None and found[0].agent_id in s.ctx.calendars.connections:
        task = s.ctx.calendars.refresh_soon(found[0].agent_id)
        await asyncio.wait({task}, timeout=BOOKING_RECHECK_SECONDS)


def reschedule_meeting(s: AgentSession, c: p.RescheduleMeeting) -> dict[str, Any]:
    """Moves a meeting to another open slot, atomically (the booking's checks, one savepoint); after the
    commit the rep's calendar event moves and an updated REQUEST (SEQUENCE + 1) is mailed to both."""
    ctx = s.ctx
    if not math.isfinite(c.start):
        raise CommandError(p.ErrorCode.INVALID, "start must be a time")
    with ctx.storage.savepoint():
        meeting = _owned_meeting(s, c.meeting_id, "reschedule")
        owner = ctx.service.agent(meeting.agent_id)
        external, _warning = ctx.calendars.busy(owner.id)
        try:
            moved = meetings.reschedule(
                _store(ctx), actor=s.agent, owner=owner, meeting=meeting, start=c.start,
                now=ctx.clock.now(), default_zone=ctx.config.default_timezone, external=external,
            )  # fmt: skip
        except meetings.BookingRefused as exc:
            raise _refused(exc) from exc
        text = f"Your call with {owner.name} moved to {when_text(moved)}."
        _announce(ctx, moved, owner, text, p.MeetingUpdated(meeting=moved))  # as meeting_booked: team only
        settings = _store(ctx).get_calendar_settings(owner.id)
        description = settings.description if settings else ""
        ctx.storage.after_commit(lambda: ctx.calendars.meeting_rescheduled(moved, owner, description))
    return {"meeting": msgspec.to_builtins(moved)}


def when_text(meeting: p.Meeting) -> str:
    """ "Tue 01 Dec 2026, 13:00 EST (America/New_York)": the calendar's zone, labelled (the server does
    not know the visitor's zone; the widget's own booking confirmation uses it)."""
    local = dt.datetime.fromtimestamp(meeting.start, ZoneInfo(meeting.timezone))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()} ({meeting.timezone})"


async def before_booking(ctx: Context, c: p.BookSlot) -> None:
    """Re-reads the rep's connected calendar right before a booking, so a time that became busy there
    since the card was shared is refused (never double-booked); unreachable: the cache's fallback."""
    owner_id = agent_for_ref(c.agent_id, ctx.hub.agents)
    if owner_id in ctx.calendars.connections:
        # on a timeout the booking goes on with the cache; the read still lands in it when it finishes
        await asyncio.wait({ctx.calendars.refresh_soon(owner_id)}, timeout=BOOKING_RECHECK_SECONDS)


def update_calendar_settings(s: AgentSession, c: p.UpdateCalendarSettings) -> dict[str, Any]:
    with s.ctx.storage.savepoint():
        s.ctx.service.agent(c.settings.agent_id)
        try:
            settings = meetings.update_settings(_store(s.ctx), s.agent, c.settings)
        except meetings.BookingRefused as exc:
            raise _refused(exc) from exc
    return {"settings": msgspec.to_builtins(settings)}


def list_meetings(s: AgentSession, c: p.ListMeetings) -> dict[str, Any]:
    since = c.since if c.since is not None else s.ctx.clock.now() - 86400
    try:
        found = meetings.list_meetings(_store(s.ctx), s.agent, c.agent_id, since)
    except meetings.BookingRefused as exc:
        raise _refused(exc) from exc
    return {"meetings": msgspec.to_builtins(found)}


def book_slot(ctx: Context, visitor_id: str, c: p.BookSlot) -> dict[str, Any]:
    """The visitor books a slot of a shared calendar: atomic (one savepoint: re-check, overlap check,
    unique (agent, start)), then a system message, and MeetingBooked to the team and the SDR."""
    if len(c.name) > MAX_FIELD or len(c.email) > MAX_FIELD:
        raise CommandError(p.ErrorCode.TOO_LONG, f"name and email must be under {MAX_FIELD} characters")
    storage, service = ctx.storage, ctx.service
    with storage.savepoint():
        conversation = storage.latest_conversation(visitor_id)
        if conversation is None:
            raise CommandError(p.ErrorCode.NOT_FOUND, "start a chat before booking")
        owner = service.agent(agent_for_ref(c.agent_id, ctx.hub.agents))  # the card's calendar_ref
        visitor = conversation.visitor
        if (c.email.strip() and not visitor.email) or (c.name.strip() and not visitor.name):
            visitor.email = visitor.email or c.email.strip()
            visitor.name = visitor.name or c.name.strip()
            conversation.visitor = service.update_visitor(visitor)
        external, _warning = ctx.calendars.busy(owner.id)
        try:
            booked = meetings.book(
                _store(ctx), agent=owner, conversation=conversation, start=c.start,
                name=c.name.strip(), email=c.email.strip(), now=ctx.clock.now(),
                default_zone=ctx.config.default_timezone, external=external,
            )  # fmt: skip
        except meetings.BookingRefused as exc:
            raise _refused(exc) from exc
        meeting = booked.meeting
        event = p.MeetingBooked(meeting=meeting)
        # For the team only: the widget shows the visitor its own confirmation in the visitor's time zone.
        # The line carries the meeting (without its invite token) so each desk client shows the time in
        # its reader's zone; ``text`` says it in the calendar's zone, labelled, for anything else.
        service.add_message(
            conversation, p.AuthorKind.SYSTEM, booking_line(meeting, owner.name), private=True,
            extra_events=[event], meeting=msgspec.structs.replace(meeting, ics_url=""),
        )  # fmt: skip
        if not can_see(owner, conversation):
            ctx.hub.to_agents([(owner.id, event)])
        settings = _store(ctx).get_calendar_settings(owner.id)
        description = settings.description if settings else ""
        ctx.storage.after_commit(lambda: ctx.calendars.meeting_booked(meeting, owner, description))
    # the visitor's copy names the calendar by the reference its card carried, not the agent's id
    return {"meeting": msgspec.to_builtins(msgspec.structs.replace(meeting, agent_id=calendar_ref(owner.id)))}


def booking_line(meeting: p.Meeting, owner_name: str) -> str:
    """ "Dana booked a call with Sam Chen on Tue 01 Dec 2026, 13:00 EST (America/New_York)"."""
    local = dt.datetime.fromtimestamp(meeting.start, ZoneInfo(meeting.timezone))
    who = meeting.visitor_name or "The visitor"
    when = f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"
    return f"{who} booked a call with {owner_name} on {when} ({meeting.timezone})"


def _plain(status: HTTPStatus, text: str) -> Response:
    body = text.encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def ics_route(ctx: Context) -> Any:
    """GET /meetings/<id>.ics?token=...: the invite for whoever holds the meeting's link."""

    def handler(ws: ServerConnection, request: Request) -> Response:
        url = urlsplit(request.path)
        name = url.path[len(ICS_PREFIX) :]
        token = parse_qs(url.query).get("token", [""])[0]
        if not name.endswith(".ics") or not token:
            return _plain(HTTPStatus.NOT_FOUND, "no such meeting")
        meeting_id = name[: -len(".ics")]
        found = _store(ctx).get_meeting(meeting_id)
        organizer = ctx.storage.get_agent(found[0].agent_id) if found else None
        body = meetings.ics_for(_store(ctx), meeting_id, token, organizer)
        if body is None or found is None:
            return _plain(HTTPStatus.NOT_FOUND, "no such meeting")
        headers = Headers(
            [
                ("Content-Type", CONTENT_TYPE),
                ("Content-Length", str(len(body))),
                ("Content-Disposition", f'attachment; filename="{ics_filename(found[0])}"'),
                ("Cache-Control", "private, no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        return Response(200, "OK", headers, body)

    return handler
