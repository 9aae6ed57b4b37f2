"""Salesforce sign-in as a real Connected App demands it: exact callback, state first, optional secret."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agent_app.integrations import (
    AuthError,
    IntegrationSettings,
    OAuthConfig,
    SalesforceAuth,
    build_integrations,
)
from agent_app.integrations.config import SALESFORCE_CLIENT_SECRET
from agent_app.integrations.sf_auth import DEFAULT_REDIRECT_PORT, authorize_with_browser
from agent_app.settings import Settings
from sandbox.salesforce import FakeSalesforce

from .conftest import MemoryKeyring, browser_for, trusted_secrets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registered(sf: FakeSalesforce, *, secret: str | None = None) -> OAuthConfig:
    """A Connected App registered in the stand-in with one exact loopback callback, and its config."""
    port = free_port()
    config = OAuthConfig(sf.base_url, "StrictApp", client_secret=secret, redirect_port=port)
    sf.register_app("StrictApp", [config.redirect_uri], client_secret=secret)
    return config


def test_default_callback_is_a_fixed_registered_loopback_url(tmp_path: object) -> None:
    config = OAuthConfig("https://login.salesforce.com", "x")
    assert DEFAULT_REDIRECT_PORT == 47615
    assert config.redirect_uri == "http://127.0.0.1:47615/callback"
    settings = Settings(tmp_path / "s.json")  # type: ignore[operator]
    settings.load()
    assert settings.get("salesforce_redirect_port") == 47615
    assert IntegrationSettings().salesforce_redirect_port == 47615


async def test_stand_in_refuses_an_unregistered_redirect_uri(
    sf: FakeSalesforce, http: httpx.AsyncClient
) -> None:
    config = registered(sf)
    other = f"http://127.0.0.1:{free_port()}/callback"
    r = await http.get(
        f"{sf.base_url}/services/oauth2/authorize",
        params={"response_type": "code", "client_id": "StrictApp", "redirect_uri": other, "state": "s"},
    )
    assert r.status_code == 400 and "redirect_uri_mismatch" in r.text and "location" not in r.headers
    r = await http.get(
        f"{sf.base_url}/services/oauth2/authorize",
        params={"response_type": "code", "client_id": "StrictApp", "redirect_uri": config.redirect_uri},
    )
    assert r.status_code == 302 and r.headers["location"].startswith(config.redirect_uri + "?")


async def test_sign_in_with_the_registered_callback(
    sf: FakeSalesforce, http: httpx.AsyncClient, memory_keyring: MemoryKeyring
) -> None:
    auth = SalesforceAuth(registered(sf), http, trusted_secrets())
    session = await auth.sign_in(await browser_for(http), login_hint="alex@demo.sdr")
    assert session.instance_url == sf.base_url


async def test_stray_requests_to_the_redirect_path_do_not_abort_sign_in(
    sf: FakeSalesforce, http: httpx.AsyncClient
) -> None:
    config = registered(sf)

    async def browser(url: str) -> None:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        # A reload of an old tab, a forged error and a bare hit arrive before the real answer.
        for stray in ("?code=old&state=stale", "?error=access_denied&state=forged", "", "?error=x"):
            r = await http.get(redirect + stray)
            assert r.status_code == 400
        await http.get(url, follow_redirects=True)

    code, _verifier, redirect = await authorize_with_browser(config, browser, timeout_s=10)
    assert code and redirect == config.redirect_uri


async def test_error_with_our_state_is_reported(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    config = registered(sf)

    async def browser(url: str) -> None:
        q = parse_qs(urlsplit(url).query)
        await http.get(q["redirect_uri"][0], params={"error": "access_denied", "state": q["state"][0]})

    with pytest.raises(AuthError, match="access_denied"):
        await authorize_with_browser(config, browser, timeout_s=10)


async def test_busy_callback_port_is_a_readable_error(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    config = registered(sf)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", config.redirect_port))
        blocker.listen()
        with pytest.raises(AuthError, match=f"port {config.redirect_port} is in use"):
            await authorize_with_browser(config, await browser_for(http), timeout_s=10)


async def test_client_secret_from_the_keychain_when_the_app_requires_one(
    sf: FakeSalesforce, http: httpx.AsyncClient, memory_keyring: MemoryKeyring
) -> None:
    config = registered(sf, secret="s3cret")
    without = SalesforceAuth(
        OAuthConfig(sf.base_url, "StrictApp", redirect_port=config.redirect_port), http, trusted_secrets()
    )
    with pytest.raises(AuthError, match="invalid_client"):
        await without.sign_in(await browser_for(http), login_hint="alex@demo.sdr")
    secrets = trusted_secrets()
    secrets.set(SALESFORCE_CLIENT_SECRET, "s3cret")
    it = build_integrations(
        IntegrationSettings(
            salesforce_login_url=sf.base_url,
            salesforce_client_id="StrictApp",
            salesforce_redirect_port=config.redirect_port,
            enrichment_provider="none",
        ),
        http,
        secrets,
    )
    try:
        session = await it.auth.sign_in(await browser_for(http), login_hint="alex@demo.sdr")
        assert session.instance_url == sf.base_url
        assert await it.auth.refresh(session)  # the refresh grant sends the secret too
    finally:
        it.close()
