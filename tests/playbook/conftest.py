"""Fixtures for the playbook, routing and SLA tests: the real service layer on real SQLite (tmp_path),
a FakeClock and a ManualScheduler, so timers are driven by hand and no test sleeps. The SLA and routing
tests (ON_BOTH_STORAGES) run on PostgreSQL as well (tests/server/conftest.py's storage_kind)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent_app import protocol as p
from chat_server.automation import Automation, BookingProvider, booking_provider
from chat_server.clock import FakeClock
from chat_server.config import Config
from chat_server.hub import Hub
from chat_server.playbook import Playbook, load_playbook
from chat_server.routing import Enricher, TerritoryTable, load_table
from chat_server.security import new_id, new_token, token_hash
from chat_server.service import Service
from chat_server.sla import ManualScheduler
from chat_server.storage import SqlStorage, open_storage
from chat_server.storage.base import AgentRecord
from tests.server.conftest import on_both_storages, storage_kind, storage_settings

__all__ = ["storage_kind"]  # the autouse fixture that points storage_settings() at the test's database
ON_BOTH_STORAGES = {"test_sla.py", "test_bot_routing.py"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    on_both_storages(metafunc, ON_BOTH_STORAGES)


ROOT = Path(__file__).resolve().parents[2]
TERRITORIES = ROOT / "sandbox" / "data" / "territories.csv"

TEAM = [
    ("sam", "Sam Chen", "sam@demo.sdr", ""),
    ("alex", "Alex Rivera", "alex@demo.sdr", ""),
    ("jordan", "Jordan Lee", "jordan@demo.sdr", ""),
    ("casey", "Casey Morgan", "casey@demo.sdr", "global-queue"),
    ("maria", "Maria Santos", "maria@demo.sdr", ""),
]


@dataclass
class Desk:
    """One server's worth of real components (no transport) plus the automation under test."""

    path: Path
    clock: FakeClock
    storage: SqlStorage
    hub: Hub
    service: Service
    scheduler: ManualScheduler
    automation: Automation
    online: set[str] = field(default_factory=set)
    closed: bool = False

    def close(self) -> None:
        """Stops the timers and closes the database (idempotent; every desk is closed after its test)."""
        if self.closed:
            return
        self.closed = True
        self.automation.stop()
        self.storage.close()  # idempotent: a test may have closed it itself (a server restart)

    def agent(self, agent_id: str) -> p.Agent:
        agent = self.hub.agents[agent_id]
        return agent

    def set_presence(self, agent_id: str, presence: p.Presence, online: bool = True) -> None:
        agent = msgspec.structs.replace(self.hub.agents[agent_id], presence=presence)
        self.storage.save_agent(agent)
        self.storage.commit_now()
        self.hub.agents[agent_id] = agent
        (self.online.add if online else self.online.discard)(agent_id)

    async def visitor_says(
        self, text: str, token: str = "", page: str = "https://acme.test/pricing", **profile: Any
    ) -> tuple[str, p.Conversation]:
        """A visitor writes; returns its token and the conversation after the hooks ran."""
        if token:
            visitor = self.storage.visitor_by_token(token_hash(token))
            assert visitor is not None
        else:
            token = new_token()
            now = self.clock.now()
            visitor = p.Visitor(
                id=new_id(),
                current_page=page,
                first_seen=now,
                last_seen=now,
                pages=[p.PageView(url=page, at=now)],
                **profile,
            )
            with self.storage.savepoint():
                self.storage.add_visitor(visitor, token_hash(token))
        with self.storage.savepoint():
            conversation, _ = self.service.post_visitor_message(visitor, text)
        await self.storage.commit()
        await self.settle()
        fresh = self.storage.get_conversation(conversation.id)
        assert fresh is not None
        return token, fresh

    async def agent_says(self, agent_id: str, conversation_id: str, text: str) -> p.Message:
        with self.storage.savepoint():
            message = self.service.post_agent_message(self.agent(agent_id), conversation_id, text)
        await self.storage.commit()
        conversation = self.storage.get_conversation(conversation_id)
        assert conversation is not None
        await self.automation.on_agent_message(conversation, message)
        return message

    async def settle(self) -> None:
        """Waits for the service's hook tasks (they run after commit)."""
        import asyncio

        for _ in range(50):
            tasks = list(self.service._tasks)
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    def conversation(self, conversation_id: str) -> p.Conversation:
        conv = self.storage.get_conversation(conversation_id)
        assert conv is not None
        return conv

    def transcript(self, conversation_id: str) -> list[p.Message]:
        return self.storage.messages(conversation_id, None, 500, True)[0]

    def events(self, agent_id: str) -> list[Any]:
        frames = self.storage.committed().events_after(agent_id, 0, 10_000) or []
        return [p.decode_server_frame(f).event for _, f in frames]  # type: ignore[union-attr]


DeskFactory = Callable[..., Desk]


@pytest.fixture
def playbook() -> Playbook:
    return load_playbook()


@pytest.fixture
def table() -> TerritoryTable:
    return load_table(TERRITORIES)


def build_desk(
    path: Path,
    playbook: Playbook,
    *,
    clock: FakeClock | None = None,
    table: TerritoryTable | None = None,
    enrich: Enricher | None = None,
    booking: BookingProvider | None = None,
    calendar: bool = False,
    seed: bool = True,
) -> Desk:
    """``calendar=True``: booking cards come from the real calendar module (chat_server.meetings) on
    the same SQLite file, as in the running server; otherwise from ``booking`` (or none)."""
    clock = clock or FakeClock()
    # ``path`` is the SQLite file; on PostgreSQL every desk of the test opens the test's database.
    storage = open_storage(Config(db_path=str(path), **storage_settings()))
    if seed and not storage.list_agents():
        with storage.savepoint():
            for agent_id, name, email, territory in TEAM:
                agent = p.Agent(id=agent_id, name=name, email=email, territory=territory)
                storage.add_agent(AgentRecord(agent, "x"))
        storage.commit_now()
    hub = Hub(storage, clock)
    service = Service(storage, hub, clock)
    scheduler = ManualScheduler(clock, clock.advance)
    desk_ref: dict[str, Desk] = {}

    def available(agent: p.Agent) -> bool:
        return agent.presence == p.Presence.AVAILABLE and agent.id in desk_ref["desk"].online

    automation = Automation(
        service,
        playbook,
        territories=table,
        enrich=enrich,
        booking=booking_provider(service) if calendar else booking,
        scheduler=scheduler,
        available=available,
    )
    automation.install()
    desk = Desk(path, clock, storage, hub, service, scheduler, automation)
    desk_ref["desk"] = desk
    _open_desks.append(desk)
    return desk


_open_desks: list[Desk] = []


@pytest.fixture(autouse=True)
def _close_desks() -> Iterator[None]:
    """Desks built by a test (or a fixture) are closed after it: an unclosed SQLite file is a failure."""
    yield
    while _open_desks:
        _open_desks.pop().close()


@pytest.fixture
async def desk(tmp_path: Path, playbook: Playbook, table: TerritoryTable) -> AsyncIterator[Desk]:
    d = build_desk(tmp_path / "chat.sqlite3", playbook, table=table)
    await d.automation.start()
    yield d
    d.close()
