"""Panel fixtures: qasync loop, in-memory keychain, sandbox Salesforce + enrichment on 127.0.0.1, a store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
from PySide6.QtWidgets import QApplication

from agent_app import protocol as p
from agent_app.errors import CommandError
from agent_app.integrations import Integrations, IntegrationSettings, build_integrations
from agent_app.integrations.config import ENRICHMENT_KEY_SECRET
from agent_app.secrets import SecretStore, qualname
from agent_app.store import Store
from sandbox.enrichment import DEFAULT_CLEARBIT_KEY, FakeEnrichment, start_enrichment
from sandbox.salesforce import FakeSalesforce, start_salesforce
from tests.memory_keyring import MemoryKeyring
from tests.qt_loop import run, wait_until  # noqa: F401  (re-exported to this folder's tests)
from ui.bridge import StoreBridge
from ui.tasks import TaskRunner

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
ALEX = p.Agent(id="a-alex", name="Alex Rivera", email="alex@demo.sdr", territory="US-West")
TEAM = [
    ALEX,
    p.Agent(id="a-sam", name="Sam Chen", email="sam@demo.sdr", territory="US-East"),
    p.Agent(id="a-jordan", name="Jordan Patel", email="jordan@demo.sdr", territory="EMEA"),
    p.Agent(id="a-casey", name="Casey Morgan", email="casey@demo.sdr", role=p.Role.MANAGER),
]


class FakeSession:
    """Records session.request commands; ``error`` makes the server answer with an Error."""

    def __init__(self) -> None:
        self.requests: list[p.AgentCommand] = []
        self.error: CommandError | None = None

    async def request(self, command: p.AgentCommand) -> dict[str, Any]:
        self.requests.append(command)
        if self.error is not None:
            raise self.error
        return {}


def _enter[T](
    loop: asyncio.AbstractEventLoop, cm: AbstractAsyncContextManager[T]
) -> tuple[T, Callable[[], None]]:
    value = run(loop, cm.__aenter__())
    return value, lambda: run(loop, cm.__aexit__(None, None, None))


@pytest.fixture
def sf(loop: asyncio.AbstractEventLoop) -> Iterator[FakeSalesforce]:
    fake, close = _enter(loop, start_salesforce(page_size=2000))
    yield fake
    close()


@pytest.fixture
def enrich(loop: asyncio.AbstractEventLoop) -> Iterator[FakeEnrichment]:
    fake, close = _enter(loop, start_enrichment())
    yield fake
    close()


@pytest.fixture
def secrets() -> Iterator[SecretStore]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield SecretStore(backend=backend, secure_backends={qualname(backend)})
    keyring.set_keyring(previous)


@pytest.fixture
def http(loop: asyncio.AbstractEventLoop) -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
    yield client
    run(loop, client.aclose())


def make_integrations(
    loop: asyncio.AbstractEventLoop,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: httpx.AsyncClient,
    secrets: SecretStore,
    tmp_path: Path,
    *,
    sign_in: bool = True,
) -> Integrations:
    secrets.set(ENRICHMENT_KEY_SECRET, DEFAULT_CLEARBIT_KEY)
    settings = IntegrationSettings(
        salesforce_login_url=sf.base_url,
        salesforce_client_id="PanelTest",
        salesforce_redirect_port=0,  # any free port: tests run side by side
        enrichment_provider="clearbit",
        enrichment_base_url=enrich.base_url,
        activity_log_path=str(tmp_path / "activity.sqlite3"),
    )
    it = build_integrations(settings, http, secrets)
    if sign_in:

        async def browser(url: str) -> None:
            await http.get(url, follow_redirects=True)

        run(loop, it.auth.sign_in(browser, login_hint="alex@demo.sdr"))
    return it


@pytest.fixture
def integrations(
    loop: asyncio.AbstractEventLoop,
    sf: FakeSalesforce,
    enrich: FakeEnrichment,
    http: httpx.AsyncClient,
    secrets: SecretStore,
    tmp_path: Path,
) -> Iterator[Integrations]:
    it = make_integrations(loop, sf, enrich, http, secrets, tmp_path)
    yield it
    it.close()


def visitor_conv(
    cid: str,
    name: str = "",
    email: str = "",
    company: str = "",
    routing: p.Routing | None = None,
    **visitor: Any,
) -> p.Conversation:
    v = p.Visitor(id=f"v-{cid}", name=name, email=email, company=company, **visitor)
    return p.Conversation(
        id=cid, visitor=v, created_at=1_700_000_000.0, updated_at=1_700_000_000.0, routing=routing
    )


@pytest.fixture
def store() -> Store:
    s = Store()
    s.me = ALEX
    s.agents = {a.id: a for a in TEAM}
    return s


@pytest.fixture
def bridge(store: Store, qapp: QApplication) -> StoreBridge:
    return StoreBridge(store)


@pytest.fixture
def runner(loop: asyncio.AbstractEventLoop) -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.cancel_all()


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()
