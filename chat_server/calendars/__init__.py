"""Connected calendars: the provider interface, per-agent connections, cached busy times, event writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Connection:
    """An agent's calendar account. ``password`` never leaves the server (docs/qualify.md, "Connected
    calendar")."""

    agent_id: str
    url: str
    username: str = ""
    password: str = ""
    calendar: str = ""  # a calendar's name or URL; "" = the account's first calendar
    kind: str = "caldav"


class CalendarError(Exception):
    """The calendar server could not be reached or refused the request (message fit for the agent)."""


class CalendarProvider(Protocol):
    """What the server needs from a calendar service. Blocking: callers run it in a worker thread.
    Google Calendar (freeBusy.query, events.insert) and Microsoft Graph (getSchedule, POST /events)
    fit the same four calls."""

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        """Busy intervals (UTC timestamps) overlapping [start, end). Raises CalendarError."""
        ...

    def put_event(self, uid: str, ics: bytes) -> None:
        """Creates or replaces the event with this UID. Raises CalendarError."""
        ...

    def delete_event(self, uid: str) -> None:
        """Removes the event with this UID (absent is fine). Raises CalendarError."""
        ...

    def close(self) -> None: ...
