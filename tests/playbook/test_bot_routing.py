"""The bot's dialogue and the routing branches, on the real service layer and SQLite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent_app import protocol as p
from agent_app.territory import TerritoryError
from chat_server.playbook import Playbook
from chat_server.routing import Company, is_routed, load_table
from tests.playbook.conftest import TERRITORIES, Desk, build_desk

A, B, S, V = p.AuthorKind.AGENT, p.AuthorKind.BOT, p.AuthorKind.SYSTEM, p.AuthorKind.VISITOR


async def bigco(domain: str) -> Company | None:
    data = {
        "bigco.com": Company(domain, "BigCo", 300, "US", "NY", "datafox"),
        "texas-giant.com": Company(domain, "Texas Giant", 5000, "US", "TX", "datafox"),
        "berlin.de": Company(domain, "Berlin GmbH", 80, "DE", "BE", "datafox"),
    }
    return data.get(domain)


@pytest.fixture
async def enriched(tmp_path: Path, playbook: Playbook) -> Desk:
    d = build_desk(tmp_path / "chat.sqlite3", playbook, table=load_table(TERRITORIES), enrich=bigco)
    await d.automation.start()
    return d


async def answer_all(d: Desk, email: str = "jane@bigco.com", size: str = "250-400") -> p.Conversation:
    token, conv = await d.visitor_says("Hi, what does the team plan cost?")
    for text in (email, "BigCo", size):
        _, conv = await d.visitor_says(text, token)
    return conv


def bot_texts(d: Desk, conversation_id: str) -> list[str]:
    return [m.text for m in d.transcript(conversation_id) if m.author_kind == B]


async def test_bot_asks_validates_and_fills_the_visitor(enriched: Desk) -> None:
    d = enriched
    d.set_presence("sam", p.Presence.AVAILABLE)
    token, conv = await d.visitor_says("Hi, what does the team plan cost?")
    texts = bot_texts(d, conv.id)
    assert texts == [d.automation.playbook.greeting, "What's your work email?"]
    _, conv = await d.visitor_says("jane at bigco", token)
    assert bot_texts(d, conv.id)[-1].startswith("Hmm, that doesn't look like an email address")
    assert "email" not in conv.visitor.answers
    _, conv = await d.visitor_says("Jane@BigCo.com", token)
    assert bot_texts(d, conv.id)[-1] == "Which company are you with?"
    _, conv = await d.visitor_says("BigCo", token)
    _, conv = await d.visitor_says("a lot", token)
    assert "a number (e.g. 40) or a range like 50-200" in bot_texts(d, conv.id)[-1]
    _, conv = await d.visitor_says("250-400", token)

    v = conv.visitor
    assert v.answers == {
        "reason": "Hi, what does the team plan cost?",
        "email": "Jane@bigco.com",
        "company": "BigCo",
        "team_size": "250-400",
    }
    assert (v.email, v.company, v.team_size) == ("Jane@bigco.com", "BigCo", 250)
    kinds = [m.author_kind for m in d.transcript(conv.id)]
    assert kinds[:3] == [V, B, B]
    # agents see the bot's side too (MessageCreated for bot messages in their stream)
    bot_events = [
        e for e in d.events("sam") if isinstance(e, p.MessageCreated) and e.message.author_kind == B
    ]
    assert len(bot_events) == len(bot_texts(d, conv.id))
    # CQL: team >= 200 on /pricing -> 2 bolts, by the bot
    assert conv.cql == 2
    assert conv.cql_history[-1].by_kind == B and "Mid-market+ on pricing" in conv.cql_history[-1].by_name


async def test_available_aligned_sdr_gets_the_chat(enriched: Desk) -> None:
    d = enriched
    d.set_presence("sam", p.Presence.AVAILABLE)
    d.set_presence("casey", p.Presence.AVAILABLE)
    conv = await answer_all(d)
    assert conv.assignee_id == "sam"
    r = conv.routing
    assert (
        r is not None
        and r.agent_id == "sam"
        and (r.rule, r.line) == ("us-east", 7)
        and not r.out_of_territory
    )
    assert "BigCo" in r.reason and "US/NY" in r.reason and "300 employees" in r.reason
    notes = [m for m in d.transcript(conv.id) if m.author_kind == S]
    assert notes[-1].text == "Routed to Sam Chen (rule 'us-east', line 7)"
    assert notes[-1].private  # the visitor never sees routing internals
    assert conv.sla_due_at == pytest.approx(d.clock.now() + 30)
    updates = [e for e in d.events("sam") if isinstance(e, p.ConversationUpdated)]
    assert updates[-1].conversation.assignee_id == "sam" and updates[-1].conversation.routing is not None
    # Casey (not aligned) lost sight of it once it was assigned
    assert any(isinstance(e, p.ConversationRevoked) for e in d.events("casey"))


async def test_personal_email_is_a_red_line_and_routes_by_the_rest(enriched: Desk) -> None:
    d = enriched
    d.set_presence("casey", p.Presence.AVAILABLE)
    conv = await answer_all(d, email="jane@gmail.com", size="5")
    assert conv.cql == 0
    assert conv.routing is not None and (conv.routing.rule, conv.routing.line) == ("fallback", 13)
    assert conv.assignee_id == "casey"


async def test_aligned_sdr_away_offers_their_calendar(tmp_path: Path, playbook: Playbook) -> None:
    card = p.BookingCard(
        agent_id="sam",
        agent_name="Sam Chen",
        duration_minutes=30,
        timezone="America/New_York",
        slots=[p.Slot(start=1_700_100_000.0, end=1_700_101_800.0)],
    )
    d = build_desk(
        tmp_path / "c.sqlite3",
        playbook,
        table=load_table(TERRITORIES),
        enrich=bigco,
        booking=lambda agent: card if agent.id == "sam" else None,
    )
    d.set_presence("alex", p.Presence.AVAILABLE)  # someone else is around, but Sam is the aligned SDR
    conv = await answer_all(d)
    assert conv.assignee_id is None  # stays in the queue for anyone to pick up
    assert conv.routing is not None and conv.routing.agent_id == "sam" and "away" in conv.routing.reason
    last = [m for m in d.transcript(conv.id) if m.author_kind == B][-1]
    assert last.text.startswith("Sam Chen is away right now")
    if last.card is not None:  # the core passes cards through add_message
        assert last.card.agent_id == "sam"


async def test_aligned_sdr_away_without_calendar_asks_for_email(tmp_path: Path, playbook: Playbook) -> None:
    d = build_desk(tmp_path / "c.sqlite3", playbook, table=load_table(TERRITORIES), enrich=bigco)
    token, conv = await d.visitor_says("pricing please", page="/sales", email="")
    # a returning visitor who gave email/company/size already is routed right after the first message
    for text in ("jane@texas-giant.com", "Texas Giant", "5000"):
        _, conv = await d.visitor_says(text, token)
    assert conv.routing is not None and (conv.routing.rule, conv.routing.line) == ("us-central-ent", 5)
    texts = bot_texts(d, conv.id)
    assert (
        texts[-1]
        == "Sam Chen is away right now — leave your email and they'll reach out within a business day."
    )


async def test_nobody_available_offers_the_pool(tmp_path: Path, playbook: Playbook) -> None:
    pb = dataclasses.replace(
        playbook,
        routing=dataclasses.replace(
            playbook.routing, pools={"us-round-robin": ("alex@demo.sdr", "sam@demo.sdr")}
        ),
    )

    d = build_desk(tmp_path / "c.sqlite3", pb, table=load_table(TERRITORIES))
    token, conv = await d.visitor_says(
        "hello", page="/blog", country="US"
    )  # not a playbook page: routed at once
    assert conv.routing is not None and (conv.routing.rule, conv.routing.line) == ("us-unknown-state", 8)
    assert conv.routing.agent_id is None and conv.routing.pool == "us-round-robin"
    assert conv.assignee_id is None
    texts = bot_texts(d, conv.id)
    # No calendar in this desk: the busy text must not point at times that are not there.
    assert texts[0] == playbook.nobody_no_calendar
    assert texts[1] == "What's the best email to reach you at?"
    _, conv = await d.visitor_says("joe@nowhere.com", token)
    assert conv.visitor.email == "joe@nowhere.com"
    assert bot_texts(d, conv.id)[-1] == "Thanks — we'll reach out at joe@nowhere.com within a business day."


async def test_pool_round_robin_when_a_member_is_available(tmp_path: Path, playbook: Playbook) -> None:
    pb = dataclasses.replace(
        playbook,
        routing=dataclasses.replace(
            playbook.routing, pools={"us-round-robin": ("alex@demo.sdr", "sam@demo.sdr")}
        ),
    )

    async def us_only(domain: str) -> Company | None:
        return Company(domain, "Nowhere Inc", 50, "US", "", "datafox")

    d = build_desk(tmp_path / "c.sqlite3", pb, table=load_table(TERRITORIES), enrich=us_only)
    d.set_presence("alex", p.Presence.AVAILABLE)
    d.set_presence("sam", p.Presence.AVAILABLE)
    assignees = []
    for _ in range(4):
        _, conv = await d.visitor_says("hello", page="/blog", email="x@nowhere.com")
        assignees.append(conv.assignee_id)
    assert sorted(assignees) == ["alex", "alex", "sam", "sam"]


async def test_out_of_territory_pickup_is_recorded(enriched: Desk) -> None:
    d = enriched  # Sam is aligned but away; Jordan picks the chat up from the queue and keeps it
    conv = await answer_all(d)
    assert conv.routing is not None and conv.routing.agent_id == "sam"
    await d.agent_says("jordan", conv.id, "Hi Jane, Jordan here — happy to help!")
    conv = d.conversation(conv.id)
    assert conv.assignee_id == "jordan"
    assert conv.routing is not None and conv.routing.out_of_territory and conv.routing.agent_id == "sam"


async def test_human_reply_stops_the_bot(enriched: Desk) -> None:
    d = enriched
    token, conv = await d.visitor_says("Hi")
    await d.agent_says("alex", conv.id, "Hi! Alex here.")
    before = len(bot_texts(d, conv.id))
    _, conv = await d.visitor_says("not an email", token)
    assert len(bot_texts(d, conv.id)) == before
    assert not is_routed(conv.routing)  # only the aligned fields (what is known) are filled in


def test_malformed_territory_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text(
        "rule,country,region,segment,sdr_email,pool\n"
        "ok,US,*,*,sam@demo.sdr,\n"
        "broken,US,*,huge,sam@demo.sdr,\n"
        "nobody,US,*,*,,\n"
        "short,US\n"
    )
    with pytest.raises(TerritoryError) as err:
        load_table(bad)
    assert err.value.errors == [
        "line 3: unknown segment 'huge' (use *, smb, mid, ent, N-M or N+)",
        "line 4: needs an sdr_email or a pool",
        "line 5: expected 6 columns, found 2",
    ]


def test_rules_are_ordered_first_match_wins() -> None:
    table = load_table(TERRITORIES)
    ent = table.match("US", "TX", 5000)
    mid = table.match("US", "TX", 300)
    assert ent is not None and ent.rule == "us-central-ent" and ent.owner == "sam@demo.sdr"
    assert mid is not None and mid.rule == "us-central" and mid.owner == "alex@demo.sdr"
    unknown = table.match("", "", None)
    assert unknown is not None and unknown.rule == "fallback" and unknown.pool == "global-queue"
