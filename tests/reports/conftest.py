"""A real chat server whose routing and SLA clock run on a clock the test moves (FakeClock +
ManualScheduler), with a small playbook (no bot questions, no fallback) so every figure is known."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent_app import protocol as p
from chat_server import ChatServer, Config, FakeClock, run_server
from chat_server.automation import Automation, attach
from chat_server.playbook import load_playbook
from chat_server.security import new_id, new_token, token_hash
from chat_server.sla import ManualScheduler
from tests.server.conftest import PASSWORD, Client, agent_login, cid

# Tuesday 1 December 2026, 10:00 UTC: "today" in UTC and in New York alike.
START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC).timestamp()
PLAYBOOK = """
name = "Reports test"
pages = ["/pricing"]

[sla]
first_response_seconds = 30
warning_seconds = 20
offer_meeting_seconds = 60
fallback = "off"

[routing]
territories_csv = "{csv}"
"""
TERRITORIES = (
    "rule,country,region,segment,sdr_email,pool\nus-west,US,CA,*,sam@example.com,\n"
    "us-east,US,NY,*,tina@example.com,\n"
)


@dataclass
class Desk:
    server: ChatServer
    clock: FakeClock
    scheduler: ManualScheduler
    automation: Automation

    tokens: dict[str, str] = field(default_factory=dict)  # conversation id -> its visitor's token

    async def visitor_says(self, text: str, **visitor: Any) -> str:
        """A new visitor writes ``text`` (off the bot's pages: routed at once); the conversation id once
        routing ran."""
        storage, service, now = self.server.storage, self.server.service, self.clock.now()
        v = p.Visitor(id=new_id(), first_seen=now, last_seen=now, current_page="https://acme.test/blog",
                      **visitor)  # fmt: skip
        token = new_token()
        with storage.savepoint():
            storage.add_visitor(v, token_hash(token))
            conversation, _ = service.post_visitor_message(v, text)
        await storage.commit()
        for _ in range(50):
            if not service._tasks:
                break
            await asyncio.gather(*list(service._tasks), return_exceptions=True)
        self.tokens[conversation.id] = token
        return conversation.id

    async def available(self, email: str) -> Client:
        client, _ = await agent_login(self.server, email)
        await client.ok(p.SetPresence(id=cid(), presence=p.Presence.AVAILABLE))
        return client


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    csv = tmp_path / "territories.csv"
    csv.write_text(TERRITORIES)
    playbook = tmp_path / "playbook.toml"
    playbook.write_text(PLAYBOOK.format(csv=csv))
    clock = FakeClock(START)
    config = Config(host="127.0.0.1", port=0, db_path=str(tmp_path / "chat.sqlite3"), playbook="off")
    async with run_server(config, clock) as server:
        add = server.admin.add_agent
        add("maria@example.com", "Maria Manager", PASSWORD, "US", "manager")
        add("sam@example.com", "Sam Sdr", PASSWORD, "US-West", "sdr")
        add("tina@example.com", "Tina Sdr", PASSWORD, "US-East", "sdr")
        scheduler = ManualScheduler(clock, clock.advance)
        automation = await attach(server, load_playbook(playbook), scheduler=scheduler)
        try:
            yield Desk(server, clock, scheduler, automation)
        finally:
            automation.stop()
