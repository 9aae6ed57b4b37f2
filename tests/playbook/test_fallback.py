"""Unresponsive fallback: a routed rep who doesn't answer in time loses the chat to the next available rep
in the territory order (backups, then pools), every step lands in the routing audit (team only), the
meeting offer still comes, and the number of moves is capped. Driven by a ManualScheduler: no sleeps."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent_app import protocol as p
from chat_server.playbook import Playbook, PlaybookError, loads_playbook
from chat_server.routing import load_table
from chat_server.service import visitor_view
from tests.playbook.conftest import TERRITORIES, Desk, build_desk

NY = {"country": "US", "region": "NY"}  # the table's us-east rule: Sam Chen


def with_backups(playbook: Playbook, **sla: Any) -> Playbook:
    """us-east falls back to Alex, then Jordan; then the pools (the whole team: no pool is configured)."""
    routing = dataclasses.replace(playbook.routing, backups={"us-east": ("alex@demo.sdr", "jordan@demo.sdr")})
    return dataclasses.replace(playbook, routing=routing, sla=dataclasses.replace(playbook.sla, **sla))


async def desk_for(tmp_path: Path, playbook: Playbook, **sla: Any) -> Desk:
    d = build_desk(tmp_path / "chat.sqlite3", with_backups(playbook, **sla), table=load_table(TERRITORIES))
    await d.automation.start()
    return d


def audit(conv: p.Conversation) -> list[tuple[str, str | None, str]]:
    return [(s.action, s.agent_id, s.reason) for s in conv.routing_audit]


def notes(d: Desk, conversation_id: str) -> list[str]:
    return [
        m.text for m in d.transcript(conversation_id) if m.author_kind == p.AuthorKind.SYSTEM and m.private
    ]


async def test_no_answer_in_30_s_moves_the_chat_to_the_next_available_backup(
    tmp_path: Path, playbook: Playbook
) -> None:
    d = await desk_for(tmp_path, playbook)
    for who in ("sam", "jordan"):
        d.set_presence(who, p.Presence.AVAILABLE)  # Alex, the first backup, is away
    _, conv = await d.visitor_says("Do you have an API?", page="/blog", **NY)
    assert conv.assignee_id == "sam"
    start = d.clock.now()
    assert audit(conv) == [("routed", "sam", "aligned SDR")]

    await d.scheduler.advance(29.9)
    assert d.conversation(conv.id).assignee_id == "sam"
    await d.scheduler.advance(0.1)
    conv = d.conversation(conv.id)
    assert conv.assignee_id == "jordan" and conv.assigned_via == "routing"
    assert conv.participant_ids == ["sam"]  # Sam keeps the chat in view and may still answer
    assert audit(conv) == [
        ("routed", "sam", "aligned SDR"),
        ("reassigned", "sam", "no answer in 30 s"),
        ("skipped", "alex", "away"),
        ("routed", "jordan", "backup for rule 'us-east'; Sam Chen didn't answer in 30 s"),
    ]
    assert all(s.at == start + 30 for s in conv.routing_audit[1:])
    assert [s.agent_name for s in conv.routing_audit] == ["Sam Chen", "Sam Chen", "Alex Rivera", "Jordan Lee"]
    # Jordan's response clock starts afresh; the breach of Sam's clock was published first
    assert conv.sla_due_at == start + 60 and not conv.sla_breached
    assert conv.routing is not None and conv.routing.agent_id == "jordan"
    assert conv.routing.aligned_agent_id == "sam" and not conv.routing.out_of_territory
    assert "Sam Chen didn't answer in 30 s; routed to Jordan Lee (backup for rule 'us-east')" in notes(
        d, conv.id
    )
    sam_events = [e for e in d.events("sam") if getattr(e, "conversation_id", conv.id) == conv.id]
    assert any(isinstance(e, p.SlaBreached) for e in sam_events)
    assert not any(isinstance(e, p.ConversationRevoked) for e in d.events("sam"))  # still Sam's to see
    jordan = [e for e in d.events("jordan") if isinstance(e, p.ConversationUpdated)]
    assert jordan[-1].conversation.assignee_id == "jordan"
    assert not any(isinstance(e, p.SlaBreached) for e in d.events("jordan"))  # not Jordan's breach

    # Jordan answers within their own 30 s: in time for them, and nothing moves any more
    await d.scheduler.advance(12)
    await d.agent_says("jordan", conv.id, "Hi! Jordan here.")
    record = d.automation.sla.get(conv.id)
    assert record is not None and record.outcome == "answered" and record.responder_id == "jordan"
    await d.scheduler.advance(120)
    assert d.conversation(conv.id).assignee_id == "jordan"
    assert d.scheduler.pending() == 0


async def test_the_chain_ends_with_the_meeting_offer_and_stops_after_max_hops(
    tmp_path: Path, playbook: Playbook
) -> None:
    d = await desk_for(tmp_path, playbook)  # max_hops = 2 (the default playbook)
    for who in ("sam", "alex", "maria"):
        d.set_presence(who, p.Presence.AVAILABLE)  # Jordan (second backup) is away
    _, conv = await d.visitor_says("Hello?", page="/blog", **NY)
    await d.scheduler.advance(30)
    assert d.conversation(conv.id).assignee_id == "alex"  # first backup
    await d.scheduler.advance(30)
    conv = d.conversation(conv.id)
    # 60 s: the visitor gets the meeting offer (with the aligned SDR) and the chat moves on once more:
    # past the backups (Jordan away) to the fallback pool, which is the whole team here
    bots = [m.text for m in d.transcript(conv.id) if m.author_kind == p.AuthorKind.BOT]
    assert bots[0].startswith("Sorry for the wait! Leave your email and Sam Chen")
    assert conv.assignee_id == "maria" and conv.participant_ids == ["sam", "alex"]
    assert audit(conv)[3:] == [
        ("offered_meeting", "sam", "no reply in 60 s; asked for an email"),
        ("reassigned", "alex", "no answer in 30 s"),
        ("skipped", "jordan", "away"),
        ("routed", "maria", "pool 'default'; Alex Rivera didn't answer in 30 s"),
    ]
    await d.scheduler.advance(30)
    conv = d.conversation(conv.id)
    assert conv.assignee_id == "maria"  # two moves were allowed: Maria keeps it
    assert audit(conv)[-1] == ("missed", "maria", "no answer in 30 s; no reassignments left (2)")
    assert len(bots) == 2  # the offer and the email question, once
    assert d.scheduler.pending() == 0


async def test_nobody_else_available_leaves_the_chat_and_says_so(desk: Desk) -> None:
    d = desk
    d.set_presence("sam", p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Hi", page="/blog", **NY)
    await d.scheduler.advance(30)
    conv = d.conversation(conv.id)
    assert conv.assignee_id == "sam" and conv.sla_breached
    assert audit(conv)[-1] == ("missed", "sam", "no answer in 30 s; nobody else available")
    assert not any("didn't answer" in n for n in notes(d, conv.id))  # the audit says it; no line


async def test_fallback_off_and_fallback_after(tmp_path: Path, playbook: Playbook) -> None:
    d = await desk_for(tmp_path, playbook, fallback="off")
    for who in ("sam", "alex"):
        d.set_presence(who, p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Hi", page="/blog", **NY)
    await d.scheduler.advance(100)
    conv = d.conversation(conv.id)
    assert conv.assignee_id == "sam" and [s.action for s in conv.routing_audit] == [
        "routed",
        "offered_meeting",
    ]
    d.close()

    (tmp_path / "b").mkdir()
    later = await desk_for(tmp_path / "b", playbook, fallback_after=45.0)
    for who in ("sam", "alex"):
        later.set_presence(who, p.Presence.AVAILABLE)
    _, conv = await later.visitor_says("Hi", page="/blog", **NY)
    await later.scheduler.advance(44)
    assert later.conversation(conv.id).sla_breached and later.conversation(conv.id).assignee_id == "sam"
    await later.scheduler.advance(1)
    conv = later.conversation(conv.id)
    assert conv.assignee_id == "alex" and audit(conv)[1] == ("reassigned", "sam", "no answer in 45 s")
    assert conv.sla_due_at == later.clock.now() + 30


async def test_a_person_s_assignment_is_not_undone(desk: Desk) -> None:
    d = desk
    for who in ("sam", "alex"):
        d.set_presence(who, p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Hi", page="/blog", **NY)
    stored = d.conversation(conv.id)
    with d.storage.savepoint():
        before = msgspec.structs.replace(stored)
        stored.assignee_id, stored.assigned_via, stored.assigned_by = "sam", "take", "sam"
        d.storage.save_conversation(stored)
        d.service.publish(before, stored, [p.ConversationUpdated(conversation=stored)])
    await d.storage.commit()
    await d.scheduler.advance(30)
    assert d.conversation(conv.id).assignee_id == "sam"  # Sam took it himself: not routing's to move


async def test_the_hop_survives_a_restart(tmp_path: Path, playbook: Playbook) -> None:
    pb = with_backups(playbook)
    clock_desk = build_desk(tmp_path / "c.sqlite3", pb, table=load_table(TERRITORIES))
    await clock_desk.automation.start()
    for who in ("sam", "alex", "jordan"):
        clock_desk.set_presence(who, p.Presence.AVAILABLE)
    _, conv = await clock_desk.visitor_says("Hi", page="/blog", **NY)
    await clock_desk.scheduler.advance(30)
    assert clock_desk.conversation(conv.id).assignee_id == "alex"
    online, clock = set(clock_desk.online), clock_desk.clock
    clock_desk.close()
    clock.advance(100)  # down past Alex's breach and the meeting offer
    d2 = build_desk(tmp_path / "c.sqlite3", pb, clock=clock, table=load_table(TERRITORIES))
    d2.online |= online
    await d2.automation.start()
    await d2.scheduler.advance(0)
    conv = d2.conversation(conv.id)
    assert conv.assignee_id == "jordan"  # the second move happened once, after the restart
    assert [s.action for s in conv.routing_audit].count("reassigned") == 2
    assert [s.action for s in conv.routing_audit].count("offered_meeting") == 1
    await d2.scheduler.advance(100)
    actions = [s.action for s in d2.conversation(conv.id).routing_audit]
    assert actions.count("reassigned") == 2 and actions[-1] == "missed"
    # another restart re-arms Jordan's fallback time, which has passed: nothing is recorded twice
    d2.close()
    d3 = build_desk(tmp_path / "c.sqlite3", pb, clock=clock, table=load_table(TERRITORIES))
    d3.online |= online
    await d3.automation.start()
    await d3.scheduler.advance(10)
    assert [s.action for s in d3.conversation(conv.id).routing_audit] == actions


async def test_the_visitor_never_sees_the_routing_audit(tmp_path: Path, playbook: Playbook) -> None:
    d = await desk_for(tmp_path, playbook)
    for who in ("sam", "jordan"):
        d.set_presence(who, p.Presence.AVAILABLE)
    _, conv = await d.visitor_says("Hi", page="/blog", **NY)
    await d.scheduler.advance(30)
    conv = d.conversation(conv.id)
    assert len(conv.routing_audit) == 4
    seen = msgspec.json.encode(visitor_view(conv)).decode()
    assert "routing_audit" not in seen and "Jordan" not in seen and "didn't answer" not in seen
    public = [m.text for m in d.transcript(conv.id) if not m.private]
    assert not any("didn't answer" in t or "Jordan" in t for t in public)


def test_playbook_fallback_settings_are_validated() -> None:
    pb = loads_playbook(
        'pages = ["/pricing"]\n[sla]\nfallback = "pool"\nfallback_after = 40\nmax_hops = 1\n'
        '[routing.backups]\nus-east = ["Alex@Demo.sdr"]\n'
    )
    assert (pb.sla.fallback, pb.sla.fallback_after, pb.sla.max_hops) == ("pool", 40.0, 1)
    assert pb.routing.backups == {"us-east": ("alex@demo.sdr",)}
    assert (
        loads_playbook('pages = ["/pricing"]\n[sla]\nfirst_response_seconds = 20\n').sla.fallback_after == 20
    )
    with pytest.raises(PlaybookError) as bad:
        loads_playbook(
            'pages = ["/p"]\n[sla]\nfallback = "sometimes"\nmax_hops = 1.5\n[routing]\nbackups = ["x"]\n'
        )
    text = str(bad.value)
    assert "'fallback' must be one of territory, pool, off" in text
    assert "'max_hops' must be a whole number" in text and "routing.backups: must be a table" in text
