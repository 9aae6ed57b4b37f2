"""Salesforce client against the sandbox over HTTP: sign-in, refresh, paging, retries, limits, errors."""

from __future__ import annotations

import httpx
import pytest

from agent_app.integrations import (
    AuthError,
    InvalidField,
    MalformedQuery,
    NotFound,
    OAuthConfig,
    RequestLimitExceeded,
    SalesforceAuth,
    SalesforceClient,
    ServiceUnavailable,
    SignInRequired,
    ValidationFailed,
)
from agent_app.integrations.sf_auth import authorize_with_browser
from sandbox.salesforce import FakeSalesforce

from .conftest import CLIENT_ID, MemoryKeyring, Sleeps, browser_for, trusted_secrets


async def test_sign_in_stores_refresh_token_in_keychain(
    auth: SalesforceAuth, sf: FakeSalesforce, memory_keyring: MemoryKeyring
) -> None:
    session = await auth.session()
    assert session.instance_url == sf.base_url
    assert session.user_id == sf.user_by_login("alex@demo.sdr")["Id"]
    stored = memory_keyring.data[("sdr-agent-desk", auth.refresh_key)]
    assert stored in sf.refresh_tokens


async def test_pkce_verifier_is_checked(sf: FakeSalesforce, http: httpx.AsyncClient) -> None:
    config = OAuthConfig(sf.base_url, CLIENT_ID, redirect_port=0)
    code, _verifier, redirect = await authorize_with_browser(config, await browser_for(http))
    r = await http.post(
        f"{sf.base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "code_verifier": "not-the-verifier",
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_refresh_after_forced_401_retries_once_and_stores_new_token(
    client: SalesforceClient, sf: FakeSalesforce, memory_keyring: MemoryKeyring
) -> None:
    old = (await client.session()).access_token
    sf.expire_tokens()
    calls_before = len(sf.log)
    rows = await client.query("SELECT Id FROM User WHERE IsActive = true")
    assert len(rows) == 5
    assert len(sf.log) - calls_before == 2  # the 401 and the single replay
    new = (await client.session()).access_token
    assert new != old and new in sf.access_tokens
    assert new in memory_keyring.data[("sdr-agent-desk", client.auth.session_key)]


async def test_revoked_refresh_token_asks_for_sign_in(
    client: SalesforceClient, sf: FakeSalesforce, memory_keyring: MemoryKeyring
) -> None:
    sf.expire_tokens()
    sf.refresh_tokens.clear()
    with pytest.raises(SignInRequired):
        await client.query("SELECT Id FROM Lead")
    assert ("sdr-agent-desk", client.auth.refresh_key) not in memory_keyring.data


async def test_session_restored_from_keychain(
    auth: SalesforceAuth, sf: FakeSalesforce, http: httpx.AsyncClient, memory_keyring: MemoryKeyring
) -> None:
    fresh = SalesforceAuth(OAuthConfig(sf.base_url, CLIENT_ID, redirect_port=0), http, trusted_secrets())
    client = SalesforceClient(fresh, http)
    assert await client.query("SELECT Id FROM Lead WHERE Email = 'gavin@hooli.com'")


async def test_query_follows_next_records_url(client: SalesforceClient, sf: FakeSalesforce) -> None:
    sf.page_size = 4
    pages = [p async for p in client.query_pages("SELECT Id, Name FROM Lead ORDER BY Name")]
    assert len(pages) == 6 and [len(p) for p in pages][:5] == [4, 4, 4, 4, 4]
    everything = await client.query("SELECT Id FROM Lead")
    assert len(everything) == len({r["Id"] for r in everything}) == 23


async def test_api_usage_exposed_and_high_flag(client: SalesforceClient, sf: FakeSalesforce) -> None:
    await client.query("SELECT Id FROM Account")
    assert client.api_usage is not None and not client.api_usage.high
    sf.api_used = 12000
    await client.query("SELECT Id FROM Account")
    assert client.api_usage.used == 12001 and client.api_usage.limit == 15000 and client.api_usage.high


async def test_503_backs_off_then_succeeds(
    client: SalesforceClient, sf: FakeSalesforce, sleeps: Sleeps
) -> None:
    sf.inject(503, "SERVER_UNAVAILABLE", "Server unavailable", times=2)
    assert await client.query("SELECT Id FROM Account LIMIT 1")
    assert sleeps.delays == [0.25, 0.5]  # full jitter with rand()=0.5: 0.5*0.5, 0.5*1.0


async def test_daily_request_limit_is_not_retried(
    client: SalesforceClient, sf: FakeSalesforce, sleeps: Sleeps
) -> None:
    # The 24-hour allowance won't come back in seconds: retrying only burns time (and more calls).
    sf.api_used = sf.api_limit
    calls_before = len(sf.log)
    with pytest.raises(RequestLimitExceeded, match="TotalRequests Limit exceeded") as info:
        await client.query("SELECT Id FROM Account")
    assert sleeps.delays == [] and info.value.status == 403 and len(sf.log) == calls_before + 1
    assert info.value.daily and "daily API request limit" in str(info.value)


async def test_concurrent_request_limit_gives_up_after_bounded_retries(
    client: SalesforceClient, sf: FakeSalesforce, sleeps: Sleeps
) -> None:
    msg = "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
    sf.inject(403, "REQUEST_LIMIT_EXCEEDED", msg, times=10)
    with pytest.raises(RequestLimitExceeded, match="Concurrent") as info:
        await client.query("SELECT Id FROM Account")
    assert len(sleeps.delays) == 3 and not info.value.daily
    assert "gave up after 4 attempts" in str(info.value)


async def test_retry_after_header_is_honoured(
    client: SalesforceClient, sf: FakeSalesforce, sleeps: Sleeps
) -> None:
    sf.inject(503, "SERVER_UNAVAILABLE", "maintenance", headers={"Retry-After": "3"})
    await client.query("SELECT Id FROM Account LIMIT 1")
    assert sleeps.delays == [3.0]


async def test_still_failing_503_raises_service_unavailable(
    client: SalesforceClient, sf: FakeSalesforce
) -> None:
    sf.inject(503, "SERVER_UNAVAILABLE", "Server unavailable", times=10)
    with pytest.raises(ServiceUnavailable):
        await client.query("SELECT Id FROM Account")


@pytest.mark.parametrize(
    ("soql", "exc", "text"),
    [
        ("SELECT Id FROM Lead WHERE", MalformedQuery, "unexpected token: <EOF>"),
        ("SELECT Id, Foo FROM Lead", InvalidField, "No such column 'Foo' on entity 'Lead'"),
        ("SELECT Id FROM Widget__c", InvalidField, "sObject type 'Widget__c' is not supported"),
        ("SELECT Id FROM Lead WHERE Name = 'a\\qb'", MalformedQuery, "Illegal escape sequence"),
    ],
)
async def test_query_errors(client: SalesforceClient, soql: str, exc: type[Exception], text: str) -> None:
    with pytest.raises(exc, match=r"Salesforce (MALFORMED_QUERY|INVALID_FIELD|INVALID_TYPE): ") as info:
        await client.query(soql)
    assert text in info.value.sf_message  # type: ignore[attr-defined]


async def test_save_errors(client: SalesforceClient) -> None:
    with pytest.raises(ValidationFailed, match=r"Required fields are missing: \[LastName, Company\]") as info:
        await client.create("Lead", {"FirstName": "X"})
    assert info.value.fields == ["LastName", "Company"]
    with pytest.raises(ValidationFailed, match="INVALID_EMAIL_ADDRESS"):
        await client.create("Lead", {"LastName": "X", "Company": "Y", "Email": "nope"})
    with pytest.raises(InvalidField, match="No such column 'Bogus__c'"):
        await client.create("Lead", {"LastName": "X", "Company": "Y", "Bogus__c": 1})
    with pytest.raises(NotFound, match="NOT_FOUND: The requested resource does not exist"):
        await client.get("Lead", "00Q5e0000000ZZZZZZ")


async def test_oauth_error_is_readable(
    sf: FakeSalesforce, http: httpx.AsyncClient, memory_keyring: MemoryKeyring
) -> None:
    a = SalesforceAuth(OAuthConfig(sf.base_url, CLIENT_ID), http, trusted_secrets())
    with pytest.raises(AuthError, match="invalid_grant"):
        await a._token_call({"grant_type": "authorization_code", "code": "bogus", "client_id": CLIENT_ID})


async def test_update_and_get_round_trip(client: SalesforceClient) -> None:
    lead_id = await client.create("Lead", {"LastName": "Roundtrip", "Company": "RT Inc"})
    await client.update("Lead", lead_id, {"Title": "CTO"})
    rec = await client.get("Lead", lead_id, ["Title", "Company"])
    assert rec["Title"] == "CTO" and rec["attributes"]["type"] == "Lead"
