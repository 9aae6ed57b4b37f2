"""Salesforce OAuth: web-server flow with PKCE over a one-shot loopback listener, refresh-token renewal."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import inspect
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import h11
import httpx

from agent_app.integrations.errors import AuthError, SignInRequired, TransportError
from agent_app.integrations.secret_store import SecretStore, adelete, aget, aset

OpenBrowser = Callable[[str], Any]  # may return an awaitable
_PAGE = (
    b"<html><body><h3>Signed in to Salesforce.</h3>"
    b"<p>You can close this tab and go back to SDR Agent Desk.</p></body></html>"
)
_STRAY_PAGE = (
    b"<html><body><h3>This page does not belong to the current sign-in.</h3>"
    b"<p>Go back to SDR Agent Desk and click Connect again if sign-in does not finish.</p></body></html>"
)
# The callback registered in the Connected App must match exactly, so it is fixed rather than a random
# port (docs/integrations.md, "Connected App set-up"): http://127.0.0.1:47615/callback.
DEFAULT_REDIRECT_PORT = 47615
DEFAULT_REDIRECT_PATH = "/callback"


@dataclass(frozen=True)
class OAuthConfig:
    """Where to sign in: ``login_url`` is login.salesforce.com, test.salesforce.com or a My Domain URL."""

    login_url: str
    client_id: str
    client_secret: str | None = None  # only when the Connected App requires one (PKCE alone is enough)
    scope: str = "api refresh_token"
    redirect_port: int = DEFAULT_REDIRECT_PORT  # 0 = any free port (tests; no real app accepts that)
    redirect_path: str = DEFAULT_REDIRECT_PATH
    # Other providers (connected calendars): their authorize endpoint, which may carry extra parameters
    authorize_url: str = ""  # "" = <login_url>/services/oauth2/authorize
    service: str = "Salesforce"  # named on the page the browser shows after the redirect

    @property
    def redirect_uri(self) -> str:
        """The callback URL to register in the Connected App."""
        return f"http://127.0.0.1:{self.redirect_port}{self.redirect_path}"


@dataclass(frozen=True)
class Session:
    """The current access token and where to use it."""

    access_token: str
    instance_url: str
    identity_url: str

    @property
    def user_id(self) -> str:
        """The signed-in user's id, the last segment of the identity URL (.../id/<org>/<user>)."""
        return self.identity_url.rstrip("/").rsplit("/", 1)[-1]


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge) with challenge = BASE64URL(SHA256(verifier)) without padding."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _receive_one_redirect(
    server_ready: asyncio.Future[int], path: str, port: int, state: str, page: bytes = _PAGE
) -> dict[str, str]:
    """Serve 127.0.0.1 until a GET on `path` carrying our `state` arrives; return its query parameters.

    Anything else (an old tab reloaded, a forged ``error=``, a bare hit) gets a 400 page and is ignored,
    so it can neither abort nor hijack the sign-in in progress."""
    result: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(8192)
                    conn.receive_data(data)
                    if not data:
                        return
                    continue
                if isinstance(event, h11.Request):
                    target = urlsplit(event.target.decode("latin-1"))
                    params = {k: v[0] for k, v in parse_qs(target.query).items()}
                    ours = target.path == path and secrets.compare_digest(params.get("state", ""), state)
                    body = page if ours else (_STRAY_PAGE if target.path == path else b"Not found")
                    status = 200 if ours else (400 if target.path == path else 404)
                    writer.write(
                        conn.send(
                            h11.Response(
                                status_code=status,
                                headers=[
                                    ("Content-Type", "text/html; charset=utf-8"),
                                    ("Content-Length", str(len(body))),
                                    ("Connection", "close"),
                                ],
                            )
                        )
                    )
                    writer.write(conn.send(h11.Data(data=body)))
                    writer.write(conn.send(h11.EndOfMessage()))
                    await writer.drain()
                    if ours and not result.done():
                        result.set_result(params)
                    return
                return
        except (h11.RemoteProtocolError, ConnectionError):
            return
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(on_connect, "127.0.0.1", port)
    except OSError as exc:
        error = AuthError(
            "redirect_port_in_use",
            f"port {port} is in use by another program, so the sign-in callback cannot be received; "
            "close that program or set another port in Settings (and in the Connected App's callback URL)",
        )
        server_ready.set_exception(error)
        raise error from exc
    try:
        server_ready.set_result(server.sockets[0].getsockname()[1])
        return await result
    finally:
        server.close()


