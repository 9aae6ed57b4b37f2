"""Stand-in Google Calendar API v3 (freeBusy, events insert/update/delete) and Google OAuth 2.0 + PKCE."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sandbox.httpserver import Request, Response, Router, serving
from sandbox.oauth_standin import OAuthStandIn

DEFAULT_CLIENT_ID = "demo-google.apps.googleusercontent.com"
_ID = re.compile(r"^[a-v0-9]{5,1024}$")  # base32hex


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, reason: str) -> Response:
    return Response.json({"error": {"code": status, "message": message,
                                    "errors": [{"domain": "global", "reason": reason, "message": message}]}},
                         status)  # fmt: skip


class FakeGoogleCalendar:
    """One user's calendars: ``events[calendar_id][event_id]`` as Google's event resources."""

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, calendars: tuple[str, ...] = ("primary",)) -> None:
        self.base_url = ""
        self.oauth = OAuthStandIn(client_id)
        self.events: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in calendars}
        self.router = Router()
        self.router.add("GET", "/o/oauth2/v2/auth", self.oauth.authorize)
        self.router.add("POST", "/token", self.oauth.token)
        self.router.add("POST", "/calendar/v3/freeBusy", self._free_busy)
        self.router.add("POST", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events", self._insert)
        self.router.add("PUT", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events/(?P<eid>[^/]+)", self._update)
        self.router.add(
            "DELETE", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events/(?P<eid>[^/]+)", self._delete
        )

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    async def handle(self, request: Request) -> Response:
        if request.path.startswith("/calendar/") and not self.oauth.authorized(request):
            return _error(401, "Request had invalid authentication credentials.", "authError")
        return await self.router.dispatch(request)

    def add_busy(self, start: float, end: float, summary: str = "Busy", calendar: str = "primary") -> str:
        """An event the user made themselves (straight into the store, not through the API)."""
        eid = f"own{len(self.events[calendar])}x"
        self.events[calendar][eid] = {
            "id": eid, "summary": summary, "status": "confirmed",
            "start": {"dateTime": _iso(start)}, "end": {"dateTime": _iso(end)},
        }  # fmt: skip
        return eid

    async def _free_busy(self, req: Request) -> Response:
        body = req.json()
        try:
            t0, t1 = _ts(body["timeMin"]), _ts(body["timeMax"])
            ids = [str(i["id"]) for i in body["items"]]
        except (KeyError, TypeError, ValueError):
            return _error(400, "Bad Request", "badRequest")
        calendars: dict[str, Any] = {}
        for cid in ids:
            if cid not in self.events:
                calendars[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = []
            for e in self.events[cid].values():
                if e.get("status") == "cancelled" or e.get("transparency") == "transparent":
                    continue
                s, f = _ts(e["start"]["dateTime"]), _ts(e["end"]["dateTime"])
                if s < t1 and f > t0:
                    busy.append({"start": _iso(s), "end": _iso(f)})
            calendars[cid] = {"busy": sorted(busy, key=lambda b: b["start"])}
        return Response.json({"kind": "calendar#freeBusy", "timeMin": body["timeMin"],
                              "timeMax": body["timeMax"], "calendars": calendars})  # fmt: skip

    def _event(self, req: Request, eid: str) -> dict[str, Any] | Response:
        body = req.json()
        if not isinstance(body, dict) or "start" not in body or "end" not in body:
            return _error(400, "Missing end time.", "required")
        for a in body.get("attendees", []):
            if "@" not in str(a.get("email", "")):
                return _error(400, "Invalid attendee email.", "invalid")
        return {**body, "id": eid, "status": body.get("status", "confirmed"), "kind": "calendar#event",
                "sendUpdates": req.arg("sendUpdates", "false")}  # fmt: skip

    async def _insert(self, req: Request) -> Response:
        cal = req.params["cal"]
        if cal not in self.events:
            return _error(404, "Not Found", "notFound")
        eid = str(req.json().get("id") or f"gen{len(self.events[cal])}x")
        if not _ID.match(eid):
            return _error(400, "Invalid resource id value.", "invalid")
        if eid in self.events[cal]:
            return _error(409, "The requested identifier already exists.", "duplicate")
        event = self._event(req, eid)
        if isinstance(event, Response):
            return event
        self.events[cal][eid] = event
        return Response.json(event)

    async def _update(self, req: Request) -> Response:
        cal, eid = req.params["cal"], req.params["eid"]
        if eid not in self.events.get(cal, {}):
            return _error(404, "Not Found", "notFound")
        event = self._event(req, eid)
        if isinstance(event, Response):
            return event
        self.events[cal][eid] = event
        return Response.json(event)

    async def _delete(self, req: Request) -> Response:
        cal, eid = req.params["cal"], req.params["eid"]
        event = self.events.get(cal, {}).get(eid)
        if event is None:
            return _error(404, "Not Found", "notFound")
        if event.get("status") == "cancelled":
            return _error(410, "Resource has been deleted", "deleted")
        event["status"] = "cancelled"  # Google keeps deleted events as cancelled
        return Response(204)


@contextlib.asynccontextmanager
async def start_google_calendar(port: int = 0, **options: Any) -> AsyncIterator[FakeGoogleCalendar]:
    """Run the stand-in on 127.0.0.1:port for the block; ``.base_url`` is its URL (API and OAuth)."""
    async with serving(FakeGoogleCalendar(**options), port) as fake:
        yield fake
