"""Browser sign-in for Google / Microsoft calendars (code + PKCE, loopback redirect, as for Salesforce)."""

from __future__ import annotations

from agent_app import protocol as p
from agent_app.integrations.sf_auth import OAuthConfig, OpenBrowser, authorize_with_browser

GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth?access_type=offline&prompt=consent"
MICROSOFT_AUTHORIZE = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?prompt=select_account"
SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy",
    "microsoft": "offline_access https://graph.microsoft.com/Calendars.ReadWrite",
}
SERVICES = {"google": "Google Calendar", "microsoft": "Microsoft 365"}


async def sign_in(
    kind: str,
    client_id: str,
    open_browser: OpenBrowser,
    *,
    command_id: str,
    username: str = "",
    calendar: str = "",
    authorize_url: str = "",
    url: str = "",
    timeout_s: float = 300.0,
) -> p.ConnectCalendar:
    """Runs the browser part and returns the ``connect_calendar`` command carrying the code and verifier:
    the server exchanges them, so the refresh token never reaches this machine. ``client_id`` is the one
    the server advertises (``get_calendar_settings``' ``calendar_sign_in``). Raises AuthError."""
    default = GOOGLE_AUTHORIZE if kind == "google" else MICROSOFT_AUTHORIZE
    config = OAuthConfig(
        login_url="", client_id=client_id, scope=SCOPES[kind], redirect_port=0,
        authorize_url=authorize_url or default, service=SERVICES[kind],
    )  # fmt: skip
    code, verifier, redirect_uri = await authorize_with_browser(
        config, open_browser, login_hint=username or None, timeout_s=timeout_s
    )
    return p.ConnectCalendar(id=command_id, url=url, kind=kind, username=username, calendar=calendar,
                             code=code, code_verifier=verifier, redirect_uri=redirect_uri)  # fmt: skip