async def authorize_with_browser(
    config: OAuthConfig,
    open_browser: OpenBrowser,
    *,
    login_hint: str | None = None,
    timeout_s: float = 300.0,
) -> tuple[str, str, str]:
    """Run the browser part of the flow; returns (code, code_verifier, redirect_uri).

    Cancelling the awaiting task closes the loopback listener.
    """
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    page = _PAGE.replace(b"Salesforce", html.escape(config.service).encode())
    listener = asyncio.create_task(
        _receive_one_redirect(ready, config.redirect_path, config.redirect_port, state, page)
    )
    try:
        port = await ready
        redirect_uri = f"http://127.0.0.1:{port}{config.redirect_path}"
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": config.scope,
            "state": state,
        }
        if login_hint:
            query["login_hint"] = login_hint
        base = config.authorize_url or f"{config.login_url.rstrip('/')}/services/oauth2/authorize"
        opened = open_browser(f"{base}{'&' if '?' in base else '?'}{urlencode(query)}")
        if inspect.isawaitable(opened):
            await opened
        async with asyncio.timeout(timeout_s):
            params = await asyncio.shield(listener)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
    # The listener only accepts our state, so this error really is the answer to this sign-in.
    if "error" in params:
        raise AuthError(params["error"], params.get("error_description", ""))
    if "code" not in params:
        raise AuthError("invalid_response", "no authorization code in the redirect")
    return params["code"], verifier, redirect_uri


class SalesforceAuth:
    """Owns the tokens: refresh token and session in the keychain, single-flight refresh on expiry."""

    def __init__(
        self,
        config: OAuthConfig,
        http: httpx.AsyncClient,
        secret_store: SecretStore,
        *,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.config = config
        self._http = http
        self._secrets = secret_store
        self._timeout = timeout or httpx.Timeout(15.0, connect=5.0)
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        prefix = f"salesforce:{config.client_id}"
        self.refresh_key = f"{prefix}:refresh_token"
        self.session_key = f"{prefix}:session"

    async def sign_in(
        self, open_browser: OpenBrowser, *, login_hint: str | None = None, timeout_s: float = 300.0
    ) -> Session:
        """Interactive sign-in: browser + loopback + PKCE; stores the refresh token in the keychain."""
        code, verifier, redirect_uri = await authorize_with_browser(
            self.config, open_browser, login_hint=login_hint, timeout_s=timeout_s
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        body = await self._token_call(form)
        if not body.get("refresh_token"):
            raise AuthError("no_refresh_token", "the connected app must grant the refresh_token scope")
        await aset(self._secrets, self.refresh_key, str(body["refresh_token"]))
        return await self._adopt(body)

    async def session(self) -> Session:
        """The current session: from memory, else the keychain, else by refreshing."""
        if self._session is None:
            stored = await aget(self._secrets, self.session_key)
            if stored:
                data = json.loads(stored)
                self._session = Session(data["access_token"], data["instance_url"], data["identity_url"])
            else:
                return await self.refresh(None)
        return self._session

    async def refresh(self, stale: Session | None) -> Session:
        """Get a new access token unless another task already replaced `stale` (single flight)."""
        async with self._lock:
            if self._session is not None and self._session != stale:
                return self._session
            refresh_token = await aget(self._secrets, self.refresh_key)
            if not refresh_token:
                raise SignInRequired()
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.config.client_id,
            }
            try:
                body = await self._token_call(form)
            except AuthError as exc:
                if exc.error == "invalid_grant":  # revoked or expired: the stored token is useless now
                    await adelete(self._secrets, self.refresh_key)
                    await adelete(self._secrets, self.session_key)
                    self._session = None
                    raise SignInRequired(exc.description) from exc
                raise
            if body.get("refresh_token"):  # refresh-token rotation is enabled in some orgs
                await aset(self._secrets, self.refresh_key, str(body["refresh_token"]))
            return await self._adopt(body)

    async def sign_out(self) -> None:
        """Revoke the refresh token (best effort) and forget everything stored."""
        token = await aget(self._secrets, self.refresh_key)
        if token:
            with contextlib.suppress(httpx.HTTPError):
                await self._http.post(
                    f"{self.config.login_url.rstrip('/')}/services/oauth2/revoke",
                    data={"token": token},
                    timeout=self._timeout,
                )
        await adelete(self._secrets, self.refresh_key)
        await adelete(self._secrets, self.session_key)
        self._session = None

    async def _adopt(self, body: dict[str, Any]) -> Session:
        session = Session(str(body["access_token"]), str(body["instance_url"]), str(body.get("id", "")))
        await aset(
            self._secrets,
            self.session_key,
            json.dumps(
                {
                    "access_token": session.access_token,
                    "instance_url": session.instance_url,
                    "identity_url": session.identity_url,
                }
            ),
        )
        self._session = session
        return session

    async def _token_call(self, form: dict[str, str]) -> dict[str, Any]:
        if self.config.client_secret:
            form = {**form, "client_secret": self.config.client_secret}
        url = f"{self.config.login_url.rstrip('/')}/services/oauth2/token"
        try:
            response = await self._http.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"Salesforce sign-in timed out ({url})") from exc
        except httpx.TransportError as exc:
            raise TransportError(f"Could not reach Salesforce at {url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            raise AuthError(
                str(body.get("error") or f"http_{response.status_code}"),
                str(body.get("error_description") or response.text[:200]),
            )
        return dict(body)
