"""OAuth 2.0 authorization-code + PKCE (S256) and refresh tokens, shared by the calendar stand-ins."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sandbox.httpserver import Request, Response


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str


@dataclass
class OAuthStandIn:
    """Consents at once (no login page): the authorize endpoint redirects with a code straight away."""

    client_id: str
    access_lifetime: float = 3600.0
    clock: Callable[[], float] = time.time
    codes: dict[str, _Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> scope
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    rotate_refresh_tokens: bool = False  # Microsoft hands out a new refresh token on each refresh
    token_calls: list[str] = field(default_factory=list)  # grant types, in order (tests)

    async def authorize(self, req: Request) -> Response:
        names = ("client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "scope",
                 "response_type")  # fmt: skip
        q = {k: req.arg(k) or "" for k in names}
        if q["client_id"] != self.client_id or not q["redirect_uri"].startswith("http://127.0.0.1:"):
            return Response.html("<h1>Error 400: invalid_request</h1>", 400)
        if q["code_challenge_method"] != "S256" or not q["code_challenge"] or q["response_type"] != "code":
            return Response.html("<h1>Error 400: PKCE S256 required</h1>", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(q["client_id"], q["redirect_uri"], q["code_challenge"], q["scope"])
        sep = "&" if "?" in q["redirect_uri"] else "?"
        location = q["redirect_uri"] + sep + urlencode({"code": code, "state": q["state"]})
        return Response(302, b"", {"Location": location})

    def _issue(self, scope: str, refresh: str | None) -> dict[str, object]:
        access = "at-" + secrets.token_urlsafe(24)
        self.access_tokens[access] = self.clock() + self.access_lifetime
        body: dict[str, object] = {"access_token": access, "token_type": "Bearer",
                                   "expires_in": int(self.access_lifetime), "scope": scope}  # fmt: skip
        if refresh is None or self.rotate_refresh_tokens:
            if refresh is not None:
                self.refresh_tokens.pop(refresh, None)
            refresh = "rt-" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = scope
            body["refresh_token"] = refresh
        return body

    async def token(self, req: Request) -> Response:
        form = req.form()
        self.token_calls.append(form.get("grant_type", ""))
        if form.get("client_id") != self.client_id:
            return Response.json({"error": "invalid_client"}, 401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if grant is None or grant.redirect_uri != form.get("redirect_uri") or digest != grant.challenge:
                return Response.json(
                    {"error": "invalid_grant", "error_description": "Bad code or verifier"}, 400
                )
            return Response.json(self._issue(grant.scope, None))
        if form.get("grant_type") == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self.refresh_tokens:
                return Response.json(
                    {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400
                )
            return Response.json(self._issue(self.refresh_tokens[refresh], refresh))
        return Response.json({"error": "unsupported_grant_type"}, 400)

    def authorized(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        expiry = (
            self.access_tokens.get(auth.removeprefix("Bearer "), 0.0) if auth.startswith("Bearer ") else 0.0
        )
        return expiry > self.clock()

    # -- test controls -------------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def revoke_all(self) -> None:
        self.refresh_tokens.clear()
        self.access_tokens.clear()

    def grant_refresh_token(self, scope: str = "") -> str:
        """A refresh token as if the user had consented (tests that skip the browser part)."""
        token = "rt-" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = scope
        return token
