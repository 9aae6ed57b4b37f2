"""One source of truth for the aligned SDR: the server's territory table decides it per conversation from
everything known (bot answers, visitor profile, enrichment, CRM facts reported with ``update_visitor``),
with provenance (rule, CSV line, basis); routing and hand-off use the same field.

The first half drives the real service layer on real SQLite (FakeClock, no sleeps); the second half a
real chat server on 127.0.0.1 with the built-in playbook and the demo territory table, over websockets."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent_app import protocol as p
from chat_server import ChatServer, run_server
from chat_server.playbook import Playbook
from chat_server.routing import Company, facts, load_table
from chat_server.storage.base import VisitorFacts
from tests.playbook.conftest import TERRITORIES, Desk, build_desk
from tests.playbook.test_bot_routing import bigco
from tests.server.conftest import PASSWORD, Client, agent_login, cid, make_config, visitor_login

S = p.AuthorKind.SYSTEM


def routed(conv: p.Conversation) -> bool:
    return conv.routing is not None and conv.routing.at > 0


async def crm_update(d: Desk, agent_id: str, conversation_id: str, **fields: object) -> p.Conversation:
    """What the desktop client sends after matching/creating a Salesforce lead (update_visitor)."""
    command = p.UpdateVisitor(id=cid("uv"), conversation_id=conversation_id, **fields)  # type: ignore[arg-type]
    with d.storage.savepoint():
        d.service.agent_update_visitor(d.agent(agent_id), command)
    await d.storage.commit()
    await d.settle()
    return d.conversation(conversation_id)


@pytest.fixture
def make_desk(tmp_path: Path, playbook: Playbook) -> Callable[..., Desk]:
    """Desks on files in tmp_path (same name = same database); conftest closes them after the test."""

    def make(name: str = "c.sqlite3", **kwargs: Any) -> Desk:
        kwargs.setdefault("table", load_table(TERRITORIES))
        return build_desk(tmp_path / name, playbook, **kwargs)

    return make


def make_manager(d: Desk, agent_id: str) -> None:
    agent = msgspec.structs.replace(d.hub.agents[agent_id], role=p.Role.MANAGER)
    d.storage.save_agent(agent)
    d.storage.commit_now()
    d.hub.agents[agent_id] = agent


# ---------------------------------------------------------------- service layer (Desk)


async def test_aligned_field_follows_the_answers_with_rule_and_line(desk: Desk) -> None:
    d = desk
    token, conv = await d.visitor_says("Pricing for a big team?", page="/pricing", country="US", region="TX")
    # before any routing and before the size is known: US/TX, any size -> us-central (Alex), line 6
    r = conv.routing
    assert r is not None and not routed(conv)
    assert (r.aligned_agent_id, r.rule, r.line) == ("alex", "us-central", 6)
    assert r.basis == "visitor profile"
    updates = [e for e in d.events("sam") if isinstance(e, p.ConversationUpdated)]
    assert updates[-1].conversation.routing == r  # broadcast, not only stored
    for text in ("jane@texas-giant.com", "Texas Giant", "5000"):
        _, conv = await d.visitor_says(text, token)
    # the size answer moves it to the enterprise rule (Sam), line 5; routing used the same evaluation
    r = conv.routing
    assert r is not None and routed(conv)
    assert (r.aligned_agent_id, r.rule, r.line) == ("sam", "us-central-ent", 5)
    assert r.agent_id == "sam" and "visitor answers" in r.basis
    assert conv.assignee_id is None  # Sam is away: the calendar was offered, the chat stays queued


async def test_crm_facts_realign_without_reassigning(make_desk: Callable[..., Desk]) -> None:
    d = make_desk()
    d.set_presence("casey", p.Presence.AVAILABLE)
    token, conv = await d.visitor_says(
        "Do you integrate with HubSpot?", page="/blog", name="Visitor from Globex"
    )
    # nothing known: the catch-all rule routes to the fallback owner, who is not an aligned SDR
    assert conv.assignee_id == "casey" and conv.assigned_via == "routing" and conv.assigned_by == ""
    assert conv.routing is not None and conv.routing.aligned_agent_id is None
    assert (conv.routing.rule, conv.routing.line) == ("fallback", 13)
    conv = await crm_update(
        d, "casey", conv.id, name="Dana Lopez", company="Globex", country="us", region="ca", team_size=250,
        source="Salesforce lead",
    )  # fmt: skip
    r = conv.routing
    assert r is not None
    assert (r.aligned_agent_id, r.rule, r.line, r.basis) == ("alex", "us-west", 4, "Salesforce lead")
    assert r.agent_id == "casey"  # the routing decision is history; nobody is silently reassigned
    assert conv.assignee_id == "casey"
    assert (
        conv.visitor.name == "Dana Lopez" and conv.visitor.country == "US" and conv.visitor.team_size == 250
    )
    notes = [m for m in d.transcript(conv.id) if m.author_kind == S]
    assert notes[-1].private and "Alex Rivera" in notes[-1].text and "line 4" in notes[-1].text
    assert any(isinstance(e, p.VisitorUpdated) and e.visitor.name == "Dana Lopez" for e in d.events("casey"))
    # CRM facts are stored (they survive a restart) and beat the visitor's own profile
    d.close()
    again = make_desk(d.path.name, clock=d.clock, seed=False)
    await again.automation.start()
    await again.visitor_says("one more thing", token)
    with again.storage.savepoint():
        again.storage.save_visitor(msgspec.structs.replace(conv.visitor, region="NY"))  # profile says NY
    again.storage.commit_now()
    await again.automation.realign(conv.id)
    conv = again.conversation(conv.id)
    assert conv.routing is not None and conv.routing.aligned_agent_id == "alex"  # CRM's CA still wins


async def test_routing_assignee_is_the_aligned_sdr_when_available(make_desk: Callable[..., Desk]) -> None:
    d = make_desk(enrich=bigco)
    d.set_presence("sam", p.Presence.AVAILABLE)
    d.set_presence("alex", p.Presence.AVAILABLE)
    token, conv = await d.visitor_says("Hi, what does the team plan cost?")
    for text in ("jane@bigco.com", "BigCo", "250-400"):
        _, conv = await d.visitor_says(text, token)
    r = conv.routing
    assert r is not None and r.aligned_agent_id == "sam" == r.agent_id == conv.assignee_id
    assert (r.rule, r.line) == ("us-east", 7) and "DataFox" in r.basis
    assert (conv.assigned_via, conv.assigned_by) == ("routing", "")


async def test_away_aligned_sdr_is_still_named(make_desk: Callable[..., Desk]) -> None:
    d = make_desk(enrich=bigco)
    d.set_presence("alex", p.Presence.AVAILABLE)  # someone is around, but Sam owns the territory
    token, conv = await d.visitor_says("Hi, what does the team plan cost?")
    for text in ("jane@bigco.com", "BigCo", "250-400"):
        _, conv = await d.visitor_says(text, token)
    r = conv.routing
    assert r is not None and r.aligned_agent_id == "sam" and conv.assignee_id is None
    await d.agent_says("jordan", conv.id, "Hi Jane, Jordan here.")  # takes it from the queue by replying
    conv = d.conversation(conv.id)
    assert (conv.assignee_id, conv.assigned_via, conv.assigned_by) == ("jordan", "take", "jordan")
    assert conv.routing is not None and conv.routing.aligned_agent_id == "sam"  # still Sam's territory


async def test_alignment_without_routing(tmp_path: Path, playbook: Playbook) -> None:
    """The bot off for this page and no routing without it: the aligned field still says what is known."""
    pb = dataclasses.replace(
        playbook, routing=dataclasses.replace(playbook.routing, route_without_playbook=False)
    )
    d = build_desk(tmp_path / "c.sqlite3", pb, table=load_table(TERRITORIES))
    _, conv = await d.visitor_says("Guten Tag", page="/blog", country="DE")
    r = conv.routing
    assert r is not None and not routed(conv) and conv.assignee_id is None
    assert (r.aligned_agent_id, r.rule, r.line, r.basis) == ("jordan", "emea", 10, "visitor profile")


async def test_manager_and_fallback_pool_are_never_the_aligned_sdr(
    make_desk: Callable[..., Desk], tmp_path: Path
) -> None:
    d = make_desk()
    make_manager(d, "casey")
    d.set_presence("casey", p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("hello", page="/blog", email="jo@gmail.com")
    assert conv.routing is not None and conv.routing.aligned_agent_id is None
    # a rule owned by a manager does not make the manager the aligned SDR either
    csv = tmp_path / "t.csv"
    csv.write_text(
        "rule,country,region,segment,sdr_email,pool\n"
        "germany,DE,*,*,casey@demo.sdr,\n"
        "us,US,*,*,,us-pool\n"
        "fallback,*,*,*,,global-queue\n"
    )
    d2 = make_desk("t.sqlite3", table=load_table(csv))
    make_manager(d2, "casey")
    _, de = await d2.visitor_says("hallo", page="/blog", country="DE")
    _, us = await d2.visitor_says("hello", page="/blog", country="US")
    for conv in (de, us):
        assert conv.routing is not None and conv.routing.aligned_agent_id is None
    assert de.routing is not None and (de.routing.rule, de.routing.line) == ("germany", 2)


# ---------------------------------------------------------------- real server over websockets


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[ChatServer]:
    config = make_config(tmp_path, playbook="", territories_csv=str(TERRITORIES))
    async with run_server(config) as server:
        add = server.admin.add_agent
        add("sam@demo.sdr", "Sam Chen", PASSWORD, "US-East", "sdr")
        add("alex@demo.sdr", "Alex Rivera", PASSWORD, "US-West", "sdr")
        add("jordan@demo.sdr", "Jordan Lee", PASSWORD, "EMEA", "sdr")
        add("casey@demo.sdr", "Casey Morgan", PASSWORD, "", "manager")
        yield server


@dataclass
class Chat:
    sam: Client
    welcome: p.Welcome
    visitor: Client
    visitor_token: str
    conversation_id: str


async def taken_by_sam(server: ChatServer) -> Chat:
    """A visitor on a non-playbook page writes; Sam takes the chat."""
    sam, welcome = await agent_login(server, "sam@demo.sdr")
    visitor, vw = await visitor_login(server, page_url="https://acme.test/blog")
    ack = await visitor.ok(p.VisitorSendMessage(id=cid("v"), text="Can you help with routing?"))
    conversation_id = str(ack["conversation_id"])
    await sam.event(p.ConversationCreated)
    taken = await sam.ok(
        p.AssignConversation(id=cid(), conversation_id=conversation_id, agent_id=welcome.agent.id)
    )
    assert taken["conversation"]["assigned_via"] == "take"
    assert taken["conversation"]["assigned_by"] == welcome.agent.id
    return Chat(sam, welcome, visitor, vw.visitor_token, conversation_id)


async def updated(client: Client, condition: Callable[[p.Conversation], bool]) -> p.Conversation:
    """The first conversation_updated (from now on) whose conversation meets ``condition``."""
    while True:
        event = (await client.event(p.ConversationUpdated)).event
        assert isinstance(event, p.ConversationUpdated)
        if condition(event.conversation):
            return event.conversation


async def visitor_frames(visitor: Client) -> list[bytes]:
    """Everything the visitor's socket received so far (raw), after a round trip flushed it."""
    await visitor.ok(p.VisitorTyping(id=cid("t"), active=False))
    raw = [msgspec.json.encode(f) for f in [*visitor.events, *visitor.others]]
    return raw


