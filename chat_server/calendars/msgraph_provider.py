"""Microsoft Graph provider (Outlook / Microsoft 365): getSchedule for busy times, /me/events writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chat_server.calendars import CalendarError
from chat_server.calendars.google_provider import event_fields
from chat_server.calendars.oauth import RestProvider

DEFAULT_API = "https://graph.microsoft.com"
DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
DEFAULT_AUTH_URL = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
# Our UID on the event, as a single-value extended property (filterable, so no id mapping is stored).
UID_PROPERTY = "String {5d2b8c8e-1f0a-4b7e-9a57-3c1d2f6e8a10} Name SdrAgentDeskUid"
FREE = {"free", "workingelsewhere"}  # compared lower-cased: Graph's own examples say "Busy", "Tentative"


def _dt(ts: float) -> dict[str, str]:
    return {"dateTime": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _ts(value: dict[str, Any]) -> float:
    text = str(value["dateTime"])
    if "." in text:  # Graph gives seven fractional digits; fromisoformat takes at most six
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        if value.get("timeZone", "UTC") not in ("UTC", "Etc/UTC"):
            raise CalendarError(f"unexpected time zone {value.get('timeZone')!r} from Microsoft Graph")
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class GraphProvider(RestProvider):
    """``connection.url`` is the Graph base, ``username`` the mailbox address (getSchedule needs it),
    ``password`` the refresh token."""

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        body = {"schedules": [self.connection.username], "startTime": _dt(start), "endTime": _dt(end),
                "availabilityViewInterval": 30}  # fmt: skip
        response = self.request("POST", "/v1.0/me/calendar/getSchedule", json=body)
        if response.status_code != 200:
            raise self.failed(response, "reading busy times")
        values = response.json().get("value", [])
        if not values:
            raise CalendarError("Microsoft Graph returned no schedule")
        schedule = values[0]
        if schedule.get("error"):
            raise CalendarError(f"Microsoft Graph could not read the schedule ({schedule['error']})"[:300])
        try:
            return sorted((_ts(i["start"]), _ts(i["end"])) for i in schedule.get("scheduleItems", [])
                          if str(i.get("status", "")).lower() not in FREE)  # fmt: skip
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"unreadable busy times from Microsoft Graph: {exc}") from exc

    def _find(self, uid: str) -> str | None:
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{UID_PROPERTY}' and ep/value eq '{uid}')"
        response = self.request("GET", "/v1.0/me/events", params={"$filter": flt, "$select": "id"})
        if response.status_code != 200:
            raise self.failed(response, "looking up the event")
        found = response.json().get("value", [])
        return str(found[0]["id"]) if found else None

    def put_event(self, uid: str, ics: bytes) -> None:
        f = event_fields(ics)
        body = {
            "subject": f["summary"], "body": {"contentType": "text", "content": f["description"]},
            "start": _dt(f["start"]), "end": _dt(f["end"]),
            "attendees": [{"emailAddress": {"address": a, "name": n or a}, "type": "required"}
                          for a, n in f["attendees"]],
            "singleValueExtendedProperties": [{"id": UID_PROPERTY, "value": uid}],
            "transactionId": uid,
        }  # fmt: skip
        existing = self._find(uid)
        if existing is None:
            response = self.request("POST", "/v1.0/me/events", json=body)
        else:
            response = self.request("PATCH", f"/v1.0/me/events/{existing}", json=body)
        if response.status_code not in (200, 201):
            raise self.failed(response, "writing the event")

    def delete_event(self, uid: str) -> None:
        existing = self._find(uid)
        if existing is None:
            return
        response = self.request("DELETE", f"/v1.0/me/events/{existing}")
        if response.status_code not in (200, 204, 404):
            raise self.failed(response, "removing the event")
