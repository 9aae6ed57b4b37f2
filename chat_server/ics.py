"""iCalendar (RFC 5545/5546) invitation for a booked meeting, built with the icalendar package."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from agent_app.protocol import Meeting

PRODID = "-//SDR Agent Desk//Chat Server 1.0//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8; method=REQUEST"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}" if email else "mailto:noreply@invalid")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def meeting_invite(
    meeting: Meeting,
    *,
    organizer_name: str,
    organizer_email: str,
    description: str = "",
    domain: str = "sdr-agent-desk.local",
    now: float | None = None,
    method: str = "REQUEST",
    sequence: int = 0,
) -> bytes:
    """The invitation as bytes (CRLF line ends, folded and escaped by icalendar).

    Times are UTC (``DTSTART:...Z``), so every calendar shows them right in its own zone without a
    VTIMEZONE block; the SDR's zone is named in the description. ``method`` is REQUEST or CANCEL (RFC 5546;
    CANCEL marks the event cancelled with a higher ``sequence``), or "" for the copy stored on a CalDAV
    server (RFC 4791 forbids METHOD in stored calendar objects).
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    cal.add("calscale", "GREGORIAN")

    event = Event()
    event.add("uid", f"{meeting.id}@{domain}")
    event.add("dtstamp", _utc(now if now is not None else meeting.created_at))
    event.add("dtstart", _utc(meeting.start))
    event.add("dtend", _utc(meeting.end))
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("summary", meeting.title or f"Intro call with {organizer_name}")
    lines = [description] if description else []
    if meeting.company:
        lines.append(f"Company: {meeting.company}")
    lines.append(f"Booked from the website chat (organiser's time zone: {meeting.timezone}).")
    event.add("description", "\n".join(lines))
    event.add("organizer", _address(organizer_email, organizer_name))
    if meeting.visitor_email or meeting.visitor_name:
        event.add(
            "attendee",
            _address(
                meeting.visitor_email,
                meeting.visitor_name,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE",
                CUTYPE="INDIVIDUAL",
            ),
        )
    cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


def ics_filename(meeting: Meeting) -> str:
    return f"meeting-{meeting.id}.ics"
