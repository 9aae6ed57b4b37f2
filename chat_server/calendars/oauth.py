"""OAuth 2.0 for Google and Microsoft calendars: code exchange, refresh, per-agent access-token cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from chat_server.calendars import CalendarError, Connection

TIMEOUT = 10.0
RECONNECT = "the calendar's sign-in was revoked or has expired: reconnect your calendar"

GOOGLE_SCOPE = (
    "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy"
)
MICROSOFT_SCOPE = "offline_access https://graph.microsoft.com/Calendars.ReadWrite"


@dataclass(frozen=True)
class OAuthClient:
    """The server's registered app at one identity provider (client secret optional: PKCE suffices)."""

    token_url: str
    client_id: str
    client_secret: str = ""
    scope: str = ""

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        form = {**form, "client_id": self.client_id}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            response = httpx.post(self.token_url, data=form, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise CalendarError(f"cannot reach the sign-in service: {type(exc).__name__}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "access_token" not in body:
            error = str(body.get("error", response.status_code))
            if error in ("invalid_grant", "unauthorized_client", "invalid_client", "interaction_required"):
                raise CalendarError(RECONNECT + f" ({error})")
            raise CalendarError(f"the sign-in service refused the request ({error})")
        return body

    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """authorization_code grant with the PKCE verifier; the answer holds the refresh token."""
        body = self._post({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                           "redirect_uri": redirect_uri})  # fmt: skip
        if not body.get("refresh_token"):
            raise CalendarError("the sign-in gave no refresh token (Google: access_type=offline, "
                                "prompt=consent; Microsoft: the offline_access scope)")  # fmt: skip
        return body

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self.scope:
            form["scope"] = self.scope
        return self._post(form)


@dataclass
class _Token:
    refresh_token: str
    previous: str = ""  # the token it replaced, until the stored connection catches up
    access_token: str = ""
    expires_at: float = 0.0


@dataclass
class TokenCache:
    """Access tokens per agent (in memory only); refresh tokens come from the stored connection. A
    rotated refresh token (Microsoft rotates them) is handed to ``on_rotate`` to be stored."""

    clock: Callable[[], float] = time.time
    on_rotate: Callable[[Connection, str], None] | None = None
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def access_token(self, client: OAuthClient, connection: Connection, *, force: bool = False) -> str:
        with self._lock:  # one refresh at a time per server is plenty
            token = self._tokens.get(connection.agent_id)
            if token is None or connection.password not in (token.refresh_token, token.previous):
                token = self._tokens[connection.agent_id] = _Token(connection.password)
            if not force and token.access_token and token.expires_at > self.clock() + 60:
                return token.access_token
            body = client.refresh(token.refresh_token)
            token.access_token = str(body["access_token"])
            token.expires_at = self.clock() + float(body.get("expires_in", 3600))
            rotated = str(body.get("refresh_token") or "")
            if rotated and rotated != token.refresh_token:
                token.previous, token.refresh_token = token.refresh_token, rotated
                if self.on_rotate is not None:
                    self.on_rotate(connection, rotated)
            return token.access_token

    def current(self, connection: Connection) -> str:
        """The newest refresh token of this connection (rotated since it was read, or its own)."""
        with self._lock:
            token = self._tokens.get(connection.agent_id)
            if token is not None and connection.password in (token.refresh_token, token.previous):
                return token.refresh_token
            return connection.password

    def forget(self, agent_id: str) -> None:
        with self._lock:
            self._tokens.pop(agent_id, None)


class RestProvider:
    """Bearer-authorised JSON calls; an expired access token is refreshed before the call, a 401 once."""

    def __init__(self, connection: Connection, client: OAuthClient, tokens: TokenCache) -> None:
        self.connection = connection
        self.client = client
        self.tokens = tokens
        self._http = httpx.Client(base_url=connection.url.rstrip("/"), timeout=TIMEOUT)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        force = False
        for _ in range(2):
            token = self.tokens.access_token(self.client, self.connection, force=force)
            try:
                response = self._http.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
            except httpx.HTTPError as exc:
                raise CalendarError(f"cannot reach {self.connection.url}: {type(exc).__name__}") from exc
            if response.status_code != 401:
                return response
            force = True
        raise CalendarError(RECONNECT + " (access refused)")

    @staticmethod
    def failed(response: httpx.Response, what: str) -> CalendarError:
        try:
            error = response.json().get("error", {})
            message = error.get("message", "") if isinstance(error, dict) else str(error)
        except (ValueError, AttributeError):
            message = ""
        return CalendarError(f"{what} failed: HTTP {response.status_code} {message}"[:300])

    def close(self) -> None:
        self._http.close()


class _OAuthSettings(Protocol):
    google_client_id: str
    google_client_secret: str
    google_token_url: str
    microsoft_client_id: str
    microsoft_client_secret: str
    microsoft_token_url: str


def calendar_oauth(config: _OAuthSettings) -> dict[str, OAuthClient]:
    """The OAuth apps the server is set up with, by connection kind."""
    apps: dict[str, OAuthClient] = {}
    if config.google_client_id:
        apps["google"] = OAuthClient(config.google_token_url, config.google_client_id,
                                     config.google_client_secret)  # fmt: skip
    if config.microsoft_client_id:
        apps["microsoft"] = OAuthClient(config.microsoft_token_url, config.microsoft_client_id,
                                        config.microsoft_client_secret, MICROSOFT_SCOPE)  # fmt: skip
    return apps