async def test_update_visitor_is_authorised_validated_stored_and_broadcast(live: ChatServer) -> None:
    chat = await taken_by_sam(live)
    sam, visitor, welcome, conv_id = chat.sam, chat.visitor, chat.welcome, chat.conversation_id
    jordan, _ = await agent_login(live, "jordan@demo.sdr")  # an SDR who cannot see Sam's chat
    denied = await jordan.call(p.UpdateVisitor(id=cid(), conversation_id=conv_id, name="Mallory"))
    assert isinstance(denied, p.Error) and denied.code == p.ErrorCode.FORBIDDEN
    bad = await sam.call(p.UpdateVisitor(id=cid(), conversation_id=conv_id, team_size=-1))
    assert isinstance(bad, p.Error) and bad.code == p.ErrorCode.INVALID
    long = await sam.call(p.UpdateVisitor(id=cid(), conversation_id=conv_id, company="x" * 5000))
    assert isinstance(long, p.Error) and long.code == p.ErrorCode.TOO_LONG

    ack = await sam.ok(
        p.UpdateVisitor(id=cid(), conversation_id=conv_id, name="Dana Lopez", company="Globex", country="US",
                        region="CA", team_size=250, source="Salesforce lead 00Q5e000001")
    )  # fmt: skip
    assert ack["visitor"]["name"] == "Dana Lopez"
    # durable before the ack: a read of committed data already has it
    stored = live.storage.committed().latest_conversation(ack["visitor"]["id"])
    assert stored is not None and stored.visitor.name == "Dana Lopez"
    seen = await sam.event(p.VisitorUpdated, conversation_id=conv_id)
    assert seen.event.visitor.name == "Dana Lopez"  # type: ignore[attr-defined]
    conv = await updated(sam, lambda c: c.routing is not None and c.routing.aligned_agent_id is not None)
    alex = live.storage.agent_by_email("alex@demo.sdr")
    assert alex is not None
    assert conv.routing.aligned_agent_id == alex.agent.id
    assert (conv.routing.rule, conv.routing.line) == ("us-west", 4)
    assert conv.assignee_id == welcome.agent.id  # not silently reassigned

    # the visitor never receives the CRM source text or the team's ids
    raw = b"".join(await visitor_frames(visitor))
    assert b"Salesforce" not in raw and b"00Q5e" not in raw
    assert welcome.agent.id.encode() not in raw and alex.agent.id.encode() not in raw
    for client in (sam, visitor, jordan):
        await client.close()


