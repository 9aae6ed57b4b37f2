"""The demo data agrees with the sandbox seed data, and canned replies answer what was asked."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

from agent_app import protocol as p
from sandbox.demo_data import PAST_CONVERSATIONS, PERSONAS, PERSONAS_BY_KEY, TEAM, canned_reply
from sandbox.visitor_sim import VisitorPool, main
from sandbox.workspace import TERRITORIES_CSV, AgentLink

DATA = Path(__file__).parents[2] / "sandbox" / "data"


def test_team_matches_the_territory_table() -> None:
    rows = [r for r in csv.reader(TERRITORIES_CSV.read_text().splitlines()) if r and not r[0].startswith("#")]
    header, rows = rows[0], rows[1:]
    owners = {row[header.index("sdr_email")] for row in rows} - {""}
    assert owners <= {m.email for m in TEAM}
    assert {m.email for m in TEAM if m.role == "sdr"} <= owners


def test_personas_use_seeded_companies_and_salesforce_duplicates() -> None:
    domains = {c["domain"] for c in json.loads((DATA / "companies.json").read_text())}
    assert all(q.domain in domains for q in PERSONAS if q.domain != "gmail.com")
    org = json.loads((DATA / "salesforce.json").read_text())
    known = {r.get("Email") for kind in ("Lead", "Contact") for r in org[kind]}
    assert {q.key for q in PERSONAS if q.duplicate} == {q.key for q in PERSONAS if q.email in known}
    assert all(2 <= len(q.script) <= 5 for q in PERSONAS)
    assert all(
        c.persona in PERSONAS_BY_KEY and c.assignee in {m.email for m in TEAM} for c in PAST_CONVERSATIONS
    )


def _msg(text: str, kind: p.AuthorKind) -> p.Message:
    return p.Message(id="m", conversation_id="c", author_kind=kind, text=text, created_at=0.0)


def test_canned_replies() -> None:
    peter = PERSONAS_BY_KEY["peter"]
    bot, agent = p.AuthorKind.BOT, p.AuthorKind.AGENT
    assert canned_reply(peter, _msg("What's your work email?", bot), 0) == peter.email
    assert canned_reply(peter, _msg("Which company are you with?", bot), 0) == "Initech"
    assert canned_reply(peter, _msg("How many people are on your team?", bot), 0) == "650"
    assert canned_reply(peter, _msg("Could I get your email?", agent), 0) == f"Sure, it's {peter.email}"
    assert "650" in canned_reply(peter, _msg("How big is the team?", agent), 0)


def test_pool_choices_follow_the_seed() -> None:
    def order(seed: int) -> list[str]:
        pool = VisitorPool("ws://127.0.0.1:1", seed=seed)
        return [pool._next_persona(set()).key for _ in range(8)]

    assert order(5) == order(5) != order(6)


async def test_visitors_cli_against_a_running_server(chat_server: Any, capsys: Any) -> None:
    async with AgentLink.connect(chat_server.url, "casey@demo.sdr") as casey:
        argv = ["--url", chat_server.url, "--count", "2", "--speed", "0.001", "--first-after", "0.1"]
        argv += ["--interval", "0.01", "0.02", "--linger", "0", "--seed", "3"]
        assert await asyncio.to_thread(main, argv) == 0
        await casey.wait_for(lambda: len(casey.conversations) == 2, within=20)
    assert capsys.readouterr().out.count("visitor: ") == 2
