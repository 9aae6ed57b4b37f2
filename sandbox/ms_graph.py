"""Stand-in Microsoft Graph calendar (getSchedule, /me/events) and identity platform OAuth 2.0 + PKCE."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sandbox.httpserver import Request, Response, Router, serving
from sandbox.oauth_standin import OAuthStandIn

DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-00000000d35c"
_FILTER = re.compile(
    r"singleValueExtendedProperties/Any\(ep: ep/id eq '(?P<id>[^']+)' and ep/value eq '(?P<value>[^']*)'\)"
)


def _ts(value: dict[str, Any]) -> float:
    text = str(value["dateTime"])
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    if value.get("timeZone", "UTC") != "UTC":
        raise ValueError("the stand-in only speaks UTC")
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _dt(ts: float) -> dict[str, str]:
    # Graph's own format: no offset, seven fractional digits
    return {
        "dateTime": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        "timeZone": "UTC",
    }


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status)


class FakeGraph:
    """One mailbox (``mailbox``); ``events`` by id, as Graph event resources."""

    def __init__(self, mailbox: str = "sam@yourco.example", client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.base_url = ""
        self.mailbox = mailbox
        self.oauth = OAuthStandIn(client_id, rotate_refresh_tokens=True)
        self.events: dict[str, dict[str, Any]] = {}
        self.router = Router()
        self.router.add("GET", "/common/oauth2/v2.0/authorize", self._authorize)
        self.router.add("POST", "/common/oauth2/v2.0/token", self._token)
        self.router.add("POST", "/v1.0/me/calendar/getSchedule", self._schedule)
        self.router.add("GET", "/v1.0/me/events", self._list)
        self.router.add("POST", "/v1.0/me/events", self._create)
        self.router.add("PATCH", r"/v1.0/me/events/(?P<eid>[^/]+)", self._patch)
        self.router.add("DELETE", r"/v1.0/me/events/(?P<eid>[^/]+)", self._delete)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/common/oauth2/v2.0/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/common/oauth2/v2.0/authorize"

    async def _authorize(self, req: Request) -> Response:
        return await self.oauth.authorize(req)

    async def _token(self, req: Request) -> Response:
        return await self.oauth.token(req)

    async def handle(self, request: Request) -> Response:
        if request.path.startswith("/v1.0/") and not self.oauth.authorized(request):
            return _error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return await self.router.dispatch(request)

    def add_busy(self, start: float, end: float, subject: str = "Busy", show_as: str = "busy") -> str:
        eid = "AAMk" + secrets.token_hex(8)
        self.events[eid] = {
            "id": eid,
            "subject": subject,
            "showAs": show_as,
            "start": _dt(start),
            "end": _dt(end),
        }
        return eid

    async def _schedule(self, req: Request) -> Response:
        body = req.json()
        try:
            t0, t1 = _ts(body["startTime"]), _ts(body["endTime"])
            schedules = [str(s) for s in body["schedules"]]
        except (KeyError, TypeError, ValueError):
            return _error(400, "ErrorInvalidRequest", "Invalid request")
        value: list[dict[str, Any]] = []
        for who in schedules:
            if who.lower() != self.mailbox:
                value.append(
                    {
                        "scheduleId": who,
                        "error": {"message": "not found", "responseCode": "ErrorMailRecipientNotFound"},
                    }
                )
                continue
            items = []
            for e in self.events.values():
                s, f = _ts(e["start"]), _ts(e["end"])
                if s < t1 and f > t0:
                    # status as in Graph's docs ("Busy", "Tentative"): clients must not rely on its case
                    items.append({
                        "isPrivate": False, "status": e.get("showAs", "busy").capitalize(),
                        "subject": e.get("subject", ""), "start": _dt(s), "end": _dt(f),
                    })  # fmt: skip
            found: dict[str, Any] = {"scheduleId": who, "availabilityView": "", "scheduleItems": items}
            value.append(found)
        return Response.json(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
                "value": value,
            }
        )

    async def _list(self, req: Request) -> Response:
        flt = req.arg("$filter", "") or ""
        m = _FILTER.fullmatch(flt)
        if flt and m is None:
            return _error(400, "BadRequest", "Invalid filter clause")
        found = [
            e for e in self.events.values()
            if m is None or any(p.get("id") == m["id"] and p.get("value") == m["value"]
                                for p in e.get("singleValueExtendedProperties", []))
        ]  # fmt: skip
        return Response.json({"value": [{"id": e["id"]} for e in found]})

    def _check(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "Empty Payload")
        for a in body.get("attendees", []):
            if "@" not in str(a.get("emailAddress", {}).get("address", "")):
                return _error(400, "ErrorInvalidRecipients", "invalid attendee")
        try:
            for key in ("start", "end"):
                if key in body:
                    _ts(body[key])
        except (KeyError, ValueError):
            return _error(400, "BadRequest", "invalid dateTimeTimeZone")
        return None

    async def _create(self, req: Request) -> Response:
        body = req.json()
        problem = self._check(body)
        if problem is not None:
            return problem
        if "start" not in body or "end" not in body:
            return _error(400, "BadRequest", "start and end are required")
        eid = "AAMk" + secrets.token_hex(8)
        self.events[eid] = {**body, "id": eid, "showAs": body.get("showAs", "busy")}
        return Response.json(self.events[eid], 201)

    async def _patch(self, req: Request) -> Response:
        event = self.events.get(req.params["eid"])
        if event is None:
            return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        body = req.json()
        problem = self._check(body)
        if problem is not None:
            return problem
        event.update(body)
        return Response.json(event)

    async def _delete(self, req: Request) -> Response:
        if self.events.pop(req.params["eid"], None) is None:
            return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return Response(204)


@contextlib.asynccontextmanager
async def start_graph(port: int = 0, **options: Any) -> AsyncIterator[FakeGraph]:
    """Run the stand-in on 127.0.0.1:port for the block; ``.base_url`` is its URL (Graph and sign-in)."""
    async with serving(FakeGraph(**options), port) as fake:
        yield fake
