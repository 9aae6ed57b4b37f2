"""Google Calendar API v3 provider: freeBusy.query for busy times, events insert/update/delete."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar

from chat_server.calendars import CalendarError
from chat_server.calendars.oauth import RestProvider

DEFAULT_API = "https://www.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def event_fields(ics: bytes) -> dict[str, Any]:
    """What the REST APIs need from our invite: times, title, description, attendees (email, name)."""
    event = next(iter(Calendar.from_ical(ics).walk("VEVENT")))
    attendees = []
    for value in (
        event.get("ATTENDEE", []) if isinstance(event.get("ATTENDEE"), list) else [event.get("ATTENDEE")]
    ):
        if value is None:
            continue
        address = str(value).removeprefix("mailto:").removeprefix("MAILTO:")
        attendees.append((address, str(value.params.get("CN", ""))))
    return {
        "start": event.decoded("DTSTART").timestamp(), "end": event.decoded("DTEND").timestamp(),
        "summary": str(event.get("SUMMARY", "")), "description": str(event.get("DESCRIPTION", "")),
        "attendees": attendees,
    }  # fmt: skip


def event_id(uid: str) -> str:
    """Google event ids use base32hex characters (a-v, 0-9), 5 to 1024 long: a hex digest of our UID
    fits, and needs no stored mapping to update or delete the event later."""
    return hashlib.sha1(uid.encode()).hexdigest()


class GoogleProvider(RestProvider):
    """``connection.url`` is the API base, ``calendar`` the calendar id ("" = primary), ``password`` the
    refresh token."""

    @property
    def calendar_id(self) -> str:
        return self.connection.calendar or "primary"

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        body = {"timeMin": iso(start), "timeMax": iso(end), "items": [{"id": self.calendar_id}]}
        response = self.request("POST", "/calendar/v3/freeBusy", json=body)
        if response.status_code != 200:
            raise self.failed(response, "reading busy times")
        found = response.json().get("calendars", {}).get(self.calendar_id, {})
        if found.get("errors"):
            reason = found["errors"][0].get("reason", "error")
            raise CalendarError(f"Google could not read the calendar {self.calendar_id!r} ({reason})")
        try:
            return sorted((parse_time(b["start"]), parse_time(b["end"])) for b in found.get("busy", []))
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"unreadable busy times from Google: {exc}") from exc

    def put_event(self, uid: str, ics: bytes) -> None:
        f = event_fields(ics)
        body = {
            "id": event_id(uid), "iCalUID": uid, "summary": f["summary"], "description": f["description"],
            "start": {"dateTime": iso(f["start"]), "timeZone": "UTC"},
            "end": {"dateTime": iso(f["end"]), "timeZone": "UTC"},
            "attendees": [{"email": a, **({"displayName": n} if n else {})} for a, n in f["attendees"]],
        }  # fmt: skip
        path = f"/calendar/v3/calendars/{self.calendar_id}/events"
        # the server mails its own invites (chat_server/mailer.py): Google sends none of its own
        response = self.request("POST", path, params={"sendUpdates": "none"}, json=body)
        if response.status_code == 409:  # written before (a retry): replace it
            response = self.request(
                "PUT", f"{path}/{event_id(uid)}", params={"sendUpdates": "none"}, json=body
            )
        if response.status_code not in (200, 201):
            raise self.failed(response, "writing the event")

    def delete_event(self, uid: str) -> None:
        path = f"/calendar/v3/calendars/{self.calendar_id}/events/{event_id(uid)}"
        response = self.request("DELETE", path, params={"sendUpdates": "none"})
        if response.status_code not in (200, 204, 404, 410):
            raise self.failed(response, "removing the event")
