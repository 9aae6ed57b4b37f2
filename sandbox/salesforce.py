"""Stand-in Salesforce: OAuth (web-server + PKCE, refresh), REST data API, errors, limits, fault switches."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from sandbox.httpserver import Request, Response, Router, serving
from sandbox.sf_store import EXTERNAL_IDS, SCHEMA, Org, RecordError, describe_field
from sandbox.soql import QueryError, parse_soql, parse_sosl, term_matches

ORG_ID = "00D5e0000000001EAA"
DataHandler = Callable[[Request, str], Awaitable[Response]]
_V = r"/services/data/v(?P<v>\d+\.\d)"
_SCOPE_FIELDS = {
    "EMAIL": ("Email",),
    "PHONE": ("Phone",),
    "NAME": ("Name", "FirstName", "LastName", "Company"),
}


class DataRouter:
    """Routes authenticated data calls to handlers that also receive the caller's user id."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], DataHandler]] = []

    def add(self, method: str, pattern: str, handler: DataHandler) -> None:
        self._routes.append((method, re.compile("^" + pattern.rstrip("/") + "/?$"), handler))

    async def dispatch_user(self, request: Request, user_id: str) -> Response:
        allowed = False
        for method, regex, handler in self._routes:
            m = regex.match(request.path)
            if m and method == request.method:
                request.params = m.groupdict()
                return await handler(request, user_id)
            allowed = allowed or bool(m)
        if allowed:
            return _err(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed")
        return _err(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass
class Fault:
    """One injected failure for data calls (optionally only on paths containing `path`)."""

    status: int
    error_code: str
    message: str
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectedApp:
    """A registered Connected App: its exact callback URLs and, if it requires one, its secret."""

    client_id: str
    callback_urls: tuple[str, ...]
    client_secret: str | None = None


class FakeSalesforce:
    """The sandbox org plus its HTTP surface; tests flip the switches directly (same event loop).

    Registered Connected Apps (``register_app``) are held to what a real org checks: the exact callback
    URL and the secret if they have one. A client id nobody registered is accepted with any loopback
    callback, a convenience for the demo and tests that use a random port (a real org would refuse it).
    """

    def __init__(self, *, page_size: int = 2000, api_limit: int = 15000, latency_ms: float = 0.0) -> None:
        self.org = Org()
        self.org.load_seed()
        self.page_size = page_size
        self.api_limit = api_limit
        self.api_used = 0
        self.latency_ms = latency_ms
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers) of data calls
        self.access_tokens: dict[str, str] = {}  # token -> user id
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (user id, client id)
        self.apps: dict[str, ConnectedApp] = {}
        self._issued: dict[str, set[str]] = {}  # refresh token -> access tokens it produced
        self.deleted: dict[str, str] = {}  # id -> type of records removed with DELETE
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)  # "today" for SOQL date literals
        self._codes: dict[str, dict[str, Any]] = {}
        self._cursors: dict[str, tuple[list[dict[str, Any]], float]] = {}
        self._locators = itertools.count(1)
        self.base_url = ""
        self.router = Router()
        self._data_routes = DataRouter()
        self._routes()

    # -- switches for tests and the demo ---------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Invalidate every access token (refresh tokens stay valid), like a session timeout."""
        self.access_tokens.clear()

    def inject(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        times: int = 1,
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next `times` data calls (matching `path`) fail with this error."""
        self.faults.extend(Fault(status, error_code, message, path, headers or {}) for _ in range(times))

    def register_app(
        self, client_id: str, callback_urls: list[str], *, client_secret: str | None = None
    ) -> ConnectedApp:
        """Register a Connected App (consumer key, callback URLs, optional required secret)."""
        app = ConnectedApp(client_id, tuple(callback_urls), client_secret)
        self.apps[client_id] = app
        return app

    def issue_token(self, username: str = "alex@demo.sdr") -> str:
        """An access token for a seeded user, for tests and third-party clients that take a session id."""
        user = self.user_by_login(username)
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(24)}"
        self.access_tokens[token] = user["Id"]
        return token

    def user_by_login(self, login: str) -> dict[str, Any]:
        for user in self.org.records["User"].values():
            if login.lower() in ((user.get("Username") or "").lower(), (user.get("Email") or "").lower()):
                return user
        raise KeyError(login)

    # -- plumbing ----------------------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.router
        r.add("GET", "/services/oauth2/authorize", self._authorize)
        r.add("POST", "/services/oauth2/token", self._token)
        r.add("POST", "/services/oauth2/revoke", self._revoke)
        r.add("GET", "/services/data", self._versions)
        data = self._data_routes
        data.add("GET", "/services/oauth2/userinfo", self._userinfo)
        data.add("GET", r"/id/(?P<org>\w+)/(?P<user>\w+)", self._userinfo)
        data.add("GET", _V, self._index)
        data.add("GET", _V + "/query", self._query)
        data.add("GET", _V + r"/query/(?P<locator>[\w]+)-(?P<offset>\d+)", self._query_more)
        data.add("GET", _V + "/search", self._search)
        data.add("GET", _V + "/limits", self._limits)
        data.add("POST", _V + r"/sobjects/(?P<type>\w+)", self._create)
        data.add("GET", _V + "/sobjects", self._describe_global)
        data.add("GET", _V + r"/sobjects/(?P<type>\w+)/describe", self._describe)
        data.add("PATCH", _V + r"/sobjects/(?P<type>\w+)/(?P<field>\w+)/(?P<value>[^/]+)", self._upsert)
        data.add("GET", _V + r"/sobjects/(?P<type>\w+)/(?P<id>\w+)", self._retrieve)
        data.add("PATCH", _V + r"/sobjects/(?P<type>\w+)/(?P<id>\w+)", self._update)
        data.add("DELETE", _V + r"/sobjects/(?P<type>\w+)/(?P<id>\w+)", self._delete)
        data.add("POST", _V + "/composite", self._composite)

    async def handle(self, request: Request) -> Response:
        """Entry point for the HTTP server: OAuth and versions are open, the rest needs a bearer token."""
        if request.path.startswith(("/services/data/v", "/services/oauth2/userinfo", "/id/")):
            return await self._guarded(request)
        return await self.router.dispatch(request)

    async def _guarded(self, request: Request) -> Response:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        user_id = self.access_tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        self.log.append((request.method, request.path, dict(request.headers)))
        if user_id is None:
            response = _err(401, "INVALID_SESSION_ID", "Session expired or invalid")
        else:
            self.api_used += 1
            fault = next((f for f in self.faults if f.path in request.path), None)
            if fault is not None:
                self.faults.remove(fault)
                response = _err(fault.status, fault.error_code, fault.message)
                response.headers.update(fault.headers)
            elif self.api_used > self.api_limit:
                response = _err(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            else:
                response = await self._run(request, user_id)
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
        return response

    async def _run(self, request: Request, user_id: str) -> Response:
        # Query and save errors become the real error arrays; composite sub-requests come through here too.
        version = re.match(r"/services/data/v(\d+\.\d)", request.path)
        if version:
            # attributes.url echoes the version the caller asked for (shaping below does not await).
            self.org.version = version.group(1)
        try:
            return await self._data_routes.dispatch_user(request, user_id)
        except QueryError as exc:
            return _err(400, exc.code, exc.message)
        except RecordError as exc:
            return Response.json(exc.errors, exc.status)

    # -- OAuth --------------------------------------------------------------------------------------------
    async def _authorize(self, req: Request) -> Response:
        redirect = req.arg("redirect_uri") or ""
        host = urlsplit(redirect).hostname
        if req.arg("response_type") != "code" or not req.arg("client_id"):
            return Response.html("<h1>error=unsupported_response_type</h1>", 400)
        app = self.apps.get(req.arg("client_id") or "")
        registered = redirect in app.callback_urls if app else host in ("127.0.0.1", "localhost", "::1")
        if not registered:
            # Like a real org: an error page at Salesforce, never a redirect to an unregistered URL.
            return Response.html("<h1>error=redirect_uri_mismatch</h1><p>redirect_uri must match a "
                                 "registered callback URL</p>", 400)  # fmt: skip
        try:
            user = self.user_by_login(req.arg("login_hint") or "alex@demo.sdr")
        except KeyError:
            return Response.html("<h1>Unknown user</h1>", 400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "client_id": req.arg("client_id"),
            "redirect_uri": redirect,
            "challenge": req.arg("code_challenge"),
            "user": user["Id"],
            "at": time.time(),
        }
        query = {"code": code}
        if req.arg("state") is not None:
            query["state"] = req.arg("state") or ""
        target = f"{redirect}?{urlencode(query)}"
        page = (
            f"<html><body><p>Signed in to the SDR sandbox as {user['Name']}. "
            f"<a href='{target}'>Continue</a></p></body></html>"
        )
        response = Response.html(page, 302)
        response.headers["Location"] = target
        return response

    async def _token(self, req: Request) -> Response:
        form = req.form()
        grant = form.get("grant_type")
        app = self.apps.get(form.get("client_id", ""))
        if (
            app is not None
            and app.client_secret is not None
            and form.get("client_secret") != app.client_secret
        ):
            return _oauth_err("invalid_client", "invalid client credentials")
        if grant == "authorization_code":
            entry = self._codes.pop(form.get("code", ""), None)
            if entry is None or time.time() - entry["at"] > 900:
                return _oauth_err("invalid_grant", "authentication failure")
            if entry["client_id"] != form.get("client_id") or entry["redirect_uri"] != form.get(
                "redirect_uri"
            ):
                return _oauth_err("invalid_grant", "authentication failure")
            if entry["challenge"]:
                verifier = form.get("code_verifier")
                if not verifier:
                    return _oauth_err("invalid_grant", "invalid code verifier")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                if digest.decode() != entry["challenge"]:
                    return _oauth_err("invalid_request", "invalid code verifier")
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = (entry["user"], entry["client_id"])
            return Response.json(self._token_body(entry["user"], refresh, refresh))
        if grant == "refresh_token":
            found = self.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None or found[1] != form.get("client_id"):
                return _oauth_err("invalid_grant", "expired access/refresh token")
            return Response.json(self._token_body(found[0], None, form.get("refresh_token", "")))
        return _oauth_err("unsupported_grant_type", "grant type not supported")

    def _token_body(self, user_id: str, refresh: str | None, source: str) -> dict[str, Any]:
        """A token response; ``source`` is the refresh token the access token belongs to."""
        access = f"{ORG_ID[:15]}!{secrets.token_urlsafe(24)}"
        self.access_tokens[access] = user_id
        self._issued.setdefault(source, set()).add(access)
        body = {
            "access_token": access,
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "scope": "refresh_token web api",
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    async def _revoke(self, req: Request) -> Response:
        token = req.form().get("token", "")
        self.refresh_tokens.pop(token, None)
        self.access_tokens.pop(token, None)
        # Like a real org: revoking a refresh token also ends the sessions issued from it.
        for access in self._issued.pop(token, set()):
            self.access_tokens.pop(access, None)
        return Response()

    async def _userinfo(self, req: Request, user_id: str) -> Response:
        user = self.org.records["User"][user_id]
        return Response.json(
            {
                "user_id": user_id,
                "organization_id": ORG_ID,
                "name": user["Name"],
                "email": user["Email"],
                "preferred_username": user["Username"],
                "username": user["Username"],
                "display_name": user["Name"],
            }
        )

    # -- data API -----------------------------------------------------------------------------------------
    async def _versions(self, req: Request) -> Response:
        return Response.json(
            [
                {"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(55, 63)
            ]
        )

    async def _index(self, req: Request, user_id: str) -> Response:
        base = f"/services/data/v{req.params['v']}"
        return Response.json(
            {k: f"{base}/{k}" for k in ("sobjects", "query", "search", "composite", "limits")}
        )

    async def _limits(self, req: Request, user_id: str) -> Response:
        return Response.json(
            {"DailyApiRequests": {"Max": self.api_limit, "Remaining": max(0, self.api_limit - self.api_used)}}
        )

    async def _query(self, req: Request, user_id: str) -> Response:
        soql = req.arg("q")
        if not soql:
            return _err(400, "MALFORMED_QUERY", "A query string has to be specified")
        q = parse_soql(soql, self.now())
        rows = self.org.select(q)
        if q.count:
            return Response.json({"totalSize": len(rows), "done": True, "records": []})
        shaped = [self.org.shape(q.sobject, r, q.fields) for r in rows]
        return Response.json(self._page(req.params["v"], shaped, 0, None))

    async def _query_more(self, req: Request, user_id: str) -> Response:
        cursor = self._cursors.get(req.params["locator"])
        if cursor is None:
            return _err(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Response.json(
            self._page(req.params["v"], cursor[0], int(req.params["offset"]), req.params["locator"])
        )

    def _page(
        self, version: str, rows: list[dict[str, Any]], offset: int, locator: str | None
    ) -> dict[str, Any]:
        page = rows[offset : offset + self.page_size]
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": offset + len(page) >= len(rows),
            "records": page,
        }
        if not body["done"]:
            if locator is None:
                locator = f"01g5e{next(self._locators):013d}"
                self._cursors[locator] = (rows, time.time())
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + len(page)}"
        return body

    async def _search(self, req: Request, user_id: str) -> Response:
        sosl = req.arg("q")
        if not sosl:
            return _err(
                400, "MALFORMED_SEARCH", "No search term found. The search term must be enclosed in braces."
            )
        s = parse_sosl(sosl)
        found: list[dict[str, Any]] = []
        for q in s.returning:
            sobject = q.sobject
            rows = (
                self.org.select(q)
                if q.limit is None
                else self.org.select(type(q)(q.sobject, q.fields, q.count, q.where, q.order, None, 0))
            )
            names = _SCOPE_FIELDS.get(s.scope)
            hits = []
            for r in rows:
                texts = [
                    str(v)
                    for k, v in r.items()
                    if isinstance(v, str) and k != "Id" and (names is None or k in names)
                ]
                if term_matches(s.terms, texts):
                    hits.append(self.org.shape(q.sobject or sobject, r, q.fields))
            found.extend(hits[: q.limit] if q.limit is not None else hits)
        if s.limit is not None:
            found = found[: s.limit]
        return Response.json({"searchRecords": found})

    def _sobject(self, name: str) -> str:
        sobject = next((t for t in SCHEMA if t.lower() == name.lower()), None)
        if sobject is None:
            raise RecordError(
                404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            )
        return sobject

    async def _create(self, req: Request, user_id: str) -> Response:
        sobject = self._sobject(req.params["type"])
        try:
            fields = req.json()
        except ValueError:
            return _err(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting JSON")
        self.org.validate(sobject, fields, creating=True)
        rule = _header_options(req.headers.get("sforce-duplicate-rule-header", ""))
        if sobject == "Lead":
            matches = self.org.duplicates(fields, details=rule.get("includerecorddetails") == "true")
            allow = self.org.duplicate_rule_action == "alert"
            if matches and not (allow and rule.get("allowsave") == "true"):
                message = (
                    "You're creating a duplicate record. We recommend you use an existing record instead."
                )
                return Response.json(
                    [
                        {
                            "duplicateResult": {
                                "allowSave": allow,
                                "duplicateRule": "Standard_Lead_Duplicate_Rule",
                                "duplicateRuleEntityType": "Lead",
                                "errorMessage": message,
                                "matchResults": matches,
                            },
                            "errorCode": "DUPLICATES_DETECTED",
                            "message": message,
                        }
                    ],
                    400,
                )
        auto = req.headers.get("sforce-auto-assign", "TRUE").upper() != "FALSE"
        new_id = self.org.create(sobject, fields, user_id, auto_assign=auto)
        location = f"/services/data/v{req.params['v']}/sobjects/{sobject}/{new_id}"
        return Response.json({"id": new_id, "success": True, "errors": []}, 201, {"Location": location})

    def _record(self, req: Request) -> tuple[str, dict[str, Any]]:
        sobject = self._sobject(req.params["type"])
        rec = self.org.records[sobject].get(req.params["id"])
        if rec is None and any(req.params["id"][:15] == rid[:15] for rid in self.deleted):
            raise RecordError(404, [{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}])
        if rec is None:
            found = self.org.find(req.params["id"])
            if found is None or found[0] != sobject:
                raise RecordError(
                    404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
                )
            rec = found[1]
        return sobject, rec

    async def _retrieve(self, req: Request, user_id: str) -> Response:
        sobject, rec = self._record(req)
        wanted = req.arg("fields")
        fields = self.org.check_fields(sobject, wanted.split(",")) if wanted else None
        return Response.json(self.org.shape(sobject, rec, fields))

    async def _update(self, req: Request, user_id: str) -> Response:
        sobject, rec = self._record(req)
        try:
            fields = req.json()
        except ValueError:
            return _err(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting JSON")
        self.org.validate(sobject, fields, creating=False)
        auto = req.headers.get("sforce-auto-assign", "TRUE").upper() != "FALSE"
        self.org.update(sobject, rec, fields, auto_assign=auto)
        return Response(204)

    def _urls(self, sobject: str) -> dict[str, str]:
        base = f"/services/data/v{self.org.version}/sobjects/{sobject}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    async def _describe_global(self, req: Request, user_id: str) -> Response:
        sobjects = [
            {"name": t, "label": t, "custom": False, "queryable": True, "searchable": t != "User",
             "createable": t != "User", "updateable": t != "User", "deletable": t != "User",
             "urls": self._urls(t)}
            for t in SCHEMA
        ]  # fmt: skip
        return Response.json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    async def _describe(self, req: Request, user_id: str) -> Response:
        sobject = self._sobject(req.params["type"])
        fields = [describe_field(sobject, name) for name in sorted(SCHEMA[sobject])]
        return Response.json(
            {"name": sobject, "label": sobject, "custom": False, "queryable": True,
             "createable": sobject != "User", "updateable": sobject != "User", "fields": fields,
             "urls": self._urls(sobject)}
        )  # fmt: skip

    async def _upsert(self, req: Request, user_id: str) -> Response:
        sobject = self._sobject(req.params["type"])
        field, value = req.params["field"], unquote(req.params["value"])
        if field not in EXTERNAL_IDS.get(sobject, set()):
            return _err(
                400,
                "INVALID_FIELD",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        try:
            fields = req.json()
        except ValueError:
            return _err(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting JSON")
        found = [r for r in self.org.records[sobject].values() if r.get(field) == value]
        if len(found) > 1:
            urls = [self.org.attributes(sobject, r["Id"])["url"] for r in found]
            return Response.json(urls, 300)
        auto = req.headers.get("sforce-auto-assign", "TRUE").upper() != "FALSE"
        if not found:
            fields = {**fields, field: value}
            self.org.validate(sobject, fields, creating=True)
            rid = self.org.create(sobject, fields, user_id, auto_assign=auto)
            return Response.json({"id": rid, "success": True, "errors": [], "created": True}, 201)
        self.org.validate(sobject, fields, creating=False)
        self.org.update(sobject, found[0], fields, auto_assign=auto)
        return Response.json({"id": found[0]["Id"], "success": True, "errors": [], "created": False})

    async def _delete(self, req: Request, user_id: str) -> Response:
        sobject, rec = self._record(req)
        del self.org.records[sobject][rec["Id"]]
        self.deleted[rec["Id"]] = sobject
        return Response(204)

    async def _composite(self, req: Request, user_id: str) -> Response:
        body = req.json()
        all_or_none = bool(body.get("allOrNone"))
        snapshot = copy.deepcopy(self.org.records) if all_or_none else None
        results: list[dict[str, Any]] = []
        refs: dict[str, Any] = {}
        failed = False
        for sub in body.get("compositeRequest", []):
            if failed and all_or_none:
                results.append({**_halted(), "referenceId": sub.get("referenceId")})
                continue
            url = _resolve_refs(sub["url"], refs)
            payload = _resolve_refs(sub.get("body"), refs)
            parts = urlsplit(url)
            inner = Request(
                sub["method"],
                parts.path,
                parse_qs(parts.query),
                dict(req.headers),
                json.dumps(payload).encode() if payload is not None else b"",
            )
            resp = await self._run(inner, user_id)
            sub_body = json.loads(resp.body) if resp.body else None
            refs[sub.get("referenceId", "")] = sub_body
            failed = failed or resp.status >= 400
            results.append(
                {
                    "body": sub_body,
                    "httpHeaders": {k: v for k, v in resp.headers.items() if k == "Location"},
                    "httpStatusCode": resp.status,
                    "referenceId": sub.get("referenceId"),
                }
            )
        if failed and snapshot is not None:
            self.org.records = snapshot
            # Everything was rolled back, so the sub-requests that had succeeded report so too.
            results = [r if r["httpStatusCode"] >= 400 else {**r, **_halted()} for r in results]
        return Response.json({"compositeResponse": results})


def _halted() -> dict[str, Any]:
    message = "The transaction was rolled back since another operation in the same transaction failed."
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
    }


def _resolve_refs(value: Any, refs: dict[str, Any]) -> Any:
    # Composite references like @{newLead.id}: only the simple ref.field form is supported.
    if isinstance(value, str) and "@{" in value:

        def sub(m: Any) -> str:
            ref, _, key = m.group(1).partition(".")
            got = refs.get(ref) or {}
            return str(got.get(key, "")) if isinstance(got, dict) else ""

        return re.sub(r"@\{([^}]+)\}", sub, value)
    if isinstance(value, dict):
        return {k: _resolve_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, refs) for v in value]
    return value


def _header_options(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(";"):
        k, _, v = part.strip().partition("=")
        if k:
            out[k.strip().lower()] = v.strip().lower()
    return out


def _err(status: int, code: str, message: str) -> Response:
    return Response.json([{"message": message, "errorCode": code}], status)


def _oauth_err(code: str, description: str, status: int = 400) -> Response:
    return Response.json({"error": code, "error_description": description}, status)


@contextlib.asynccontextmanager
async def start_salesforce(port: int = 0, **options: Any) -> AsyncIterator[FakeSalesforce]:
    """Run the fake on 127.0.0.1:port (0 = any) for the duration of the block; `.base_url` is its URL."""
    async with serving(FakeSalesforce(**options), port) as fake:
        yield fake