async def test_handoff_with_reassign_to_any_teammate(live: ChatServer) -> None:
    chat = await taken_by_sam(live)
    sam, visitor, welcome, conv_id = chat.sam, chat.visitor, chat.welcome, chat.conversation_id
    jordan, jw = await agent_login(live, "jordan@demo.sdr")  # not the aligned SDR of anything here
    ack = await sam.ok(
        p.RecordHandoff(id=cid(), conversation_id=conv_id, to_agent_id=jw.agent.id, reassign=True,
                        note="Secret pricing note: 40% discount ok", crm_record="Lead 00Q5e000002")
    )  # fmt: skip
    assert ack["message"]["private"] is True
    conv = await updated(jordan, lambda c: c.assignee_id == jw.agent.id)
    assert (conv.assigned_via, conv.assigned_by) == ("handoff", welcome.agent.id)
    assert welcome.agent.id in conv.participant_ids  # Sam stays in the chat
    stored = live.storage.get_conversation(conv_id)
    assert stored is not None and stored.assignee_id == jw.agent.id and stored.assigned_via == "handoff"
    # Sam (now a participant) can still act; handing back works the same way
    back = await jordan.ok(
        p.RecordHandoff(id=cid(), conversation_id=conv_id, to_agent_id=welcome.agent.id, reassign=True)
    )
    assert back["message"]["private"] is True
    raw = b"".join(await visitor_frames(visitor))
    assert b"Secret pricing" not in raw and b"00Q5e" not in raw and b"handed" not in raw
    for client in (sam, visitor, jordan):
        await client.close()


