"""Fixtures: in-memory keychain, sandbox Salesforce and enrichment on 127.0.0.1, a signed-in CRM service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import keyring
import pytest

from agent_app.integrations import (
    CrmService,
    OAuthConfig,
    RetryPolicy,
    SalesforceAuth,
    SalesforceClient,
)
from agent_app.secrets import SecretStore, qualname
from sandbox.enrichment import FakeEnrichment, start_enrichment
from sandbox.salesforce import FakeSalesforce, start_salesforce
from tests.memory_keyring import MemoryKeyring

CLIENT_ID = "SDRAgentDeskTest"


def trusted_secrets() -> SecretStore:
    """The app's SecretStore over the active (in-memory) keyring, which it is told to trust."""
    return SecretStore(secure_backends={qualname(keyring.get_keyring())})


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
async def sf() -> AsyncIterator[FakeSalesforce]:
    async with start_salesforce(page_size=2000) as fake:
        yield fake


@pytest.fixture
async def enrich() -> AsyncIterator[FakeEnrichment]:
    async with start_enrichment() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        yield client


class Sleeps:
    """Injectable sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


async def browser_for(http: httpx.AsyncClient) -> Any:
    """An 'open the browser' callback that follows the authorize redirect to the loopback listener."""

    async def open_browser(url: str) -> None:
        await http.get(url, follow_redirects=True)

    return open_browser


@pytest.fixture
async def auth(sf: FakeSalesforce, http: httpx.AsyncClient, memory_keyring: MemoryKeyring) -> SalesforceAuth:
    # Port 0: the stand-in accepts any loopback callback for unregistered apps (test_sf_oauth is strict).
    a = SalesforceAuth(OAuthConfig(sf.base_url, CLIENT_ID, redirect_port=0), http, trusted_secrets())
    await a.sign_in(await browser_for(http), login_hint="alex@demo.sdr")
    return a


@pytest.fixture
def client(auth: SalesforceAuth, http: httpx.AsyncClient, sleeps: Sleeps) -> SalesforceClient:
    return SalesforceClient(auth, http, retry=RetryPolicy(sleep=sleeps, rand=lambda: 0.5))


@pytest.fixture
def crm(client: SalesforceClient, tmp_path: Any) -> Iterator[CrmService]:
    from agent_app.integrations import ActivityLog

    log = ActivityLog(tmp_path / "activity.sqlite3")
    yield CrmService(client, activity_log=log)
    log.close()