async def test_handoff_note_without_reassign_stays_private(live: ChatServer) -> None:
    chat = await taken_by_sam(live)
    sam, visitor, welcome, conv_id = chat.sam, chat.visitor, chat.welcome, chat.conversation_id
    alex = live.storage.agent_by_email("alex@demo.sdr")
    assert alex is not None
    ack = await sam.ok(
        p.RecordHandoff(id=cid(), conversation_id=conv_id, to_agent_id=alex.agent.id,
                        note="Budget is 20k, do not mention", crm_record="Lead 00Q5e000003")
    )  # fmt: skip
    assert ack["message"]["private"] is True
    stored = live.storage.get_conversation(conv_id)
    assert stored is not None and stored.assignee_id == welcome.agent.id  # only the CRM owner changed
    raw = b"".join(await visitor_frames(visitor))
    assert b"Budget is 20k" not in raw and b"00Q5e" not in raw
    returning, again = await visitor_login(live, token=chat.visitor_token)
    assert again.messages and all("Budget" not in m.text and "00Q5e" not in m.text for m in again.messages)
    for client in (sam, visitor, returning):
        await client.close()


def test_each_fact_comes_from_the_strongest_source() -> None:
    """CRM facts beat company data (enrichment), which beats the visitor's own profile and answers."""
    visitor = p.Visitor(id="v", country="DE", region="BE", team_size=5, answers={"team_size": "5"})
    company = Company("x.com", "X", 300, "US", "NY", "datafox")
    assert facts(visitor, None).basis == "visitor profile + visitor answers"
    f = facts(visitor, company)
    assert (f.country, f.region, f.employees, f.basis) == ("US", "NY", 300, "DataFox")
    f = facts(visitor, company, VisitorFacts(source="Salesforce lead", region="ca", team_size=40))
    assert (f.country, f.region, f.employees) == ("US", "CA", 40)
    assert f.basis == "DataFox + Salesforce lead"
    assert facts(p.Visitor(id="w"), None).basis == "nothing known yet"
